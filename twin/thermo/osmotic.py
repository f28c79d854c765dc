r"""Osmotic potential of each host phase with co-adsorbed guests (OFAST with IAST inside each phase).

Osmotic framework adsorbed solution theory (F.-X. Coudert, M. Jeffroy, A. H. Fuchs, A. Boutin,
C. Mellot-Draznieks, J. Am. Chem. Soc. 130, 14294 (2008)): in the osmotic ensemble (N_host, μ_guest, σ, T)
the potential of rigid host phase i is

.. math::
    \Omega_i(T, p) = F_{host,i}(T) + p V_i - RT \int_0^{f} \frac{N_i(T, f')}{f'}\,\mathrm{d}f'

per site cell. For a Langmuir isotherm :math:`N = n K f/(1+Kf)` the integral is
:math:`n\ln(1+Kf)` (the "Langmuir limit" of the adsorption term).

Mixtures (water with CO2, CO2 with CH4): ideal adsorbed solution theory (A. L. Myers, J. M. Prausnitz,
AIChE J. 11, 121 (1965)) applied **inside each phase**, as in F.-X. Coudert, C. Mellot-Draznieks, A. H. Fuchs,
A. Boutin, J. Am. Chem. Soc. 131, 11329 (2009). IAST rather than a competitive (extended) Langmuir model
because the guests have different capacities n_g in a phase (4 H2O vs 2.7 CO2 per np cell): extended
Langmuir is thermodynamically inconsistent then, while IAST is exact for the single-guest limit, gives the
mixture grand potential directly (Ω_ads = −RT·ψ with ψ the reduced spreading pressure, the same quantity
OFAST needs) and needs only one scalar solve per phase. The IAST conditions with Langmuir pure isotherms:

.. math::
    \psi = n_g\ln(1 + K_g P_g^0) \;\forall g,\qquad \sum_g f_g / P_g^0 = 1
    \;\Rightarrow\; \sum_g \frac{K_g f_g}{\operatorname{expm1}(\psi/n_g)} = 1,

solved for ψ by bisection (robust, gradient stopped) followed by two Newton steps (these carry the exact
implicit-function derivative). Loadings: x_g = f_g/P_g^0, 1/N_tot = Σ x_g / N_g^0(P_g^0),
N_g^0 = n_g(1 − e^{−ψ/n_g}).

The term p·V uses the total pressure (mechanical work on the host); adsorption uses fugacities from the
Peng–Robinson equation (:mod:`twin.thermo.eos`). Water enters through the relative humidity:
p_H2O = RH·p_σ(T) (plus any explicit H2O partial pressure in the conditions).

The barrier W of the per-site double well depends on temperature through its own entropy
(:func:`host_barrier_kj_mol`), so that one parameter set carries both the guest-induced steps and the thermal
hysteresis of the empty host.

Not included: host elasticity within a phase (each phase is rigid), guest–guest non-ideality in the
adsorbed phase (IAST is ideal), temperature dependence of n_max.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float
from scipy import constants as sc

from mofcore.breathing import breathing_path
from twin.conditions import Conditions
from twin.errors import MaterialError
from twin.thermo.eos import R_KJ_MOL_K, fugacity_Pa, water_saturation_pressure_Pa
from twin.thermo.params import ThermoParams

__all__ = [
    "langmuir_loading",
    "langmuir_grand_potential",
    "langmuir_affinity_per_Pa",
    "iast_spreading_pressure",
    "iast_loadings",
    "guest_pressures_Pa",
    "guest_fugacities_Pa",
    "host_free_energy_kj_mol",
    "host_barrier_kj_mol",
    "phase_potentials",
    "phase_loadings",
    "host_landscape",
    "PV_KJ_MOL_PER_PA_A3",
]

#: p·V in kJ/mol for p in Pa and V in Å³ per site cell: 1 Pa·Å³ = 1e-30 J, × N_A, / 1000.
PV_KJ_MOL_PER_PA_A3 = 1e-30 * sc.N_A / 1000.0


def langmuir_affinity_per_Pa(
    log_k_ref: Float[Array, "..."],
    enthalpy_kj_mol: Float[Array, "..."],
    temperature_K: Float[Array, ""],
    reference_temperature_K: Float[Array, ""],
) -> Float[Array, "..."]:
    r"""Langmuir affinity K(T) [1/Pa] by the van 't Hoff relation.

    .. math:: K(T) = K_{ref}\exp\left[-\frac{\Delta H}{R}\left(\frac1T - \frac1{T_{ref}}\right)\right]
    """
    return jnp.exp(log_k_ref - enthalpy_kj_mol / R_KJ_MOL_K * (1.0 / temperature_K - 1.0 / reference_temperature_K))


def langmuir_loading(n_max: Float[Array, "..."], k_per_Pa: Float[Array, "..."], fugacity: Float[Array, "..."]):
    r"""Langmuir loading :math:`N = n\,Kf/(1+Kf)` [molecules per site cell]."""
    kf = k_per_Pa * fugacity
    return n_max * kf / (1.0 + kf)


def langmuir_grand_potential(n_max, k_per_Pa, fugacity):
    r"""Reduced adsorption grand potential :math:`\psi = \int_0^f N/f'\,df' = n\ln(1+Kf)` [molecules per cell].

    Ω_ads = −RT·ψ. Henry limit ψ → nKf; saturation ψ → n ln(Kf).
    """
    return n_max * jnp.log1p(k_per_Pa * fugacity)


def _iast_residual(psi, n_max, kf):
    # g(ψ) = Σ K f / expm1(ψ/n) − 1 (terms with f = 0 vanish)
    return jnp.sum(kf / jnp.expm1(psi / n_max), axis=-1) - 1.0


def _iast_residual_derivative(psi, n_max, kf):
    e = jnp.expm1(psi / n_max)
    return -jnp.sum(kf * (e + 1.0) / (n_max * e**2), axis=-1)


def iast_spreading_pressure(n_max: Float[Array, "n_guests"], kf: Float[Array, "n_guests"]) -> Float[Array, ""]:
    """Reduced spreading pressure ψ of the IAST mixture in one phase (Langmuir pure isotherms).

    Args:
        n_max: capacities [molecules per site cell], (n_guests,), > 0.
        kf: K_g·f_g [1], (n_guests,), ≥ 0.

    Returns:
        ψ [molecules per site cell]; equals n ln(1 + Kf) exactly when only one guest is present.
    """
    pure = langmuir_grand_potential(n_max, jnp.ones_like(kf), kf)
    lo = jnp.max(pure, axis=-1)
    hi = jnp.sum(pure, axis=-1)
    empty = hi <= 0.0
    one = jnp.asarray(1.0, lo.dtype)
    lo_s = jax.lax.stop_gradient(jnp.where(empty, one, lo))
    hi_s = jax.lax.stop_gradient(jnp.where(empty, one, hi))
    n_s, kf_s = jax.lax.stop_gradient(n_max), jax.lax.stop_gradient(kf)

    def bisect(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        positive = _iast_residual(mid, n_s, kf_s) > 0.0  # residual decreases with ψ
        return jnp.where(positive, mid, a), jnp.where(positive, b, mid)

    a, b = jax.lax.fori_loop(0, 48, bisect, (lo_s, hi_s))
    psi = jax.lax.stop_gradient(0.5 * (a + b))
    safe_kf = jnp.where(empty, jnp.ones_like(kf), kf)
    for _ in range(2):  # Newton steps carry the implicit derivative dψ/dθ = −g_θ/g_ψ
        psi = psi - _iast_residual(psi, n_max, safe_kf) / _iast_residual_derivative(psi, n_max, safe_kf)
    # the single-guest limit in closed form (exact also for its derivatives)
    single = jnp.sum(kf > 0.0, axis=-1) <= 1
    psi = jnp.where(single, jnp.sum(pure, axis=-1), psi)
    return jnp.where(empty, jnp.zeros_like(psi), psi)


def iast_loadings(n_max: Float[Array, "n_guests"], kf: Float[Array, "n_guests"]) -> Float[Array, "n_guests"]:
    """IAST loadings N_g [molecules per site cell] of a Langmuir mixture in one phase."""
    psi = iast_spreading_pressure(n_max, kf)
    e = jnp.expm1(psi / n_max)
    safe_e = jnp.where(e > 0.0, e, jnp.ones_like(e))
    x = jnp.where(e > 0.0, kf / safe_e, jnp.zeros_like(e))  # f_g / P_g^0
    n0 = n_max * (-jnp.expm1(-psi / n_max))
    safe_n0 = jnp.where(n0 > 0.0, n0, jnp.ones_like(n0))
    inv_total = jnp.sum(jnp.where(n0 > 0.0, x / safe_n0, jnp.zeros_like(x)), axis=-1, keepdims=True)
    safe_inv = jnp.where(inv_total > 0.0, inv_total, jnp.ones_like(inv_total))
    return jnp.where(inv_total > 0.0, x / safe_inv, jnp.zeros_like(x))


def _check_guests(params: ThermoParams, conditions: Conditions) -> None:
    unknown = [g for g in conditions.guests if g not in params.guests]
    if unknown:
        raise MaterialError(
            f"guest {unknown[0]!r} is not in this material's parameter set; known guests: {', '.join(params.guests)}"
        )


def guest_pressures_Pa(params: ThermoParams, conditions: Conditions) -> Float[Array, "n_guests"]:
    """Partial pressure of every guest of the parameter set [Pa]; H2O adds RH·p_σ(T).

    The relative humidity acts only through the H2O column: on a parameter set without H2O it has no effect.
    Under ``jit`` that cannot raise, so the edges refuse RH > 0 there (``twin isotherm --humidity``,
    :func:`twin.thermo.transitions.isotherm_branches`, :func:`twin.thermo.transitions.isobar_branches`).
    """
    _check_guests(params, conditions)
    t = conditions.temperature_K
    columns = []
    for guest in params.guests:
        p = conditions.pressure_of(guest)
        if guest == "H2O":
            p = p + conditions.relative_humidity * water_saturation_pressure_Pa(t)
        columns.append(jnp.broadcast_to(p, jnp.shape(t)).astype(params.volume_A3.dtype))
    return jnp.stack(columns, axis=-1)


def guest_fugacities_Pa(params: ThermoParams, conditions: Conditions) -> Float[Array, "n_guests"]:
    """Peng–Robinson fugacity of every guest of the parameter set at its partial pressure [Pa]."""
    p = guest_pressures_Pa(params, conditions)
    t = jnp.asarray(conditions.temperature_K, p.dtype)
    return fugacity_Pa(t, p, params.critical_temperature_K, params.critical_pressure_Pa, params.acentric_factor)


def host_free_energy_kj_mol(params: ThermoParams, temperature_K: Float[Array, ""]) -> Float[Array, "n_phases"]:
    """F_host,i(T) = U_i − T·S_i [kJ/mol per site cell], (n_phases,)."""
    return params.host_energy_kj_mol - temperature_K * params.host_entropy_kj_mol_K


def host_barrier_kj_mol(params: ThermoParams, temperature_K: Float[Array, "..."]) -> Float[Array, "..."]:
    r"""Barrier parameter W(T) of the per-site double well [kJ/mol per site cell].

    .. math:: W(T) = W_{ref} - S_W\,(T - T_{ref})

    W is a free energy like F_host: the part of the landscape between the two minima (the sheared hinge of
    the intermediate cell) has its own entropy S_W. With the spinodal rule |ΔΩ| = W/3 the empty host opens
    on heating where ΔF_host(T) = −W(T)/3 and closes on cooling where ΔF_host(T) = +W(T)/3, so ΔF_host and
    W(T) together carry the thermal hysteresis (for MIL-53(Al): closing at 125–150 K and reopening at
    325–375 K, Y. Liu et al., J. Am. Chem. Soc. 130, 11813 (2008)). That the np/lp barrier is a free energy
    and not a fixed energy is what quasi-harmonic DFT of MIL-53(Cr) finds (E. Cockayne, arXiv:1703.03440
    (2017): two free-energy minima at all T up to 500 K, barrier 3–6 kJ/mol per M4(OH)4(bdc)4 cell). S_W is
    calibrated, not computed: see :mod:`twin.thermo.fitting`.

    Linear in T (first order about T_ref); the material loader checks W > 0 over the validity range, so no
    clipping is applied here (it would break the derivative).

    Args:
        params: the material's parameters.
        temperature_K: T [K] (any shape).

    Returns:
        W(T) [kJ/mol per site cell], shape of ``temperature_K``.
    """
    return params.barrier_kj_mol - params.barrier_entropy_kj_mol_K * (temperature_K - params.reference_temperature_K)


def _affinities(params: ThermoParams, temperature_K):
    return langmuir_affinity_per_Pa(
        params.log_k_ref, params.enthalpy_kj_mol, temperature_K, params.reference_temperature_K
    )


def phase_potentials(params: ThermoParams, conditions: Conditions) -> Float[Array, "n_phases"]:
    r"""Osmotic potential Ω_i of each host phase [kJ/mol per site cell] at one set of conditions.

    .. math:: \Omega_i = U_i - T S_i + p_{tot} V_i - RT\,\psi_i(f_1, \dots, f_G)

    with ψ_i the IAST reduced spreading pressure of the guest mixture in phase i (n ln(1+Kf) for one guest).

    Args:
        params: the material's :class:`ThermoParams`.
        conditions: scalar :class:`~twin.conditions.Conditions` (map over batches with ``vmap``); every
            guest in ``conditions.guests`` must be in ``params.guests``; water comes from the relative humidity.

    Returns:
        Ω [kJ/mol per site cell], (n_phases,).

    Raises:
        MaterialError: a guest of the conditions is not in the parameter set (at trace time).
    """
    t = jnp.asarray(conditions.temperature_K, params.volume_A3.dtype)
    p = guest_pressures_Pa(params, conditions)
    f = fugacity_Pa(t, p, params.critical_temperature_K, params.critical_pressure_Pa, params.acentric_factor)
    kf = _affinities(params, t) * f[None, :]  # (n_phases, n_guests)
    psi = jax.vmap(iast_spreading_pressure)(params.n_max, kf)
    p_total = jnp.sum(p)
    return host_free_energy_kj_mol(params, t) + p_total * params.volume_A3 * PV_KJ_MOL_PER_PA_A3 - R_KJ_MOL_K * t * psi


def phase_loadings(params: ThermoParams, conditions: Conditions) -> Float[Array, "n_phases n_guests"]:
    """Equilibrium loading of every guest in every phase [molecules per site cell] (IAST per phase).

    Guests are those of ``params.guests`` (n_guests_total); absent guests have zero loading.
    """
    t = jnp.asarray(conditions.temperature_K, params.volume_A3.dtype)
    f = guest_fugacities_Pa(params, conditions)
    kf = _affinities(params, t) * f[None, :]
    return jax.vmap(iast_loadings)(params.n_max, kf)


def host_landscape(
    eta: Float[Array, "..."],
    omega_closed: Float[Array, "..."],
    omega_open: Float[Array, "..."],
    barrier_kj_mol: Float[Array, "..."],
) -> Float[Array, "..."]:
    r"""Per-site double well in the breathing order parameter η (closed η = 0, open η = 1).

    .. math::
        \Omega(\eta) = \Omega_c + (\Omega_o - \Omega_c)\,h(\eta) + W g(\eta),\quad
        h = \eta^2(3 - 2\eta),\quad g = \eta^2(1-\eta)^2

    the interpolation of phase-field models (S. G. Kim, W. T. Kim, T. Suzuki, Phys. Rev. E 60, 7186 (1999);
    J. Wang et al., Acta Mater. 1993): h(0)=0, h(1)=1, h'(0)=h'(1)=0 so both end states stay stationary
    whatever ΔΩ = Ω_o − Ω_c, and W sets the barrier. Stationary points: dΩ/dη = 2η(1−η)[3ΔΩ + W(1−2η)],
    so besides η = 0 and 1 there is η* = (1 + 3ΔΩ/W)/2. The closed state is a local minimum while
    Ω''(0) = 2(3ΔΩ + W) > 0, i.e. ΔΩ > −W/3; the open state while Ω''(1) = 2(W − 3ΔΩ) > 0, i.e. ΔΩ < W/3.
    Hence the spinodals |ΔΩ| = W/3 bound the hysteresis; at ΔΩ = 0 the barrier is W/16 at η = 1/2.

    Elementwise; arguments broadcast (same rank); differentiable in every argument. h and the interpolation
    Ω_c + ΔΩ h are :func:`mofcore.breathing.smoothstep` and :func:`mofcore.breathing.breathing_path`.

    Args:
        eta: order parameter [1] (any shape).
        omega_closed, omega_open: Ω of the closed and open phase [kJ/mol per site cell].
        barrier_kj_mol: W > 0 [kJ/mol per site cell].

    Returns:
        Ω(η) [kJ/mol per site cell].
    """
    g = (eta * (1.0 - eta)) ** 2
    return breathing_path(eta, omega_closed, omega_open) + barrier_kj_mol * g
