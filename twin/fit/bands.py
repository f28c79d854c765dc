r"""Band fits of a measured IR/Raman spectrum, and the D/G analysis of carbons (``twin ir bands FILE -o OUT``).

The model (:func:`instruments.vib.bands.spectrum_model`) — a few bands plus a Chebyshev background — is fitted
by weighted least squares with the project's bounded Levenberg–Marquardt solver (:mod:`twin.fit.lm`); the
standard uncertainties are those of the linearised model, :math:`\mathrm{cov} = \chi^2_\nu\,(J^\mathsf{T}J)^{-1}`
(J the Jacobian of the weighted residuals; the factor χ²_ν scales the unknown noise level to the residual
scatter, Numerical Recipes 3rd ed. §15.4/15.6), and the 90 % intervals are ±1.645 σ (normal approximation).
Derived quantities (I_D/I_G, L_a, the position of a BWF maximum) carry uncertainties by linear propagation
through the same covariance (their gradient by ``jax.jacfwd``).

**The measured spectrum.** Read through :func:`instruments.io.read_measurement` (which recognises the wavenumber
axis of ``Raman shift(cm-1)`` headers). Without uncertainties in the file, σ is taken constant and set by the
residual scatter (χ²_ν = 1 by construction, so intervals come from the scatter). A spectrum sampled more finely
than 1 cm⁻¹ (the GO file of Futamura et al. has 0.1 cm⁻¹ steps: interpolated output, neighbouring points not
independent) is thinned to ≥ 1 cm⁻¹ steps before fitting, so that the points counted as independent are not
ten times too many (which would shrink the intervals by √10); this is stated in the result.

**Carbon D/G model** (the default when bands near 1350 and 1590 cm⁻¹ are present): D (Lorentzian, A1g breathing
mode activated by defects), G (E2g; Lorentzian, or the chosen profile), and the broad D3 (D″) band near
1500 cm⁻¹ of amorphous carbon between them (Gaussian; A. Sadezky, H. Muckenhuber, H. Grothe, R. Niessner,
U. Pöschl, Carbon 43, 1731 (2005)) — without it the valley between D and G of graphene oxide is not described and
the D and G widths absorb it. Linear background on 900–2000 cm⁻¹. I_D/I_G is reported both as a peak-height
ratio and as an area (integrated) ratio; L_a (Cançado et al. 2006) uses the **area** ratio, with the laser
wavelength given (default 532 nm — the file does not state it; an assumption recorded in the result).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from instruments.vib.bands import PROFILES, Band, band_area, band_maximum, cancado_la_nm, spectrum_model
from twin.errors import DataFormatError, FitError

__all__ = ["CARBON_BANDS", "fit_bands", "carbon_summary", "run_band_fit", "print_bands"]

_Z90 = 1.6448536269514722


def carbon_bands(g_profile: str = "lorentzian") -> tuple[Band, ...]:
    """D, D3 and G bands of a disordered carbon (module docstring), G with ``g_profile``."""
    d_profile = g_profile if g_profile in ("pseudo-voigt", "gaussian") else "lorentzian"
    return (Band("D", d_profile, 1350.0, 120.0, (1300.0, 1400.0), (10.0, 400.0)),
            Band("D3", "gaussian", 1520.0, 150.0, (1450.0, 1570.0), (30.0, 300.0)),
            Band("G", g_profile, 1590.0, 70.0, (1540.0, 1640.0), (10.0, 300.0)))


CARBON_BANDS = carbon_bands()


def _start_and_bounds(x: np.ndarray, y: np.ndarray, bands: tuple[Band, ...],
                      n_background: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    span = float(np.max(y) - np.min(y)) or 1.0
    base = float(np.percentile(y, 5))
    x0, lo, hi = [], [], []
    for band in bands:
        near = np.abs(x - band.centre_cm1) < 0.25 * band.fwhm_cm1
        height = max(float(np.max(y[near])) - base, 0.05 * span) if np.any(near) else 0.5 * span
        if band.name == "D3":
            height *= 0.3
        x0 += [band.centre_cm1, band.fwhm_cm1, height]
        lo += [band.centre_bounds_cm1[0], band.fwhm_bounds_cm1[0], 0.0]
        hi += [band.centre_bounds_cm1[1], band.fwhm_bounds_cm1[1], 10.0 * span]
        if band.profile == "pseudo-voigt":
            x0, lo, hi = x0 + [0.5], lo + [0.0], hi + [1.0]
        elif band.profile == "bwf":
            x0, lo, hi = x0 + [-0.1], lo + [-1.0], hi + [1.0]
    x0 += [base] + [0.0] * (n_background - 1)
    lo += [-np.inf] * n_background
    hi += [np.inf] * n_background
    return np.asarray(x0), np.asarray(lo), np.asarray(hi)


def _parameter_names(bands: tuple[Band, ...], n_background: int) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for band in bands:
        names += [(f"{band.name}_centre_cm1", "cm-1"), (f"{band.name}_fwhm_cm1", "cm-1"),
                  (f"{band.name}_height", "a.u.")]
        if band.profile == "pseudo-voigt":
            names.append((f"{band.name}_lorentz_fraction", "1"))
        elif band.profile == "bwf":
            names.append((f"{band.name}_inverse_q", "1"))
    return names + [(f"background_{k}", "a.u.") for k in range(n_background)]


def fit_bands(x_cm1: np.ndarray, y: np.ndarray, bands: tuple[Band, ...], n_background: int = 2,
              sigma: np.ndarray | None = None) -> dict[str, Any]:
    """Fit ``bands`` plus a Chebyshev background of ``n_background`` terms to (x, y) (module docstring).

    Returns:
        dict with ``x`` (best parameters), ``cov`` (covariance, scaled by χ²_ν when ``sigma`` is None), ``names``,
        ``chi2``, ``chi2_reduced`` (with ``sigma`` None: σ = 1 in the data's units, so χ²_ν is the residual
        variance), ``dof``, ``converged``, ``n_iter``, ``model``, ``background``, ``sigma``.

    Raises:
        FitError: too few points, a singular Jacobian (a parameter the data do not determine).
    """
    from twin.fit.lm import levenberg_marquardt

    x = np.asarray(x_cm1, np.float64)
    y = np.asarray(y, np.float64)
    n_par = sum(PROFILES[b.profile] for b in bands) + n_background
    if x.size < 3 * n_par:
        raise FitError(f"band fit: {x.size} points for {n_par} parameters; widen the window")
    x_min, x_max = float(x[0]), float(x[-1])
    x0, lo, hi = _start_and_bounds(x, y, bands, n_background)
    scale = float(np.max(np.abs(y))) or 1.0  # fit y/scale: float32-friendly magnitudes
    s = np.ones_like(y) if sigma is None else np.asarray(sigma, np.float64) / scale
    dtype = jnp.result_type(float)
    xs, ys, ss = (jnp.asarray(a, dtype) for a in (x, y / scale, s))
    # heights and background are fitted in units of `scale`
    lin = np.zeros(n_par, bool)
    i = 0
    for band in bands:
        lin[i + 2] = True
        i += PROFILES[band.profile]
    lin[i:] = True
    to_fit = np.where(lin, 1.0 / scale, 1.0)

    def residual(p: jax.Array) -> jax.Array:
        model, _ = spectrum_model(xs, p, bands, n_background, x_min, x_max)
        return (ys - model) / ss

    res = levenberg_marquardt(residual, jnp.asarray(x0 * to_fit, dtype), lower=jnp.asarray(lo * to_fit, dtype),
                              upper=jnp.asarray(hi * to_fit, dtype), max_iter=400, ftol=1e-8, xtol=1e-9)
    p = np.asarray(res.x, np.float64)
    jac = np.asarray(res.jacobian, np.float64)
    resid = np.asarray(res.residual, np.float64)
    chi2 = float(resid @ resid)
    dof = x.size - n_par
    chi2_nu = chi2 / dof
    jtj = jac.T @ jac
    try:
        cov = np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        raise FitError("band fit: singular normal matrix (a band the data do not determine?)") from None
    if sigma is None:
        cov = cov * chi2_nu
    back = 1.0 / to_fit
    p = p * back
    cov = cov * np.outer(back, back)
    model, background = spectrum_model(jnp.asarray(x, dtype), jnp.asarray(p, dtype), bands, n_background,
                                       x_min, x_max)
    at_bound = [n for (n, _), v, a, b in zip(_parameter_names(bands, n_background), p, lo, hi, strict=True)
                if np.isfinite(a) and (abs(v - a) < 1e-6 * max(1.0, abs(a)) or abs(v - b) < 1e-6 * max(1.0, abs(b)))]
    if sigma is None:  # report χ² with σ = 1 in the data's units: χ²_ν is then the residual variance
        chi2, chi2_nu = chi2 * scale**2, chi2_nu * scale**2
    return {"x": p, "cov": cov, "names": _parameter_names(bands, n_background), "chi2": chi2, "chi2_reduced": chi2_nu,
            "dof": dof, "converged": bool(res.converged), "n_iter": int(res.n_iter), "at_bound": at_bound,
            "model": np.asarray(model, np.float64), "background": np.asarray(background, np.float64),
            "sigma": (np.full_like(y, math.sqrt(chi2_nu)) if sigma is None else np.asarray(sigma)),
            "bands": bands, "n_background": n_background, "x_min": x_min, "x_max": x_max}


def _propagate(fn: Any, p: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """Value and standard uncertainty of fn(p) by linear propagation (gradient by ``jax.jacfwd``, float64 host)."""
    dtype = jnp.result_type(float)
    value = float(fn(jnp.asarray(p, dtype)))
    grad = np.asarray(jax.jacfwd(fn)(jnp.asarray(p, dtype)), np.float64)
    var = float(grad @ cov @ grad)
    return value, math.sqrt(var) if var >= 0 else math.nan


def _band_slices(bands: tuple[Band, ...]) -> dict[str, slice]:
    out, i = {}, 0
    for band in bands:
        k = PROFILES[band.profile]
        out[band.name] = slice(i, i + k)
        i += k
    return out


def carbon_summary(fit: dict[str, Any], laser_nm: float) -> dict[str, tuple[float, float, str]]:
    """I_D/I_G (heights and areas), L_a and the D, G maxima with standard uncertainties: name → (value, σ, unit)."""
    bands = {b.name: b for b in fit["bands"]}
    sl = _band_slices(fit["bands"])
    d, g = bands["D"], bands["G"]
    p, cov = fit["x"], fit["cov"]

    def height(band: Band) -> Any:
        return lambda q: band_maximum(band.profile, q[sl[band.name]])[1]

    def area(band: Band) -> Any:
        return lambda q: band_area(band.profile, q[sl[band.name]])

    out: dict[str, tuple[float, float, str]] = {}
    out["ID_IG_height"] = (*_propagate(lambda q: height(d)(q) / height(g)(q), p, cov), "1")
    if g.profile != "bwf" or abs(p[sl["G"]][3]) == 0:
        ratio = _propagate(lambda q: area(d)(q) / area(g)(q), p, cov)
        out["ID_IG_area"] = (*ratio, "1")
        out["La_nm"] = (*_propagate(lambda q: cancado_la_nm(area(d)(q) / area(g)(q), laser_nm), p, cov), "nm")
    else:
        out["La_nm"] = (*_propagate(lambda q: cancado_la_nm(height(d)(q) / height(g)(q), laser_nm), p, cov), "nm")
    for band in (d, g):
        if band.profile == "bwf":
            out[f"{band.name}_maximum_cm1"] = (*_propagate(
                lambda q, b=band: band_maximum(b.profile, q[sl[b.name]])[0], p, cov), "cm-1")
    return out


def _thin(x: np.ndarray, y: np.ndarray, min_step_cm1: float = 1.0) -> tuple[np.ndarray, np.ndarray, int]:
    step = float(np.median(np.abs(np.diff(x))))
    every = max(1, int(round(min_step_cm1 / step))) if step > 0 else 1
    return x[::every], y[::every], every


def _is_carbon(x: np.ndarray, y: np.ndarray) -> bool:
    def peak(lo: float, hi: float) -> float:
        m = (x >= lo) & (x <= hi)
        return float(np.max(y[m])) if np.any(m) else -np.inf

    floor = float(np.median(y))
    return peak(1300, 1400) > floor and peak(1550, 1630) > floor and x[0] <= 1250 and x[-1] >= 1700


def run_band_fit(spectrum: str | Path, out_dir: str | Path, *, laser: str | None = None,
                 window: str | None = None,
                 profile: str = "lorentzian", overwrite: bool = False, plot: bool = True,
                 command: str = "twin ir bands") -> dict[str, Any]:
    """Read a measured spectrum, fit the carbon D/D3/G model on the window, write ``OUT/fit_result.json`` (FitResult
    form, ``docs/fit-result.md``) and ``OUT/bands.png``. Returns the result dict with ``path``.

    Raises:
        DataFormatError: an unreadable file, an axis that is not a wavenumber, a spectrum without D and G bands.
        FitError: a bad window or laser wavelength; an existing result without ``overwrite``.
    """
    from instruments.io import read_measurement
    from instruments.measurement import Measurement
    from mofcore.outputs import check_output_dir, new_run_id, output_set
    from twin import __version__
    from twin.datasets import file_sha256
    from twin.fit.result import write_fit_result
    from twin.fit.workflow import relative_path
    from twin.units import parse_quantity

    assumed = laser is None  # the file gives no wavelength: 532 nm, stated in the result
    laser_A = parse_quantity("532 nm" if assumed else laser, "length", where="--laser")
    laser_nm = laser_A / 10.0
    if not 150.0 <= laser_nm <= 1100.0:
        raise FitError(f"--laser: expected an excitation wavelength between 150 and 1100 nm, got {laser_nm:g} nm")
    lo_w, hi_w = (900.0, 2000.0)
    if window is not None:
        try:
            lo_w, hi_w = (float(v) for v in str(window).split(".."))
        except ValueError:
            raise FitError(f"--range: expected a window in cm-1 such as \"900..2000\", got {window!r}") from None
        if not 0 <= lo_w < hi_w:
            raise FitError(f"--range: expected LOW < HIGH, got {window!r}")
    if profile not in PROFILES:
        raise FitError(f"--profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
    path = Path(spectrum)
    if not path.is_file():
        raise DataFormatError(f"{path}: spectrum file not found")
    out = check_output_dir(out_dir)
    if (Path(out) / "fit_result.json").exists() and not overwrite:
        raise FitError(f"{out}: already holds a fit result (fit_result.json); give --overwrite or another -o")
    m = read_measurement(path)
    if not isinstance(m, Measurement):
        raise DataFormatError(f"{path}: a series of spectra; give one spectrum")
    if m.axis.name != "wavenumber":
        raise DataFormatError(f"{path}: expected a wavenumber axis (Raman shift or IR wavenumber in cm-1), got "
                              f"{m.axis.name} ({m.axis.unit})")
    x = np.asarray(m.axis.values, np.float64)
    y = np.real(np.asarray(m.values)).astype(np.float64)
    order = np.argsort(x)
    x, y = x[order], y[order]
    keep = (x >= lo_w) & (x <= hi_w) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 50:
        raise FitError(f"{path}: only {x.size} points inside {lo_w:g}..{hi_w:g} cm-1")
    if not _is_carbon(x, y):
        raise DataFormatError(f"{path}: no D (1300-1400 cm-1) and G (1550-1630 cm-1) bands inside {lo_w:g}.."
                              f"{hi_w:g} cm-1; the band fit knows the carbon D/G model only")
    x_fit, y_fit, every = _thin(x, y)
    bands = carbon_bands(profile)
    fit = fit_bands(x_fit, y_fit, bands, n_background=2)
    derived = carbon_summary(fit, laser_nm)
    warnings: list[str] = []
    if not fit["converged"]:
        warnings.append(f"Levenberg-Marquardt did not converge in {fit['n_iter']} iterations")
    if fit["at_bound"]:
        warnings.append(f"parameters at a bound: {', '.join(fit['at_bound'])}")
    la = derived["La_nm"][0]
    if not 20.0 <= la <= 500.0:
        warnings.append(f"La = {la:.3g} nm lies outside 20-500 nm, where Cancado et al. (2006) calibrated "
                        "La = 2.4e-10 lambda^4 (I_D/I_G)^-1; for strongly disordered carbon (graphene oxide) it is "
                        "a formal number")
    stated = (" (assumed: not stated in the file; Futamura et al. 2024 source data give none)"
              if assumed else " (given)")
    assumptions = [f"laser wavelength {laser_nm:g} nm{stated}",
                   ("La from the area (integrated-intensity) ratio I_D/I_G, as Cancado et al. (2006) define it"
                    if "ID_IG_area" in derived else "La from the peak-height ratio: a BWF G band has no finite area"),
                   f"sigma constant, set by the residual scatter (chi2_nu = 1); the spectrum thinned to every "
                   f"{every}th point ({every * float(np.median(np.diff(x))):.3g} cm-1 steps) so that points "
                   "counted as independent are not interpolated neighbours",
                   "90 % intervals: +-1.645 sigma of the linearised least-squares covariance"]
    params: dict[str, Any] = {}
    for (name, unit), value, var in zip(fit["names"], fit["x"], np.diag(fit["cov"]), strict=True):
        err = math.sqrt(var) if var >= 0 else math.nan
        params[name] = {"value": float(value), "stderr": err, "unit": unit,
                        "interval_90": [float(value - _Z90 * err), float(value + _Z90 * err)]}
    for name, (value, err, unit) in derived.items():
        params[name] = {"value": value, "stderr": err, "unit": unit,
                        "interval_90": [value - _Z90 * err, value + _Z90 * err], "derived": True}
    std = np.sqrt(np.clip(np.diag(fit["cov"]), 1e-300, None))
    corr = fit["cov"] / np.outer(std, std)
    sigma = fit["sigma"]
    # σ was set from the residual scatter: χ²_ν = 1 by construction; the scatter itself is the figure to report
    fom = {"chi2_reduced": 1.0, "residual_rms": float(sigma[0]),
           "Rwp": float(np.sqrt(np.sum((y_fit - fit["model"]) ** 2) / np.sum(y_fit**2))),
           "n_points": float(x_fit.size), "dof": float(fit["dof"])}
    result: dict[str, Any] = {
        "parameters": params, "figures_of_merit": fom,
        "correlations": {"names": [n for n, _ in fit["names"]], "matrix": np.round(corr, 6).tolist()},
        "convergence": {"converged": fit["converged"], "iterations": fit["n_iter"], "solver": "twin.fit.lm"},
        "warnings": warnings, "techniques": ["raman"],
        "posterior_predictive": [{
            "axis": {"name": "wavenumber", "unit": "cm-1", "values": x_fit.tolist()}, "observed": y_fit.tolist(),
            "median": fit["model"].tolist(), "lower": (fit["model"] - _Z90 * sigma).tolist(),
            "upper": (fit["model"] + _Z90 * sigma).tolist(), "level": 0.9, "label": path.name,
            "quantity": "intensity (a.u.)"}],
        "model": {"kind": "raman-bands-carbon", "bands": [{"name": b.name, "profile": b.profile} for b in bands],
                  "background": "Chebyshev, 2 terms (linear) on the window", "window_cm1": [lo_w, hi_w],
                  "laser_nm": laser_nm, "ratio_for_La": "area" if "ID_IG_area" in derived else "height (BWF G band)",
                  "La_formula": "La(nm) = 2.4e-10 * lambda_nm^4 / (I_D/I_G) (Cancado et al., APL 88, 163106 (2006))",
                  "assumptions": assumptions},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result["measurements"] = [{"path": relative_path(path, out), "sha256": file_sha256(path), "technique": "raman"}]
    result["provenance"] = {"twin_version": __version__, "command": command,
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    run_id = new_run_id()
    result["run_id"] = run_id
    result["outputs"] = ["bands.png"] if plot else []
    with output_set(out, run_id=run_id, last=("fit_result.json",)) as staged:
        if plot:
            _plot(staged.path("bands.png"), x_fit, y_fit, fit, derived, path.name)
        write_fit_result(result, staged.staging)
    result["path"] = str(out / "fit_result.json")
    return result


def _plot(path: Path, x: np.ndarray, y: np.ndarray, fit: dict[str, Any], derived: dict[str, Any],
          title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from instruments.vib.bands import band_profile

    fig, (ax, rax) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(x, y, ".", ms=2, color="0.4", label="measured")
    ax.plot(x, fit["model"], "k-", lw=1.2, label="fit")
    sl = _band_slices(fit["bands"])
    dtype = jnp.result_type(float)
    for band in fit["bands"]:
        part = np.asarray(band_profile(band.profile, jnp.asarray(x, dtype), jnp.asarray(fit["x"][sl[band.name]],
                                                                                         dtype)))
        ax.plot(x, part + fit["background"], "--", lw=1, label=f"{band.name} ({band.profile})")
    ax.plot(x, fit["background"], ":", color="0.5", label="background")
    ratio = derived["ID_IG_area"][0] if "ID_IG_area" in derived else derived["ID_IG_height"][0]
    ax.set_title(f"{title}: I_D/I_G (area) = {ratio:.3g}, La = {derived['La_nm'][0]:.3g} nm", fontsize=9)
    ax.set_ylabel("intensity (a.u.)")
    ax.legend(fontsize=7)
    rax.plot(x, y - fit["model"], "-", lw=0.6, color="C3")
    rax.axhline(0, color="0.5", lw=0.5)
    rax.set_xlabel("Raman shift (cm-1)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_bands(result: dict[str, Any]) -> None:
    for name, entry in result["parameters"].items():
        if name.startswith("background"):
            continue
        lo, hi = entry["interval_90"]
        print(f"{name:22s} {entry['value']:10.5g} {entry['unit']:5s} (90 %: {lo:.5g} .. {hi:.5g})")
    for a in result["model"]["assumptions"]:
        print(f"assumption: {a}")
    for w in result["warnings"]:
        print(f"warning: {w}")
    print(f"wrote {result['path']}")
