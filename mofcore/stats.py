r"""The statistics every fit of the twin uses: counting uncertainties, figures of merit and the linear solve of a
scale and a Chebyshev background under a model pattern.

Counting uncertainty
    :func:`poisson_sigma`: :math:`\sigma_i = s_i\sqrt{\max(N_i, 1)}` for N detector counts turned into the stored
    intensity by a factor s (1/count time, attenuation). N = 0 keeps σ = s, the convention of Rietveld programs
    (GSAS-II, TOPAS) so that empty steps keep a finite weight.

Figures of merit
    With weights :math:`w_i = 1/\sigma_i^2`, N points and P refined parameters (R. A. Young (ed.), *The Rietveld
    Method*, IUCr/OUP 1993, ch. 1; L. B. McCusker, R. B. Von Dreele, D. E. Cox, D. Louër, P. Scardi, J. Appl.
    Cryst. 32, 36 (1999), eqs. 5–7; B. H. Toby, Powder Diffr. 21, 67 (2006)):

    .. math::
        \chi^2 = \sum_i w_i (y_{o,i} - y_{c,i})^2,\quad
        R_{wp} = \sqrt{\frac{\chi^2}{\sum_i w_i y_{o,i}^2}},\quad
        R_{exp} = \sqrt{\frac{N - P}{\sum_i w_i y_{o,i}^2}},\quad
        \chi^2_\nu = \frac{\chi^2}{N - P} = (R_{wp}/R_{exp})^2,

    with N − P floored at 1. :func:`figures_of_merit` evaluates them for one pattern from its weighted residual,
    :func:`pooled_figures_of_merit` for a whole series (sums over frames of χ², of N − P and of
    :math:`\sum w y_o^2`; Toby 2006 on series-level indices).

Scale and background
    :func:`solve_scale_background`: a pattern is linear in the scale factors of its components and in the
    coefficients of a Chebyshev background (:func:`chebyshev_basis`), so their best values at fixed nonlinear
    parameters solve one weighted linear least-squares problem (W. H. Press et al., *Numerical Recipes*, 3rd ed.,
    CUP 2007, §15.4), solved through the SVD with the columns of the weighted design matrix scaled to unit norm
    first (G. H. Golub, C. F. Van Loan, *Matrix Computations*, 4th ed., JHU Press 2013, §5.3), which keeps a
    scale column of 10⁵ counts and a background column of order 1 well conditioned in float32.

Every function is pure and takes NumPy or JAX arrays: JAX arrays (tracers included) are computed with
:mod:`jax.numpy` in their own dtype, so the functions work under ``jit``/``vmap``; anything else is computed with
NumPy in float64 (readers, reports, host-side summaries).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = [
    "poisson_sigma",
    "FiguresOfMerit",
    "figures_of_merit",
    "pooled_figures_of_merit",
    "chebyshev_basis",
    "solve_scale_background",
]


def _namespace(*arrays: Any) -> ModuleType:
    """:mod:`jax.numpy` when any argument is a JAX array or tracer, else :mod:`numpy`."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _as_array(xp: ModuleType, a: Any) -> Any:
    """``a`` as an array of the namespace: NumPy in float64, JAX in its own (floating) dtype."""
    return np.asarray(a, dtype=np.float64) if xp is np else jnp.asarray(a)


# ------------------------------------------------------------------------------------ counting uncertainty
def poisson_sigma(
    counts: Float[Array, "*shape"], scale: Float[Array, "*shape"] | float = 1.0
) -> Float[Array, "*shape"]:
    r"""Poisson standard uncertainty of (scaled) detector counts.

    .. math:: \sigma_i = s_i \sqrt{\max(N_i, 1)}

    N = 0 gets σ = s (the GSAS-II/TOPAS convention, so that empty steps keep a finite weight in a χ² fit). Dead
    time, detector gain and the uncertainty of s are left out.

    Reference: R. A. Young (ed.), *The Rietveld Method*, IUCr/OUP (1993), ch. 1.

    Args:
        counts: raw counts N [counts], ≥ 0, any shape.
        scale: s, the factor that turns counts into the stored intensity (1/count time [1/s], attenuation
            factor [1]), scalar or broadcastable to ``counts``.

    Returns:
        σ in the unit of s·N, shape of ``counts`` (JAX in the dtype of ``counts``, else NumPy float64).
    """
    xp = _namespace(counts, scale)
    counts = _as_array(xp, counts)
    return _as_array(xp, scale) * xp.sqrt(xp.maximum(counts, 1.0))


# --------------------------------------------------------------------------------------- figures of merit
class FiguresOfMerit(NamedTuple):
    """Agreement of a weighted least-squares fit (module docstring for the equations); a pytree (NamedTuple).

    Attributes:
        rwp: weighted-profile R factor R_wp [1] (a fraction, not percent).
        rexp: expected R factor R_exp [1].
        chi2: χ² = Σ w (y_o − y_c)² [1].
        chi2_reduced: χ²_ν = χ²/(N − P) [1].
    """

    rwp: Any
    rexp: Any
    chi2: Any
    chi2_reduced: Any

    def as_dict(self) -> dict[str, float]:
        """``{"Rwp", "Rexp", "chi2", "chi2_reduced"}`` as Python floats (host side: JSON, reports, the CLI)."""
        return {"Rwp": float(self.rwp), "Rexp": float(self.rexp), "chi2": float(self.chi2),
                "chi2_reduced": float(self.chi2_reduced)}


def _from_sums(xp: ModuleType, chi2: Any, weighted_y2: Any, dof: Any) -> FiguresOfMerit:
    """R_wp, R_exp, χ², χ²_ν from χ², Σ w y_o² and N − P (already floored at 1)."""
    return FiguresOfMerit(rwp=xp.sqrt(chi2 / weighted_y2), rexp=xp.sqrt(dof / weighted_y2), chi2=chi2,
                          chi2_reduced=chi2 / dof)


def figures_of_merit(
    weighted_residual: Float[Array, "n_points"],
    y_obs: Float[Array, "n_points"],
    sigma: Float[Array, "n_points"],
    n_params: int,
) -> FiguresOfMerit:
    r"""R_wp, R_exp, χ² and χ²_ν of one fitted pattern (equations in the module docstring).

    .. math::
        \chi^2 = \sum_i r_i^2,\quad r_i = (y_{o,i} - y_{c,i})/\sigma_i,\quad
        R_{wp} = \sqrt{\chi^2 / \textstyle\sum_i (y_{o,i}/\sigma_i)^2},\quad
        R_{exp} = \sqrt{\max(N - P, 1) / \textstyle\sum_i (y_{o,i}/\sigma_i)^2}

    N is the length of ``weighted_residual``. Excluded regions, restraints and the correlation of neighbouring
    points (which makes R_exp optimistic for oversampled data) are left out.

    Reference: L. B. McCusker et al., J. Appl. Cryst. 32, 36 (1999), eqs. 5–7.

    Args:
        weighted_residual: r (n_points,) [1].
        y_obs: observed intensities y_o, same unit as σ (counts, or arbitrary), (n_points,) — or longer, when the
            weighted residual covers only part of the data and the normalisation all of it.
        sigma: standard uncertainties σ > 0 of ``y_obs``, its shape.
        n_params: P, the number of refined parameters (static).

    Returns:
        :class:`FiguresOfMerit` of scalars (JAX in the residual's dtype, else NumPy float64).
    """
    xp = _namespace(weighted_residual, y_obs, sigma)
    r = _as_array(xp, weighted_residual)
    dof = xp.asarray(max(r.shape[-1] - n_params, 1), dtype=r.dtype)
    chi2 = xp.sum(r**2)
    weighted_y2 = xp.sum((_as_array(xp, y_obs) / _as_array(xp, sigma)) ** 2)
    return _from_sums(xp, chi2, weighted_y2, dof)


def pooled_figures_of_merit(
    chi2: Float[Array, "n_frames"], dof: Float[Array, "n_frames"],
    y_obs: Float[Array, "n_frames n_points"], sigma: Float[Array, "n_frames n_points"],
) -> FiguresOfMerit:
    r"""Series-level R_wp, R_exp, χ², χ²_ν: the equations of :func:`figures_of_merit` with every sum taken over all
    frames and points, i.e. :math:`\chi^2 = \sum_k \chi^2_k`, :math:`N - P = \sum_k \max(N_k - P_k, 1)`,
    normalisation :math:`\sum_{k,i} (y_{o,ki}/\sigma_{ki})^2`. No parameter is shared between frames.

    Reference: B. H. Toby, Powder Diffr. 21, 67 (2006).

    Args:
        chi2: χ² of each frame [1], (n_frames,).
        dof: max(N_k − P_k, 1) of each frame, (n_frames,).
        y_obs: observed intensities, (n_frames, n_points).
        sigma: their standard uncertainties σ > 0, same shape.

    Returns:
        :class:`FiguresOfMerit` of scalars (JAX when any argument is, else NumPy float64).
    """
    xp = _namespace(chi2, dof, y_obs, sigma)
    weighted_y2 = xp.sum((_as_array(xp, y_obs) / _as_array(xp, sigma)) ** 2)
    return _from_sums(xp, xp.sum(_as_array(xp, chi2)), weighted_y2, xp.sum(xp.asarray(dof)))


# ------------------------------------------------------------------------------------ scale and background
def chebyshev_basis(
    x: Float[Array, "n_points"], orders: int | Sequence[int], x_min: float | Float[Array, ""],
    x_max: float | Float[Array, ""],
) -> Float[Array, "n_points n_orders"]:
    r"""Chebyshev polynomials of the first kind on an axis mapped to [−1, 1], by the three-term recurrence.

    .. math::
        t = \frac{2x - x_\mathrm{min} - x_\mathrm{max}}{x_\mathrm{max} - x_\mathrm{min}},\quad
        T_0 = 1,\ T_1 = t,\ T_{k+1} = 2t\,T_k - T_{k-1}

    Reference: M. Abramowitz, I. A. Stegun, *Handbook of Mathematical Functions* (1964), 22.7.4.

    Args:
        x: axis (2θ [deg], Q [Å⁻¹], or a point index), (n_points,).
        orders: K (the orders 0 … K−1) or the orders wanted, in the order of the columns (static).
        x_min, x_max: the axis values mapped to t = −1 and t = 1, same unit as ``x``.

    Returns:
        T_k(t) [1], one column per order, (n_points, n_orders).
    """
    xp = _namespace(x, x_min, x_max)
    x = _as_array(xp, x)
    wanted = tuple(range(orders)) if isinstance(orders, int) else tuple(int(k) for k in orders)
    t = (2.0 * x - (x_min + x_max)) / (x_max - x_min)
    if not wanted:
        return xp.zeros(t.shape + (0,), t.dtype)
    columns = [xp.ones_like(t), t]
    for _ in range(2, max(wanted) + 1):  # a handful of static orders
        columns.append(2.0 * t * columns[-1] - columns[-2])
    return xp.stack([columns[k] for k in wanted], axis=-1)


def solve_scale_background(
    patterns: Float[Array, "n_patterns n_points"],
    y_obs: Float[Array, "n_points"],
    sigma: Float[Array, "n_points"],
    x: Float[Array, "n_points"], x_min: float | Float[Array, ""], x_max: float | Float[Array, ""],
    background: int | Sequence[int] = 3,
    *,
    offset: Float[Array, "n_points"] | None = None,
) -> Float[Array, "n_coefficients"]:
    r"""Scale factors and Chebyshev background coefficients of a pattern by weighted linear least squares.

    .. math::
        \min_{c,\,b}\ \sum_i \Bigl[\bigl(y_{o,i} - o_i - \textstyle\sum_p c_p P_{p,i}
        - \sum_k b_k T_k(t_i)\bigr)/\sigma_i\Bigr]^2

    with P_p the unit-scale component patterns, T_k of :func:`chebyshev_basis` and o a fixed part. Solved as
    :math:`(A D^{-1})^{+}(y_o - o)/\sigma` divided by D, A the design matrix with rows divided by σ and D the
    norms of its columns (a zero column keeps norm 1 and gets coefficient 0); ``lstsq``'s default cut of the
    singular values (machine ε · max(N, n_coefficients)) applies. Bounds (a scale ≥ 0) are the caller's: the
    solution is unconstrained.

    Reference: W. H. Press et al., *Numerical Recipes*, 3rd ed. (2007), §15.4; G. H. Golub, C. F. Van Loan,
    *Matrix Computations*, 4th ed. (2013), §5.3 (column scaling).

    Args:
        patterns: unit-scale components [intensity per unit scale], (n_patterns, n_points); n_patterns may be 0.
        y_obs: observed intensities, (n_points,).
        sigma: their standard uncertainties σ > 0, (n_points,).
        x: the pattern's axis, (n_points,); ``x_min``, ``x_max``: its values mapped to t = ±1 (same unit).
        background: K (orders 0 … K−1) or the orders to refine (static); 0 or ``()`` for none.
        offset: o, a fixed part of the pattern (a fixed scale's pattern, fixed background terms), (n_points,).

    Returns:
        (c_1 … c_n_patterns, b_k for each order in ``background``), (n_patterns + n_orders,); JAX in the dtype
        of the data (works under ``jit``), else NumPy float64.
    """
    xp = _namespace(patterns, y_obs, sigma, x, offset)
    y, s = _as_array(xp, y_obs), _as_array(xp, sigma)
    patterns = xp.reshape(_as_array(xp, patterns), (-1, y.shape[-1]))
    design = xp.concatenate([patterns.T, chebyshev_basis(_as_array(xp, x), background, x_min, x_max)], axis=1)
    if design.shape[1] == 0:
        return xp.zeros((0,), y.dtype)
    a = design / s[:, None]
    rhs = y / s
    if offset is not None:
        rhs = rhs - _as_array(xp, offset) / s
    norms = xp.sqrt(xp.sum(a * a, axis=0))
    safe = xp.where(norms > 0.0, norms, 1.0)
    return xp.linalg.lstsq(a / safe[None, :], rhs, rcond=None)[0] / safe
