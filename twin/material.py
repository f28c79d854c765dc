"""Material parameter sets: ``datasets/materials/<name>.toml`` → :class:`Material`.

The file format is described in ``docs/materials.md``. In short: every number is a table
``{ value = 6.6324, unit = "A", source = "wongng2019", note = "...", estimated = false }`` whose ``source`` is
a key of the file's ``[sources]`` table; units are checked through :mod:`twin.units` (plus the few
dimensions that table lacks: volume, molar mass, entropy, counts). All energies, volumes, masses and
loadings are **per site cell**, the cell the mesoscale engine puts on one lattice site; it holds the same
number of formula units in every phase (``[site_cell] formula_units``).

The ``[mesoscale]`` table belongs to the engine (``twin/engine``) and is passed through untouched in
:attr:`Material.raw`.
"""

from __future__ import annotations

import math
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from mofcore.files import read_toml_file, regular_file_problem
from twin.datasets import dataset_path, file_sha256, material_names, material_path
from twin.errors import MaterialError, UnitError
from twin.thermo.gases import gas
from twin.thermo.params import ThermoParams
from twin.units import parse_quantity

__all__ = ["Phase", "Material", "load_material", "quantity"]

# Dimensions twin.units does not have; internal units: Å³, g/mol, kJ/(mol K), 1.
_EXTRA_UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "volume": ('"1425.2 A3"', {"A3": 1.0, "Å3": 1.0, "Å^3": 1.0, "A^3": 1.0, "nm3": 1e3}),
    "molar_mass": ('"832.42 g/mol"', {"g/mol": 1.0, "kg/mol": 1e3}),
    "entropy": ('"38 J/(mol K)"', {"J/(mol K)": 1e-3, "kJ/(mol K)": 1.0, "J/mol/K": 1e-3, "kJ/mol/K": 1.0}),
    "count": ('"8.5 1/cell"', {"1/cell": 1.0, "molecules/cell": 1.0, "1": 1.0}),
}


def quantity(table: dict[str, Any], key: str, dimension: str, *, where: str, sources: dict[str, Any]) -> float:
    """Read ``table[key] = { value, unit, source, ... }`` in the internal unit of ``dimension``.

    Raises:
        MaterialError: missing key, missing/unknown source, wrong unit or dimension (the message names the
        file and key path, the expected form and what was found).
    """
    path = f"{where}.{key}"
    entry = table.get(key)
    if entry is None:
        raise MaterialError(f"{path}: missing; expected a table such as {{ value = 1.0, unit = \"...\", source = \"key\" }}")
    if not isinstance(entry, dict) or "value" not in entry or "unit" not in entry:
        raise MaterialError(f"{path}: expected a table {{ value = ..., unit = \"...\", source = \"...\" }}, got {entry!r}")
    source = entry.get("source")
    if not isinstance(source, str) or not source:
        raise MaterialError(f"{path}: every number needs a source key (a key of [sources]), got {source!r}")
    for key_part in (s.strip() for s in source.split(";")):
        if key_part not in sources:
            raise MaterialError(f"{path}: source {key_part!r} is not in [sources] (known: {', '.join(sources)})")
    value, unit = entry["value"], entry["unit"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MaterialError(f"{path}.value: expected a finite number, got {value!r}")
    if dimension in _EXTRA_UNITS:
        example, factors = _EXTRA_UNITS[dimension]
        if unit not in factors:
            raise MaterialError(
                f"{path}.unit: expected a {dimension.replace('_', ' ')} unit such as {example} "
                f"({', '.join(factors)}), got {unit!r}"
            )
        return float(value) * factors[unit]
    try:
        return parse_quantity(f"{value} {unit}".strip(), dimension, where=path)
    except UnitError as error:
        raise MaterialError(str(error)) from None


@dataclass(frozen=True)
class Phase:
    """One host phase of a material, described by its site cell.

    Attributes:
        name: "np", "lp", "cp", "op" (or "rigid").
        structure: path of the phase's CIF under ``datasets/structures``.
        a_A, b_A, c_A: site-cell lengths [Å]. alpha_deg, beta_deg, gamma_deg: site-cell angles [deg].
        volume_A3: site-cell volume [Å³].
        mass_g_per_mol: host mass of the site-cell contents [g/mol].
    """

    name: str
    structure: Path
    a_A: float
    b_A: float
    c_A: float
    alpha_deg: float
    beta_deg: float
    gamma_deg: float
    volume_A3: float
    mass_g_per_mol: float


@dataclass(frozen=True)
class Material:
    """A material parameter set (see module docstring).

    Attributes:
        name, title: file stem and one-line description.
        path: the TOML file; sha256: its SHA-256 (provenance).
        raw: the parsed TOML (including the engine's ``[mesoscale]`` table).
        phases: closed/narrow first (η = 0), open/large last (η = 1); one phase for a rigid MOF.
        thermo: :class:`~twin.thermo.ThermoParams` (float32 JAX arrays; ``thermo.astype`` for float64).
        guests: guests with adsorption parameters.
        formula_units_per_site: formula units in one site cell (all phases).
        surface_energy_difference_J_m2: Δγ = γ_open − γ_closed [J/m²] from ``[thermo] surface_energy_difference``,
            or None; the crystal-size term s(L) = Δγ·6V_open/L of :mod:`twin.thermo.surface`
            (:func:`twin.thermo.crystal_thermo` makes the parameter set of a crystal of edge L).
        critical_size_nm: the measured critical crystal edge [nm] from ``[thermo] critical_size``, or None: the
            size below which crystals stop switching, to compare with :func:`twin.thermo.critical_size_nm`.
    """

    name: str
    title: str
    path: Path
    sha256: str
    raw: dict[str, Any]
    phases: tuple[Phase, ...]
    thermo: ThermoParams
    guests: tuple[str, ...]
    formula_units_per_site: int
    surface_energy_difference_J_m2: float | None = None
    critical_size_nm: float | None = None

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    @property
    def mass_g_per_mol(self) -> float:
        """Host mass of one site cell [g/mol] (the same in every phase)."""
        return self.phases[0].mass_g_per_mol

    def check_temperature(self, temperature_K: float, *, where: str = "temperature") -> None:
        """Raise :class:`MaterialError` if T is outside the parameter set's validity range."""
        lo, hi = self.thermo.t_min_K, self.thermo.t_max_K
        if not lo <= temperature_K <= hi:
            raise MaterialError(
                f"{where}: {temperature_K:g} K is outside the validity range of material {self.name!r} "
                f"({lo:g}–{hi:g} K, [validity] in {self.path.name})"
            )


def _resolve(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        if regular_file_problem(candidate) == "no such file":
            raise MaterialError(f"material file {str(candidate)!r} does not exist; known materials: {', '.join(material_names())}")
        return candidate
    return material_path(str(name_or_path))


def load_material(name_or_path: str | Path) -> Material:
    """Load a material by name (``"mil53-al"``) or by the path of a ``.toml`` file.

    Raises:
        MaterialError: unknown material (the message lists the known names), or a malformed file (the
        message names the file and key).
    """
    path = _resolve(name_or_path)
    raw, digest = _read_extended(path, ())
    file = path.name
    try:
        return _build(raw, path, digest)
    except KeyError as error:
        raise MaterialError(f"{file}: missing key {error.args[0]!r}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml_file(path, what="a material file (TOML)", error=MaterialError)


def _read_extended(path: Path, chain: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The parsed file with its ``extends`` base merged under it, and the provenance hash.

    ``extends = "mil53-al"`` (a material name, or a ``.toml`` path relative to this file) takes every table
    of the base and lets this file replace what it names: tables merge key by key, down to single numbers;
    any other value (a number entry ``{ value, unit, ... }``, an array such as ``[[phases]]``) replaces the
    base's whole. A variant then states only what differs, and a refit of the base reaches its variants. The
    hash is the SHA-256 of this file's and the bases' hashes, so provenance changes when any of them does.
    """
    if path.name in chain:
        raise MaterialError(f"{path.name}: extends: the chain {' -> '.join(chain + (path.name,))} is circular")
    raw = _read_toml(path)
    base_name = raw.pop("extends", None)
    digest = file_sha256(path)
    if base_name is None:
        return raw, digest
    if not isinstance(base_name, str) or not base_name:
        raise MaterialError(f"{path.name}: extends: expected a material name such as \"mil53-al\", got {base_name!r}")
    base_path = (path.parent / base_name) if base_name.endswith(".toml") else None
    try:
        base_path = _resolve(base_path if base_path is not None else base_name)
    except MaterialError as error:
        raise MaterialError(f"{path.name}: extends: {error}") from None
    base, base_digest = _read_extended(base_path, chain + (path.name,))
    merged = _merge(base, raw)
    if "name" not in raw:  # a variant is named after its own file, not its base
        del merged["name"]
    return merged, hashlib.sha256(f"{digest}:{base_digest}".encode()).hexdigest()


def _is_number_entry(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: tables merged recursively, number entries and arrays replaced whole."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not _is_number_entry(value):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _build(raw: dict[str, Any], path: Path, digest: str) -> Material:
    file = path.name
    sources = raw.get("sources", {})
    if not isinstance(sources, dict) or not sources:
        raise MaterialError(f"{file}: [sources] table missing; every number cites a key of it")

    def q(table, key, dim, where):
        return quantity(table, key, dim, where=f"{file}: {where}", sources=sources)

    site = raw["site_cell"]
    fu = site["formula_units"]
    if not isinstance(fu, int) or fu < 1:
        raise MaterialError(f"{file}: site_cell.formula_units: expected a positive integer, got {fu!r}")
    mass = q(site, "host_mass", "molar_mass", "site_cell")
    validity = raw["validity"]
    t_min = q(validity, "temperature_min", "temperature", "validity")
    t_max = q(validity, "temperature_max", "temperature", "validity")
    thermo = raw["thermo"]
    t_ref = q(thermo, "reference_temperature", "temperature", "thermo")
    barrier = q(thermo, "barrier", "energy", "thermo") if len(raw["phases"]) > 1 else 1.0
    barrier_entropy = q(thermo, "barrier_entropy", "entropy", "thermo") if "barrier_entropy" in thermo else 0.0
    for t_end in (t_min, t_max):  # W(T) = W_ref − S_W (T − T_ref) must stay a barrier over the validity range
        w_end = barrier - barrier_entropy * (t_end - t_ref)
        if not w_end > 0.0:
            raise MaterialError(
                f"{file}: thermo.barrier_entropy: W(T) = barrier - barrier_entropy * (T - reference_temperature) "
                f"must stay positive over the validity range {t_min:g}-{t_max:g} K; it is {w_end:.4g} kJ/mol at {t_end:g} K"
            )

    delta_gamma = critical_size = None
    if "surface_energy_difference" in thermo:
        if len(raw["phases"]) < 2:
            raise MaterialError(f"{file}: thermo.surface_energy_difference: needs a closed and an open phase, the file has one")
        delta_gamma = q(thermo, "surface_energy_difference", "area_energy", "thermo")
    if "critical_size" in thermo:
        critical_size = q(thermo, "critical_size", "length", "thermo") / 10.0  # Å → nm
        if not critical_size > 0.0:
            raise MaterialError(f"{file}: thermo.critical_size: expected a crystal size > 0, got {critical_size * 10.0:g} Å")

    phases, energies, entropies = [], [], []
    for i, entry in enumerate(raw["phases"]):
        where = f"phases[{i}]"
        structure = dataset_path("structures", entry["structure"])
        if not structure.is_file():
            raise MaterialError(f"{file}: {where}.structure: {entry['structure']!r} not found in datasets/structures")
        lengths = [q(entry, k, "length", where) for k in ("a", "b", "c")]
        angles = [q(entry, k, "angle", where) for k in ("alpha", "beta", "gamma")]
        volume = q(entry, "volume", "volume", where)
        ca, cb, cg = (math.cos(math.radians(x)) for x in angles)
        v_cell = lengths[0] * lengths[1] * lengths[2] * math.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)
        if abs(v_cell - volume) > 2e-3 * volume:
            raise MaterialError(
                f"{file}: {where}.volume: {volume:g} Å³ disagrees with the lattice parameters ({v_cell:.2f} Å³)"
            )
        phases.append(Phase(entry["name"], structure, *lengths, *angles, volume, mass))
        energies.append(q(entry, "host_energy", "energy", where) if i else 0.0)
        entropies.append(q(entry, "host_entropy", "entropy", where) if i else 0.0)

    names = [p.name for p in phases]
    guests_raw = raw.get("guests", {})
    guests = tuple(guests_raw)
    n_max = [[0.0] * len(guests) for _ in phases]
    log_k = [[0.0] * len(guests) for _ in phases]
    enthalpy = [[0.0] * len(guests) for _ in phases]
    tc, pc, omega = [], [], []
    for j, g in enumerate(guests):
        constants = gas(g, where=f"{file}: guests.{g}")
        if constants.name != g:
            raise MaterialError(f"{file}: guests.{g}: write the gas by its name in this package, {constants.name!r}")
        tc.append(constants.critical_temperature_K)
        pc.append(constants.critical_pressure_Pa)
        omega.append(constants.acentric_factor)
        for i, phase in enumerate(names):
            where = f"guests.{g}.{phase}"
            table = guests_raw[g].get(phase)
            if table is None:
                raise MaterialError(f"{file}: {where}: missing; every guest needs Langmuir parameters in every phase")
            n = q(table, "n_max", "count", where)
            p_half = q(table, "p_half", "pressure", where)
            if n <= 0 or p_half <= 0:
                raise MaterialError(f"{file}: {where}: n_max and p_half must be positive")
            n_max[i][j] = n
            log_k[i][j] = -math.log(p_half)
            enthalpy[i][j] = q(table, "enthalpy", "energy", where)

    f32 = jnp.float32
    params = ThermoParams(
        host_energy_kj_mol=jnp.asarray(energies, f32),
        host_entropy_kj_mol_K=jnp.asarray(entropies, f32),
        volume_A3=jnp.asarray([p.volume_A3 for p in phases], f32),
        barrier_kj_mol=jnp.asarray(barrier, f32),
        n_max=jnp.asarray(n_max, f32).reshape(len(phases), len(guests)),
        log_k_ref=jnp.asarray(log_k, f32).reshape(len(phases), len(guests)),
        enthalpy_kj_mol=jnp.asarray(enthalpy, f32).reshape(len(phases), len(guests)),
        reference_temperature_K=jnp.asarray(t_ref, f32),
        critical_temperature_K=jnp.asarray(tc, f32).reshape(len(guests)),
        critical_pressure_Pa=jnp.asarray(pc, f32).reshape(len(guests)),
        acentric_factor=jnp.asarray(omega, f32).reshape(len(guests)),
        barrier_entropy_kj_mol_K=jnp.asarray(barrier_entropy, f32),
        guests=guests,
        phase_names=tuple(names),
        t_min_K=t_min,
        t_max_K=t_max,
    )
    return Material(
        name=raw.get("name", path.stem),
        title=raw.get("title", path.stem),
        path=path,
        sha256=digest,
        raw=raw,
        phases=tuple(phases),
        thermo=params,
        guests=guests,
        formula_units_per_site=fu,
        surface_energy_difference_J_m2=delta_gamma,
        critical_size_nm=critical_size,
    )
