r"""Peak profiles and line broadening for powder patterns (JAX).

* Pseudo-Voigt with the Thompson–Cox–Hastings (TCH) combination of a Gaussian width Γ_G and a
  Lorentzian width Γ_L into one FWHM Γ and Lorentz fraction f (P. Thompson, D. E. Cox, J. B. Hastings,
  J. Appl. Cryst. 20, 79 (1987), eqs. 3–4).
* Instrument function: Caglioti Γ_G² = U tan²θ + V tan θ + W (G. Caglioti, A. Paoletti, F. P. Ricci,
  Nucl. Instrum. 3, 223 (1958)); TCH Lorentzian Γ_L = X tan θ + Y / cos θ.
* Size broadening: integral breadth β(2θ) = λ / (⟨L⟩_v cos θ) [rad] with ⟨L⟩_v the volume-weighted
  column length of the domain along the scattering vector (A. R. Stokes & A. J. C. Wilson, Proc. Camb.
  Phil. Soc. 38, 313 (1942); J. I. Langford & A. J. C. Wilson, J. Appl. Cryst. 11, 102 (1978)). It is
  computed from the covariogram V(t) of the domain shape, ⟨L⟩_v = 2∫V(t)dt / V: sphere of diameter D →
  3D/4 (Scherrer constant K_β = 4/3); box → Π(eᵢ − t|nᵢ|) integrated exactly by Gauss–Legendre (cube
  along ⟨100⟩, ⟨110⟩, ⟨111⟩ → K_β = 1, 1.0607, 1.1547). The size profile of one domain size is taken
  as a Lorentzian with that integral breadth (FWHM = 2β/π); a size *distribution* is the
  volume-weighted sum of such profiles (each domain scatters ∝ its volume).
* Microstrain: a Gaussian distribution of relative lattice spacing with standard deviation σ_ε
  broadens a reflection by Γ = 2√(2 ln 2) · 2σ_ε tan θ [rad] (Stokes & Wilson, Proc. Phys. Soc. 56,
  174 (1944)).
* Background: Chebyshev series of the first kind on 2θ mapped to [−1, 1] (the basis of
  :func:`mofcore.stats.chebyshev_basis`, which the fits' linear solve of scale and background shares).

Asymmetry (axial divergence) is left out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from mofcore.stats import chebyshev_basis

__all__ = [
    "pseudo_voigt",
    "pseudo_voigt_sum",
    "tch_fwhm_fraction",
    "caglioti_fwhm_deg",
    "volume_weighted_column_length",
    "size_fwhm_deg",
    "strain_fwhm_deg",
    "chebyshev_background",
]

_LN2 = float(np.log(2.0))
_GL_X, _GL_W = np.polynomial.legendre.leggauss(4)  # exact for the cubic covariogram of a box


def pseudo_voigt(
    two_theta_deg: Float[Array, "n_points"],
    center_deg: Float[Array, "n_peaks"],
    fwhm_deg: Float[Array, "n_peaks"],
    lorentz_fraction: Float[Array, "n_peaks"],
) -> Float[Array, "n_peaks n_points"]:
    r"""Area-normalised pseudo-Voigt profiles on a 2θ grid [deg⁻¹].

    .. math::
        P = f\,\frac{2}{\pi\Gamma}\frac{1}{1+4u^2} + (1-f)\,\frac{2}{\Gamma}\sqrt{\frac{\ln 2}{\pi}}\,
        e^{-4\ln 2\,u^2},\quad u = (2\theta - 2\theta_0)/\Gamma

    Reference: Thompson, Cox & Hastings, J. Appl. Cryst. 20, 79 (1987).
    """
    _, _, _, lorentz, gauss = _pv_terms(two_theta_deg, center_deg, fwhm_deg)
    f = lorentz_fraction[:, None]
    return f * lorentz + (1.0 - f) * gauss


def _pv_terms(two_theta_deg, center_deg, fwhm_deg):
    """u, u², 1/(1+4u²) and the unit-area Lorentzian L and Gaussian G of :func:`pseudo_voigt`, (n_peaks, n_points)."""
    w = fwhm_deg[:, None]
    u = (two_theta_deg[None, :] - center_deg[:, None]) / w
    u2 = u * u
    inv = 1.0 / (1.0 + 4.0 * u2)
    lorentz = 2.0 / (jnp.pi * w) * inv
    gauss = 2.0 / w * np.sqrt(_LN2 / np.pi) * jnp.exp(-4.0 * _LN2 * u2)
    return u, u2, inv, lorentz, gauss


def _pv_parts(two_theta_deg, center_deg, fwhm_deg, lorentz_fraction):
    """P and its partial derivatives ∂P/∂2θ₀, ∂P/∂Γ, ∂P/∂f on the grid, each (n_peaks, n_points).

    With u = (2θ − 2θ₀)/Γ, L and G the Lorentzian and Gaussian parts of :func:`pseudo_voigt`:
    ∂L/∂2θ₀ = L·8u/(Γ(1+4u²)), ∂G/∂2θ₀ = G·8 ln2·u/Γ, ∂L/∂Γ = (L/Γ)(8u²/(1+4u²) − 1),
    ∂G/∂Γ = (G/Γ)(8 ln2·u² − 1), ∂P/∂f = L − G.
    """
    u, u2, inv, lorentz, gauss = _pv_terms(two_theta_deg, center_deg, fwhm_deg)
    w, f = fwhm_deg[:, None], lorentz_fraction[:, None]
    fl, fg = f * lorentz, (1.0 - f) * gauss
    d_center = (u / w) * (8.0 * fl * inv + 8.0 * _LN2 * fg)
    d_fwhm = (fl * (8.0 * u2 * inv - 1.0) + fg * (8.0 * _LN2 * u2 - 1.0)) / w
    return fl + fg, d_center, d_fwhm, lorentz - gauss


@jax.custom_jvp
def pseudo_voigt_sum(
    two_theta_deg: Float[Array, "n_points"],
    center_deg: Float[Array, "n_peaks"],
    fwhm_deg: Float[Array, "n_peaks"],
    lorentz_fraction: Float[Array, "n_peaks"],
    intensity: Float[Array, "n_peaks"],
) -> Float[Array, "n_points"]:
    r"""Σₖ Iₖ Pₖ(2θ): the pattern of n_peaks reflections [intensity · deg⁻¹], P from :func:`pseudo_voigt`.

    Same value as ``intensity @ pseudo_voigt(...)``, with a hand-written JVP: the tangent is
    :math:`\dot y = \dot I^\mathsf{T}P + (I\dot{2\theta_0})^\mathsf{T}\partial_{2\theta_0}P
    + (I\dot\Gamma)^\mathsf{T}\partial_\Gamma P + (I\dot f)^\mathsf{T}\partial_f P
    - (I^\mathsf{T}\partial_{2\theta_0}P)\,\dot{2\theta}`, so a forward-mode Jacobian with many
    tangents (``jax.jacfwd`` in a refinement) builds the four (n_peaks, n_points) matrices once and
    contracts them with all tangents in four matrix products, instead of pushing every tangent through
    the profile element by element.
    """
    return intensity @ pseudo_voigt(two_theta_deg, center_deg, fwhm_deg, lorentz_fraction)


@pseudo_voigt_sum.defjvp
def _pseudo_voigt_sum_jvp(primals, tangents):
    tth, center, fwhm, frac, inten = primals
    t_tth, t_center, t_fwhm, t_frac, t_inten = tangents
    p, d_center, d_fwhm, d_frac = _pv_parts(tth, center, fwhm, frac)
    y = inten @ p
    grad_center = inten @ d_center  # Σₖ Iₖ ∂Pₖ/∂2θ₀ = −∂y/∂2θ
    dy = t_inten @ p + (inten * t_center) @ d_center + (inten * t_fwhm) @ d_fwhm + (inten * t_frac) @ d_frac
    return y, dy - grad_center * t_tth


def tch_fwhm_fraction(
    gauss_fwhm: Float[Array, "..."], lorentz_fwhm: Float[Array, "..."]
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """TCH total FWHM Γ and Lorentz fraction f from Γ_G and Γ_L (same unit), eqs. 3–4 of TCH 1987."""
    g, lo = gauss_fwhm, lorentz_fwhm
    gamma = (
        g**5 + 2.69269 * g**4 * lo + 2.42843 * g**3 * lo**2 + 4.47163 * g**2 * lo**3 + 0.07842 * g * lo**4 + lo**5
    ) ** 0.2
    q = lo / gamma
    return gamma, 1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3


def caglioti_fwhm_deg(
    two_theta_deg: Float[Array, "n_peaks"], u: Float[Array, ""], v: Float[Array, ""], w: Float[Array, ""]
) -> Float[Array, "n_peaks"]:
    """Instrumental Gaussian FWHM [deg]: √(U tan²θ + V tan θ + W), U, V, W in deg²; floored at 1e-4°."""
    t = jnp.tan(jnp.deg2rad(two_theta_deg) / 2.0)
    return jnp.sqrt(jnp.maximum(u * t**2 + v * t + w, 1e-8))


def volume_weighted_column_length(
    direction: Float[Array, "n_peaks 3"], aspect: Float[Array, "3"], shape: str
) -> Float[Array, "n_peaks"]:
    """⟨L⟩_v / L along unit ``direction`` for a domain of size L (module docstring).

    ``shape="sphere"``: L is the diameter, result 3/4. ``shape="box"``: edges L·eᵢ along the Cartesian
    axes with e = aspect / (Π aspect)^(1/3) (so L is the cube root of the volume).
    """
    if shape == "sphere":
        return jnp.full(direction.shape[:1], 0.75, direction.dtype)
    e = aspect / jnp.prod(aspect) ** (1.0 / 3.0)
    n = jnp.abs(direction)
    tmax = jnp.min(e[None, :] / jnp.maximum(n, 1e-12), axis=1)  # (n_peaks,)
    x = jnp.asarray(_GL_X, direction.dtype)
    wts = jnp.asarray(_GL_W, direction.dtype)
    t = 0.5 * tmax[:, None] * (x[None, :] + 1.0)  # (n_peaks, 4)
    cov = jnp.prod(jnp.maximum(e[None, None, :] - t[:, :, None] * n[:, None, :], 0.0), axis=-1)
    integral = 0.5 * tmax * jnp.sum(wts[None, :] * cov, axis=1)
    return 2.0 * integral / jnp.prod(e)


def size_fwhm_deg(
    two_theta_deg: Float[Array, "n_peaks"],
    wavelength_A: Float[Array, ""],
    column_length_A: Float[Array, "n_peaks"],
) -> Float[Array, "n_peaks"]:
    """Lorentzian FWHM [deg] of size broadening: (2/π)·λ/(⟨L⟩_v cos θ), converted to degrees."""
    beta = wavelength_A / (column_length_A * jnp.cos(jnp.deg2rad(two_theta_deg) / 2.0))
    return jnp.rad2deg(2.0 / jnp.pi * beta)


def strain_fwhm_deg(two_theta_deg: Float[Array, "n_peaks"], strain_std: Float[Array, "n_peaks"]) -> Float[Array, "n_peaks"]:
    """Gaussian FWHM [deg] from an rms relative d-spacing spread σ_ε: 2√(2 ln2)·2σ_ε tan θ."""
    return jnp.rad2deg(2.0 * np.sqrt(2.0 * _LN2) * 2.0 * strain_std * jnp.tan(jnp.deg2rad(two_theta_deg) / 2.0))


def chebyshev_background(
    x: Float[Array, "n_points"], coeffs: Float[Array, "n_bg"], x_min: float, x_max: float
) -> Float[Array, "n_points"]:
    """Σ cₖ Tₖ(t) with t = (2x − x_min − x_max)/(x_max − x_min); Tₖ of :func:`mofcore.stats.chebyshev_basis`."""
    n = coeffs.shape[0]
    if n == 0:
        return jnp.zeros_like(x)
    basis = chebyshev_basis(x, n, x_min, x_max)
    out = coeffs[0] * basis[:, 0]
    for k in range(1, n):  # n_bg is a handful of static terms, summed in order
        out = out + coeffs[k] * basis[:, k]
    return out
