"""Fitting the twin to measurements: pattern-level refinement and twin-level inference.

See ``docs/fit.md``. Public names are re-exported here.
"""

from twin.fit.lm import LMResult, levenberg_marquardt
from twin.fit.pattern import PatternFit, RefinementSetup, make_refinement, poisson_sigma, refine_pattern, refine_series
from twin.fit.stats import FitStatistics, correlation_matrix, fit_statistics, identifiability
from twin.fit.total_scattering import (
    fit_total_scattering_series,
    load_total_scattering_series,
    make_total_scattering_setup,
    run_total_scattering_fit,
)

__all__ = [
    "LMResult",
    "levenberg_marquardt",
    "FitStatistics",
    "fit_statistics",
    "correlation_matrix",
    "identifiability",
    "RefinementSetup",
    "PatternFit",
    "make_refinement",
    "refine_pattern",
    "refine_series",
    "poisson_sigma",
    "load_total_scattering_series",
    "make_total_scattering_setup",
    "fit_total_scattering_series",
    "run_total_scattering_fit",
]
