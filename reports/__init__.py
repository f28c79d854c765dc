"""Comparison reports: one self-contained HTML page per run (figures embedded), the figures as PNG/SVG and a
JSON summary, built from ``OUT/trajectory.h5``, ``OUT/observables/*.h5`` and ``OUT/fit_result.json``.

Entry point: :func:`build_report` (``twin report OUT``). The page is a list of section functions
(:data:`SECTIONS`); a new technique's panel joins by appending one function.
"""

from reports.analysis import agreement_indices, branches, crossings, cycle_index, domain_sizes_nm, hysteresis_width
from reports.build import SUMMARY_FORMAT, build_report
from reports.context import ReportContext, Section
from instruments.series_io import ImageSeries, read_image_series, read_observable, write_image_series, write_observable
from reports.run_data import FitParameter, FitResult, RunData, load_fit_result, load_run
from reports.sections import SECTIONS

__all__ = [
    "build_report",
    "SUMMARY_FORMAT",
    "SECTIONS",
    "ReportContext",
    "Section",
    "RunData",
    "load_run",
    "FitResult",
    "FitParameter",
    "load_fit_result",
    "ImageSeries",
    "write_observable",
    "read_observable",
    "write_image_series",
    "read_image_series",
    "agreement_indices",
    "branches",
    "crossings",
    "cycle_index",
    "hysteresis_width",
    "domain_sizes_nm",
]
