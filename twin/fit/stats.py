r"""Figures of merit and parameter uncertainties of a weighted least-squares fit.

Rietveld conventions (R. A. Young (ed.), *The Rietveld Method*, IUCr/OUP 1993, ch. 1; B. H. Toby,
Powder Diffr. 21, 67 (2006)), with weights :math:`w_i = 1/\sigma_i^2`, N points and P free parameters:
R_wp, R_exp, χ² and χ²_ν = χ²/(N − P) as defined and computed once in :mod:`mofcore.stats`
(:func:`mofcore.stats.figures_of_merit`).

Covariance of the parameters from the Jacobian J = ∂r/∂x of the weighted residual at the minimum,
scaled by the goodness of fit as Rietveld programs do (GSAS-II, TOPAS):
:math:`C = (J^\mathsf{T}J)^{-1}\,\chi^2_\nu`, esd :math:`= \sqrt{C_{kk}}`, correlation
:math:`\rho_{kl} = C_{kl}/\sqrt{C_{kk}C_{ll}}`. The inverse is taken through the SVD of the column-scaled
Jacobian (pseudo-inverse with a relative cut of 1e-6 in float32, 1e-10 in float64) so that a parameter the
data do not constrain gives a huge esd and a flag instead of a NaN: :func:`identifiability` names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from mofcore.stats import figures_of_merit

__all__ = ["FitStatistics", "fit_statistics", "identifiability", "correlation_matrix"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class FitStatistics:
    """Figures of merit and covariance (leaves get a leading axis when computed for a series).

    Attributes:
        rwp, rexp: weighted-profile and expected R factors [1], ().
        chi2, chi2_reduced: χ² and χ²/(N − P), ().
        covariance: C (n_params, n_params), scaled by χ²_ν.
        esd: √diag C, (n_params,).
        correlation: ρ (n_params, n_params).
        condition: largest/smallest singular value of the column-scaled Jacobian, ().
    """

    rwp: Float[Array, ""]
    rexp: Float[Array, ""]
    chi2: Float[Array, ""]
    chi2_reduced: Float[Array, ""]
    covariance: Float[Array, "n_params n_params"]
    esd: Float[Array, "n_params"]
    correlation: Float[Array, "n_params n_params"]
    condition: Float[Array, ""]


def correlation_matrix(covariance: Float[Array, "n n"]) -> Float[Array, "n n"]:
    """ρ_kl = C_kl / √(C_kk C_ll) (zero rows for zero variances)."""
    sd = jnp.sqrt(jnp.clip(jnp.diagonal(covariance), 0.0, None))
    safe = jnp.where(sd > 0.0, sd, jnp.ones_like(sd))
    rho = covariance / (safe[:, None] * safe[None, :])
    return jnp.where((sd[:, None] > 0.0) & (sd[None, :] > 0.0), rho, jnp.zeros_like(rho))


def fit_statistics(
    weighted_residual: Float[Array, "n_points"],
    jacobian: Float[Array, "n_points n_params"],
    y_observed: Float[Array, "n_points"],
    sigma: Float[Array, "n_points"],
) -> FitStatistics:
    """Rwp, Rexp, χ², χ²_ν, covariance, esd and correlations (equations in the module docstring).

    Args:
        weighted_residual: r = (y_obs − y_calc)/σ at the minimum, (n_points,).
        jacobian: ∂r/∂x there (n_points, n_params), free parameters only.
        y_observed: y_obs (n_points,).
        sigma: σ (n_points,), > 0.
    """
    fom = figures_of_merit(weighted_residual, y_observed, sigma, jacobian.shape[1])
    norms = jnp.sqrt(jnp.sum(jacobian**2, axis=0))
    scale = jnp.where(norms > 0.0, norms, jnp.ones_like(norms))
    _, s, vt = jnp.linalg.svd(jacobian / scale[None, :], full_matrices=False)
    cut = 1e-6 if jacobian.dtype == jnp.float32 else 1e-10
    keep = s > cut * s[0]
    inv_s2 = jnp.where(keep, 1.0 / jnp.where(keep, s, 1.0) ** 2, jnp.asarray(1.0 / cut**2, s.dtype) / s[0] ** 2)
    cov_scaled = (vt.T * inv_s2[None, :]) @ vt
    cov = cov_scaled / (scale[:, None] * scale[None, :]) * fom.chi2_reduced
    return FitStatistics(
        rwp=fom.rwp,
        rexp=fom.rexp,
        chi2=fom.chi2,
        chi2_reduced=fom.chi2_reduced,
        covariance=cov,
        esd=jnp.sqrt(jnp.diagonal(cov)),
        correlation=correlation_matrix(cov),
        condition=s[0] / jnp.maximum(s[-1], jnp.finfo(s.dtype).tiny),
    )


def identifiability(
    names: list[str] | tuple[str, ...],
    correlation: np.ndarray,
    esd: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    max_correlation: float = 0.98,
    max_relative_width: float = 0.5,
) -> list[str]:
    """Warnings for parameters the data cannot constrain (host side, plain text for reports and the CLI).

    A parameter is flagged when its 1σ interval covers more than ``max_relative_width`` of its bound
    range (or is not finite), or when it correlates with another beyond ``max_correlation`` (only the
    combination is determined; the message names the partner).
    """
    warnings: list[str] = []
    corr = np.asarray(correlation, float)
    for k, name in enumerate(names):
        width = float(upper[k] - lower[k])
        sd = float(esd[k])
        if not np.isfinite(sd) or (np.isfinite(width) and width > 0 and 2.0 * sd > max_relative_width * width):
            warnings.append(
                f"{name}: not constrained by the data (esd {sd:.3g} against a bound range {lower[k]:.3g}..{upper[k]:.3g}); "
                "fix it or add a technique that sees it"
            )
        for m in range(k + 1, len(names)):
            if abs(corr[k, m]) > max_correlation:
                warnings.append(
                    f"{name} and {names[m]} are correlated at {corr[k, m]:+.3f}: the data determine only a combination"
                )
    return warnings
