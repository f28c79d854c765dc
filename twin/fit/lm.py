r"""Levenberg–Marquardt least squares in JAX, jit-able and ``vmap``-able over problems.

Minimises :math:`\chi^2(x) = \lVert r(x)\rVert^2` for a weighted residual vector
:math:`r_i = (y_{obs,i} - y_{calc,i}(x))/\sigma_i` with box bounds :math:`l \le x \le u`.

Each iteration solves the damped Gauss–Newton system in the column-scaled form used by MINPACK
(J. J. Moré, "The Levenberg–Marquardt algorithm: implementation and theory", Lecture Notes in
Mathematics 630, 105 (1978)): with :math:`D = \operatorname{diag}\lVert J_{:,k}\rVert` and
:math:`\tilde J = J D^{-1} = U S V^\mathsf{T}` (thin SVD),

.. math::
    \delta = -D^{-1} V \operatorname{diag}\!\left(\frac{s_k}{s_k^2 + \lambda}\right) U^\mathsf{T} r ,

i.e. :math:`(J^\mathsf{T}J + \lambda D^2)\,\delta = -J^\mathsf{T} r` (Marquardt's scaling, D. W. Marquardt,
J. Soc. Ind. Appl. Math. 11, 431 (1963)) without ever forming :math:`J^\mathsf{T}J` — the normal equations
square the condition number, which float32 (the default dtype here) cannot afford for Rietveld problems
whose parameters span lattice constants, scales and background coefficients. Damping follows Nielsen's
gain-ratio rule (H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05, DTU; K. Madsen,
H. B. Nielsen, O. Tingleff, *Methods for non-linear least squares problems*, 2nd ed. 2004, §3.2): with
ρ = (χ² − χ²_trial)/(χ² − ‖r + Jδ‖²) the actual over the predicted decrease, an accepted step (ρ > 0) sets
λ ← λ·max(1/3, 1 − (2ρ − 1)³), ν ← 2, a rejected one λ ← λ·ν, ν ← 2ν — fewer rejected trials than
Marquardt's ×10/×1/10. Bounds: a parameter on a bound whose descent direction points out of the box is held
for the step (its column left out of the SVD), and the trial point is projected onto the box (projected LM).

A trial costs one residual evaluation; the Jacobian is evaluated only where a step is accepted
(forward mode, ``jax.jacfwd``: one JVP per parameter, the cheap direction for n_params ≪ n_points, inside a
``lax.cond``, which under ``vmap`` becomes a select and evaluates it anyway). The loop is a
``lax.while_loop``; under ``vmap`` all problems iterate until the last one stops (finished ones are frozen
by the convergence flag).

Why not SciPy: ``scipy.optimize.least_squares`` is a host loop (one Python round trip per evaluation) and
cannot be batched over the frames of an in situ series; see ``benchmarks/bench_fit.py`` for the ratio.
Why not optimistix/jaxopt: neither is installed here and the solver is 100 lines whose numerics we control
(float32-safe SVD step, bounds, convergence flags reported per frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

__all__ = ["LMResult", "levenberg_marquardt"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LMResult:
    """Outcome of :func:`levenberg_marquardt` (leaves get a leading axis under ``vmap``).

    Attributes:
        x: best parameters, (n_params,).
        chi2: χ² = Σ r² at ``x``, ().
        residual: weighted residual r at ``x``, (n_points,).
        jacobian: ∂r/∂x at ``x``, (n_points, n_params).
        n_iter: iterations taken, ().
        converged: True if a tolerance stopped the loop, or λ saturated at 1e12 because no step lowers χ²
            any more (a minimum within floating-point resolution); False at the iteration limit, ().
        lambda_final: damping λ at exit, ().
    """

    x: Float[Array, "n_params"]
    chi2: Float[Array, ""]
    residual: Float[Array, "n_points"]
    jacobian: Float[Array, "n_points n_params"]
    n_iter: Int[Array, ""]
    converged: Bool[Array, ""]
    lambda_final: Float[Array, ""]


def _scaled_step(jac: Array, res: Array, lam: Array) -> tuple[Array, Array]:
    """The damped step δ and the decrease of χ² the undamped Gauss–Newton step would bring, ‖Uᵀr‖².

    Singular values below the rank cut s₀·10·n·ε count as zero: a zero column (a frozen or held parameter) gives
    a singular value of rounding size, not 0, whose arbitrary singular vectors would otherwise take a share of
    the residual (so the gain never falls below ftol·χ²) and, at small λ, a huge step along that parameter.
    """
    norms = jnp.sqrt(jnp.sum(jac * jac, axis=0))
    scale = jnp.where(norms > 0.0, norms, jnp.ones_like(norms))
    u, s, vt = jnp.linalg.svd(jac / scale[None, :], full_matrices=False)
    keep = s > s[0] * 10.0 * jac.shape[1] * jnp.finfo(jac.dtype).eps
    coef = jnp.where(keep, s / (s * s + lam), 0.0)
    ur = jnp.where(keep, u.T @ res, 0.0)
    step = -(vt.T @ (coef * ur)) / scale
    return jnp.where(norms > 0.0, step, 0.0), jnp.sum(ur * ur)


def levenberg_marquardt(
    residual_fn: Callable[..., Float[Array, "n_points"]],
    x0: Float[Array, "n_params"],
    *args: Any,
    lower: Float[Array, "n_params"] | None = None,
    upper: Float[Array, "n_params"] | None = None,
    max_iter: int = 60,
    ftol: float = 1e-6,
    xtol: float = 1e-7,
    lambda0: float = 1e-3,
) -> LMResult:
    r"""Bounded Levenberg–Marquardt minimisation of Σ r(x)² (algorithm in the module docstring).

    Args:
        residual_fn: ``r(x, *args)`` → weighted residuals (n_points,); must be JAX-traceable.
        x0: start (n_params,), projected onto the bounds.
        *args: passed to ``residual_fn`` (arrays are traced, so one compiled solver serves many data sets).
        lower, upper: bounds (n_params,); ``None`` means unbounded (±inf).
        max_iter: iteration limit (accepted + rejected steps).
        ftol: stop when an accepted step lowers χ² by less than ``ftol``·χ², or when the undamped Gauss–Newton
            step would (relative).
        xtol: stop when every |δ_k| < xtol·(|x_k| + xtol).
        lambda0: initial damping relative to the scaled curvature (1e-3: close to Gauss–Newton).

    Returns:
        :class:`LMResult`. Not converged within ``max_iter`` is reported, never raised (the caller
        decides; :mod:`twin.fit.pattern` turns it into a diagnostic per frame).
    """
    dtype = x0.dtype
    inf = jnp.asarray(jnp.inf, dtype)
    lo = jnp.full_like(x0, -inf) if lower is None else jnp.asarray(lower, dtype)
    hi = jnp.full_like(x0, inf) if upper is None else jnp.asarray(upper, dtype)

    def fn(x: Array) -> tuple[Array, Array]:
        r = residual_fn(x, *args)
        return r, r

    jac_and_res = jax.jacfwd(fn, has_aux=True)

    x_start = jnp.clip(x0, lo, hi)
    jac0, res0 = jac_and_res(x_start)
    chi0 = jnp.sum(res0 * res0)

    def cond(state: tuple) -> Array:
        it, done = state[6], state[7]
        return jnp.logical_and(it < max_iter, jnp.logical_not(done))

    def body(state: tuple) -> tuple:
        x, res, jac, chi, lam, nu, it, done = state
        # active bounds: a parameter on a bound whose descent direction −∂χ²/∂x points out of the box takes no
        # part in the step (projecting a step computed with it would spoil the others and cost rejected trials)
        grad = jac.T @ res
        held = ((x <= lo) & (grad > 0.0)) | ((x >= hi) & (grad < 0.0))
        step, gauss_newton_gain = _scaled_step(jnp.where(held[None, :], 0.0, jac), res, lam)
        x_try = jnp.clip(x + step, lo, hi)
        delta = x_try - x
        res_t = residual_fn(x_try, *args)
        chi_t = jnp.sum(res_t * res_t)
        # decrease predicted by the linear model, ‖r‖² − ‖r + Jδ‖² = −(2 r·Jδ + ‖Jδ‖²), written without the
        # difference of two χ²-sized numbers (float32 would cancel it to noise near the minimum)
        jd = jac @ delta
        predicted = -(2.0 * jnp.dot(res, jd) + jnp.dot(jd, jd))
        ok = jnp.isfinite(chi_t) & (chi_t < chi)
        rho = (chi - chi_t) / jnp.where(predicted > 0.0, predicted, jnp.inf)
        # converged in χ²: an accepted step gained less than ftol·χ², or even the undamped Gauss–Newton step of
        # the linear model would gain less (the floating-point floor of χ², reached without waiting for λ to
        # saturate through a series of rejected trials)
        small_f = (ok & ((chi - chi_t) <= ftol * chi)) | (gauss_newton_gain <= ftol * chi)
        small_x = jnp.all(jnp.abs(delta) <= xtol * (jnp.abs(x) + xtol))
        tiny = chi_t <= jnp.asarray(1e-30, dtype)
        new_done = small_f | small_x | (ok & tiny)
        factor = jnp.maximum(jnp.asarray(1.0 / 3.0, dtype), 1.0 - (2.0 * rho - 1.0) ** 3)
        lam_new = jnp.where(ok, lam * factor, lam * nu)
        lam_new = jnp.clip(lam_new, jnp.asarray(1e-12, dtype), jnp.asarray(1e12, dtype))
        nu_new = jnp.where(ok, jnp.asarray(2.0, dtype), jnp.minimum(2.0 * nu, jnp.asarray(1e6, dtype)))
        jac_new = jax.lax.cond(ok, lambda: jac_and_res(x_try)[0], lambda: jac)
        keep = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
        return (keep(x_try, x), keep(res_t, res), jac_new, keep(chi_t, chi), lam_new, nu_new, it + 1,
                new_done | (lam_new >= 1e12))

    state = (x_start, res0, jac0, chi0, jnp.asarray(lambda0, dtype), jnp.asarray(2.0, dtype),
             jnp.asarray(0, jnp.int32), jnp.asarray(False))
    x, res, jac, chi, lam, _, it, done = jax.lax.while_loop(cond, body, state)
    # a NaN/inf χ² (a broken model) stops by λ saturation without a single accepted step: not a convergence
    return LMResult(x=x, chi2=chi, residual=res, jacobian=jac, n_iter=it, converged=done & jnp.isfinite(chi),
                    lambda_final=lam)
