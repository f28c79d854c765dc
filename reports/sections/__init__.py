"""The sections of the report, in page order (:data:`SECTIONS`), one module per section.

Each is a function ``(ReportContext) -> Section | list[Section] | None`` that depends only on what the run
directory holds and lists what it could not show. The techniques' panels come from the technique registry
(:func:`technique_sections`): a new technique's panel joins through its registry entry, not here. A new
diagnostic is one such function appended to :data:`SECTIONS`.
"""

from __future__ import annotations

from reports.sections._shared import SectionFn
from reports.sections.fit import fit_section
from reports.sections.layered import layered_fit_section
from reports.sections.phases import phase_section
from reports.sections.provenance import provenance_section
from reports.sections.scenario import scenario_section
from reports.sections.spatial import snapshot_frames, spatial_section
from reports.sections.spectra import MAX_TABLE_ROWS, OVERLAY_BACKGROUND, spectral_section, technique_sections
from reports.sections.tem import tem_section

__all__ = [
    "SECTIONS",
    "SectionFn",
    "scenario_section",
    "phase_section",
    "spatial_section",
    "snapshot_frames",
    "spectral_section",
    "technique_sections",
    "tem_section",
    "fit_section",
    "layered_fit_section",
    "provenance_section",
    "FIT_ONLY_SECTIONS",
    "IMAGE_ONLY_SECTIONS",
    "OVERLAY_BACKGROUND",
    "MAX_TABLE_ROWS",
]

#: the report's sections in page order
SECTIONS: list[SectionFn] = [
    scenario_section,
    phase_section,
    spatial_section,
    technique_sections,
    tem_section,
    fit_section,
    layered_fit_section,
    provenance_section,
]

#: the sections of a fit-only directory (a fit of measured data, no run beside it)
FIT_ONLY_SECTIONS: list[SectionFn] = [
    fit_section,
    layered_fit_section,
    provenance_section,
]

#: the sections of a directory of simulated micrographs alone (``twin tem image -o OUT``)
IMAGE_ONLY_SECTIONS: list[SectionFn] = [
    tem_section,
    provenance_section,
]
