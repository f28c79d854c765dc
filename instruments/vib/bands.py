r"""Band profiles of vibrational spectra and the D/G analysis of carbons.

Every profile is written with its **peak height** h as amplitude (so a height ratio is a ratio of parameters) and
its full width at half maximum Γ [cm⁻¹]; :math:`u = (\tilde\nu - \tilde\nu_0)/\Gamma`:

* Lorentzian :math:`h/(1 + 4u^2)`, area :math:`h\pi\Gamma/2`;
* Gaussian :math:`h\,e^{-4\ln 2\,u^2}`, area :math:`h\Gamma\sqrt{\pi/(4\ln 2)}`;
* pseudo-Voigt :math:`h\,[f\,L + (1 - f)\,G]` with the two above of one Γ (P. Thompson, D. E. Cox, J. B. Hastings,
  J. Appl. Cryst. 20, 79 (1987)), area the f-weighted sum;
* Breit–Wigner–Fano :math:`h\,(1 + 2u/q)^2/(1 + 4u^2)` (U. Fano, Phys. Rev. 124, 1866 (1961); for the G band of
  disordered carbons A. C. Ferrari, J. Robertson, Phys. Rev. B 61, 14095 (2000)); 1/q → 0 is the Lorentzian. Its
  maximum lies at :math:`\tilde\nu_0 + \Gamma/(2q)` with height :math:`h(1 + 1/q^2)`; its area diverges (the
  wings tend to h/q²), so only the height ratio is defined for a BWF G band.

A spectrum model is a sum of bands plus a Chebyshev polynomial background (:func:`mofcore.stats.chebyshev_basis`)
on the fitted window. Parameter vector layout: per band ``[centre_cm1, fwhm_cm1, height(, shape)]`` — shape
being the Lorentzian fraction f (pseudo-Voigt) or 1/q (BWF) — followed by the background coefficients.

**Crystallite size of graphitic carbons** (L. G. Cançado, K. Takai, T. Enoki, M. Endo, Y. A. Kim, H. Mizusaki,
A. Jorio, L. N. Coelho, R. Magalhães-Paniago, M. A. Pimenta, Appl. Phys. Lett. 88, 163106 (2006), Eq. (3), a
refinement of F. Tuinstra, J. L. Koenig, J. Chem. Phys. 53, 1126 (1970)):

.. math::
    L_a\,[\mathrm{nm}] = 2.4\times 10^{-10}\,\lambda_l^4\,(I_D/I_G)^{-1}, \qquad \lambda_l \text{ in nm},

with :math:`I_D/I_G` the ratio of **integrated** intensities (areas). It was calibrated on nanographites with
:math:`L_a` = 20–500 nm; for strongly disordered carbons such as graphene oxide (stage 2 of Ferrari and Robertson's
amorphisation trajectory, where I_D/I_G grows as La shrinks below ~2 nm) it is only a formal number — reported,
and flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
from jaxtyping import Array, Float

from mofcore.errors import DataFormatError
from mofcore.stats import chebyshev_basis

__all__ = ["PROFILES", "Band", "lorentzian", "gaussian", "pseudo_voigt", "bwf", "band_profile", "band_area",
           "band_maximum", "spectrum_model", "n_parameters", "cancado_la_nm", "CANCADO_COEFFICIENT"]

#: profile names and their number of parameters (centre, FWHM, height, shape…)
PROFILES: dict[str, int] = {"lorentzian": 3, "gaussian": 3, "pseudo-voigt": 4, "bwf": 4}

#: Cançado et al. (2006), Eq. (3): La [nm] = C λ⁴ (I_D/I_G)⁻¹, λ in nm
CANCADO_COEFFICIENT: float = 2.4e-10

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Band:
    """One band of a fit model: name (``"D"``), profile (a key of :data:`PROFILES`), start values and bounds of
    the centre [cm⁻¹] and FWHM [cm⁻¹]."""

    name: str
    profile: str
    centre_cm1: float
    fwhm_cm1: float
    centre_bounds_cm1: tuple[float, float]
    fwhm_bounds_cm1: tuple[float, float] = (2.0, 400.0)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise DataFormatError(f"band {self.name}: profile: expected one of {', '.join(PROFILES)}, "
                                  f"got {self.profile!r}")
        if not (self.fwhm_cm1 > 0 and self.fwhm_bounds_cm1[0] > 0):
            raise DataFormatError(f"band {self.name}: expected a positive width (FWHM in cm-1), got "
                                  f"{self.fwhm_cm1!r}")


def lorentzian(x: Float[Array, "n_points"], centre: Array, fwhm: Array, height: Array) -> Float[Array, "n_points"]:
    """:math:`h/(1 + 4u^2)`, u = (x − x₀)/Γ (module docstring)."""
    u = (x - centre) / fwhm
    return height / (1.0 + 4.0 * u * u)


def gaussian(x: Float[Array, "n_points"], centre: Array, fwhm: Array, height: Array) -> Float[Array, "n_points"]:
    """:math:`h\\,e^{-4\\ln 2\\,u^2}` (module docstring)."""
    u = (x - centre) / fwhm
    return height * jnp.exp(-4.0 * _LN2 * u * u)


def pseudo_voigt(x: Float[Array, "n_points"], centre: Array, fwhm: Array, height: Array,
                 lorentz_fraction: Array) -> Float[Array, "n_points"]:
    """:math:`h[fL + (1 - f)G]` with peak-height-normalised parts of one FWHM (module docstring)."""
    return (lorentz_fraction * lorentzian(x, centre, fwhm, height)
            + (1.0 - lorentz_fraction) * gaussian(x, centre, fwhm, height))


def bwf(x: Float[Array, "n_points"], centre: Array, fwhm: Array, height: Array,
        inverse_q: Array) -> Float[Array, "n_points"]:
    """Breit–Wigner–Fano :math:`h(1 + 2u/q)^2/(1 + 4u^2)` with 1/q given (module docstring)."""
    u = (x - centre) / fwhm
    return height * (1.0 + 2.0 * u * inverse_q) ** 2 / (1.0 + 4.0 * u * u)


def band_profile(profile: str, x: Array, p: Array) -> Array:
    """The band ``profile`` with parameters ``p`` = [centre, FWHM, height(, shape)] on ``x``."""
    if profile == "lorentzian":
        return lorentzian(x, p[0], p[1], p[2])
    if profile == "gaussian":
        return gaussian(x, p[0], p[1], p[2])
    if profile == "pseudo-voigt":
        return pseudo_voigt(x, p[0], p[1], p[2], p[3])
    if profile == "bwf":
        return bwf(x, p[0], p[1], p[2], p[3])
    raise DataFormatError(f"band profile: expected one of {', '.join(PROFILES)}, got {profile!r}")


def band_area(profile: str, p: Array) -> Array:
    """Integrated intensity [height × cm⁻¹] of a band; NaN for a BWF with 1/q ≠ 0 (divergent wings)."""
    fwhm, height = p[1], p[2]
    lor = height * jnp.pi * fwhm / 2.0
    gau = height * fwhm * jnp.sqrt(jnp.pi / (4.0 * _LN2))
    if profile == "lorentzian":
        return lor
    if profile == "gaussian":
        return gau
    if profile == "pseudo-voigt":
        return p[3] * lor + (1.0 - p[3]) * gau
    return jnp.where(p[3] == 0.0, lor, jnp.nan)


def band_maximum(profile: str, p: Array) -> tuple[Array, Array]:
    """(position [cm⁻¹], height) of the band's maximum: the centre and h, except for a BWF
    (x₀ + Γ/(2q), h(1 + 1/q²))."""
    if profile == "bwf":
        return p[0] + 0.5 * p[1] * p[3], p[2] * (1.0 + p[3] * p[3])
    return p[0], p[2]


def n_parameters(bands: tuple[Band, ...], n_background: int) -> int:
    return sum(PROFILES[b.profile] for b in bands) + n_background


def spectrum_model(x: Float[Array, "n_points"], params: Float[Array, "n_params"], bands: tuple[Band, ...],
                   n_background: int, x_min: float, x_max: float) -> tuple[Array, Array]:
    """Sum of the bands plus the Chebyshev background on [x_min, x_max]; returns (total, background)."""
    total = jnp.zeros_like(x)
    i = 0
    for band in bands:  # a handful of static bands
        k = PROFILES[band.profile]
        total = total + band_profile(band.profile, x, params[i:i + k])
        i += k
    background = chebyshev_basis(x, n_background, x_min, x_max) @ params[i:i + n_background]
    return total + background, background


def cancado_la_nm(ratio_area: Array, laser_nm: float) -> Array:
    """Crystallite size :math:`L_a = 2.4\\times10^{-10}\\lambda^4/(I_D/I_G)` [nm] (Cançado et al. 2006; module
    docstring), ``ratio_area`` the ratio of integrated intensities, ``laser_nm`` the excitation wavelength [nm]."""
    return CANCADO_COEFFICIENT * laser_nm**4 / ratio_area
