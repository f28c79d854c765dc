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
cross-terms (k_ij) are left out. Above a subcritical gas's saturation pressure the vapour root no longer
exists and the result is meaningless: the command line checks that at the edge.

Water saturation pressure: W. Wagner, A. Pruß, J. Phys. Chem. Ref. Data 31, 387 (2002), eq. 2.5
(the IAPWS auxiliary equation), valid 273.16 K to 647.096 K; used below 273.16 K as an extrapolation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float
from scipy import constants as sc

__all__ = ["peng_robinson_phi", "fugacity_Pa", "water_saturation_pressure_Pa", "R_KJ_MOL_K", "R_J_MOL_K"]

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
