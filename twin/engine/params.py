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
* the cohesion (energy a link stores before it breaks) scales like the coupling, b;
* the coherency modulus B (long-range elastic coupling to the crystal mean, a bulk energy) scales as b³;
* the face weights (relative face areas) and the hydrolysis rate per site cell are unchanged (a block is
  defective when its cells are, so the fraction of defective sites grows at the per-cell rate).

Surface energies. ``surface_energy_kj_mol[p]·face_weight[d]`` is the free energy of phase p per exposed site
face normal to axis d. A ``[mesoscale.<phase>] surface_energy`` in kJ/mol is isotropic (weights 1); one in J/m²
(or, when the key is left out, the material's ``[thermo] surface_energy_difference`` Δγ with γ_closed = 0 and
γ_open = Δγ) is converted per face, γ·A_d·N_A/1000 with A_d the face of the open site cell normal to d
(A_x = b c, A_y = a c, A_z = a b): a cuboid crystal whose lattice sites all switch together then carries
Δγ × (its area) exactly as :func:`twin.thermo.surface.size_shift_kj_mol` (whose L is the edge of the open
crystal, cell volume V_open) assumes. ``surface_energy_kj_mol`` then holds γ·Ā·N_A/1000 with Ā the mean of the
three face areas and ``face_weight`` = A_d/Ā.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy import constants as sc

from twin.errors import MaterialError

__all__ = ["MesoscaleParams", "mesoscale_from_material", "mesoscale_from_table", "block_rescale", "face_areas_A2",
           "surface_energy_per_face_kj_mol"]

#: J/m² on a face of 1 Å² → kJ/mol
_J_M2_A2_TO_KJ_MOL = 1e-20 * sc.N_A / 1000.0


def _f32(value) -> Array:
    return jnp.asarray(value, jnp.float32)


def face_areas_A2(cell_A: tuple[float, float, float]) -> np.ndarray:
    """Areas of the site-cell faces normal to x, y, z [Å²]: (b c, a c, a b) of an orthogonal cell."""
    a, b, c = (float(x) for x in cell_A)
    return np.asarray([b * c, a * c, a * b], dtype=np.float64)


def surface_energy_per_face_kj_mol(gamma_J_m2: float, cell_A: tuple[float, float, float]) -> np.ndarray:
    r"""Free energy of one exposed site face normal to x, y, z [kJ/mol]: :math:`\gamma A_d N_A / 1000`.

    Args:
        gamma_J_m2: surface free energy γ [J/m²].
        cell_A: edges (a, b, c) of the (open) site cell [Å]; the faces are b·c, a·c, a·b.
    """
    return gamma_J_m2 * face_areas_A2(cell_A) * _J_M2_A2_TO_KJ_MOL


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
        face_weight: A_d/Ā, relative area of the site faces normal to x, y, z, (3,); the surface energy of a
            face normal to d is ``surface_energy_kj_mol[p] * face_weight[d]`` (ones: isotropic).
        coherency_kj_mol: B, long-range (coherency-strain) coupling of every site to the mean η of its crystal,
            B/2 Σ_i (η_i − η̄)² [kJ/mol per site cell]; 0 switches it off (:mod:`twin.engine.model`).
        hydrolysis_prefactor_per_s: A of the hydrolysis rate k = A exp(−E_a/RT) RH^m per site cell [1/s];
            0 switches defect creation off.
        hydrolysis_activation_kj_mol: E_a [kJ/mol].
        hydrolysis_humidity_order: m, the order in the relative humidity.
        block: coarse-graining factor the numbers are expressed for (static; 1 = per site cell).
    """

    coupling_kj_mol: Float[Array, "3"]
    surface_energy_kj_mol: Float[Array, "n_phases"]
    defect_shift_kj_mol: Float[Array, "n_phases"]
    rate_prefactor_per_s: Float[Array, ""]
    diffusivity_A2_s: Float[Array, "n_phases"]
    cohesion_kj_mol: Float[Array, ""]
    face_weight: Float[Array, "3"] = field(default_factory=lambda: jnp.ones((3,), jnp.float32))
    coherency_kj_mol: Float[Array, ""] = field(default_factory=lambda: jnp.zeros((), jnp.float32))
    hydrolysis_prefactor_per_s: Float[Array, ""] = field(default_factory=lambda: jnp.zeros((), jnp.float32))
    hydrolysis_activation_kj_mol: Float[Array, ""] = field(default_factory=lambda: jnp.zeros((), jnp.float32))
    hydrolysis_humidity_order: Float[Array, ""] = field(default_factory=lambda: jnp.ones((), jnp.float32))
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
            face_weight=jnp.ones((3,), dtype),
            coherency_kj_mol=jnp.zeros((), dtype),
            hydrolysis_prefactor_per_s=jnp.zeros((), dtype),
            hydrolysis_activation_kj_mol=jnp.zeros((), dtype),
            hydrolysis_humidity_order=jnp.ones((), dtype),
        )

    @property
    def fracture(self) -> bool:
        """Links can break (finite cohesion); a static switch of the compiled step."""
        return bool(np.isfinite(float(self.cohesion_kj_mol)))

    @property
    def coherent(self) -> bool:
        """The coherency coupling is on (B > 0)."""
        return float(self.coherency_kj_mol) > 0.0

    @property
    def hydrolysis(self) -> bool:
        """Defects are created under humidity (A > 0)."""
        return float(self.hydrolysis_prefactor_per_s) > 0.0

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
        face_weight=params.face_weight,
        coherency_kj_mol=params.coherency_kj_mol * ratio**3,
        hydrolysis_prefactor_per_s=params.hydrolysis_prefactor_per_s,
        hydrolysis_activation_kj_mol=params.hydrolysis_activation_kj_mol,
        hydrolysis_humidity_order=params.hydrolysis_humidity_order,
        block=block,
    )


_AREA_ENERGY_UNITS = ("J/m2", "J/m^2", "J/m²", "mJ/m2", "mJ/m^2", "mJ/m²")


def mesoscale_from_table(table: dict[str, Any], phase_names: tuple[str, ...], *, file: str,
                         sources: dict[str, Any], cell_A: tuple[float, float, float] | None = None,
                         delta_gamma_J_m2: float | None = None) -> MesoscaleParams:
    """Parse a ``[mesoscale]`` table (every number ``{ value, unit, source }``).

    Keys: ``coupling_a``, ``coupling_b``, ``coupling_c`` (energy), ``rate_prefactor`` (frequency, e.g.
    ``unit = "1/s"``), ``cohesion`` (energy, or ``value = inf``), optional ``coherency`` (energy, B of the
    long-range coupling, default 0), optional ``[mesoscale.hydrolysis]`` with ``prefactor`` (frequency),
    ``activation_energy`` (energy) and ``humidity_order`` (unit ``"1"``), and per phase
    ``[mesoscale.<phase>]`` with ``surface_energy`` (energy per exposed site face, or J/m², converted per face
    with ``cell_A``; may be left out in every phase when ``delta_gamma_J_m2`` is given), ``defect_shift``
    (energy) and ``diffusivity`` (``unit = "m2/s"`` or ``"A2/s"``).

    Args:
        cell_A: open site-cell edges [Å] (face areas for J/m² surface energies).
        delta_gamma_J_m2: the material's Δγ = γ_open − γ_closed (``[thermo] surface_energy_difference``).

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
    coherency = energy(table, "coherency", where) if "coherency" in table else 0.0
    if not 0.0 <= coherency < float("inf"):
        raise MaterialError(f"{where}.coherency: expected a finite non-negative energy, got {coherency:g} kJ/mol")
    surface_J_m2: list[float | None] = []
    surface, shift, diff = [], [], []
    for phase in phase_names:
        sub = table.get(phase)
        if not isinstance(sub, dict):
            raise MaterialError(f"{where}.{phase}: missing; expected a table [mesoscale.{phase}] with surface_energy, "
                                f"defect_shift and diffusivity")
        w = f"{where}.{phase}"
        entry = sub.get("surface_energy")
        if entry is None and delta_gamma_J_m2 is not None:
            surface_J_m2.append(None)
        elif isinstance(entry, dict) and entry.get("unit") in _AREA_ENERGY_UNITS:
            surface_J_m2.append(quantity(sub, "surface_energy", "area_energy", where=w, sources=sources))
        else:
            surface.append(energy(sub, "surface_energy", w))
        shift.append(energy(sub, "defect_shift", w))
        diff.append(diffusivity(sub, "diffusivity", w))
    face_weight = np.ones(3)
    if surface_J_m2:
        if surface:
            raise MaterialError(f"{where}: surface_energy: give every phase in kJ/mol (per face) or every phase in "
                                f"J/m2, not a mixture")
        if cell_A is None:
            raise MaterialError(f"{where}: surface_energy in J/m2 needs the site-cell edges to convert it per face")
        if any(g is None for g in surface_J_m2):
            if any(g is not None for g in surface_J_m2):
                raise MaterialError(f"{where}: surface_energy: give it in every phase or in none (then it comes "
                                    f"from thermo.surface_energy_difference)")
            surface_J_m2 = [0.0] * (len(phase_names) - 1) + [float(delta_gamma_J_m2)]  # type: ignore[arg-type]
        areas = face_areas_A2(cell_A)
        face_weight = areas / areas.mean()
        surface = [float(g) * float(areas.mean()) * _J_M2_A2_TO_KJ_MOL for g in surface_J_m2]  # type: ignore[arg-type]
    hyd = table.get("hydrolysis")
    hyd_a, hyd_e, hyd_m = 0.0, 0.0, 1.0
    if hyd is not None:
        if not isinstance(hyd, dict):
            raise MaterialError(f"{where}.hydrolysis: expected a table with prefactor, activation_energy and "
                                f"humidity_order, got {hyd!r}")
        wh = f"{where}.hydrolysis"
        hyd_a = frequency(hyd, "prefactor", wh)
        hyd_e = energy(hyd, "activation_energy", wh)
        order = hyd.get("humidity_order")
        _need(order, f"{wh}.humidity_order", '{ value = 1.0, unit = "1", source = "..." }')
        if order.get("unit") != "1":
            raise MaterialError(f"{wh}.humidity_order.unit: expected \"1\" (a dimensionless order), got {order.get('unit')!r}")
        hyd_m = _number(order, f"{wh}.humidity_order", sources)
        if hyd_a < 0.0 or hyd_m < 0.0 or not np.isfinite(hyd_e):
            raise MaterialError(f"{wh}: expected prefactor >= 0, humidity_order >= 0 and a finite activation energy, "
                                f"got {hyd_a:g} 1/s, {hyd_m:g}, {hyd_e:g} kJ/mol")
    if rate <= 0.0:
        raise MaterialError(f"{where}.rate_prefactor: expected a positive rate, got {rate:g} 1/s")
    if min(coupling) < 0.0:
        raise MaterialError(f"{where}.coupling_*: expected non-negative couplings, got {coupling}")
    return MesoscaleParams(
        coupling_kj_mol=_f32(coupling),
        surface_energy_kj_mol=_f32(surface),
        defect_shift_kj_mol=_f32(shift),
        rate_prefactor_per_s=_f32(rate),
        diffusivity_A2_s=_f32(diff),
        cohesion_kj_mol=_f32(cohesion),
        face_weight=_f32(face_weight),
        coherency_kj_mol=_f32(coherency),
        hydrolysis_prefactor_per_s=_f32(hyd_a),
        hydrolysis_activation_kj_mol=_f32(hyd_e),
        hydrolysis_humidity_order=_f32(hyd_m),
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
    """The material's ``[mesoscale]`` table, or :meth:`MesoscaleParams.default` when it has none.

    Without a table, a material with ``[thermo] surface_energy_difference`` still gets its surface term: the
    default parameters with γ_closed = 0 and γ_open = Δγ converted per exposed face of the open site cell
    (module docstring), so that the engine and :mod:`twin.thermo.surface` describe the same crystal.
    """
    open_phase = material.phases[-1]
    cell_A = (open_phase.a_A, open_phase.b_A, open_phase.c_A)
    delta_gamma = getattr(material, "surface_energy_difference_J_m2", None)
    table = material.raw.get("mesoscale")
    if table is None:
        params = MesoscaleParams.default(len(material.phases))
        if delta_gamma is None:
            return params
        areas = face_areas_A2(cell_A)
        gamma = [0.0] * (len(material.phases) - 1) + [float(delta_gamma) * float(areas.mean()) * _J_M2_A2_TO_KJ_MOL]
        return replace(params, surface_energy_kj_mol=_f32(gamma), face_weight=_f32(areas / areas.mean()))
    return mesoscale_from_table(table, material.phase_names, file=material.path.name,
                                sources=material.raw.get("sources", {}), cell_A=cell_A, delta_gamma_J_m2=delta_gamma)
