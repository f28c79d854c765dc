r"""Phase stability, spinodal hysteresis, isotherms with branches, transition pressures, phase diagrams.

Stability rule. Between any two phases i, j the per-site landscape is the double well of
:func:`twin.thermo.host_landscape` with barrier W(T) (:func:`twin.thermo.host_barrier_kj_mol`). A phase stays
(meta)stable while no other phase lies more than W/3 below it (the spinodal condition derived there): the system leaves phase i when
:math:`\max_j(\Omega_i - \Omega_j) > W/3` and goes to the phase of lowest Ω. The equilibrium
(thermodynamic) transition is :math:`\Omega_i = \Omega_j`. This is the mean-field, nucleation-free limit:
measured steps lie between the equilibrium and the spinodal pressures (the mesoscale engine, with
surfaces, defects and noise, gives the rest).

Transition pressures are roots of :math:`\Omega_i(p) - \Omega_j(p) = \ell` with ℓ ∈ {0, ±W/3}: bracketed on
a logarithmic grid, refined by bisection in ln p, and finished by one Newton step in ln p through
automatic differentiation, so that :func:`crossing_pressure` is differentiable in every parameter
(dp*/dθ = −∂_θΔΩ / ∂_pΔΩ, the implicit-function theorem). Where the refined root falls outside the grid
bracket (no single sign change inside it), :func:`find_transitions` reports the geometric midpoint of the
bracket and says so: ``Transition.refined`` is False (likewise ``ThermalTransition.refined``).

Humidity: the Python-level helpers refuse a relative humidity > 0 on a material without H2O parameters
(the compiled functions cannot raise on a traced value, and would drop it silently).

The same rule along temperature at fixed gas pressure (:func:`isobar_branches`, :func:`find_thermal_transitions`)
gives the thermal hysteresis: cooling and heating branches, with transition temperatures refined by
:func:`crossing_temperature` (the root of Ω_from − Ω_to − W(T)/3 in T, differentiable the same way).

Everything below works on scalar conditions and is mapped with ``vmap`` over pressures and temperatures;
the Python-level helpers (:func:`find_transitions`, :func:`phase_diagram`) only orchestrate compiled calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from twin.conditions import Conditions
from twin.errors import MaterialError
from twin.thermo.osmotic import host_barrier_kj_mol, phase_loadings, phase_potentials
from twin.thermo.params import ThermoParams

__all__ = [
    "single_guest_conditions",
    "potentials_vs_pressure",
    "next_phase",
    "isotherm_branches",
    "crossing_pressure",
    "Transition",
    "find_transitions",
    "stable_phase",
    "phase_diagram",
    "start_phase",
    "potentials_vs_temperature",
    "ThermalBranches",
    "isobar_branches",
    "crossing_temperature",
    "ThermalTransition",
    "find_thermal_transitions",
]


def _check_humidity(params: ThermoParams, relative_humidity) -> None:
    """Raise :class:`MaterialError` for RH > 0 on a parameter set without H2O (it would be ignored)."""
    rh = np.asarray(relative_humidity)
    if "H2O" not in params.guests and np.any(rh > 0.0):
        raise MaterialError(
            f"relative_humidity: expected 0 for a material without H2O parameters (guests: {', '.join(params.guests)}), "
            f"got {float(np.max(rh)):g}; water cannot co-adsorb in this parameter set"
        )


def single_guest_conditions(params: ThermoParams, temperature_K, pressure_Pa, guest: str, relative_humidity=0.0):
    """Scalar :class:`Conditions` with one dry guest at ``pressure_Pa`` (traceable)."""
    params.guest_index(guest)  # raises MaterialError for an unknown guest
    dtype = params.volume_A3.dtype
    return Conditions(
        temperature_K=jnp.asarray(temperature_K, dtype),
        partial_pressure_Pa=jnp.reshape(jnp.asarray(pressure_Pa, dtype), (1,)),
        relative_humidity=jnp.asarray(relative_humidity, dtype),
        time_s=jnp.asarray(0.0, dtype),
        guests=(guest,),
    )


@partial(jax.jit, static_argnames=("guest",))
def potentials_vs_pressure(params: ThermoParams, temperature_K, pressures_Pa, guest: str, relative_humidity=0.0):
    """Ω (n_points, n_phases) and loadings of ``guest`` (n_points, n_phases) along a pressure grid."""
    g = params.guest_index(guest)

    def one(p):
        c = single_guest_conditions(params, temperature_K, p, guest, relative_humidity)
        return phase_potentials(params, c), phase_loadings(params, c)[:, g]

    return jax.vmap(one)(pressures_Pa)


def next_phase(current: Int[Array, ""], omega: Float[Array, "n_phases"], barrier_kj_mol) -> Int[Array, ""]:
    """Phase after one quasi-static step: stay unless another phase lies more than W/3 below."""
    unstable = jnp.max(omega[current] - omega) > barrier_kj_mol / 3.0
    return jnp.where(unstable, jnp.argmin(omega), current)


@jax.jit
def _scan_branch(omega: Float[Array, "n_points n_phases"], first: Int[Array, ""], barrier):
    """Quasi-static march along the rows of ``omega``; ``barrier`` is W, () or (n_points,)."""
    barriers = jnp.broadcast_to(barrier, omega.shape[:1])

    def step(current, row):
        om, w = row
        new = next_phase(current, om, w)
        return new, new

    last, phases = jax.lax.scan(step, first, (omega, barriers))
    return phases, last


def start_phase(
    params: ThermoParams, omega0: Float[Array, "n_phases"], rule: str = "activated", *, barrier_kj_mol=None
) -> int:
    """Phase at the first point of an adsorption branch.

    ``"activated"``: the open phase (last) if it is locally stable there — an activated sample is heated
    open under vacuum — else the phase of lowest Ω; ``"stable"``: the phase of lowest Ω; or a phase name.
    ``barrier_kj_mol`` is W at the temperature of ``omega0`` (default: W at the reference temperature).
    """
    om = np.asarray(omega0)
    w = float(params.barrier_kj_mol if barrier_kj_mol is None else barrier_kj_mol)
    if rule == "stable":
        return int(np.argmin(om))
    if rule == "activated":
        last = len(om) - 1
        if np.max(om[last] - om) <= w / 3.0:
            return last
        return int(np.argmin(om))
    if rule in params.phase_names:
        return params.phase_names.index(rule)
    raise MaterialError(
        f"start phase: expected 'activated', 'stable' or one of {', '.join(params.phase_names)}, got {rule!r}"
    )


@dataclass(frozen=True)
class Branches:
    """An isotherm with its two branches on the same ascending pressure grid.

    Attributes:
        pressure_Pa: grid (n_points,), ascending.
        adsorption_phase, desorption_phase: phase index at each grid point (n_points,); the desorption
            branch is computed from the top of the grid downwards, reported here on the ascending grid.
        adsorption_uptake, desorption_uptake: loading of the guest [molecules per site cell] (n_points,).
        omega: Ω (n_points, n_phases); loadings: (n_points, n_phases).
    """

    pressure_Pa: np.ndarray
    adsorption_phase: np.ndarray
    desorption_phase: np.ndarray
    adsorption_uptake: np.ndarray
    desorption_uptake: np.ndarray
    omega: np.ndarray
    loadings: np.ndarray


def isotherm_branches(
    params: ThermoParams,
    temperature_K: float,
    pressures_Pa,
    guest: str,
    *,
    relative_humidity: float = 0.0,
    start: str = "activated",
) -> Branches:
    """Adsorption (rising pressure) and desorption (falling) branches with spinodal hysteresis.

    Args:
        params: the material's parameters.
        temperature_K: T [K].
        pressures_Pa: ascending grid of the guest's partial pressure [Pa], (n_points,).
        guest: the dry guest that is varied.
        relative_humidity: constant RH [0–1] (water co-adsorbs by IAST); must be 0 unless the material has
            H2O parameters.
        start: initial phase rule (see :func:`start_phase`).

    Raises:
        MaterialError: RH > 0 on a material without H2O, or an unknown guest or start phase.
    """
    _check_humidity(params, relative_humidity)
    grid = jnp.asarray(pressures_Pa, params.volume_A3.dtype)
    omega, loads = potentials_vs_pressure(params, temperature_K, grid, guest, relative_humidity)
    w = host_barrier_kj_mol(params, jnp.asarray(temperature_K, grid.dtype))
    first = start_phase(params, omega[0], start, barrier_kj_mol=w)
    ads, last = _scan_branch(omega, jnp.asarray(first), w)
    des_rev, _ = _scan_branch(omega[::-1], last, w)
    des = des_rev[::-1]
    rows = jnp.arange(grid.shape[0])
    return Branches(
        pressure_Pa=np.asarray(grid),
        adsorption_phase=np.asarray(ads),
        desorption_phase=np.asarray(des),
        adsorption_uptake=np.asarray(loads[rows, ads]),
        desorption_uptake=np.asarray(loads[rows, des]),
        omega=np.asarray(omega),
        loadings=np.asarray(loads),
    )


@partial(jax.jit, static_argnames=("guest", "phase_from", "phase_to", "n_bisect"))
def crossing_pressure(
    params: ThermoParams,
    temperature_K,
    guest: str,
    phase_from: int,
    phase_to: int,
    level_kj_mol,
    p_lo_Pa,
    p_hi_Pa,
    relative_humidity=0.0,
    n_bisect: int = 40,
) -> Float[Array, ""]:
    r"""Pressure p* in [p_lo, p_hi] where :math:`\Omega_{from}(p) - \Omega_{to}(p) = \ell` [Pa].

    Bisection in ln p (the bracket must hold one sign change), then one Newton step in ln p that carries the
    derivative with respect to ``params``, ``temperature_K`` and ``level_kj_mol``.

    Args:
        level_kj_mol: ℓ; 0 for the equilibrium transition, ``W(T)/3`` for the spinodal where ``phase_from``
            becomes unstable towards ``phase_to`` (W(T) from :func:`twin.thermo.host_barrier_kj_mol`).
    """
    dtype = params.volume_A3.dtype

    def gap(log_p, prm, t, lvl):
        c = single_guest_conditions(prm, t, jnp.exp(log_p), guest, relative_humidity)
        om = phase_potentials(prm, c)
        return om[phase_from] - om[phase_to] - lvl

    lo = jnp.log(jnp.asarray(p_lo_Pa, dtype))
    hi = jnp.log(jnp.asarray(p_hi_Pa, dtype))
    sp, st, sl = jax.lax.stop_gradient((params, temperature_K, level_kj_mol))
    sign_lo = jnp.sign(gap(lo, sp, st, sl))

    def bisect(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        same = jnp.sign(gap(mid, sp, st, sl)) == sign_lo
        return jnp.where(same, mid, a), jnp.where(same, b, mid)

    a, b = jax.lax.fori_loop(0, n_bisect, bisect, (lo, hi))
    x = jax.lax.stop_gradient(0.5 * (a + b))
    value, slope = jax.value_and_grad(gap)(x, params, temperature_K, level_kj_mol)
    return jnp.exp(x - value / slope)


@dataclass(frozen=True)
class Transition:
    """One phase change along a branch.

    Attributes:
        branch: 'adsorption' or 'desorption'.
        phase_from, phase_to: phase names.
        pressure_Pa: spinodal pressure [Pa].
        refined: True when ``pressure_Pa`` is the refined root of Ω_from − Ω_to = W/3 inside the grid bracket;
            False when the refinement left the bracket and ``pressure_Pa`` is the geometric midpoint of the two
            grid points (accurate only to the grid spacing).
    """

    branch: str
    phase_from: str
    phase_to: str
    pressure_Pa: float
    refined: bool = True

    def as_dict(self) -> dict:
        return {"branch": self.branch, "from": self.phase_from, "to": self.phase_to,
                "pressure_bar": self.pressure_Pa / 1e5, "refined": self.refined}


def find_transitions(
    params: ThermoParams,
    temperature_K: float,
    branches: Branches,
    guest: str,
    *,
    relative_humidity: float = 0.0,
) -> list[Transition]:
    """Phase changes along both branches, each refined to the spinodal pressure between two grid points.

    A transition whose refinement fails (the root lies outside its bracket) keeps the bracket's geometric
    midpoint and has ``refined=False``.
    """
    names = params.phase_names
    p = branches.pressure_Pa
    w3 = float(host_barrier_kj_mol(params, jnp.asarray(temperature_K, params.volume_A3.dtype))) / 3.0
    found = []
    for branch, phases, order in (
        ("adsorption", branches.adsorption_phase, range(1, len(p))),
        ("desorption", branches.desorption_phase, range(len(p) - 2, -1, -1)),
    ):
        for k in order:
            prev = k - 1 if branch == "adsorption" else k + 1
            i, j = int(phases[prev]), int(phases[k])
            if i == j:
                continue
            lo, hi = sorted((float(p[prev]), float(p[k])))
            pstar = float(
                crossing_pressure(params, temperature_K, guest, i, j, w3, lo, hi, relative_humidity)
            )
            refined = bool(np.isfinite(pstar) and lo * 0.999 <= pstar <= hi * 1.001)
            if not refined:  # no single sign change of the gap inside the bracket: grid midpoint, flagged
                pstar = float(np.sqrt(lo * hi))
            found.append(Transition(branch, names[i], names[j], pstar, refined))
    return found


def stable_phase(params: ThermoParams, conditions: Conditions) -> Int[Array, ""]:
    """Index of the phase of lowest Ω (the equilibrium phase)."""
    return jnp.argmin(phase_potentials(params, conditions))


@partial(jax.jit, static_argnames=("guest",))
def phase_diagram(params: ThermoParams, temperatures_K, pressures_Pa, guest: str, relative_humidity=0.0):
    """Equilibrium phase and Ω gap on a (T, p) grid.

    Returns:
        (stable phase index (n_T, n_p), Ω_open − Ω_closed (n_T, n_p) [kJ/mol per site cell]).
        The spinodal lines are the contours of the gap at ±W(T)/3 (:func:`twin.thermo.host_barrier_kj_mol`).
    """
    dtype = params.volume_A3.dtype

    def one(t, p):
        c = single_guest_conditions(params, t, p, guest, relative_humidity)
        om = phase_potentials(params, c)
        return jnp.argmin(om), om[-1] - om[0]

    over_p = jax.vmap(one, in_axes=(None, 0))
    return jax.vmap(over_p, in_axes=(0, None))(
        jnp.asarray(temperatures_K, dtype), jnp.asarray(pressures_Pa, dtype)
    )


# ----------------------------------------------------------------------------------------- along temperature
@partial(jax.jit, static_argnames=("guest",))
def potentials_vs_temperature(params: ThermoParams, temperatures_K, pressure_Pa, guest: str, relative_humidity=0.0):
    """Ω (n_points, n_phases), loadings of ``guest`` (n_points, n_phases) and W(T) (n_points,) along a T grid
    at a fixed partial pressure of ``guest`` [Pa] (0 for the empty host)."""
    g = params.guest_index(guest)

    def one(t):
        c = single_guest_conditions(params, t, pressure_Pa, guest, relative_humidity)
        return phase_potentials(params, c), phase_loadings(params, c)[:, g], host_barrier_kj_mol(params, c.temperature_K)

    return jax.vmap(one)(jnp.asarray(temperatures_K, params.volume_A3.dtype))


@dataclass(frozen=True)
class ThermalBranches:
    """Cooling and heating branches at one gas pressure on the same ascending temperature grid.

    Attributes:
        temperature_K: grid (n_points,), ascending.
        cooling_phase: phase index along cooling (computed from the top of the grid downwards, reported on the
            ascending grid); heating_phase: along the heating that follows from the bottom of the grid.
        cooling_uptake, heating_uptake: loading of the guest [molecules per site cell] (n_points,).
        omega: Ω (n_points, n_phases); barrier_kj_mol: W(T) (n_points,).
    """

    temperature_K: np.ndarray
    cooling_phase: np.ndarray
    heating_phase: np.ndarray
    cooling_uptake: np.ndarray
    heating_uptake: np.ndarray
    omega: np.ndarray
    barrier_kj_mol: np.ndarray


def isobar_branches(
    params: ThermoParams,
    temperatures_K,
    pressure_Pa: float,
    guest: str,
    *,
    relative_humidity: float = 0.0,
    start: str = "stable",
) -> ThermalBranches:
    """Cooling from the top of ``temperatures_K`` to its bottom, then heating back, at a fixed gas pressure.

    The phase follows the spinodal rule with W(T) at every temperature (quasi-static, no kinetics). With
    ``pressure_Pa = 0`` this is the empty host (the thermal hysteresis of Liu et al. 2008 for MIL-53(Al)).

    Args:
        params: the material's parameters.
        temperatures_K: ascending temperature grid [K], (n_points,).
        pressure_Pa: partial pressure of ``guest`` [Pa], held constant (an open cell, not a sealed tube).
        guest: the gas.
        relative_humidity: constant RH [0–1]; must be 0 unless the material has H2O parameters.
        start: phase at the top of the grid: ``"stable"`` (lowest Ω), ``"activated"`` or a phase name.
    """
    _check_humidity(params, relative_humidity)
    grid = jnp.asarray(temperatures_K, params.volume_A3.dtype)
    omega, loads, w = potentials_vs_temperature(params, grid, pressure_Pa, guest, relative_humidity)
    first = start_phase(params, omega[-1], start, barrier_kj_mol=w[-1])
    cool_rev, last = _scan_branch(omega[::-1], jnp.asarray(first), w[::-1])
    heat, _ = _scan_branch(omega, last, w)
    cool = cool_rev[::-1]
    rows = jnp.arange(grid.shape[0])
    return ThermalBranches(
        temperature_K=np.asarray(grid),
        cooling_phase=np.asarray(cool),
        heating_phase=np.asarray(heat),
        cooling_uptake=np.asarray(loads[rows, cool]),
        heating_uptake=np.asarray(loads[rows, heat]),
        omega=np.asarray(omega),
        barrier_kj_mol=np.asarray(w),
    )


@partial(jax.jit, static_argnames=("guest", "phase_from", "phase_to", "n_bisect"))
def crossing_temperature(
    params: ThermoParams,
    pressure_Pa,
    guest: str,
    phase_from: int,
    phase_to: int,
    t_lo_K,
    t_hi_K,
    relative_humidity=0.0,
    n_bisect: int = 40,
) -> Float[Array, ""]:
    r"""Spinodal temperature T* in [t_lo, t_hi] where :math:`\Omega_{from}(T) - \Omega_{to}(T) = W(T)/3` [K].

    The temperature where ``phase_from`` stops being metastable towards ``phase_to`` at a fixed gas pressure.
    Bisection (the bracket must hold one sign change), then one Newton step that carries the derivative with
    respect to ``params`` and ``pressure_Pa`` (dT*/dθ = −∂_θ G / ∂_T G, G the residual).
    """
    dtype = params.volume_A3.dtype

    def residual(t, prm, p):
        c = single_guest_conditions(prm, t, p, guest, relative_humidity)
        om = phase_potentials(prm, c)
        return om[phase_from] - om[phase_to] - host_barrier_kj_mol(prm, c.temperature_K) / 3.0

    lo = jnp.asarray(t_lo_K, dtype)
    hi = jnp.asarray(t_hi_K, dtype)
    sp, spp = jax.lax.stop_gradient((params, pressure_Pa))
    sign_lo = jnp.sign(residual(lo, sp, spp))

    def bisect(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        same = jnp.sign(residual(mid, sp, spp)) == sign_lo
        return jnp.where(same, mid, a), jnp.where(same, b, mid)

    a, b = jax.lax.fori_loop(0, n_bisect, bisect, (lo, hi))
    x = jax.lax.stop_gradient(0.5 * (a + b))
    value, slope = jax.value_and_grad(residual)(x, params, pressure_Pa)
    return x - value / slope


@dataclass(frozen=True)
class ThermalTransition:
    """One phase change along a temperature branch: ``branch`` ('cooling'/'heating'), phases, T [K].

    ``refined`` is False when the refinement left its bracket and T is the midpoint of two grid points.
    """

    branch: str
    phase_from: str
    phase_to: str
    temperature_K: float
    refined: bool = True

    def as_dict(self) -> dict:
        return {"branch": self.branch, "from": self.phase_from, "to": self.phase_to,
                "temperature_K": self.temperature_K, "refined": self.refined}


def find_thermal_transitions(
    params: ThermoParams,
    pressure_Pa: float,
    branches: ThermalBranches,
    guest: str,
    *,
    relative_humidity: float = 0.0,
) -> list[ThermalTransition]:
    """Phase changes along cooling then heating, each refined to the spinodal temperature between grid points."""
    names = params.phase_names
    t = branches.temperature_K
    found = []
    for branch, phases, order in (
        ("cooling", branches.cooling_phase, range(len(t) - 2, -1, -1)),
        ("heating", branches.heating_phase, range(1, len(t))),
    ):
        for k in order:
            prev = k + 1 if branch == "cooling" else k - 1
            i, j = int(phases[prev]), int(phases[k])
            if i == j:
                continue
            lo, hi = sorted((float(t[prev]), float(t[k])))
            tstar = float(crossing_temperature(params, pressure_Pa, guest, i, j, lo, hi, relative_humidity))
            refined = bool(np.isfinite(tstar) and lo - 1e-3 <= tstar <= hi + 1e-3)
            if not refined:  # no single sign change of the residual inside the bracket: grid midpoint, flagged
                tstar = 0.5 * (lo + hi)
            found.append(ThermalTransition(branch, names[i], names[j], tstar, refined))
    return found
