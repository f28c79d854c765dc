r"""Mesoscale parameters of a material: couplings, surface and defect terms, kinetics, transport, cohesion.

Read from the ``[mesoscale]`` table of ``datasets/materials/<name>.toml`` (format of ``docs/materials.md``:
every number ``{ value, unit, source, estimated? }``) or built directly for tests. All energies are per
**site cell** (one lattice site at block factor 1) in kJ/mol, like :mod:`twin.thermo`.

Block (coarse-graining) rules, for one site = a block of b×b×b site cells (``docs/engine.md`` derives them):

* bulk energies (Ω, W, defect shifts) scale as b³ (b³ cells move together);
* surface energies per exposed site face scale as b² (a block face is b² cell faces);
* the neighbour coupling J_d scales as b: the continuum gradient energy κ|∇η|² per volume is fixed and
  J (Δη)²/2 per link with Δη = b a ∇η over a block volume b³a³ gives J_b = b·J;
* the rate prefactor is per cell: Γ_b = Γ/b³ keeps the deterministic relaxation time dη/dt = −Γ ∂Ω/∂η of a
  uniform region unchanged;
* diffusivities in Å²/s are physical and unchanged (the lattice spacing becomes b·a);
* the cohesion (energy a link stores before it breaks) scales like the coupling, b.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from twin.errors import MaterialError

__all__ = ["MesoscaleParams", "mesoscale_from_material", "mesoscale_from_table", "block_rescale"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class MesoscaleParams:
    """Parameters of the mesoscale free energy and kinetics beyond the per-site thermodynamics.

    Attributes:
        coupling_kj_mol: J_a, J_b, J_c, neighbour coupling per link along x, y, z [kJ/mol], (3,).
        surface_energy_kj_mol: γ_p, extra free energy of phase p per exposed site face [kJ/mol], (n_phases,).
        defect_shift_kj_mol: Δ_p, shift of Ω_p at a defective site [kJ/mol], (n_phases,).
        rate_prefactor_per_s: ν₀ [1/s]; the Langevin mobility is Γ = ν₀/RT and the diffusion constant of η
            is ν₀ (Einstein relation), so a uniform site relaxes at rate ν₀·Ω''/RT.
        diffusivity_A2_s: D_p, guest self-diffusivity in phase p [Å²/s], (n_phases,).
        cohesion_kj_mol: elastic energy a link can store, J_d/2·(Δη)², before it breaks [kJ/mol]; ``inf``
            switches fragmentation off.
        block: coarse-graining factor the numbers are expressed for (static; 1 = per site cell).
    """

    coupling_kj_mol: Float[Array, "3"]
    surface_energy_kj_mol: Float[Array, "n_phases"]
    defect_shift_kj_mol: Float[Array, "n_phases"]
    rate_prefactor_per_s: Float[Array, ""]
    diffusivity_A2_s: Float[Array, "n_phases"]
    cohesion_kj_mol: Float[Array, ""]
    block: int = field(default=1, metadata={"static": True})

    @classmethod
    def default(cls, n_phases: int = 2, dtype=jnp.float32) -> "MesoscaleParams":
        """Documented defaults for tests and materials without a ``[mesoscale]`` table (all estimated).

        J = (8, 8, 8) kJ/mol per link: cooperative switching of whole regions for W ≈ 10 kJ/mol (interface
        width ≈ √(J/W) ≈ 1 cell; the elastic coupling of cells of the mesoscopic model of C. Triguero et al.,
        J. Chem. Phys. 137, 184702 (2012), is of this order); γ = 0 (no surface preference); Δ = 0; ν₀ = 1 s⁻¹ (switching over seconds, the time
        scale of in situ breathing experiments); D = 1e6 Å²/s (1e-14 m²/s, slow intracrystalline
        transport); no fragmentation.
        """
        return cls(
            coupling_kj_mol=jnp.full((3,), 8.0, dtype),
            surface_energy_kj_mol=jnp.zeros((n_phases,), dtype),
            defect_shift_kj_mol=jnp.zeros((n_phases,), dtype),
            rate_prefactor_per_s=jnp.asarray(1.0, dtype),
            diffusivity_A2_s=jnp.full((n_phases,), 1e6, dtype),
            cohesion_kj_mol=jnp.asarray(jnp.inf, dtype),
        )

    def astype(self, dtype) -> "MesoscaleParams":
        """The same parameters with every array leaf cast to ``dtype``."""
        arrays = {f.name: jnp.asarray(getattr(self, f.name), dtype) for f in fields(self) if not f.metadata.get("static")}
        return replace(self, **arrays)


def block_rescale(params: MesoscaleParams, block: int) -> MesoscaleParams:
    """Parameters for one site = ``block``³ site cells (rules in the module docstring).

    Bulk energies that live in :class:`~twin.thermo.ThermoParams` (Ω, W) are scaled by the engine with the
    same factor b³ (see :func:`twin.engine.model.site_potentials`).
    """
    if block < 1:
        raise MaterialError(f"block factor must be a positive integer, got {block}")
    ratio = block / params.block
    return MesoscaleParams(
        coupling_kj_mol=params.coupling_kj_mol * ratio,
        surface_energy_kj_mol=params.surface_energy_kj_mol * ratio**2,
        defect_shift_kj_mol=params.defect_shift_kj_mol * ratio**3,
        rate_prefactor_per_s=params.rate_prefactor_per_s / ratio**3,
        diffusivity_A2_s=params.diffusivity_A2_s,
        cohesion_kj_mol=params.cohesion_kj_mol * ratio,
        block=block,
    )


def mesoscale_from_table(table: dict[str, Any], phase_names: tuple[str, ...], *, file: str,
                         sources: dict[str, Any]) -> MesoscaleParams:
    """Parse a ``[mesoscale]`` table (every number ``{ value, unit, source }``).

    Keys: ``coupling_a``, ``coupling_b``, ``coupling_c`` (energy), ``rate_prefactor`` (frequency, e.g.
    ``unit = "1/s"``), ``cohesion`` (energy, or ``value = inf``), and per phase ``[mesoscale.<phase>]`` with
    ``surface_energy`` (energy per exposed site face), ``defect_shift`` (energy) and ``diffusivity``
    (``unit = "m2/s"`` or ``"A2/s"``).

    Raises:
        MaterialError: naming the file and key path, the expected form and what was found.
    """
    from twin.material import quantity

    where = f"{file}: mesoscale"

    def energy(t: dict, key: str, w: str) -> float:
        entry = t.get(key)
        if isinstance(entry, dict) and entry.get("value") == "inf":
            return float("inf")
        return quantity(t, key, "energy", where=w, sources=sources)

    def frequency(t: dict, key: str, w: str) -> float:
        entry = t.get(key)
        _need(entry, f"{w}.{key}", '{ value = 1.0, unit = "1/s", source = "..." }')
        if entry.get("unit") not in ("1/s", "Hz"):
            raise MaterialError(f"{w}.{key}.unit: expected a rate unit \"1/s\" or \"Hz\", got {entry.get('unit')!r}")
        return _number(entry, f"{w}.{key}", sources)

    def diffusivity(t: dict, key: str, w: str) -> float:
        entry = t.get(key)
        _need(entry, f"{w}.{key}", '{ value = 1e-14, unit = "m2/s", source = "..." }')
        factors = {"m2/s": 1e20, "cm2/s": 1e16, "A2/s": 1.0, "nm2/s": 100.0}
        unit = entry.get("unit")
        if unit not in factors:
            raise MaterialError(f"{w}.{key}.unit: expected a diffusivity unit ({', '.join(factors)}), got {unit!r}")
        return _number(entry, f"{w}.{key}", sources) * factors[unit]

    coupling = [energy(table, f"coupling_{axis}", where) for axis in "abc"]
    rate = frequency(table, "rate_prefactor", where)
    cohesion = energy(table, "cohesion", where)
    surface, shift, diff = [], [], []
    for phase in phase_names:
        sub = table.get(phase)
        if not isinstance(sub, dict):
            raise MaterialError(f"{where}.{phase}: missing; expected a table [mesoscale.{phase}] with surface_energy, "
                                f"defect_shift and diffusivity")
        w = f"{where}.{phase}"
        surface.append(energy(sub, "surface_energy", w))
        shift.append(energy(sub, "defect_shift", w))
        diff.append(diffusivity(sub, "diffusivity", w))
    if rate <= 0.0:
        raise MaterialError(f"{where}.rate_prefactor: expected a positive rate, got {rate:g} 1/s")
    if min(coupling) < 0.0:
        raise MaterialError(f"{where}.coupling_*: expected non-negative couplings, got {coupling}")
    f32 = jnp.float32
    return MesoscaleParams(
        coupling_kj_mol=jnp.asarray(coupling, f32),
        surface_energy_kj_mol=jnp.asarray(surface, f32),
        defect_shift_kj_mol=jnp.asarray(shift, f32),
        rate_prefactor_per_s=jnp.asarray(rate, f32),
        diffusivity_A2_s=jnp.asarray(diff, f32),
        cohesion_kj_mol=jnp.asarray(cohesion, f32),
    )


def _need(entry: Any, path: str, example: str) -> None:
    if not isinstance(entry, dict) or "value" not in entry:
        raise MaterialError(f"{path}: expected a table such as {example}, got {entry!r}")


def _number(entry: dict, path: str, sources: dict) -> float:
    source = entry.get("source")
    if not isinstance(source, str) or any(s.strip() not in sources for s in source.split(";")):
        raise MaterialError(f"{path}: every number needs a source key of [sources], got {source!r}")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MaterialError(f"{path}.value: expected a number, got {value!r}")
    return float(value)


def mesoscale_from_material(material) -> MesoscaleParams:
    """The material's ``[mesoscale]`` table, or :meth:`MesoscaleParams.default` when it has none."""
    table = material.raw.get("mesoscale")
    if table is None:
        return MesoscaleParams.default(len(material.phases))
    return mesoscale_from_table(table, material.phase_names, file=material.path.name,
                                sources=material.raw.get("sources", {}))
