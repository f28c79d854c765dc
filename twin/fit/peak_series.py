r"""Peak-only refinement of an in situ series: position, width and area of single peaks, frame by frame.

For a host the package has no material file or structure for (a new MOF, a layered or amorphous phase), a series
can still be followed through its peaks, the way a diffractionist does before any structure is known: in each
window :math:`[a, b]` of the axis (2θ or Q, whatever the files are on) one peak on a straight background,

.. math::
    y(x) = A\,\mathrm{pV}(x; x_0, \Gamma, \eta) + b_0 + b_1 u,\qquad u = \frac{x - (a+b)/2}{b - a},

with the unit-area pseudo-Voigt :math:`\mathrm{pV} = \eta L + (1-\eta) G` of one full width at half maximum
:math:`\Gamma` for both parts,

.. math::
    L = \frac{2}{\pi\Gamma}\,\frac{1}{1 + 4 (x - x_0)^2/\Gamma^2},\qquad
    G = \frac{2}{\Gamma}\sqrt{\frac{\ln 2}{\pi}}\;e^{-4\ln 2\,(x - x_0)^2/\Gamma^2}

(G. K. Wertheim, M. A. Butler, K. W. West, D. N. E. Buchanan, Rev. Sci. Instrum. 45, 1369 (1974); the mixing
η is free in [0, 1], as in a single-peak fit of GSAS-II or Fityk). The area :math:`A` is in counts × axis unit.
The six parameters are refined by :func:`twin.fit.lm.levenberg_marquardt` on :math:`(y_o - y_c)/\sigma` with the
counting σ of each point (:func:`mofcore.stats.poisson_sigma`) and their standard uncertainties are
:math:`\sqrt{\mathrm{diag}\,(J^\mathsf{T}J)^{-1}\chi^2_\nu}` (:func:`twin.fit.stats.fit_statistics`).

Sequential: frame k starts from the result of frame k−1 (a ``lax.scan``, one compiled solver per window), and also
from its own data (the highest point of the window, the half-maximum width, the area above the straight line
through the window's ends); the start with the lower χ² is kept, so a peak that jumps between frames is
followed. A peak whose area is below three standard uncertainties in a frame is reported as not detected there.

The d-spacing of each position comes with it: :math:`d = 2\pi/Q` on a Q axis, :math:`d = \lambda/(2\sin\theta)`
on a 2θ axis when the files (or ``wavelength_A``) give the wavelength.

Windows: given (``--peak LO..HI``, repeatable), or found on the mean of the frames with
:func:`scipy.signal.find_peaks` (prominence above ten counting σ; the :data:`MAX_AUTO_PEAKS` most prominent),
each spanning :data:`WINDOW_FWHM` half-widths on both sides of the peak, cut halfway to its neighbours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments.observable import Observable
from twin.errors import FitError

__all__ = ["PeakWindow", "find_windows", "fit_peak_series", "run_peak_series_fit", "MAX_AUTO_PEAKS", "WINDOW_FWHM",
           "PARAMETERS"]

#: peaks followed when no window is given
MAX_AUTO_PEAKS = 4
#: a found window spans this many FWHM on each side of its peak (cut halfway to a neighbour)
WINDOW_FWHM = 2.5
#: the refined parameters of one peak, in order
PARAMETERS = ("position", "fwhm", "area", "eta", "background", "slope")
_Z90 = 1.6448536269514722
_MIN_POINTS = 8


@dataclass(frozen=True)
class PeakWindow:
    """One window of the axis, ``[low, high]`` in the series' axis unit."""

    low: float
    high: float


def _pv(x: Any, centre: Any, fwhm: Any, eta: Any) -> Any:
    import jax.numpy as jnp

    z = (x - centre) / fwhm
    lorentz = 2.0 / (jnp.pi * fwhm) / (1.0 + 4.0 * z**2)
    gauss = 2.0 / fwhm * jnp.sqrt(jnp.log(2.0) / jnp.pi) * jnp.exp(-4.0 * jnp.log(2.0) * z**2)
    return eta * lorentz + (1.0 - eta) * gauss


def _model(p: Any, x: Any, mid: Any, span: Any) -> Any:
    return p[2] * _pv(x, p[0], p[1], p[3]) + p[4] + p[5] * (x - mid) / span


def _residual(p: Any, x: Any, y: Any, sigma: Any, mid: Any, span: Any) -> Any:
    return (y - _model(p, x, mid, span)) / sigma


def _data_start(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A start from the data of one window: the line through its ends, the highest point above it, the width at
    half that height, the area above the line."""
    line = y[0] + (y[-1] - y[0]) * (x - x[0]) / (x[-1] - x[0])
    above = y - line
    k = int(np.argmax(above))
    height = max(float(above[k]), 1e-12)
    half = np.nonzero(above >= 0.5 * height)[0]
    step = float(np.median(np.abs(np.diff(x))))
    fwhm = max(float(x[half[-1]] - x[half[0]]) if half.size else 0.0, 2.0 * step)
    area = max(float(np.trapezoid(np.clip(above, 0.0, None), x)), 1e-12)
    mid, span = 0.5 * (x[0] + x[-1]), x[-1] - x[0]
    b0 = float(np.interp(mid, x, line))
    b1 = float((y[-1] - y[0]) / (x[-1] - x[0]) * span)
    return np.array([x[k], fwhm, area, 0.5, b0, b1])


def find_windows(axis: np.ndarray, values: np.ndarray, sigma: np.ndarray, *, max_peaks: int = MAX_AUTO_PEAKS) -> list[PeakWindow]:
    """Windows around the most prominent peaks of the mean of the frames (module docstring)."""
    from scipy.signal import find_peaks, peak_widths

    mean = np.mean(values, axis=0)
    noise = float(np.median(np.sqrt(np.mean(np.asarray(sigma) ** 2, axis=0)))) / np.sqrt(values.shape[0])
    peaks, props = find_peaks(mean, prominence=10.0 * max(noise, 1e-12))
    if peaks.size == 0:
        return []
    order = np.argsort(props["prominences"])[::-1][:max_peaks]
    peaks = np.sort(peaks[order])
    widths = peak_widths(mean, peaks, rel_height=0.5)[0]  # in points
    step = float(np.median(np.abs(np.diff(axis))))
    windows = []
    for i, (k, w) in enumerate(zip(peaks, widths, strict=True)):
        half = WINDOW_FWHM * max(float(w), 2.0) * step
        low, high = axis[k] - half, axis[k] + half
        if i > 0:
            low = max(low, 0.5 * (axis[peaks[i - 1]] + axis[k]))
        if i + 1 < peaks.size:
            high = min(high, 0.5 * (axis[k] + axis[peaks[i + 1]]))
        windows.append(PeakWindow(float(max(low, axis[0])), float(min(high, axis[-1]))))
    return windows


def _fit_window(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """Sequential fit of one window over all frames (module docstring); host arrays out."""
    import jax
    import jax.numpy as jnp

    from twin.fit.lm import levenberg_marquardt
    from twin.fit.stats import fit_statistics

    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    mid, span = float(0.5 * (x[0] + x[-1])), float(x[-1] - x[0])
    step = float(np.median(np.abs(np.diff(x))))
    scale = float(np.max(np.abs(y))) or 1.0
    lower = jnp.asarray([x[0], 0.5 * step, 0.0, 0.0, -np.inf, -np.inf], dt)
    upper = jnp.asarray([x[-1], span, np.inf, 1.0, np.inf, np.inf], dt)
    starts = np.stack([_data_start(x, yk) for yk in y])
    # work in units where the counts are O(1): float32 keeps its digits for the area and the background
    unit = np.array([1.0, 1.0, scale, 1.0, scale, scale])
    xs, ys, ss = (jnp.asarray(a, dt) for a in (x, y / scale, sigma / scale))
    lo_u, hi_u = lower / jnp.asarray(unit, dt), upper / jnp.asarray(unit, dt)

    def solve(p0: Any, yk: Any, sk: Any) -> Any:
        return levenberg_marquardt(_residual, p0, xs, yk, sk, mid, span, lower=lo_u, upper=hi_u, max_iter=100)

    def frame(previous: Any, inputs: Any) -> tuple[Any, Any]:
        yk, sk, own = inputs
        a, b = solve(previous, yk, sk), solve(own, yk, sk)
        best = jax.tree_util.tree_map(lambda u, v: jnp.where(a.chi2 <= b.chi2, u, v), a, b)
        stats = fit_statistics(best.residual, best.jacobian, yk, sk)
        return best.x, (best.x, stats.esd, best.chi2, stats.chi2_reduced, best.converged)

    run = jax.jit(lambda p0, yy, sig, own: jax.lax.scan(frame, p0, (yy, sig, own))[1])
    own_u = jnp.asarray(starts / unit, dt)
    values, esd, chi2, chi2_nu, converged = run(own_u[0], ys, ss, own_u)
    return {"values": np.asarray(values, float) * unit, "esd": np.asarray(esd, float) * unit,
            "chi2": np.asarray(chi2, float), "chi2_reduced": np.asarray(chi2_nu, float),
            "converged": np.asarray(converged, bool)}


def _d_spacing(axis: Any, position: np.ndarray, esd: np.ndarray, wavelength_A: float | None) -> tuple[np.ndarray, np.ndarray] | None:
    """d [Å] and its standard uncertainty from a position on Q [1/Å or 1/nm] or 2θ [deg] (with λ)."""
    if axis.name == "q":
        per_A = 0.1 if axis.unit in ("1/nm", "nm^-1") else 1.0
        q = position * per_A
        return 2.0 * np.pi / q, 2.0 * np.pi / q**2 * esd * per_A
    if axis.name == "two_theta" and wavelength_A:
        theta = np.radians(position) / 2.0
        d = wavelength_A / (2.0 * np.sin(theta))
        return d, d / np.tan(theta) * np.radians(esd) / 2.0
    return None


def fit_peak_series(data: Observable, windows: list[PeakWindow] | None = None, *,
                    wavelength_A: float | None = None) -> dict[str, Any]:
    """Fit every window of every frame (module docstring) → the ``fit_result.json`` content (without measurements
    and provenance) with a ``series`` table.

    Raises:
        FitError: no peak found (or given) in the series' range, or a window with fewer than 8 points.
    """
    axis = data.axis
    x_all = np.asarray(axis.values, dtype=np.float64)
    order = np.argsort(x_all)
    x_all, values, sigma = x_all[order], np.asarray(data.values, float)[:, order], np.asarray(data.sigma, float)[:, order]
    if windows is None:
        windows = find_windows(x_all, values, sigma)
        if not windows:
            raise FitError(f"{data.source}: no peak stands out of the counting noise in {x_all[0]:g}..{x_all[-1]:g} "
                           f"{axis.unit}; give the windows with --peak LOW..HIGH")
    wavelength_A = wavelength_A or dict(data.attrs).get("wavelength_A")
    t0 = time.perf_counter()
    series: dict[str, Any] = {"frame": list(data.labels), "axis": {"name": axis.name, "unit": axis.unit},
                              "peaks": []}
    for name in ("time_s", "pressure_bar", "relative_pressure", "relative_humidity", "temperature_K"):
        series[name] = data.condition(name).tolist()
    params: dict[str, Any] = {}
    warnings: list[str] = []
    chi2_total = np.zeros(data.n_frames)
    dof_total = np.zeros(data.n_frames)
    for j, window in enumerate(windows, 1):
        keep = (x_all >= window.low) & (x_all <= window.high)
        if np.count_nonzero(keep) < _MIN_POINTS:
            raise FitError(f"peak {j}: the window {window.low:g}..{window.high:g} {axis.unit} holds "
                           f"{np.count_nonzero(keep)} points of the series (at least {_MIN_POINTS} are needed; the "
                           f"series covers {x_all[0]:g}..{x_all[-1]:g} {axis.unit})")
        fit = _fit_window(x_all[keep], values[:, keep], sigma[:, keep])
        v, e = fit["values"], fit["esd"]
        detected = v[:, 2] > 3.0 * e[:, 2]
        peak = {"window": [window.low, window.high], "detected": detected.tolist(),
                "chi2_reduced": fit["chi2_reduced"].tolist(), "converged": fit["converged"].tolist()}
        for k, name in enumerate(PARAMETERS):
            peak[name] = v[:, k].tolist()
            peak[f"{name}_stderr"] = e[:, k].tolist()
        d = _d_spacing(axis, v[:, 0], e[:, 0], wavelength_A)
        if d is not None:
            peak["d_A"], peak["d_A_stderr"] = d[0].tolist(), d[1].tolist()
        series["peaks"].append(peak)
        chi2_total += fit["chi2"]
        dof_total += max(int(np.count_nonzero(keep)) - len(PARAMETERS), 1)
        if not np.all(detected):
            missing = [lab for lab, ok in zip(data.labels, detected, strict=True) if not ok]
            warnings.append(f"peak {j} ({window.low:g}..{window.high:g} {axis.unit}): not detected (area < 3 s.u.) in "
                            f"frames {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        for i, label in enumerate(data.labels):
            for k, name, unit in ((0, "position", axis.unit), (1, "fwhm", axis.unit),
                                  (2, "area", f"counts {axis.unit}")):
                params[f"peak{j}_{name}_{Path(label).stem}"] = {
                    "value": float(v[i, k]), "stderr": float(e[i, k]), "unit": unit, "frame": label,
                    "interval_90": [float(v[i, k] - _Z90 * e[i, k]), float(v[i, k] + _Z90 * e[i, k])]}
    return {"parameters": params,
            "figures_of_merit": {"chi2_reduced": float(np.sum(chi2_total) / np.sum(dof_total)),
                                 "chi2_reduced_worst_frame": float(np.max(chi2_total / dof_total)),
                                 "n_frames": float(data.n_frames), "n_peaks": float(len(windows))},
            "correlations": {"names": [], "matrix": []},
            "series": series, "posterior_predictive": [],
            "convergence": {"converged": bool(all(all(p["converged"]) for p in series["peaks"])),
                            "wall_time_s": time.perf_counter() - t0},
            "warnings": warnings,
            "model": {"kind": "xrd-series-peaks", "profile": "pseudo-Voigt (unit area, free η) + straight background",
                      "windows": [[w.low, w.high] for w in windows],
                      "sequential": "frame k starts from frame k-1 and from its own data; the lower chi2 is kept",
                      "wavelength_A": wavelength_A}}


def series_columns(result: dict[str, Any]) -> dict[str, Any]:
    """The ``fit_series.csv`` columns: the frame, the conditions given, and per peak j ``peak{j}_position_<unit>``,
    ``peak{j}_fwhm_<unit>``, ``peak{j}_area``, ``peak{j}_eta``, each with ``_stderr``, ``peak{j}_d_A`` where a d-spacing
    follows, ``peak{j}_detected`` and ``peak{j}_chi2_nu``."""
    s = result["series"]
    unit = {"deg": "deg", "1/nm": "inv_nm", "1/Å": "inv_A", "1/A": "inv_A"}.get(s["axis"]["unit"], "axis")
    columns: dict[str, Any] = {"frame": s["frame"]}
    for name in ("time_s", "pressure_bar", "relative_pressure", "relative_humidity", "temperature_K"):
        if np.any(np.isfinite(np.asarray(s[name], dtype=np.float64))):
            columns[name] = s[name]
    for j, p in enumerate(s["peaks"], 1):
        for name, label in (("position", f"position_{unit}"), ("fwhm", f"fwhm_{unit}"), ("area", "area"), ("eta", "eta")):
            columns[f"peak{j}_{label}"] = p[name]
            columns[f"peak{j}_{label}_stderr"] = p[f"{name}_stderr"]
        if "d_A" in p:
            columns[f"peak{j}_d_A"], columns[f"peak{j}_d_A_stderr"] = p["d_A"], p["d_A_stderr"]
        columns[f"peak{j}_detected"] = p["detected"]
        columns[f"peak{j}_chi2_nu"] = p["chi2_reduced"]
    return columns


def load_native_series(path: str | Path) -> Observable:
    """A measured series on its own axis (2θ or Q, one grid), with the conditions of each frame."""
    from instruments.xrd.technique import align_native

    return align_native(path)


def run_peak_series_fit(series_path: str | Path, out_dir: str | Path, *, windows: list[PeakWindow] | None = None,
                        wavelength_A: float | None = None, command: str = "twin fit", plot: bool = True) -> dict[str, Any]:
    """Read the series, fit its peaks, and write ``OUT/fit_series.csv`` (per frame, first), ``OUT/fit_peaks.png``
    and ``OUT/fit_result.json`` as one output set. The caller holds the output lock (``twin fit`` does)."""
    from twin import __version__
    from twin.fit.workflow import measurement_entries, png_metadata, write_series_fit

    series_path = Path(series_path)
    data = load_native_series(series_path)
    result = fit_peak_series(data, windows, wavelength_A=wavelength_A)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result["measurements"] = measurement_entries(series_path, out, "xrd")
    result["techniques"] = ["xrd"]
    result["provenance"] = {"twin_version": __version__, "command": command,
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_series_fit(out, result, series_columns(result), "fit_peaks.png" if plot else None,
                     lambda path, res, run_id: _plot(path, res, png_metadata(run_id)))
    return result


def _plot(path: Path, result: dict[str, Any], metadata: dict[str, str]) -> None:
    """Position, FWHM and area of every peak (±1 s.u.) against the frame's driving condition (or frame number)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["series"]
    x, label = np.arange(len(s["frame"]), dtype=float), "frame"
    for name, text in (("pressure_bar", "pressure (bar)"), ("relative_pressure", "relative pressure P/P0"),
                       ("relative_humidity", "relative humidity"), ("temperature_K", "temperature (K)")):
        values = np.asarray(s[name], dtype=np.float64)
        if np.all(np.isfinite(values)) and np.ptp(values) > 0:
            x, label = values, text
            break
    unit = s["axis"]["unit"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for j, p in enumerate(s["peaks"], 1):
        for ax, name, ylabel in zip(axes, ("position", "fwhm", "area"),
                                    (f"position ({unit})", f"FWHM ({unit})", f"area (counts·{unit})"), strict=True):
            ax.errorbar(x, p[name], yerr=p[f"{name}_stderr"], fmt="o-", ms=3, lw=0.8, capsize=2,
                        label=f"peak {j} ({p['window'][0]:.3g}..{p['window'][1]:.3g})")
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle("peak-only refinement of the series (±1 s.u.)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=metadata)
    plt.close(fig)
