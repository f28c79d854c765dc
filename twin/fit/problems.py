"""Fit problems: how each technique of the registry is fitted (the ``fit`` part of the technique seam).

A :class:`FitProblem` is a named pair of functions: ``parse`` validates the technique's part of a fit file
into a :class:`~twin.fit.config.FitConfig`, ``run`` fits it and writes ``OUT/fit_result.json`` (and whatever
else the technique writes). ``twin fit FIT.toml`` reads ``[fit] technique``, asks the registry
(:func:`instruments.registry.for_fit`) for the technique, and calls its problem; nothing here or in the
command line branches on a technique's name. A technique outside the package brings its own
:class:`FitProblem` (see ``docs/adding-a-technique.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin._toml_schema import Table
from twin.fit.config import FitFile, parse_isotherm, parse_total_scattering, parse_xrd_series

__all__ = ["FitProblem", "FitFile", "XRD_SERIES", "TOTAL_SCATTERING", "ISOTHERM"]


@dataclass(frozen=True)
class FitProblem:
    """How a technique is fitted.

    Attributes:
        parse: ``(root table, [fit] table, FitFile) -> FitConfig``; raises :class:`~twin.errors.FitError`
            naming the file and key path.
        run: ``(FitConfig, output directory) -> result dict`` (the ``fit_result.json`` content plus its
            ``"path"``); writes the files.
        print_summary: optional ``(result) -> None`` for the terminal, in place of the parameter table.
    """

    parse: Callable[[Table, Table, FitFile], Any]
    run: Callable[[Any, Path], dict[str, Any]]
    print_summary: Callable[[dict[str, Any]], None] | None = None


def _run_xrd_series(cfg: Any, out: Path) -> dict[str, Any]:
    from twin.fit.workflow import run_xrd_series_fit

    (path, _), = cfg.measurements
    return run_xrd_series_fit(path, cfg.material, cfg.instrument, out, truth=cfg.truth, seed=cfg.seed,
                              source_text=cfg.text)


def _run_total_scattering(cfg: Any, out: Path) -> dict[str, Any]:
    from twin.fit.total_scattering import run_total_scattering_fit

    o = cfg.options
    return run_total_scattering_fit(
        o["measurements"], o["structure"], out, temperature_pattern=o["temperature_pattern"],
        temperature_unit=o["temperature_unit"], q_range_inv_ang=o["q_range_inv_ang"], r_max_A=o["r_max_A"],
        local_radius_A=o["local_radius_A"], form_factor_table=o["form_factor_table"],
        normalisation=o["normalisation"], n_background=o["n_background"], fixed=o["fixed"],
        start=o["start"], bounds=o["bounds"], source_text=cfg.text)


def _print_total_scattering(result: dict[str, Any]) -> None:
    """One line per frame of a total-scattering fit (the full table is in fit_result.json / fit_series.csv)."""
    series = result["series"]
    v, e = series["values"], series["esd"]
    print(f"{'T (°C)':>8s}  {'c':>14s}  {'D_cryst (nm)':>16s}  {'D_amorph (nm)':>15s}  {'Rwp':>7s}  {'chi2_nu':>8s}")
    for i, t in enumerate(series["temperature_C"]):
        d_c = f"{v['coherent_size_nm'][i]:.2f} ± {e['coherent_size_nm'][i]:.2g}"
        print(f"{t:8.0f}  {v['crystalline_fraction'][i]:6.3f} ± {e['crystalline_fraction'][i]:5.3f}  {d_c:>16s}  "
              f"{v['amorphous_size_nm'][i]:6.3f} ± {e['amorphous_size_nm'][i]:5.3f}  {series['Rwp'][i]:7.4f}  "
              f"{series['chi2_reduced'][i]:8.2f}")
    if result["warnings"]:
        print(f"{len(result['warnings'])} warnings (in fit_result.json), e.g.: {result['warnings'][0]}")


def _run_isotherm(cfg: Any, out: Path) -> dict[str, Any]:
    from twin.fit.workflow import run_isotherm_fit

    (path, y_column), = cfg.measurements
    return run_isotherm_fit(path, cfg.material, cfg.guest, cfg.temperature_K, out, free=cfg.free, sample=cfg.sample,
                            y_column=y_column, coherent_size_nm=cfg.coherent_size_nm, seed=cfg.seed,
                            n_steps=cfg.n_steps, burn=cfg.n_steps // 3, source_text=cfg.text)


XRD_SERIES = FitProblem(parse=parse_xrd_series, run=_run_xrd_series)
TOTAL_SCATTERING = FitProblem(parse=parse_total_scattering, run=_run_total_scattering,
                              print_summary=_print_total_scattering)
ISOTHERM = FitProblem(parse=parse_isotherm, run=_run_isotherm)
