"""The sections of the report, in page order (:data:`SECTIONS`), one module per section.

Each is a function ``(ReportContext) -> Section | None`` that depends only on what the run directory holds and
lists what it could not show. To add a panel (a new technique, a new diagnostic), write one such function and
append it to :data:`SECTIONS`; a spectral series draws through :func:`spectral_section` with its technique name.
"""

from __future__ import annotations

from reports.sections._shared import SectionFn
from reports.sections.fit import fit_section
from reports.sections.phases import phase_section
from reports.sections.provenance import provenance_section
from reports.sections.scenario import scenario_section
from reports.sections.spatial import snapshot_frames, spatial_section
from reports.sections.spectra import (
    MAX_TABLE_ROWS,
    OVERLAY_BACKGROUND,
    TECHNIQUE_TITLES,
    nmr_section,
    spectral_section,
    vibrational_section,
    xrd_section,
)
from reports.sections.tem import tem_section

__all__ = [
    "SECTIONS",
    "SectionFn",
    "scenario_section",
    "phase_section",
    "spatial_section",
    "snapshot_frames",
    "spectral_section",
    "xrd_section",
    "nmr_section",
    "vibrational_section",
    "tem_section",
    "fit_section",
    "provenance_section",
    "TECHNIQUE_TITLES",
    "OVERLAY_BACKGROUND",
    "MAX_TABLE_ROWS",
]

#: the report's sections in page order
SECTIONS: list[SectionFn] = [
    scenario_section,
    phase_section,
    spatial_section,
    xrd_section,
    nmr_section,
    vibrational_section,
    tem_section,
    fit_section,
    provenance_section,
]
