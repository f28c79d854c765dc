r"""Sequential fit of a measured in situ XRD series of a layered host (graphene oxide under water vapour).

Every frame of the series is fitted with the layered-stack model of :mod:`instruments.xrd.layered` on the
measured Q axis (no wavelength needed when the files are on Q):

.. math::
    y(q) = s\,\frac{|F(q)|^2 Z(q; \bar d, L_V, \sigma)}{q^2}
         + A\,(q/q_0)^{-\alpha} + \sum_{k<K} b_k T_k(t(q))

— the stacks (scale s; interlayer distance d̄ = ``d001_nm``, layer-weighted coherent thickness
L_V = ``coherent_thickness_nm``, spread of the interlayer distance σ = ``d_spread_nm``), the small-angle scattering
of the sheets as a power law (amplitude A, exponent α, :math:`q_0` the first point of the range; Porod-type
scattering from the sheets' surfaces and voids, G. Porod, Kolloid-Z. 124, 83 (1951)) and a Chebyshev background
(:func:`mofcore.stats.chebyshev_basis`). All 6 + K parameters are refined together by bounded Levenberg–Marquardt
(:func:`twin.fit.lm.levenberg_marquardt`) on residuals weighted by the counting uncertainties
(:func:`mofcore.stats.poisson_sigma`); the linear ones start from the weighted linear least-squares solution at the
start values of the nonlinear ones (:func:`mofcore.stats.solve_scale_background`). Standard uncertainties are
:math:`\sqrt{\mathrm{diag}\,[(J^TJ)^{-1}]\,\chi^2_\nu}` (:func:`twin.fit.stats.fit_statistics`: the crystallographic
convention, scaled by χ²_ν so a misfit widens them).

**Sequential.** Frame k starts from frame k−1's result, and, as a second start, from the position of the
strongest line of :math:`q^2 y` in the range (d̄ = 2π/q_line); the start with the lower χ² is kept (a swelling
of 40 % between two frames would otherwise leave the previous frame's d̄ far from the new line). The first frame
has the line and the same line with stacks a third as thick.

**Range.** By default the fit starts at 0.6 × the lowest 001 position of the series (:func:`auto_q_min`): below it
the stacks' own zero-order scattering (width ≈ 2π/L_V about Q = 0) and the sheets' small-angle scattering overlap,
and the power law cannot tell them apart; ``q_range_inv_nm`` overrides it.

**Thickness interval.** Thickness and spread both broaden a line; with one line in range they correlate strongly,
and where the paracrystal's coherence (≈ 2/(q₀₀₁σ)² layers) is shorter than the stacks, χ² is flat in L_V towards
large values. Its 90 % interval is therefore the profile likelihood (:func:`_thickness_profile`: χ² re-minimised
at ten fixed thicknesses, Δχ² ≤ 2.706 χ²_ν), with no upper end where the data set none (``inf`` in the table, a
warning on the frame); the standard uncertainty from the covariance is reported beside it.

**Per frame, always.** The result of every frame (values, standard uncertainties, χ²_ν, Rwp) is the product: it is
written to ``fit_series.csv`` before ``fit_result.json`` (one output set, :mod:`mofcore.outputs`), and a frame that
shows no stacking line (see :func:`fit_layered_series`) is named in a warning, not silently dropped; only a series
in which no frame has a line is refused (:class:`~twin.errors.FitError`).

**Against uptake.** With an isotherm (CSV with a relative-pressure column, an uptake column and optionally a
``branch`` column), the adsorption branch is interpolated linearly at each frame's P/P0 (frames outside the
measured range get NaN and a warning) and written beside the parameters.

What is not fitted: the shape k of the thickness distribution and the sheet thickness (settings,
:class:`LayeredSettings`), the polarisation factor (needs λ), absorption, the in-plane bands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np

from instruments.observable import Observable
from twin.errors import DataFormatError, FitError

__all__ = ["LayeredSettings", "PARAMETER_NAMES", "PARAMETER_UNITS", "load_layered_series", "fit_layered_series",
           "uptake_at", "read_uptake_isotherm", "run_layered_fit", "XRD_SERIES", "parse_xrd_series_any"]

#: the three physical parameters reported per frame, then the small-angle exponent
PARAMETER_NAMES = ("d001_nm", "coherent_thickness_nm", "d_spread_nm", "small_angle_exponent")
PARAMETER_UNITS = ("nm", "nm", "nm", "1")
_N_NONLINEAR = len(PARAMETER_NAMES)
_Z90 = 1.6448536269514722
#: Δχ²/χ²_ν the stacks must add over the background alone for a frame to count as showing a line (a 10σ signal)
LINE_SIGNIFICANCE = 100.0
#: the default fitted range starts at this fraction of the lowest 001 position of the series
LOW_Q_FRACTION = 0.6
#: fixed thicknesses of the profile likelihood of coherent_thickness_nm (even: two per solver call)
N_PROFILE = 10


@dataclass(frozen=True)
class LayeredSettings:
    """Settings of a layered-series fit (not refined).

    Attributes:
        q_range_inv_nm: fitted Q range [nm⁻¹] (the measured range clipped to it). A ``None`` end uses the data's,
            except the low end by default: it starts at :data:`LOW_Q_FRACTION` × the 001 position of the most
            swollen frame (:func:`auto_q_min`), leaving out the small-angle region where the stacks' own
            zero-order scattering (width ≈ 2π/L_V about Q = 0) overlaps the sheets' small-angle scattering.
        n_background: Chebyshev background terms K (orders 0 … K−1).
        shape: negative-binomial shape k of the number of layers (:mod:`instruments.xrd.layered`).
        sheet_rms_nm: rms half-thickness δ of a sheet [nm].
        max_iter: Levenberg–Marquardt iteration limit per start.
        bounds: (lower, upper) of d001_nm, coherent_thickness_nm, d_spread_nm, small_angle_exponent.
        profile: compute the profile-likelihood 90 % interval of the coherent thickness (ten more fits per frame).
    """

    q_range_inv_nm: tuple[float | None, float | None] = (None, None)
    n_background: int = 4
    shape: float = 3.0
    sheet_rms_nm: float = 0.1
    max_iter: int = 200
    profile: bool = True
    bounds: tuple[tuple[float, float], ...] = field(
        default=((0.3, 3.0), (0.5, 300.0), (1e-3, 0.4), (1.0, 6.0)))


# ------------------------------------------------------------------------------------------- data
def load_layered_series(path: str | Path, *, wavelength_A: float | None = None,
                        q_range_inv_nm: tuple[float | None, float | None] = (None, None)) -> Observable:
    """A measured series on one Q grid [nm⁻¹] (:func:`instruments.xrd.technique.align_xrd_q`), cut to the range,
    with a driving condition on every frame (pressure, P/P0 or RH; :func:`twin.fit.xrd_series.driving_condition`).

    Raises:
        DataFormatError: unreadable files, a single pattern, frames on different grids, a 2θ series without λ.
        FitError: no driving condition, or fewer than 20 points in the range.
    """
    from dataclasses import replace

    from instruments.observable import Axis
    from instruments.xrd.technique import align_xrd_q
    from twin.fit.xrd_series import _require_driving

    data = align_xrd_q(path, wavelength_A=wavelength_A)
    _require_driving(data, path)
    q = np.asarray(data.axis.values, dtype=np.float64) * 10.0
    lo = auto_q_min(q, np.asarray(data.values)) if q_range_inv_nm[0] is None else max(q[0], float(q_range_inv_nm[0]))
    hi = q[-1] if q_range_inv_nm[1] is None else min(q[-1], float(q_range_inv_nm[1]))
    keep = (q >= lo) & (q <= hi) & (q > 0.0)
    if np.count_nonzero(keep) < 20:
        raise FitError(f"{path}: {np.count_nonzero(keep)} points in the fitted Q range {lo:g}..{hi:g} nm⁻¹ (measured "
                       f"{q[0]:g}..{q[-1]:g} nm⁻¹); at least 20 are needed")
    return replace(data, axis=Axis(q[keep], "q", "1/nm"), values=np.asarray(data.values)[:, keep],
                   sigma=np.asarray(data.sigma)[:, keep])


def auto_q_min(q_inv_nm: np.ndarray, counts: np.ndarray) -> float:
    """Default start of the fitted range [nm⁻¹]: :data:`LOW_Q_FRACTION` × the lowest line position of the frames
    (:func:`_line_position`), never below the data's first point."""
    q = np.asarray(q_inv_nm, dtype=np.float64)
    lines = [_line_position(q, np.asarray(y, dtype=np.float64)) for y in counts]
    return float(max(q[0], LOW_Q_FRACTION * min(lines)))


def read_uptake_isotherm(path: str | Path) -> tuple[np.ndarray, np.ndarray, str]:
    """The adsorption branch of an isotherm CSV: (P/P0 ascending, uptake, the uptake column's name).

    Columns: a relative pressure (``relative_pressure``, ``p_p0``, ``P/P0``), an uptake (the first column whose name
    starts with ``uptake``, ``loading``, ``amount`` or ``n_``), and optionally ``branch`` (rows ``adsorption`` kept;
    without it every row is taken as adsorption).

    Raises:
        DataFormatError: missing columns, non-numeric cells, fewer than two adsorption points (file and line named).
    """
    from instruments.xrd.technique import RELATIVE_PRESSURE_COLUMNS

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read the isotherm ({error})") from None
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.startswith("#")]
    if len(lines) < 3:
        raise DataFormatError(f"{path}: an isotherm needs a header and at least two rows")
    names = [c.strip() for c in lines[0][1].split(",")]
    keys = [n.lower().replace(" ", "").replace("(", "").replace(")", "") for n in names]
    ip = next((i for i, k in enumerate(keys) if k in RELATIVE_PRESSURE_COLUMNS), None)
    iu = next((i for i, k in enumerate(keys) if k.startswith(("uptake", "loading", "amount", "n_"))), None)
    ib = next((i for i, k in enumerate(keys) if k == "branch"), None)
    if ip is None or iu is None:
        raise DataFormatError(f"{path}, line {lines[0][0]}: expected a relative-pressure column (relative_pressure, "
                              f"p_p0) and an uptake column (uptake_…), got {names}")
    p, u = [], []
    for lineno, line in lines[1:]:
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(names):
            raise DataFormatError(f"{path}, line {lineno}: expected {len(names)} cells, got {len(cells)}")
        if ib is not None and cells[ib].lower() not in ("adsorption", "ads", "a"):
            continue
        try:
            p.append(float(cells[ip]))
            u.append(float(cells[iu]))
        except ValueError:
            raise DataFormatError(f"{path}, line {lineno}: expected numbers, got {cells[ip]!r}, {cells[iu]!r}") from None
    if len(p) < 2:
        raise DataFormatError(f"{path}: fewer than two adsorption points")
    order = np.argsort(p, kind="stable")
    return np.asarray(p)[order], np.asarray(u)[order], names[iu]


def uptake_at(relative_pressure: np.ndarray, p_isotherm: np.ndarray, uptake: np.ndarray) -> np.ndarray:
    """Linear interpolation of the adsorption branch at each P/P0; NaN outside the measured range."""
    x = np.asarray(relative_pressure, dtype=np.float64)
    out = np.interp(x, p_isotherm, uptake)
    return np.where((x >= p_isotherm[0]) & (x <= p_isotherm[-1]), out, np.nan)


# ------------------------------------------------------------------------------------------- model
def _model_parts(x: Any, q: Any, settings: LayeredSettings) -> Any:
    """Design columns at the nonlinear values: (stack pattern, small-angle term, Chebyshev T_k...), (K+2, n)."""
    import jax.numpy as jnp

    from instruments.xrd.layered import layered_pattern
    from mofcore.stats import chebyshev_basis

    d, thickness, spread, alpha = x[0], x[1], x[2], x[3]
    stack = layered_pattern(q, d, thickness, spread, shape=settings.shape, sheet_rms_nm=settings.sheet_rms_nm)
    stack = stack / jnp.max(jnp.abs(stack))  # scale of order the counts
    small_angle = (q / q[0]) ** (-alpha)
    cheb = chebyshev_basis(q, settings.n_background, q[0], q[-1])
    return jnp.concatenate([stack[None, :], small_angle[None, :], cheb.T], axis=0)


def _model(x: Any, q: Any, settings: LayeredSettings) -> Any:
    parts = _model_parts(x, q, settings)
    return x[_N_NONLINEAR:] @ parts


def _residual(x: Any, q: Any, y: Any, sigma: Any, settings: LayeredSettings) -> Any:
    return (y - _model(x, q, settings)) / sigma


def _linear_start(x: Any, q: Any, y: Any, sigma: Any, settings: LayeredSettings) -> Any:
    import jax.numpy as jnp

    from mofcore.stats import solve_scale_background

    parts = _model_parts(x, q, settings)
    coef = solve_scale_background(parts[:2], y, sigma, q, q[0], q[-1], settings.n_background)
    coef = coef.at[0].set(jnp.maximum(coef[0], 1e-3 * jnp.max(y))).at[1].set(jnp.maximum(coef[1], 0.0))
    return jnp.concatenate([x[:_N_NONLINEAR], coef])


@partial(jax.jit, static_argnames=("settings",))
def _solve(x0: Any, q: Any, y: Any, sigma: Any, lower: Any, upper: Any, settings: LayeredSettings) -> Any:
    """Levenberg–Marquardt from each start (m, n_params) within its own bounds (m, n_params): one compiled solver
    for the fit's two starts and for the profile of the thickness (a parameter is held where lower = upper)."""
    from twin.fit.lm import levenberg_marquardt
    from twin.fit.stats import fit_statistics

    def one(start: Any, lo: Any, hi: Any) -> Any:
        x = _linear_start(start, q, y, sigma, settings)
        res = levenberg_marquardt(_residual, x, q, y, sigma, settings, lower=lo, upper=hi,
                                  max_iter=settings.max_iter)
        stats = fit_statistics(res.residual, res.jacobian, y, sigma)
        return res, stats

    return jax.vmap(one)(x0, lower, upper)


def _thickness_profile(x_best: np.ndarray, chi2_best: float, chi2_nu: float, q: Any, y: Any, sigma: Any,
                       lower: np.ndarray, upper: np.ndarray, settings: LayeredSettings) -> tuple[float, float | None]:
    r"""90 % profile-likelihood interval of the coherent thickness: χ² minimised over every other parameter at
    :data:`N_PROFILE` fixed thicknesses (log-spaced over the bounds), the interval where
    :math:`\chi^2(L) - \chi^2_{min} \le 2.706\,\chi^2_\nu` (Wilks; the χ²_ν scaling matches the standard
    uncertainties), its ends interpolated in ln L. Returns (lower, upper); ``None`` for an upper end that reaches
    the upper bound (the data set no upper limit)."""
    import jax.numpy as jnp

    grid = np.geomspace(max(lower[1], 1.5 * x_best[0]), upper[1], N_PROFILE)
    chi2 = np.empty(N_PROFILE)
    for start in range(0, N_PROFILE, 2):  # the fit's compiled two-start solver, two thicknesses at a time
        x0 = np.tile(x_best, (2, 1))
        x0[:, 1] = grid[start:start + 2]
        lo, hi = np.tile(lower, (2, 1)), np.tile(upper, (2, 1))
        lo[:, 1] = hi[:, 1] = grid[start:start + 2]
        res, _ = _solve(jnp.asarray(x0), q, y, sigma, jnp.asarray(lo), jnp.asarray(hi), settings)
        chi2[start:start + 2] = np.asarray(res.chi2)
    log_l = np.log(np.concatenate([grid, [x_best[1]]]))
    chi2 = np.concatenate([chi2, [chi2_best]])
    order = np.argsort(log_l)
    log_l, delta = log_l[order], chi2[order] - min(chi2_best, float(np.min(chi2)))
    level = 2.706 * max(chi2_nu, 1e-12)
    inside = delta <= level
    k = int(np.argmin(delta))
    j = k
    while j > 0 and inside[j - 1]:
        j -= 1
    low = float(np.exp(log_l[j] if j == 0 else np.interp(level, [delta[j], delta[j - 1]], [log_l[j], log_l[j - 1]])))
    j = k
    while j < len(delta) - 1 and inside[j + 1]:
        j += 1
    if j == len(delta) - 1:
        return low, None
    high = float(np.exp(np.interp(level, [delta[j], delta[j + 1]], [log_l[j], log_l[j + 1]])))
    return low, high


def _background_only_chi2(x: np.ndarray, q: Any, y: Any, sigma: Any, settings: LayeredSettings) -> float:
    """χ² of the best background (small-angle term at the fitted α + Chebyshev) without the stacks."""
    import jax.numpy as jnp

    from mofcore.stats import solve_scale_background

    parts = _model_parts(jnp.asarray(x), q, settings)
    coef = solve_scale_background(parts[1:2], y, sigma, q, q[0], q[-1], settings.n_background)
    r = (y - coef @ parts[1:]) / sigma
    return float(jnp.sum(r * r))


def _line_position(q: np.ndarray, y: np.ndarray) -> float:
    """Q of the strongest line of q²·y: smoothed (running median over 2 % of the points), its broad trend taken off
    by a morphological opening (running minimum, then maximum) over 15 % of the points, which keeps lines narrower
    than that and removes the background and the small-angle tail; the outer 5 % of the points are not searched."""
    from scipy.ndimage import maximum_filter1d, median_filter, minimum_filter1d

    smooth = median_filter(q**2 * y, size=max(3, q.size // 50), mode="nearest")
    wide = max(5, int(0.15 * q.size))
    baseline = maximum_filter1d(minimum_filter1d(smooth, wide, mode="nearest"), wide, mode="nearest")
    edge = max(1, q.size // 20)  # a maximum in the outer 5 % is the rising edge of a tail, not a line to fit
    return float(q[edge + int(np.argmax((smooth - baseline)[edge:-edge]))])


def _peak_start(q: np.ndarray, y: np.ndarray, settings: LayeredSettings) -> np.ndarray:
    """A start from the strongest line of q²·y (the powder factor undone): d̄ = 2π/q_line."""
    q_peak = _line_position(q, y)
    (dlo, dhi), (llo, lhi), (slo, shi), (alo, ahi) = settings.bounds
    d = float(np.clip(2.0 * np.pi / q_peak, dlo, dhi))
    return np.array([d, float(np.clip(12.0 * d, llo, lhi)), float(np.clip(0.05 * d, slo, shi)),
                     float(np.clip(3.0, alo, ahi))])


def fit_layered_series(data: Observable, settings: LayeredSettings = LayeredSettings()) -> dict[str, Any]:
    """Fit every frame sequentially (no I/O); per-frame arrays.

    The stack thickness and the spread of interlayer distances both broaden the lines; they separate through
    the line shape and the order dependence (size: the same breadth for every order; spread: ∝ n²). When the
    paracrystal's own coherence length, about 2/(q₀₀₁σ)² layers, is much shorter than the stacks, L_V is not
    determined from above and runs to its upper bound: a warning says so (seen on graphene oxide, docs/layered.md).

    A frame *shows a stacking line* when the stacks lower χ² by at least :data:`LINE_SIGNIFICANCE`·χ²_ν against
    the best background alone, their 001 position 2π/d̄ lies inside the fitted range and σ < d̄/4 (beyond, the
    paracrystal has no first-order line).

    Args:
        data: from :func:`load_layered_series` (Q axis in nm⁻¹).

    Returns:
        ``{"names", "units", "values" (n_frames, n_params), "esd", "y_calc" (n_frames, n_points), "background"
        (n_frames, n_points), "chi2", "chi2_reduced", "rwp", "rexp", "converged", "n_iter", "line" (bool per frame),
        "correlation" (n_frames, 4, 4) of the nonlinear parameters, "start" (which start won), "warnings",
        "wall_time_s"}``.

    Raises:
        FitError: no frame of the series shows a stacking line in the range.
    """
    import jax.numpy as jnp

    t0 = time.perf_counter()
    names = list(PARAMETER_NAMES) + ["scale", "small_angle_amplitude"] + [f"background_{k}"
                                                                         for k in range(settings.n_background)]
    units = list(PARAMETER_UNITS) + ["counts", "counts"] + ["counts"] * settings.n_background
    n_lin = 2 + settings.n_background
    q_np = np.asarray(data.axis.values, dtype=np.float64)
    (dlo, dhi) = settings.bounds[0]
    dlo = max(dlo, 2.0 * np.pi / q_np[-1] * 0.98)
    dhi = min(dhi, 2.0 * np.pi / q_np[0] * 1.02)
    lower_nl = np.array([dlo] + [b[0] for b in settings.bounds[1:]])
    upper_nl = np.array([dhi] + [b[1] for b in settings.bounds[1:]])
    out: dict[str, list] = {k: [] for k in ("values", "esd", "y_calc", "background", "chi2", "chi2_reduced", "rwp",
                                            "rexp", "converged", "n_iter", "line", "correlation", "start",
                                            "thickness_interval")}
    warnings: list[str] = []
    previous: np.ndarray | None = None
    with jax.enable_x64(True):
        q = jnp.asarray(q_np)
        lower = jnp.asarray(np.concatenate([lower_nl, [0.0, 0.0], np.full(n_lin - 2, -np.inf)]))
        upper = jnp.asarray(np.concatenate([upper_nl, np.full(n_lin, np.inf)]))
        for i in range(data.n_frames):
            y_np = np.asarray(data.values[i], dtype=np.float64)
            y, s = jnp.asarray(y_np), jnp.asarray(np.asarray(data.sigma[i], dtype=np.float64))
            peak = _peak_start(q_np, y_np, settings)
            # two starts on every frame (one compiled solver): the line found in the data, and the previous frame's
            # result (on the first frame: the same line with stacks a third as thick)
            second = previous[:_N_NONLINEAR] if previous is not None else peak * np.array([1.0, 1.0 / 3.0, 1.0, 1.0])
            starts = [peak, second]
            x0 = np.clip(np.stack(starts), lower_nl, upper_nl)
            x0 = jnp.asarray(np.concatenate([x0, np.zeros((x0.shape[0], n_lin))], axis=1))
            res, stats = _solve(x0, q, y, s, jnp.tile(lower, (2, 1)), jnp.tile(upper, (2, 1)), settings)
            chi2 = np.asarray(res.chi2)
            best = int(np.nanargmin(np.where(np.isfinite(chi2), chi2, np.inf)))
            x = np.asarray(res.x[best], dtype=np.float64)
            previous = x
            esd = np.asarray(stats.esd[best], dtype=np.float64)
            parts = np.asarray(_model_parts(jnp.asarray(x), q, settings))
            y_calc = x[_N_NONLINEAR:] @ parts
            background = x[_N_NONLINEAR + 1:] @ parts[1:]
            chi2_nu = float(stats.chi2_reduced[best])
            delta = _background_only_chi2(x, q, y, s, settings) - float(chi2[best])
            q001 = 2.0 * np.pi / x[0]
            line = bool(delta >= LINE_SIGNIFICANCE * max(chi2_nu, 1.0) and q_np[0] < q001 < q_np[-1]
                        and x[2] < 0.25 * x[0])
            out["values"].append(x)
            out["esd"].append(esd)
            out["y_calc"].append(y_calc)
            out["background"].append(background)
            out["chi2"].append(float(chi2[best]))
            out["chi2_reduced"].append(chi2_nu)
            out["rwp"].append(float(stats.rwp[best]))
            out["rexp"].append(float(stats.rexp[best]))
            out["converged"].append(bool(res.converged[best]))
            out["n_iter"].append(int(res.n_iter[best]))
            out["line"].append(line)
            out["correlation"].append(np.asarray(stats.correlation[best])[:_N_NONLINEAR, :_N_NONLINEAR])
            out["start"].append("line in the data" if best == 0 else ("previous frame" if i else "thinner stacks"))
            out["thickness_interval"].append(_thickness_profile(x, float(chi2[best]), chi2_nu, q, y, s,
                                                                np.asarray(lower), np.asarray(upper), settings)
                                             if settings.profile else (np.nan, np.nan))
            label = data.labels[i] if data.labels else str(i)
            if not line:
                warnings.append(f"frame {label}: no stacking line in {q_np[0]:g}..{q_np[-1]:g} nm⁻¹ (the stacks lower "
                                f"χ² by {delta:.3g}, below {LINE_SIGNIFICANCE:g}·χ²_ν); its parameters mean nothing")
            if not bool(res.converged[best]):
                warnings.append(f"frame {label}: Levenberg–Marquardt stopped at the iteration limit {settings.max_iter}")
            at_bound = [names[k] for k in range(3)
                        if min(abs(x[k] - lower_nl[k]), abs(upper_nl[k] - x[k])) <= 1e-6 * max(1.0, abs(x[k]))]
            low, high = out["thickness_interval"][-1]
            if at_bound == ["coherent_thickness_nm"] and abs(upper_nl[1] - x[1]) <= 1e-6 * x[1] or high is None:
                limit = f" (90 %: ≥ {low:.3g} nm, profile likelihood)" if np.isfinite(low) else ""
                warnings.append(f"frame {label}: coherent_thickness_nm has no upper limit up to its bound "
                                f"{upper_nl[1]:g} nm: the line breadth is explained by the spread of interlayer distances "
                                "(the paracrystal loses coherence over about "
                                f"{2.0 / (2.0 * np.pi / x[0] * x[2]) ** 2:.3g} layers); the data give only a lower limit "
                                f"on the stack thickness{limit}")
                at_bound = [n for n in at_bound if n != "coherent_thickness_nm"]
                if at_bound:
                    warnings.append(f"frame {label}: on a bound: {', '.join(at_bound)}")
            elif at_bound:
                warnings.append(f"frame {label}: on a bound: {', '.join(at_bound)}")
    result = {k: np.asarray(v) for k, v in out.items() if k != "thickness_interval"}
    result["thickness_interval"] = np.asarray([[lo, np.inf if hi is None else hi]
                                               for lo, hi in out["thickness_interval"]], dtype=np.float64)
    if not np.any(result["line"]):
        raise FitError(f"{data.source}: no frame shows a stacking (00l) line in the fitted range "
                       f"{q_np[0]:g}..{q_np[-1]:g} nm⁻¹; a layered fit needs a 001 line inside the range "
                       "(check the range and that this is a layered material)")
    result.update({"names": names, "units": units, "warnings": warnings, "wall_time_s": time.perf_counter() - t0})
    return result


# ------------------------------------------------------------------------------------------- edge: files
def _summary(data: Observable, fit: dict[str, Any], settings: LayeredSettings, uptake: np.ndarray | None,
             uptake_name: str | None) -> dict[str, Any]:
    """The ``fit_result.json`` content (without measurements and provenance)."""
    from mofcore.stats import pooled_figures_of_merit
    from twin.fit.xrd_series import driving_condition

    driver, drive, drive_unit = driving_condition(data)  # type: ignore[misc]
    params: dict[str, Any] = {}
    bounds = dict(zip(PARAMETER_NAMES, settings.bounds, strict=True))
    for i, label in enumerate(data.labels):
        tag = Path(label).stem
        for k, name in enumerate(PARAMETER_NAMES[:3]):
            v, e = float(fit["values"][i, k]), float(fit["esd"][i, k])
            lo, hi = bounds[name]
            entry = {"value": v, "stderr": e, "unit": PARAMETER_UNITS[k],
                     "interval_90": [max(v - _Z90 * e, lo), min(v + _Z90 * e, hi)], "frame": label,
                     driver: float(drive[i])}
            low, high = fit["thickness_interval"][i]
            if name == "coherent_thickness_nm" and np.isfinite(low):
                entry["interval_90"] = [float(low), float(min(high, hi))]
                entry["interval_method"] = "profile likelihood (Δχ² ≤ 2.706 χ²_ν)"
                entry["upper_limit_determined"] = bool(np.isfinite(high))
            params[f"{name}_{tag}"] = entry
    n_free = len(fit["names"])
    dof = np.full(data.n_frames, max(len(data.axis) - n_free, 1))
    fom = {**pooled_figures_of_merit(fit["chi2"], dof, data.values, data.sigma).as_dict(),
           "Rwp_worst_frame": float(np.max(fit["rwp"])), "chi2_reduced_worst_frame": float(np.max(fit["chi2_reduced"])),
           "n_frames": float(data.n_frames)}
    series: dict[str, Any] = {
        "frame": list(data.labels), "driving_condition": driver, "driving_unit": drive_unit,
        "relative_pressure": data.condition("relative_pressure").tolist(),
        "relative_humidity": data.condition("relative_humidity").tolist(),
        "pressure_bar": data.condition("pressure_bar").tolist(),
        "temperature_K": data.condition("temperature_K").tolist(), "time_s": data.condition("time_s").tolist(),
        "chi2_reduced": fit["chi2_reduced"].tolist(), "Rwp": fit["rwp"].tolist(), "Rexp": fit["rexp"].tolist(),
        "converged": fit["converged"].tolist(), "line": fit["line"].tolist(), "start": fit["start"].tolist(),
        "coherent_thickness_interval_90": [[float(lo), float(hi) if np.isfinite(hi) else None]
                                           for lo, hi in fit["thickness_interval"]],
        "values": {n: fit["values"][:, k].tolist() for k, n in enumerate(fit["names"])},
        "esd": {n: fit["esd"][:, k].tolist() for k, n in enumerate(fit["names"])},
        "units": dict(zip(fit["names"], fit["units"], strict=True)),
        "q_inv_nm": np.asarray(data.axis.values).tolist(),
        "observed": np.asarray(data.values).tolist(), "calculated": fit["y_calc"].tolist(),
        "background": fit["background"].tolist(),
    }
    if uptake is not None:
        series["uptake"] = {"name": uptake_name, "values": uptake.tolist()}
    q = np.asarray(data.axis.values).tolist()
    label_unit = "P/P0" if driver == "relative_pressure" else ("RH" if driver == "relative_humidity" else "bar")
    predictive = []
    for k in sorted({0, data.n_frames // 2, data.n_frames - 1}):
        yc = np.clip(fit["y_calc"][k], 0.0, None)
        half = _Z90 * np.sqrt(np.maximum(yc, 1.0))
        predictive.append({"axis": {"name": "Q", "unit": "1/nm", "values": q}, "observed": np.asarray(data.values)[k].tolist(),
                           "median": yc.tolist(), "lower": (yc - half).tolist(), "upper": (yc + half).tolist(),
                           "level": 0.9, "label": f"frame {data.labels[k]}, {label_unit} {drive[k]:.3g}",
                           "quantity": "counts"})
    corr = np.mean(fit["correlation"], axis=0)
    return {"parameters": params, "figures_of_merit": fom,
            "correlations": {"names": list(PARAMETER_NAMES), "matrix": np.nan_to_num(corr).tolist(),
                             "note": "mean over frames of the per-frame correlation matrices of the nonlinear parameters"},
            "series": series, "posterior_predictive": predictive,
            "convergence": {"converged": fit["converged"].tolist(), "iterations": fit["n_iter"].tolist(),
                            "wall_time_s": fit["wall_time_s"]},
            "warnings": list(fit["warnings"])}


def series_columns(result: dict[str, Any]) -> dict[str, Any]:
    """The ``fit_series.csv`` columns: conditions, the three parameters with ``_stderr``, uptake, χ²_ν, Rwp."""
    s = result["series"]
    v, e = s["values"], s["esd"]
    columns: dict[str, Any] = {"frame": s["frame"]}
    for name in ("relative_pressure", "relative_humidity", "pressure_bar", "temperature_K", "time_s"):
        if np.any(np.isfinite(np.asarray(s[name], dtype=np.float64))):
            columns[name] = s[name]
    if "uptake" in s:
        columns[s["uptake"]["name"]] = s["uptake"]["values"]
    for name in PARAMETER_NAMES:
        columns[name] = v[name]
        columns[f"{name}_stderr"] = e[name]
        if name == "coherent_thickness_nm":  # the profile-likelihood 90 % interval (inf: no upper limit)
            interval = s["coherent_thickness_interval_90"]
            columns["coherent_thickness_nm_lower_90"] = [lo for lo, _ in interval]
            columns["coherent_thickness_nm_upper_90"] = [np.inf if hi is None else hi for _, hi in interval]
    columns.update({"chi2_nu": s["chi2_reduced"], "rwp": s["Rwp"], "rexp": s["Rexp"], "converged": s["converged"],
                    "stacking_line": s["line"]})
    return columns


def _find_isotherm(series_path: Path) -> Path | None:
    """A single ``isotherm*.csv`` in the series folder or beside it."""
    for where in (series_path, series_path.parent):
        if where.is_dir():
            found = sorted(where.glob("isotherm*.csv"))
            if len(found) == 1:
                return found[0]
    return None


def run_layered_fit(series_path: str | Path, out_dir: str | Path, *, settings: LayeredSettings = LayeredSettings(),
                    uptake_path: str | Path | None = None, find_uptake: bool = True, wavelength_A: float | None = None,
                    source_text: str | None = None, command: str = "twin fit", plot: bool = True) -> dict[str, Any]:
    """Read the series, fit it, and write ``OUT/fit_series.csv`` (per frame, first), ``OUT/fit_layered.png`` and
    ``OUT/fit_result.json`` as one output set (:func:`mofcore.outputs.output_set`). Returns the result dict with
    ``path`` added. The caller holds the output lock (``twin fit`` does).

    Raises:
        FitError/DataFormatError: bad input, named.
    """
    from twin import __version__
    from twin.datasets import file_sha256
    from twin.fit.workflow import measurement_entries, relative_path, write_series_fit

    series_path = Path(series_path)
    data = load_layered_series(series_path, wavelength_A=wavelength_A, q_range_inv_nm=settings.q_range_inv_nm)
    isotherm = Path(uptake_path) if uptake_path is not None else (_find_isotherm(series_path) if find_uptake else None)
    uptake = uptake_name = None
    iso = None
    notes: list[str] = []
    if isotherm is not None:
        iso = read_uptake_isotherm(isotherm)
        p_rel = data.condition("relative_pressure")
        if not np.all(np.isfinite(p_rel)):
            p_rel = data.condition("relative_humidity")
        uptake = uptake_at(p_rel, iso[0], iso[1])
        uptake_name = iso[2]
        outside = [lab for lab, u in zip(data.labels, uptake, strict=True) if not np.isfinite(u)]
        if outside:
            notes.append(f"uptake: frames {', '.join(outside[:5])} lie outside the isotherm's adsorption branch "
                         f"({iso[0][0]:g}..{iso[0][-1]:g} P/P0); no uptake for them")
    fit = fit_layered_series(data, settings)
    result = _summary(data, fit, settings, uptake, uptake_name)
    result["warnings"] += notes
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result["measurements"] = measurement_entries(series_path, out, "xrd")
    if isotherm is not None:
        result["measurements"].append({"path": relative_path(isotherm, out), "sha256": file_sha256(isotherm),
                                       "technique": "isotherm"})
        result["isotherm"] = {"path": relative_path(isotherm, out), "branch": "adsorption",
                              "relative_pressure": iso[0].tolist(), "uptake": iso[1].tolist(), "uptake_name": iso[2]}
    result["techniques"] = ["xrd"]
    result["model"] = {
        "kind": "xrd-series-layered", "forward_model": "instruments.xrd.layered.layered_pattern",
        "interference": "paracrystal (Gaussian interlayer distances), N = 1 + negative binomial (shape k)",
        "shape_k": settings.shape, "sheet_rms_nm": settings.sheet_rms_nm, "n_background": settings.n_background,
        "small_angle": "A (q/q0)^-alpha", "powder_factor": "1/q^2", "polarisation": "not applied (no wavelength on a Q axis)",
        "q_range_inv_nm": [float(data.axis.values[0]), float(data.axis.values[-1])],
        "bounds": {n: list(b) for n, b in zip(PARAMETER_NAMES, settings.bounds, strict=True)},
        "coherent_thickness": "layer-weighted mean thickness L_V = <N^2>/<N> d001 (integral breadth 2 pi / L_V)",
        "sequential": "frame k starts from frame k-1 and from the strongest q^2 y maximum; the lower chi2 is kept",
        "driving_condition": result["series"]["driving_condition"],
        "wavelength": "not needed: the series is on Q" if wavelength_A is None else f"{wavelength_A} Å"}
    result["provenance"] = {"twin_version": __version__, "command": command, "fit_file": source_text,
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_series_fit(out, result, series_columns(result), "fit_layered.png" if plot else None,
                     lambda path, res, run_id: _plot(path, res, run_id=run_id))
    return result


def _plot(path: Path, result: dict[str, Any], *, run_id: str | None = None) -> None:
    """Measured against model per frame (offset, residuals below) and the three parameters against the driving
    condition beside the isotherm."""
    import matplotlib

    from twin.fit.workflow import png_metadata

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["series"]
    q = np.asarray(s["q_inv_nm"])
    obs, calc = np.asarray(s["observed"]), np.asarray(s["calculated"])
    n = obs.shape[0]
    x = np.asarray(s[s["driving_condition"]], dtype=np.float64)
    xlabel = {"relative_pressure": "P/P0", "relative_humidity": "relative humidity"}.get(s["driving_condition"],
                                                                                         "pressure (bar)")
    fig = plt.figure(figsize=(13, 7.5))
    grid = fig.add_gridspec(4, 3, height_ratios=[3, 1, 3, 1])
    ax = fig.add_subplot(grid[0:3, 0])
    axr = fig.add_subplot(grid[3, 0], sharex=ax)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, n))
    step = float(np.nanmax(q**2 * obs)) * 0.35
    for i in range(n):
        ax.plot(q, q**2 * obs[i] + i * step, ".", ms=1.2, color=colours[i])
        ax.plot(q, q**2 * calc[i] + i * step, "-", lw=0.8, color="#CC3311", label="model" if i == 0 else None)
        ax.text(q[-1], q[-1] ** 2 * calc[i, -1] + i * step, f" {x[i]:.3g}", fontsize=7, va="center")
        axr.plot(q, (obs[i] - calc[i]) / np.sqrt(np.maximum(obs[i], 1.0)), "-", lw=0.5, color=colours[i])
    ax.set_ylabel("q² × counts (offset by frame)")
    ax.set_title(f"measured (dots) and model; labels: {xlabel}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    axr.set_xlabel("Q (nm⁻¹)")
    axr.set_ylabel("(obs − calc)/σ")
    v, e = s["values"], s["esd"]
    middle = grid[:, 1].subgridspec(3, 1)
    for row, (name, label) in enumerate((("d001_nm", "d001 (nm)"), ("coherent_thickness_nm", "coherent thickness L_V (nm)"),
                                         ("d_spread_nm", "spread of d, σ (nm)"))):
        a = fig.add_subplot(middle[row])
        a.errorbar(x, v[name], yerr=e[name], fmt="o-", ms=4, lw=0.8, capsize=2, color="#0072B2")
        if name == "coherent_thickness_nm":  # the profile-likelihood interval; an open top where none is set
            interval = np.asarray([[lo, np.nan if hi is None else hi] for lo, hi in s["coherent_thickness_interval_90"]])
            a.plot(x, interval[:, 0], "^", ms=4, color="#D55E00", label="90 % lower limit (profile)")
            a.set_yscale("log")
            a.legend(fontsize=7)
        a.set_ylabel(label, fontsize=8)
        a.set_xlabel(xlabel, fontsize=8)
    iso = result.get("isotherm")
    a = fig.add_subplot(grid[0:2, 2])
    if iso is not None:
        a.plot(iso["relative_pressure"], iso["uptake"], "o-", ms=3, lw=0.8, color="#009E73", label="adsorption branch")
        if "uptake" in s:
            a.plot(x, s["uptake"]["values"], "x", color="#D55E00", ms=7, label="at the XRD frames")
        a.set_ylabel(iso["uptake_name"])
        a.legend(fontsize=8)
    a.set_xlabel(xlabel)
    a.set_title("isotherm", fontsize=9)
    a = fig.add_subplot(grid[2:4, 2])
    if "uptake" in s:
        a.errorbar(s["uptake"]["values"], v["d001_nm"], yerr=e["d001_nm"], fmt="o-", ms=4, lw=0.8, capsize=2,
                   color="#0072B2")
        a.set_xlabel(s["uptake"]["name"])
        a.set_ylabel("d001 (nm)")
        a.set_title("interlayer distance against uptake", fontsize=9)
    fig.suptitle("layered-stack fit (paracrystalline stacks, docs/layered.md)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=png_metadata(run_id))
    plt.close(fig)


# ------------------------------------------------------------------------------------------- fit file (seam)
def parse_xrd_series_any(root: Any, fit: Any, file: Any) -> Any:
    """``technique = "xrd-series"``: ``model = "phases"`` (default: the MOF refinement with a material and an
    instrument, :func:`twin.fit.config.parse_xrd_series`) or ``model = "layered"`` (this module: no material, no
    instrument; keys ``q_range_inv_nm = [lo, hi]``, ``n_background``, ``shape``, ``sheet_rms_nm``, ``uptake`` (an
    isotherm file), ``wavelength_A`` (only for a 2θ series))."""
    from twin.fit.config import FitConfig, _path, parse_xrd_series

    model = fit.string("model", "phases", choices=("phases", "layered"))
    if model == "phases":
        return parse_xrd_series(root, fit, file)
    source, base_dir, text = file
    defaults = LayeredSettings()
    q_range = defaults.q_range_inv_nm
    if fit.has("q_range_inv_nm"):
        raw = fit.raw("q_range_inv_nm")
        if (not isinstance(raw, list) or len(raw) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw) or not raw[0] < raw[1]):
            raise fit.fail("q_range_inv_nm", f"expected two increasing numbers [low, high] in nm⁻¹, got {raw!r}")
        q_range = (float(raw[0]), float(raw[1]))
    settings = LayeredSettings(
        q_range_inv_nm=q_range,
        n_background=fit.integer("n_background", defaults.n_background, minimum=0),
        shape=fit.number("shape", defaults.shape) if fit.has("shape") else defaults.shape,
        sheet_rms_nm=fit.number("sheet_rms_nm", defaults.sheet_rms_nm) if fit.has("sheet_rms_nm") else defaults.sheet_rms_nm)
    if not settings.shape > 0 or not settings.sheet_rms_nm >= 0:
        raise fit.fail("shape", "expected shape > 0 and sheet_rms_nm ≥ 0")
    uptake = _path(fit, "uptake", base_dir, "isotherm file") if fit.has("uptake") else None
    wavelength = fit.number("wavelength_A") if fit.has("wavelength_A") else None
    fit.finish()
    root.expect_keys(("fit", "measurements"))
    entries = root.tables("measurements", required=True)
    if len(entries) != 1:
        raise root.fail("measurements", f"the layered xrd-series fit takes one series (a folder), got {len(entries)}")
    m = entries[0]
    path = _path(m, "path", base_dir, "measured series", folder_ok=True)
    m.finish()
    return FitConfig("xrd-series", "", None, None, ((path, None),), (), {}, None, 0, 0, source, text,
                     options={"model": "layered", "settings": settings, "uptake": uptake, "wavelength_A": wavelength})


def _run_xrd_series_any(cfg: Any, out: Path) -> dict[str, Any]:
    if cfg.options.get("model") == "layered":
        (path, _), = cfg.measurements
        o = cfg.options
        return run_layered_fit(path, out, settings=o["settings"], uptake_path=o["uptake"],
                               find_uptake=o["uptake"] is None, wavelength_A=o["wavelength_A"], source_text=cfg.text)
    from twin.fit.problems import XRD_SERIES as PHASES

    return PHASES.run(cfg, out)


def print_layered(result: dict[str, Any]) -> None:
    """One line per frame (the full table is in fit_series.csv); other xrd-series results as parameter lines."""
    if result.get("model", {}).get("kind") != "xrd-series-layered":
        for name, entry in result["parameters"].items():
            lo, hi = entry["interval_90"]
            print(f"{name:24s} {entry['value']:.5g} {entry['unit']}  (90 %: {lo:.4g} .. {hi:.4g})")
        for warning in result["warnings"]:
            print(f"warning: {warning}")
        return
    s = result["series"]
    v, e = s["values"], s["esd"]
    drive = s[s["driving_condition"]]
    head = {"relative_pressure": "P/P0", "relative_humidity": "RH"}.get(s["driving_condition"], "p (bar)")
    up = s.get("uptake")
    print(f"{'frame':>14s} {head:>7s} {'uptake':>8s}  {'d001 (nm)':>16s}  {'L_V (nm)':>14s}  {'σ_d (nm)':>16s}  "
          f"{'chi2_nu':>7s} {'Rwp':>6s}")
    for i, label in enumerate(s["frame"]):
        u = f"{up['values'][i]:8.3g}" if up else f"{'—':>8s}"
        print(f"{label:>14s} {drive[i]:7.3g} {u}  {v['d001_nm'][i]:7.4f} ± {e['d001_nm'][i]:.4f}  "
              f"{v['coherent_thickness_nm'][i]:6.2f} ± {e['coherent_thickness_nm'][i]:.2f}  "
              f"{v['d_spread_nm'][i]:7.4f} ± {e['d_spread_nm'][i]:.4f}  {s['chi2_reduced'][i]:7.2f} {s['Rwp'][i]:6.3f}")
    for warning in result["warnings"]:
        print(f"warning: {warning}")


def _fit_problem() -> Any:
    from twin.fit.problems import FitProblem

    return FitProblem(parse=parse_xrd_series_any, run=_run_xrd_series_any, print_summary=print_layered)


#: the xrd-series fit problem with its two models (the registry's XRD technique points here)
XRD_SERIES = _fit_problem()
