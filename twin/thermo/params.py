"""Thermodynamic parameter set of one material: a pytree of JAX arrays, differentiable in every leaf.

Conventions (see ``docs/materials.md``):

* Every extensive quantity is **per site cell** — the cell the mesoscale engine puts on one lattice site,
  holding the same number of formula units in every phase (MIL-53(Al): 4 Al(OH)(bdc)).
* Phases are ordered closed/narrow first (η = 0), open/large last (η = 1).
* Host free energy of phase i: ``F_i(T) = U_i − T·S_i`` [kJ/mol per site cell]; only differences between
  phases matter, phase 0 is the reference (U_0 = S_0 = 0 by convention, not enforced).
* Adsorption of guest g in phase i: single-site Langmuir, ``N = n_max·K f / (1 + K f)`` with
  ``K(T) = K_ref·exp[−ΔH/R·(1/T − 1/T_ref)]`` (van 't Hoff; ΔH < 0 is the isosteric heat taken as
  constant), K in 1/Pa, f the fugacity in Pa. ``log_k_ref`` stores ln(K_ref·Pa) so that K stays positive under
  any gradient step and the float32 range is not an issue.
* Barrier of the per-site double well: a free energy with its own entropy,
  ``W(T) = W_ref − S_W·(T − T_ref)`` (:func:`twin.thermo.host_barrier_kj_mol`). S_W > 0 (a softer, more
  disordered intermediate) makes the hysteresis narrow as T rises; S_W = 0 gives the T-independent W.
* Peng–Robinson constants of each guest (critical temperature, pressure, acentric factor) ride along
  so that fugacities are computed from the same pytree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["ThermoParams"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ThermoParams:
    """Osmotic-ensemble parameters of one material (all per site cell).

    Attributes:
        host_energy_kj_mol: U_i, host internal energy of each phase [kJ/mol per site cell], (n_phases,).
        host_entropy_kj_mol_K: S_i, host entropy of each phase [kJ/(mol K) per site cell], (n_phases,).
        volume_A3: V_i, site-cell volume of each phase [Å³], (n_phases,).
        barrier_kj_mol: W_ref, height parameter of the per-site double well between two phases at
            ``reference_temperature_K`` [kJ/mol per site cell], () — see :func:`twin.thermo.host_landscape`;
            at another temperature use :func:`twin.thermo.host_barrier_kj_mol`.
        n_max: Langmuir capacity of each phase for each guest [molecules per site cell], (n_phases, n_guests).
        log_k_ref: ln(K_ref / Pa⁻¹), Langmuir affinity at ``reference_temperature_K``, (n_phases, n_guests).
        enthalpy_kj_mol: ΔH_ads, adsorption enthalpy (negative: exothermic) [kJ/mol], (n_phases, n_guests).
        reference_temperature_K: T_ref of ``log_k_ref`` [K], ().
        critical_temperature_K: T_c of each guest [K], (n_guests,).
        critical_pressure_Pa: p_c of each guest [Pa], (n_guests,).
        acentric_factor: ω of each guest [1], (n_guests,).
        barrier_entropy_kj_mol_K: S_W, entropy of the barrier [kJ/(mol K) per site cell], ():
            W(T) = W_ref − S_W (T − T_ref). Defaults to 0 (a T-independent barrier).
        guests: guest names in the order of the last axis (static).
        phase_names: phase names, closed first (static).
        t_min_K, t_max_K: validity range of the parameter set (static; checked at the edge).
    """

    host_energy_kj_mol: Float[Array, "n_phases"]
    host_entropy_kj_mol_K: Float[Array, "n_phases"]
    volume_A3: Float[Array, "n_phases"]
    barrier_kj_mol: Float[Array, ""]
    n_max: Float[Array, "n_phases n_guests"]
    log_k_ref: Float[Array, "n_phases n_guests"]
    enthalpy_kj_mol: Float[Array, "n_phases n_guests"]
    reference_temperature_K: Float[Array, ""]
    critical_temperature_K: Float[Array, "n_guests"]
    critical_pressure_Pa: Float[Array, "n_guests"]
    acentric_factor: Float[Array, "n_guests"]
    barrier_entropy_kj_mol_K: Float[Array, ""] = field(default_factory=lambda: jnp.zeros((), jnp.float32))
    guests: tuple[str, ...] = field(default=(), metadata={"static": True})
    phase_names: tuple[str, ...] = field(default=(), metadata={"static": True})
    t_min_K: float = field(default=0.0, metadata={"static": True})
    t_max_K: float = field(default=float("inf"), metadata={"static": True})

    @property
    def n_phases(self) -> int:
        return len(self.phase_names)

    @property
    def n_guests(self) -> int:
        return len(self.guests)

    def astype(self, dtype) -> "ThermoParams":
        """The same parameters with every array leaf cast to ``dtype`` (e.g. float64 for finite differences)."""
        arrays = {f.name: jnp.asarray(getattr(self, f.name), dtype) for f in fields(self) if not f.metadata.get("static")}
        return replace(self, **arrays)

    def guest_index(self, guest: str) -> int:
        """Position of ``guest`` on the guest axis; raises :class:`~twin.errors.MaterialError` if unknown."""
        from twin.errors import MaterialError

        if guest not in self.guests:
            raise MaterialError(
                f"guest {guest!r} is not in this material's parameter set; known guests: {', '.join(self.guests)}"
            )
        return self.guests.index(guest)
