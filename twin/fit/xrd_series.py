r"""Fitting an in situ powder XRD series: sequential refinement, then the twin-level summary of the sample.

Two levels, as in DESIGN §5:

1. **Pattern level.** Every measured frame is refined by :func:`twin.fit.pattern.refine_series` (sequential:
   frame k starts from frame k−1) with the material's phase structures: scale of each phase (→ weight
   fractions with esd's), lattice parameters, a log-normal distribution of cube-shaped coherent domains
   (volume-weighted mean edge ⟨L⟩_V and width), microstrain, zero shift and a Chebyshev background.
2. **Sample level.** From the refined series, the quantities that characterise the sample's switching:

   * the driving pressure at which the weight fraction of the open (last) phase crosses ½ on each branch
     of the protocol (rising: adsorption, falling: desorption; :mod:`twin.analysis`), and the hysteresis
     width between them;
   * the volume-weighted mean coherent-domain size ⟨L⟩_V of each phase, from the frames where that phase
     is alone (weight fraction ≥ ``pure_fraction``): the crystallite size seen by XRD.

   Uncertainties come from joint Monte-Carlo draws (``n_draws``, seeded). A switching pressure is located
   only to within the pressure interval between the two measured frames that bracket the crossing: each
   draw takes the fractions from their esd's, finds the bracket, and places the crossing uniformly in it
   (the curve between two measured frames is not observed); the reported value is the linear
   interpolation of the refined fractions. A domain size is the inverse-variance weighted mean over its
   pure frames, its standard error inflated by the Birge ratio √χ²_ν when the frames scatter more than
   their esd's (R. T. Birge, Phys. Rev. 40, 207 (1932)). Correlations between the sample-level quantities
   come from the same draws (a hysteresis width correlates with both switching pressures).

Predictive check: for up to four frames (first, most two-phase, highest pressure, last), the 90 % band of
new counts at the refined pattern, :math:`y_c \pm 1.645\sqrt{y_c}` (Poisson in the normal limit). The
parameter uncertainty of a Rietveld fit is negligible next to the counting noise of a single point, so this
plug-in band is the posterior predictive to that order.

Not included here: a fit of the mesoscale engine's own parameters to the series (the engine is a stochastic
simulator; see :mod:`twin.fit.isotherm` for the twin-level inference through the powder surrogate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from instruments.observable import Observable
from mofcore.stats import poisson_sigma, pooled_figures_of_merit
from twin.analysis import branches, crossings
from twin.errors import FitError

__all__ = ["load_xrd_series", "fit_xrd_series", "switching_summary", "coherent_size_truth", "driving_condition",
           "DRIVING_CONDITIONS", "SWITCH_LEVEL"]

#: conditions that can drive an in situ series, in order of preference: (name in the Observable, unit)
DRIVING_CONDITIONS = (("pressure_bar", "bar"), ("relative_pressure", "1"), ("relative_humidity", "1"))

SWITCH_LEVEL = 0.5
_Z90 = 1.6448536269514722  # two-sided 90 % normal quantile


def driving_condition(data: Observable) -> tuple[str, np.ndarray, str] | None:
    """The condition that drives a series: pressure (bar), else relative pressure P/P0, else relative humidity
    (both 0..1), the first recorded on every frame; ``None`` when none is."""
    for name, unit in DRIVING_CONDITIONS:
        values = data.condition(name)
        if np.all(np.isfinite(values)):
            return name, values, unit
    return None


def load_xrd_series(path: str | Path, *, wavelength_A: float | None = None) -> Observable:
    """A measured in situ XRD series ready to be refined: the XRD technique's ``align``
    (:func:`instruments.xrd.technique.align_xrd`: one 2θ grid, a Q axis converted with ``wavelength_A``, counting
    uncertainties where the files give none, the conditions per frame) and a driving condition for every frame:
    a pressure, a relative pressure P/P0 or a relative humidity (:func:`driving_condition`).

    Raises:
        DataFormatError: unreadable files, a single pattern instead of a series, frames on different grids, an
            axis that is neither 2θ nor Q.
        FitError: frames without a driving condition (the switching cannot be located).
    """
    from instruments.xrd.technique import align_xrd

    data = align_xrd(path, wavelength_A=wavelength_A)
    _require_driving(data, path)
    return data


def _require_driving(data: Observable, path: str | Path) -> tuple[str, np.ndarray, str]:
    found = driving_condition(data)
    if found is None:
        recorded = np.zeros(data.n_frames, dtype=bool)
        for name, _ in DRIVING_CONDITIONS:
            recorded |= np.isfinite(data.condition(name))
        missing = [lab for lab, ok in zip(data.labels, recorded, strict=True) if not ok] or list(data.labels)
        raise FitError(f"{path}: frames {', '.join(missing[:5])} have no pressure; add a conditions log "
                       "with a pressure (pressure_bar), relative pressure (relative_pressure, P/P0) or relative "
                       "humidity (rh) column for every frame")
    return found


# ------------------------------------------------------------------------------------------ sample level
def _bracket_draws(fraction: np.ndarray, esd: np.ndarray, pressure: np.ndarray, rng: np.random.Generator,
                   n_draws: int) -> tuple[list[Any], np.ndarray]:
    """Crossings of the measured fractions and, per crossing, ``n_draws`` positions drawn in its bracket."""
    time_index = np.arange(fraction.size, dtype=np.float64)
    found = crossings(fraction, pressure, time_index, SWITCH_LEVEL)
    if not found:
        return [], np.zeros((0, n_draws))
    draws = np.clip(fraction[None, :] + esd[None, :] * rng.standard_normal((n_draws, fraction.size)), 0.0, 1.0)
    above = draws >= SWITCH_LEVEL
    out = np.empty((len(found), n_draws))
    for c, cross in enumerate(found):  # a handful of crossings per series
        k = cross.frame  # first frame at or past the level: the bracket is (k-1, k) in the measured fractions
        lo, hi = max(k - 3, 0), min(k + 2, fraction.size - 1)  # search near the measured bracket
        seg = above[:, lo:hi + 1]
        flips = seg[:, 1:] != seg[:, :-1]
        # the flip closest to the measured one in every draw (there is one unless noise removed it)
        target = (k - 1) - lo
        dist = np.where(flips, np.abs(np.arange(flips.shape[1])[None, :] - target), 10**6)
        j = np.argmin(dist, axis=1) + lo
        j = np.where(dist.min(axis=1) < 10**6, j, k - 1)
        p0, p1 = pressure[j], pressure[j + 1]
        out[c] = p0 + rng.uniform(0.0, 1.0, n_draws) * (p1 - p0)
    return found, out


def switching_summary(fraction: np.ndarray, esd: np.ndarray, pressure_bar: np.ndarray, *, seed: int = 0,
                      n_draws: int = 4000) -> dict[str, Any]:
    """Switching pressures per branch and the hysteresis width, with draws for their uncertainties.

    Args:
        fraction: weight fraction of the open phase per measured frame, (n_frames,).
        esd: its standard uncertainty, (n_frames,).
        pressure_bar: driving pressure per frame [bar], (n_frames,).

    Returns:
        ``{"names": [...], "values": (n,), "draws": (n, n_draws), "crossings": [Crossing, ...]}`` with names
        ``switching_pressure_adsorption``, ``switching_pressure_desorption`` (``_2``, … for later cycles or
        repeated crossings on one branch) and ``hysteresis_width`` when both branches switched.
    """
    rng = np.random.default_rng(seed)
    found, draws = _bracket_draws(np.asarray(fraction, float), np.asarray(esd, float),
                                  np.asarray(pressure_bar, float), rng, n_draws)
    names: list[str] = []
    values: list[float] = []
    rows: list[np.ndarray] = []
    count: dict[str, int] = {}
    for cross, d in zip(found, draws, strict=True):
        branch = "adsorption" if cross.branch > 0 else "desorption"
        count[branch] = count.get(branch, 0) + 1
        names.append(f"switching_pressure_{branch}" + ("" if count[branch] == 1 else f"_{count[branch]}"))
        values.append(cross.value)
        rows.append(d)
    if "switching_pressure_adsorption" in names and "switching_pressure_desorption" in names:
        i, j = names.index("switching_pressure_adsorption"), names.index("switching_pressure_desorption")
        names.append("hysteresis_width")
        values.append(values[i] - values[j])
        rows.append(rows[i] - rows[j])
    return {"names": names, "values": np.asarray(values), "draws": np.asarray(rows).reshape(len(names), n_draws),
            "crossings": found}


def _pooled(values: np.ndarray, esd: np.ndarray) -> tuple[float, float]:
    """Inverse-variance weighted mean and its standard error, Birge-inflated when χ²_ν > 1."""
    w = 1.0 / esd**2
    mean = float(np.sum(w * values) / np.sum(w))
    se = float(1.0 / np.sqrt(np.sum(w)))
    if values.size > 1:
        chi2_red = float(np.sum(w * (values - mean) ** 2) / (values.size - 1))
        se *= max(1.0, np.sqrt(chi2_red))
    return mean, se


def coherent_size_truth(size_A: np.ndarray, number_weight: np.ndarray) -> np.ndarray:
    """Volume-weighted mean edge ⟨L⟩_V = Σ n L⁴ / Σ n L³ [nm] of size histograms (n_frames, n_bins) in Å."""
    size = np.asarray(size_A, dtype=np.float64) / 10.0
    vol = np.asarray(number_weight, dtype=np.float64) * size**3
    return np.sum(vol * size, axis=-1) / np.maximum(np.sum(vol, axis=-1), np.finfo(float).tiny)


# ------------------------------------------------------------------------------------------ the fit
def fit_xrd_series(
    data: Observable,
    material: Any,
    instrument: Any,
    *,
    seed: int = 0,
    n_draws: int = 4000,
    pure_fraction: float = 0.98,
    size_start_nm: float = 50.0,
    lattice_window: float = 0.1,
    n_background: int = 3,
    max_iter: int = 60,
) -> tuple[dict[str, Any], Any]:
    """Refine the series and summarise the sample (no I/O).

    Args:
        data: from :func:`load_xrd_series`.
        material: :class:`twin.material.Material` (its phases' CIFs are the structures refined).
        instrument: :class:`instruments.xrd.Instrument` of the diffractometer (wavelengths, profile).
        seed: seed of the Monte-Carlo draws.
        pure_fraction: weight fraction above which a frame counts as single-phase for the domain size.

    Returns:
        (the ``fit_result.json`` content without measurements and provenance, the
        :class:`twin.fit.pattern.PatternFit` of the series).

    Raises:
        FitError: the data and the instrument do not overlap, or the material has fewer than two phases.
    """
    from instruments.xrd import phase_from_cif
    from instruments.xrd.structure import d_min_for
    from twin.fit.pattern import make_refinement, refine_series

    if len(material.phases) < 2:
        raise FitError(f"xrd-series fit: material {material.name!r} has one phase; the switching summary "
                       "needs a flexible material with two")
    tth, counts, sigma = (np.asarray(a, dtype=np.float64) for a in (data.axis.values, data.values, data.sigma))
    stated = data.meta.get("wavelength_A")
    if not (0.0 < tth[0] < tth[-1] < 180.0):
        raise FitError(f"{data.source}: 2θ grid {tth[0]:g}..{tth[-1]:g}° outside (0, 180)°")
    wavelengths = np.asarray(instrument.wavelengths_A, dtype=np.float64)
    if stated is not None and abs(stated - float(wavelengths.min())) > 1e-3:
        raise FitError(f"{data.source}: the files state λ = {stated:g} Å but the instrument has "
                       f"{float(wavelengths.min()):g} Å")
    d_min = d_min_for(float(wavelengths.max()), float(tth[-1]))
    phases = tuple(phase_from_cif(p.structure, d_min) for p in material.phases)
    names = tuple(p.name for p in material.phases)
    setup = make_refinement(phases, instrument, tth, n_background=n_background, size_nm=size_start_nm,
                            size_width=0.3, lattice_window=lattice_window, domain_shape="box")
    t0 = time.perf_counter()
    fit = refine_series(setup, counts, sigma, sequential=True, max_iter=max_iter)
    elapsed = time.perf_counter() - t0

    w_open, e_open = fit.weight_fraction[:, -1], fit.weight_fraction_esd[:, -1]
    driver, drive, drive_unit = _require_driving(data, data.source)
    switching = switching_summary(w_open, e_open, drive, seed=seed, n_draws=n_draws)
    par_names, units, values, draws = list(switching["names"]), [], list(switching["values"]), list(switching["draws"])
    if driver != "pressure_bar":  # the crossing is in P/P0 or RH, named so
        par_names = [n.replace("switching_pressure", f"switching_{driver}") for n in par_names]
    units = [drive_unit] * len(par_names)
    rng = np.random.default_rng(seed + 1)
    notes: list[str] = []
    for p, phase in enumerate(names):
        k = fit.names.index(f"{phases[p].name}.size_nm")
        pure = (fit.weight_fraction[:, p] >= pure_fraction) & fit.refined[:, k] & (fit.esd[:, k] > 0)
        if not np.any(pure):
            notes.append(f"coherent_size_{phase}: no frame where {phase} is alone (weight fraction ≥ {pure_fraction})")
            continue
        mean, se = _pooled(fit.values[pure, k], fit.esd[pure, k])
        par_names.append(f"coherent_size_{phase}")
        units.append("nm")
        values.append(mean)
        draws.append(mean + se * rng.standard_normal(n_draws))
    if not par_names:
        error = FitError(f"{data.source}: the refined series shows no switching and no single-phase frame to report")
        error.series = _series_table(data, fit, names)  # the per-frame refinement, written before the error is raised
        raise error
    draws_arr = np.asarray(draws)
    params = {}
    for i, name in enumerate(par_names):
        lo, hi = np.quantile(draws_arr[i], [0.05, 0.95])
        params[name] = {"value": float(values[i]), "stderr": float(np.std(draws_arr[i], ddof=1)),
                        "interval_90": [float(lo), float(hi)], "unit": units[i]}
    corr = np.corrcoef(draws_arr) if len(par_names) > 1 else np.ones((1, 1))
    corr = np.nan_to_num(np.atleast_2d(corr))

    dof = np.maximum(tth.size - np.sum(fit.refined, axis=1), 1)
    fom = {**pooled_figures_of_merit(fit.chi2, dof, counts, sigma).as_dict(),
           "Rwp_worst_frame": float(np.max(fit.rwp)), "n_frames": float(data.n_frames)}
    warnings = [f"frame {data.labels[i]}: refinement did not converge in {max_iter} iterations"
                for i in np.nonzero(~fit.converged)[0]]
    warnings += [f"frame {data.labels[i]}: Rwp {fit.rwp[i]:.4f} is {fit.rwp[i] / fit.rexp[i]:.1f}× Rexp"
                 for i in np.nonzero(fit.rwp > 1.5 * fit.rexp)[0]]
    warnings += notes
    return {
        "parameters": params,
        "figures_of_merit": fom,
        "correlations": {"names": par_names, "matrix": corr.tolist()},
        "posterior_predictive": _predictive(data, fit, w_open),
        "series": _series_table(data, fit, names),
        "convergence": {"pattern_level": {"converged": fit.converged.tolist(), "iterations": fit.n_iter.tolist(),
                                          "wall_time_s": elapsed},
                        "monte_carlo_draws": n_draws},
        "warnings": warnings,
        "model": {"kind": "xrd-series-refinement", "material": material.name, "phases": list(names),
                  "domain_shape": "box", "size_distribution": "log-normal (twin.fit.pattern.lognormal_sizes_A)",
                  "switch_level": SWITCH_LEVEL, "pure_fraction": pure_fraction, "driving_condition": driver,
                  "branches": branches(drive).tolist()},
    }, fit


def _series_table(data: Observable, fit: Any, phase_names: tuple[str, ...]) -> dict[str, Any]:
    """Per-frame pattern-level results (JSON-ready lists)."""
    refined = {}
    for k, name in enumerate(fit.names):
        if k in fit.free:
            refined[name] = {"value": fit.values[:, k].tolist(),
                             "esd": np.where(fit.refined[:, k], fit.esd[:, k], np.nan).tolist(), "unit": fit.units[k]}
    return {
        "frame": list(data.labels),
        "time_s": data.condition("time_s").tolist(),
        "pressure_bar": data.condition("pressure_bar").tolist(),
        "relative_pressure": data.condition("relative_pressure").tolist(),
        "relative_humidity": data.condition("relative_humidity").tolist(),
        "temperature_K": data.condition("temperature_K").tolist(),
        "weight_fraction": {n: fit.weight_fraction[:, p].tolist() for p, n in enumerate(phase_names)},
        "weight_fraction_esd": {n: fit.weight_fraction_esd[:, p].tolist() for p, n in enumerate(phase_names)},
        "Rwp": fit.rwp.tolist(),
        "Rexp": fit.rexp.tolist(),
        "chi2_reduced": fit.chi2_reduced.tolist(),
        "refined": refined,
    }


def _predictive(data: Observable, fit: Any, w_open: np.ndarray) -> list[dict[str, Any]]:
    """Up to four frames: the 90 % counting band around the refined pattern, with the observed counts."""
    n = data.n_frames
    mixed = int(np.argmax(np.minimum(w_open, 1.0 - w_open)))
    found = driving_condition(data)
    name, pressure, unit = found if found is not None else ("pressure_bar", data.condition("pressure_bar"), "bar")
    unit = "bar" if name == "pressure_bar" else ("P/P0" if name == "relative_pressure" else "RH")
    picks = list(dict.fromkeys([0, mixed, int(np.nanargmax(pressure)) if np.any(np.isfinite(pressure)) else 0, n - 1]))
    items = []
    for k in picks:
        yc = np.clip(fit.y_calc[k], 0.0, None)
        half = _Z90 * poisson_sigma(yc)
        items.append({"axis": {"name": "2θ", "unit": "deg", "values": np.asarray(data.axis.values).tolist()},
                      "observed": np.asarray(data.values)[k].tolist(), "median": yc.tolist(),
                      "lower": (yc - half).tolist(), "upper": (yc + half).tolist(), "level": 0.9,
                      "label": f"frame {data.labels[k]}, {pressure[k]:.3g} {unit}", "quantity": "counts"})
    return items
