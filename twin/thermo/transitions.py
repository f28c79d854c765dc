r"""Phase stability, spinodal hysteresis, isotherms with branches, transition pressures, phase diagrams.

Stability rule. Between any two phases i, j the per-site landscape is the double well of
:func:`twin.thermo.host_landscape` with barrier W. A phase stays (meta)stable while no other phase lies
more than W/3 below it (the spinodal condition derived there): the system leaves phase i when
:math:`\max_j(\Omega_i - \Omega_j) > W/3` and goes to the phase of lowest Ω. The equilibrium
(thermodynamic) transition is :math:`\Omega_i = \Omega_j`. This is the mean-field, nucleation-free limit:
measured steps lie between the equilibrium and the spinodal pressures (the mesoscale engine, with
surfaces, defects and noise, gives the rest).

Transition pressures are roots of :math:`\Omega_i(p) - \Omega_j(p) = \ell` with ℓ ∈ {0, ±W/3}: bracketed on
a logarithmic grid, refined by bisection in ln p, and finished by one Newton step in ln p through
automatic differentiation, so that :func:`crossing_pressure` is differentiable in every parameter
(dp*/dθ = −∂_θΔΩ / ∂_pΔΩ, the implicit-function theorem).

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
from twin.thermo.osmotic import phase_loadings, phase_potentials
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
]


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
    def step(current, om):
        new = next_phase(current, om, barrier)
        return new, new

    last, phases = jax.lax.scan(step, first, omega)
    return phases, last


def start_phase(params: ThermoParams, omega0: Float[Array, "n_phases"], rule: str = "activated") -> int:
    """Phase at the first point of an adsorption branch.

    ``"activated"``: the open phase (last) if it is locally stable there — an activated sample is heated
    open under vacuum — else the phase of lowest Ω; ``"stable"``: the phase of lowest Ω; or a phase name.
    """
    om = np.asarray(omega0)
    if rule == "stable":
        return int(np.argmin(om))
    if rule == "activated":
        last = len(om) - 1
        if np.max(om[last] - om) <= float(params.barrier_kj_mol) / 3.0:
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
        relative_humidity: constant RH [0–1] (water co-adsorbs by IAST when the material has H2O).
        start: initial phase rule (see :func:`start_phase`).
    """
    grid = jnp.asarray(pressures_Pa, params.volume_A3.dtype)
    omega, loads = potentials_vs_pressure(params, temperature_K, grid, guest, relative_humidity)
    first = start_phase(params, omega[0], start)
    ads, last = _scan_branch(omega, jnp.asarray(first), params.barrier_kj_mol)
    des_rev, _ = _scan_branch(omega[::-1], last, params.barrier_kj_mol)
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
        level_kj_mol: ℓ; 0 for the equilibrium transition, ``W/3`` for the spinodal where ``phase_from``
            becomes unstable towards ``phase_to``.
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
    """One phase change along a branch: ``branch`` ('adsorption'/'desorption'), phases, pressure [Pa]."""

    branch: str
    phase_from: str
    phase_to: str
    pressure_Pa: float

    def as_dict(self) -> dict:
        return {"branch": self.branch, "from": self.phase_from, "to": self.phase_to, "pressure_bar": self.pressure_Pa / 1e5}


def find_transitions(
    params: ThermoParams,
    temperature_K: float,
    branches: Branches,
    guest: str,
    *,
    relative_humidity: float = 0.0,
) -> list[Transition]:
    """Phase changes along both branches, each refined to the spinodal pressure between two grid points."""
    names = params.phase_names
    p = branches.pressure_Pa
    w3 = float(params.barrier_kj_mol) / 3.0
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
            if not np.isfinite(pstar) or not lo * 0.999 <= pstar <= hi * 1.001:
                pstar = float(np.sqrt(lo * hi))  # the gap is not monotonic inside the bracket: grid midpoint
            found.append(Transition(branch, names[i], names[j], pstar))
    return found


def stable_phase(params: ThermoParams, conditions: Conditions) -> Int[Array, ""]:
    """Index of the phase of lowest Ω (the equilibrium phase)."""
    return jnp.argmin(phase_potentials(params, conditions))


@partial(jax.jit, static_argnames=("guest",))
def phase_diagram(params: ThermoParams, temperatures_K, pressures_Pa, guest: str, relative_humidity=0.0):
    """Equilibrium phase and Ω gap on a (T, p) grid.

    Returns:
        (stable phase index (n_T, n_p), Ω_open − Ω_closed (n_T, n_p) [kJ/mol per site cell]).
        The spinodal lines are the contours of the gap at ±W/3.
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
