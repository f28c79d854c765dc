r"""Bulk-gas properties: Peng–Robinson fugacity coefficients and the saturation pressure of water.

Peng–Robinson equation of state (D.-Y. Peng, D. B. Robinson, Ind. Eng. Chem. Fundam. 15, 59 (1976)):

.. math::
    p = \frac{RT}{v-b} - \frac{a\,\alpha(T)}{v^2 + 2bv - b^2},\quad
    a = 0.45724\,\frac{R^2T_c^2}{p_c},\quad b = 0.07780\,\frac{RT_c}{p_c},\quad
    \alpha = \left[1 + \kappa(1-\sqrt{T/T_c})\right]^2,\quad
    \kappa = 0.37464 + 1.54226\,\omega - 0.26992\,\omega^2

With :math:`A = a\alpha p/(RT)^2` and :math:`B = bp/(RT)` the compressibility factor solves
:math:`Z^3 - (1-B)Z^2 + (A-3B^2-2B)Z - (AB-B^2-B^3) = 0`; we take the largest (vapour) root, found by
Newton's method started above the Cauchy bound of the roots (monotone convergence from the right). Then

.. math::
    \ln\varphi = Z - 1 - \ln(Z-B) - \frac{A}{2\sqrt2 B}\ln\frac{Z+(1+\sqrt2)B}{Z+(1-\sqrt2)B}.

Pure-gas coefficients only: each guest's fugacity is φ_g(T, p_g)·p_g at its own partial pressure (the
Lewis–Randall rule), which is what the adsorption literature on MIL-53 uses at these pressures; mixture
cross-terms (k_ij) are left out. Above a subcritical gas's saturation pressure the gas condenses, and past
the vapour spinodal the vapour root no longer exists (the largest root is then the liquid one and φ drops):
``twin isotherm`` and ``twin phase-diagram`` refuse such pressure ranges at the edge through
:func:`twin.thermo.gases.check_below_saturation`, which uses the saturation pressures below.

Saturation (vapour–liquid) and sublimation (vapour–solid) pressures, float64 NumPy, for that check:

* water: W. Wagner, A. Pruß, J. Phys. Chem. Ref. Data 31, 387 (2002), eq. 2.5 (the IAPWS auxiliary
  equation), valid 273.16 K to 647.096 K; used below 273.16 K as an extrapolation over supercooled liquid
  (the convention for relative humidity). Over ice: W. Wagner, T. Riethmann, R. Feistel, A. H. Harvey,
  J. Phys. Chem. Ref. Data 40, 043103 (2011), eq. 6 (the IAPWS 2011 sublimation equation), 50–273.16 K.
* CO2: R. Span, W. Wagner, J. Phys. Chem. Ref. Data 25, 1509 (1996), eq. 3.13 (vapour pressure, triple point
  216.592 K to the critical point 304.1282 K) and eq. 3.12 (sublimation pressure below the triple point).
* any other gas: the Peng–Robinson equal-fugacity condition φ_L(T, p_σ) = φ_V(T, p_σ), solved numerically
  (:func:`peng_robinson_saturation_pressure_Pa`); the acentric factor is defined from the vapour pressure
  at T/T_c = 0.7, and the equation reproduces the normal boiling points of N2, CH4, Xe and n-butane to 1.5 %.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy import constants as sc

__all__ = [
    "peng_robinson_phi",
    "fugacity_Pa",
    "water_saturation_pressure_Pa",
    "ice_sublimation_pressure_Pa",
    "co2_vapour_pressure_Pa",
    "co2_sublimation_pressure_Pa",
    "peng_robinson_saturation_pressure_Pa",
    "R_KJ_MOL_K",
    "R_J_MOL_K",
]

R_J_MOL_K = sc.R
R_KJ_MOL_K = sc.R / 1000.0

_SQRT2 = 2.0**0.5


def peng_robinson_phi(
    temperature_K: Float[Array, "..."],
    pressure_Pa: Float[Array, "..."],
    critical_temperature_K: Float[Array, "..."],
    critical_pressure_Pa: Float[Array, "..."],
    acentric_factor: Float[Array, "..."],
) -> Float[Array, "..."]:
    """Fugacity coefficient φ of a pure gas from the Peng–Robinson equation (vapour root).

    Args:
        temperature_K: T [K].
        pressure_Pa: p ≥ 0 [Pa]; φ → 1 as p → 0.
        critical_temperature_K, critical_pressure_Pa, acentric_factor: T_c [K], p_c [Pa], ω [1].
        All arguments broadcast against each other (same rank).

    Returns:
        φ [1], same shape as the broadcast arguments.
    """
    dtype = jnp.result_type(temperature_K, pressure_Pa)
    t = temperature_K
    # p = 0 (the empty host) is the ideal-gas limit φ = 1; evaluate at a safe pressure and select afterwards so
    # that no 0/0 reaches the derivatives (the double-where rule of JAX).
    empty = pressure_Pa <= 0.0
    p = jnp.where(empty, jnp.ones_like(pressure_Pa), pressure_Pa)
    kappa = 0.37464 + 1.54226 * acentric_factor - 0.26992 * acentric_factor**2
    alpha = (1.0 + kappa * (1.0 - jnp.sqrt(t / critical_temperature_K))) ** 2
    # A and B written with reduced variables so no R² T² products reach float32 limits.
    t_r = t / critical_temperature_K
    p_r = p / critical_pressure_Pa
    big_a = 0.45724 * alpha * p_r / t_r**2
    big_b = 0.07780 * p_r / t_r
    c2 = -(1.0 - big_b)
    c1 = big_a - 3.0 * big_b**2 - 2.0 * big_b
    c0 = -(big_a * big_b - big_b**2 - big_b**3)
    z0 = 1.0 + jnp.maximum(jnp.maximum(jnp.abs(c2), jnp.abs(c1)), jnp.abs(c0))

    def newton(_, z):
        f = ((z + c2) * z + c1) * z + c0
        df = (3.0 * z + 2.0 * c2) * z + c1
        return z - f / df

    z = jax.lax.fori_loop(0, 60, newton, z0.astype(dtype))
    safe_b = jnp.maximum(big_b, jnp.asarray(1e-30, dtype))
    log_ratio = jnp.log((z + (1.0 + _SQRT2) * safe_b) / (z + (1.0 - _SQRT2) * safe_b))
    ln_phi = z - 1.0 - jnp.log(z - big_b) - big_a / (2.0 * _SQRT2 * safe_b) * log_ratio
    return jnp.where(empty, jnp.ones_like(ln_phi), jnp.exp(ln_phi))


def fugacity_Pa(
    temperature_K: Float[Array, "..."],
    pressure_Pa: Float[Array, "... n_guests"],
    critical_temperature_K: Float[Array, "n_guests"],
    critical_pressure_Pa: Float[Array, "n_guests"],
    acentric_factor: Float[Array, "n_guests"],
) -> Float[Array, "... n_guests"]:
    """Fugacity f_g = φ_g(T, p_g)·p_g of each guest at its partial pressure [Pa] (Lewis–Randall rule)."""
    t = jnp.expand_dims(temperature_K, -1)
    phi = peng_robinson_phi(t, pressure_Pa, critical_temperature_K, critical_pressure_Pa, acentric_factor)
    return phi * pressure_Pa


_WP_A = (-7.85951783, 1.84408259, -11.7866497, 22.6807411, -15.9618719, 1.80122502)
_WP_TC_K = 647.096
_WP_PC_PA = 22.064e6


def water_saturation_pressure_Pa(temperature_K: Float[Array, "..."]) -> Float[Array, "..."]:
    r"""Saturation vapour pressure of water [Pa] (Wagner & Pruß 2002, eq. 2.5).

    .. math::
        \ln\frac{p_\sigma}{p_c} = \frac{T_c}{T}\left(a_1\tau + a_2\tau^{1.5} + a_3\tau^3 + a_4\tau^{3.5}
        + a_5\tau^4 + a_6\tau^{7.5}\right),\quad \tau = 1 - T/T_c

    Args:
        temperature_K: T [K], valid 273.16–647.096 K (extrapolated outside).

    Returns:
        p_σ [Pa]; 3169.9 Pa at 298.15 K.
    """
    tau = 1.0 - temperature_K / _WP_TC_K
    a1, a2, a3, a4, a5, a6 = _WP_A
    series = a1 * tau + a2 * tau**1.5 + a3 * tau**3 + a4 * tau**3.5 + a5 * tau**4 + a6 * tau**7.5
    return _WP_PC_PA * jnp.exp(_WP_TC_K / temperature_K * series)


_ICE_A = (-0.212144006e2, 0.273203819e2, -0.610598130e1)
_ICE_B = (0.333333333e-2, 0.120666667e1, 0.170333333e1)
_WATER_TRIPLE_K, _WATER_TRIPLE_PA = 273.16, 611.657


def ice_sublimation_pressure_Pa(temperature_K: float) -> float:
    r"""Sublimation pressure of ice Ih [Pa] (Wagner, Riethmann, Feistel & Harvey 2011, eq. 6).

    .. math:: \ln\frac{p_{subl}}{p_t} = \theta^{-1}\sum_{i=1}^{3} a_i\,\theta^{b_i},\quad \theta = T/T_t

    with T_t = 273.16 K, p_t = 611.657 Pa. Valid 50–273.16 K.

    Args:
        temperature_K: T [K] (a float).

    Returns:
        p_subl [Pa]; 8.94735 Pa at 230 K (the check value of the IAPWS release).
    """
    theta = temperature_K / _WATER_TRIPLE_K
    series = sum(a * theta**b for a, b in zip(_ICE_A, _ICE_B))
    return _WATER_TRIPLE_PA * math.exp(series / theta)


_CO2_TC_K, _CO2_PC_PA = 304.1282, 7.3773e6
_CO2_TRIPLE_K, _CO2_TRIPLE_PA = 216.592, 0.51795e6
_CO2_VAP = ((-7.0602087, 1.0), (1.9391218, 1.5), (-1.6463597, 2.0), (-3.2995634, 4.0))
_CO2_SUB = ((-14.740846, 1.0), (2.4327015, 1.9), (-5.3061778, 2.9))


def co2_vapour_pressure_Pa(temperature_K: float) -> float:
    r"""Vapour pressure of CO2 [Pa] (Span & Wagner 1996, eq. 3.13), triple point 216.592 K to T_c = 304.1282 K.

    .. math:: \ln\frac{p_\sigma}{p_c} = \frac{T_c}{T}\sum_i a_i (1 - T/T_c)^{t_i}

    Args:
        temperature_K: T [K] (a float), 216.592 K ≤ T ≤ T_c.

    Returns:
        p_σ [Pa]; 3.4851 MPa at 273.15 K.
    """
    tau = 1.0 - temperature_K / _CO2_TC_K
    return _CO2_PC_PA * math.exp(_CO2_TC_K / temperature_K * sum(a * tau**t for a, t in _CO2_VAP))


def co2_sublimation_pressure_Pa(temperature_K: float) -> float:
    r"""Sublimation pressure of solid CO2 [Pa] (Span & Wagner 1996, eq. 3.12), below the triple point.

    .. math:: \ln\frac{p_{subl}}{p_t} = \frac{T_t}{T}\sum_i a_i (1 - T/T_t)^{t_i}

    with T_t = 216.592 K, p_t = 0.51795 MPa.

    Args:
        temperature_K: T [K] (a float), T ≤ 216.592 K.

    Returns:
        p_subl [Pa]; 0.101325 MPa at 194.686 K (the normal sublimation temperature).
    """
    theta = 1.0 - temperature_K / _CO2_TRIPLE_K
    return _CO2_TRIPLE_PA * math.exp(_CO2_TRIPLE_K / temperature_K * sum(a * theta**t for a, t in _CO2_SUB))


_OMEGA_A, _OMEGA_B = 0.45724, 0.07780


def _pr_reduced_pressure(x: float, a_tilde: float) -> float:
    """B = p b/(RT) of the Peng–Robinson isotherm at reduced volume x = v/b (> 1)."""
    return 1.0 / (x - 1.0) - a_tilde / (x * x + 2.0 * x - 1.0)


def _pr_ln_phi(x: float, big_b: float, a_tilde: float) -> float:
    """ln φ at reduced volume x = v/b, written so that neither the liquid (x ≈ 1) nor the dilute vapour (x ≫ 1)
    loses digits: Z = Bx, ln(Z − B) = ln B + ln(x − 1), A/B = ã."""
    z = big_b * x
    log_ratio = math.log1p(2.0 * _SQRT2 / (x + 1.0 - _SQRT2))
    return z - 1.0 - math.log(big_b) - math.log(x - 1.0) - a_tilde / (2.0 * _SQRT2) * log_ratio


def peng_robinson_saturation_pressure_Pa(
    temperature_K: float,
    critical_temperature_K: float,
    critical_pressure_Pa: float,
    acentric_factor: float,
) -> float:
    r"""Saturation pressure of a pure fluid from the Peng–Robinson equation (equal fugacities) [Pa].

    With x = v/b and ã = a α/(b R T) = (0.45724/0.07780)·α/T_r, the reduced isotherm is
    :math:`B(x) = pb/RT = 1/(x-1) - \tilde a/(x^2+2x-1)`. Its spinodals (dB/dx = 0,
    :math:`(x^2+2x-1)^2 = 2\tilde a (x+1)(x-1)^2`) bound the pressures where liquid and vapour roots coexist;
    between them :math:`\ln\varphi_L - \ln\varphi_V` falls monotonically from positive to negative, and its
    root (Brent's method in ln B, each volume root found by Brent's method on its own branch of the isotherm)
    is the saturation pressure (Peng & Robinson 1976). Float64, a scalar: a validation at the edge, not jit-able.

    Args:
        temperature_K: T [K] (a float).
        critical_temperature_K, critical_pressure_Pa, acentric_factor: T_c [K], p_c [Pa], ω [1].

    Returns:
        p_σ [Pa]; ``inf`` at or above T_c (no condensation), p_c within 0.05 % of T_c where the two
        spinodals merge.
    """
    from scipy.optimize import brentq

    t_r = temperature_K / critical_temperature_K
    if t_r >= 1.0:
        return math.inf
    kappa = 0.37464 + 1.54226 * acentric_factor - 0.26992 * acentric_factor**2
    alpha = (1.0 + kappa * (1.0 - math.sqrt(t_r))) ** 2
    a_tilde = _OMEGA_A / _OMEGA_B * alpha / t_r
    to_pa = critical_pressure_Pa * t_r / _OMEGA_B  # p = B·RT/b
    quartic = np.polysub(np.polymul([1.0, 2.0, -1.0], [1.0, 2.0, -1.0]),
                         2.0 * a_tilde * np.polymul([1.0, 1.0], np.polymul([1.0, -1.0], [1.0, -1.0])))
    spin = np.sort([r.real for r in np.roots(quartic) if abs(r.imag) < 1e-9 * abs(r) and r.real > 1.0])
    if t_r > 0.9995 or spin.size < 2:
        return critical_pressure_Pa
    x_liq, x_vap = float(spin[0]), float(spin[-1])
    b_min, b_max = _pr_reduced_pressure(x_liq, a_tilde), _pr_reduced_pressure(x_vap, a_tilde)

    def liquid_x(big_b):  # B(x) falls from +inf at x = 1 to b_min at x_liq
        return 1.0 + math.exp(brentq(lambda u: _pr_reduced_pressure(1.0 + math.exp(u), a_tilde) - big_b,
                                     math.log(1e-15), math.log(x_liq - 1.0), xtol=1e-14))

    def vapour_x(big_b):  # B(x) falls from b_max at x_vap to 0 as 1/x
        return math.exp(brentq(lambda u: _pr_reduced_pressure(math.exp(u), a_tilde) - big_b,
                               math.log(x_vap), math.log(x_vap + 2.0 / big_b), xtol=1e-14))

    def gap(log_b):
        big_b = math.exp(log_b)
        return _pr_ln_phi(liquid_x(big_b), big_b, a_tilde) - _pr_ln_phi(vapour_x(big_b), big_b, a_tilde)

    hi = math.log(b_max)
    lo = math.log(b_min) if b_min > 0.0 else hi - 700.0
    margin = 1e-9 * (hi - lo)
    return math.exp(brentq(gap, lo + margin, hi - margin, xtol=1e-13, rtol=1e-13)) * to_pa
