r"""Phase structures for the XRD forward model: atoms, form-factor coefficients and reflection families.

Host-side preparation (NumPy, pymatgen, spglib) done once per phase; everything the compiled model needs
ends up in one frozen pytree, :class:`PhaseStructure`.

Reflection families. All integer (hkl) with d ≥ ``d_min_A`` at the reference lattice are enumerated and
grouped into orbits of the Laue group of the structure (the point-group rotations found by spglib through
pymatgen's ``SpacegroupAnalyzer``, plus the inversion: Friedel mates overlap in a powder). Each family keeps
a representative (the lexicographically largest member), its multiplicity and its padded member list
(for March–Dollase). Families whose |F|² at the reference structure is below 1e-9 of the largest are
systematic absences and are dropped (centring and glide extinctions do not depend on the lattice).
pymatgen's ``XRDCalculator`` instead sums every reciprocal-lattice point and merges by 2θ; both give the
same intensities whenever |F| is equal on a Laue orbit, which holds without anomalous scattering and, with
it, for the average |F(h)|²+|F(−h)|² used here.

Size limit. The number of lattice points with d ≥ d_min is estimated before anything is allocated as the
volume of the limiting sphere over the reciprocal-cell volume, :math:`N \approx \tfrac{4\pi}{3} d_{min}^{-3} V`
(V the direct cell volume [Å³]); above :data:`MAX_HKL` (500,000 hkl before symmetry merging) the build is
refused with a :class:`~twin.errors.DataFormatError` that names the cause (a short wavelength or a wide 2θ
range). The enumeration itself runs one h-plane at a time and the Laue orbits one rotation at a time, so
memory stays O(N) below the limit. A d_min above the largest d-spacing of the cell (no reflection at all) is
refused the same way.

Partial occupancy is handled in the average-structure approximation (f weighted by occupancy); a site
whose occupancies sum above 1 or a species without form-factor coefficients (dummy atoms, unknown
elements) is rejected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from instruments.xrd.form_factors import FORM_FACTOR_TABLES, form_factor_coefficients
from mofcore.errors import DataFormatError, MaterialError

__all__ = [
    "PhaseStructure",
    "load_structure",
    "phase_from_structure",
    "phase_from_cif",
    "d_min_for",
    "lattice_parameters",
    "estimated_hkl_count",
    "MAX_HKL",
]

_OCCUPANCY_TOL = 1e-3

#: Most hkl (before symmetry merging) one phase may enumerate: ~12 MB of indices and, after merging, a
#: reflection list the compiled model evaluates in milliseconds to seconds per pattern on a CPU.
MAX_HKL = 500_000


def float_dtype() -> Any:
    """The default JAX float dtype (float32 unless x64 is enabled)."""
    return jnp.zeros(()).dtype


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PhaseStructure:
    """One crystalline phase, ready for the compiled model.

    Attributes (arrays; n_atoms sites, n_species elements, n_peaks families, max_mult members):
        lattice: reference a, b, c [Å], α, β, γ [deg], (6,).
        frac_coords: fractional coordinates, (n_atoms, 3).
        occupancy: site occupancy in (0, 1], (n_atoms,).
        species_index: element of each site (index into ``symbols``), int32 (n_atoms,).
        u_iso_A2: isotropic displacement U [Å²], (n_atoms,) (B = 8π²U).
        u_star: anisotropic U* (dimensionless, reciprocal basis), (n_atoms, 3, 3); zeros when absent.
        ff_a, ff_b, ff_c: form-factor coefficients, (n_species, 4), (n_species, 4), (n_species,).
        f_anomalous: f′ and f″ per element [electrons], (n_species, 2).
        hkl: representative Miller indices per family, (n_peaks, 3) float.
        multiplicity: members per family, (n_peaks,).
        members: member indices padded with the representative, (n_peaks, max_mult, 3).
        member_mask: 1 for real members, 0 for padding, (n_peaks, max_mult).
        cell_mass_amu: mass of the cell [g/mol], scalar.
        symbols: element symbols (static).
        table: form-factor table name (static).
        crystal_system: spglib crystal system of the reference structure (static).
        name: label (static).
    """

    lattice: Any
    frac_coords: Any
    occupancy: Any
    species_index: Any
    u_iso_A2: Any
    u_star: Any
    ff_a: Any
    ff_b: Any
    ff_c: Any
    f_anomalous: Any
    hkl: Any
    multiplicity: Any
    members: Any
    member_mask: Any
    cell_mass_amu: Any
    symbols: tuple[str, ...] = field(default=(), metadata={"static": True})
    table: str = field(default="pymatgen", metadata={"static": True})
    crystal_system: str = field(default="triclinic", metadata={"static": True})
    name: str = field(default="", metadata={"static": True})

    @property
    def n_peaks(self) -> int:
        return int(np.shape(self.hkl)[0])


def lattice_parameters(structure: Any) -> np.ndarray:
    """(a, b, c [Å], α, β, γ [deg]) of a pymatgen Structure."""
    lat = structure.lattice
    return np.array([*lat.abc, *lat.angles], dtype=float)


def d_min_for(wavelength_A: float, two_theta_max_deg: float, margin: float = 0.97) -> float:
    """Smallest d [Å] seen at ``two_theta_max_deg``, times ``margin`` (room for lattice changes, shifts)."""
    return margin * wavelength_A / (2.0 * np.sin(np.radians(min(two_theta_max_deg, 179.9) / 2.0)))


def estimated_hkl_count(volume_A3: float, d_min_A: float) -> float:
    r"""Reciprocal-lattice points inside the limiting sphere |g| ≤ 1/d_min: :math:`\tfrac{4\pi}{3} V / d_{min}^3`.

    The sphere volume over the reciprocal-cell volume 1/V (V the direct cell volume [Å³]); exact for
    large counts, within a few points of the true count for small ones.
    """
    return 4.0 * np.pi / 3.0 * volume_A3 / d_min_A**3


def _d_min_cause(d_min_A: float, origin: str) -> str:
    return f"{origin} reaches d_min = {d_min_A:.4g} Å" if origin else f"d_min = {d_min_A:.4g} Å"


def _check_hkl_budget(lattice: Any, d_min_A: float, where: str, origin: str) -> None:
    """Refuse, before allocating, a d_min that reaches more than :data:`MAX_HKL` reflections."""
    n_est = estimated_hkl_count(float(lattice.volume), d_min_A)
    if n_est > MAX_HKL:
        raise DataFormatError(
            f"{where}: {_d_min_cause(d_min_A, origin)}, which would enumerate about {n_est:.2g} reflections "
            f"(hkl before symmetry merging); the limit is {MAX_HKL:,}: use a longer wavelength or a narrower "
            "2θ range"
        )


def _no_reflection_error(lattice: Any, d_min_A: float, where: str, origin: str) -> DataFormatError:
    """The error for a d_min above every d-spacing, naming the largest d (searched over |h|,|k|,|l| ≤ 2)."""
    small = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    small = small[np.any(small != 0, axis=1)]
    g_len = np.linalg.norm(small @ lattice.reciprocal_lattice_crystallographic.matrix, axis=1)
    hkl = " ".join(str(int(x)) for x in np.abs(small[np.argmin(g_len)]))
    return DataFormatError(
        f"{where}: {_d_min_cause(d_min_A, origin)}, above the largest d-spacing of the cell "
        f"({1.0 / g_len.min():.4g} Å, ({hkl})): no reflection falls in range; use a shorter wavelength or a "
        "wider 2θ range"
    )


def _enumerate_hkl(lattice: Any, d_min_A: float) -> np.ndarray:
    """All integer hkl ≠ 0 with 1/d = |h·(a*, b*, c*)| ≤ 1/d_min, one h-plane at a time (|h| ≤ a/d_min)."""
    rec = lattice.reciprocal_lattice_crystallographic.matrix  # rows a*, b*, c* [1/Å]
    hmax = np.floor(np.array(lattice.abc) / d_min_A).astype(int)
    k, l_ = np.meshgrid(np.arange(-hmax[1], hmax[1] + 1), np.arange(-hmax[2], hmax[2] + 1), indexing="ij")
    kl = np.stack([k.ravel(), l_.ravel()], axis=1)
    kl_g = kl @ rec[1:]
    planes = []
    for h in range(-hmax[0], hmax[0] + 1):  # ≤ 2·a/d_min + 1 planes; each O(N / planes) memory
        g_len = np.linalg.norm(h * rec[0] + kl_g, axis=1)
        keep = (g_len > 0) & (g_len <= 1.0 / d_min_A + 1e-9)
        planes.append(np.column_stack([np.full(int(keep.sum()), h), kl[keep]]))
    return np.concatenate(planes).astype(np.int64)


def load_structure(path: str | Path) -> Any:
    """Read a CIF (or any format pymatgen reads) into a pymatgen Structure.

    Raises:
        DataFormatError: the file is missing or does not parse, naming the file and pymatgen's reason.
    """
    from pymatgen.core import Structure

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: structure file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - pymatgen raises many types; all mean "not a structure"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataFormatError(f"{path}: could not read a crystal structure (expected a CIF): {reason}") from None
    if len(structure) == 0:
        raise DataFormatError(f"{path}: the structure has no atoms")
    return structure


def _laue_rotations(structure: Any, symprec: float) -> np.ndarray:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
            ops = analyzer.get_symmetry_operations(cartesian=False)
            system = analyzer.get_crystal_system()
        rots = np.array([np.round(op.rotation_matrix).astype(int) for op in ops])
    except Exception:  # noqa: BLE001 - spglib failure: fall back to P-1 (correct, only slower)
        rots, system = np.eye(3, dtype=int)[None], "triclinic"
    rots = np.unique(np.concatenate([rots, -rots]), axis=0)
    return rots, system


def _families(hkl: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Laue-orbit label of every hkl: canonical member = lexicographic max of the orbit.

    One rotation at a time (h' = Rᵀh for x' = Rx), vectorised over hkl: O(n_hkl) memory.
    """
    span = max(int(np.abs(hkl @ rot).max()) for rot in rotations) + 1
    base = 2 * span + 1
    canon = np.full(len(hkl), -1, dtype=np.int64)
    for rot in rotations:  # ≤ 48 Laue operations
        h = hkl @ rot + span
        np.maximum(canon, (h[:, 0] * base + h[:, 1]) * base + h[:, 2], out=canon)
    _, label = np.unique(canon, return_inverse=True)
    return label, canon


def _species_table(structure: Any, table: str, where: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    from pymatgen.core import Element

    symbols: list[str] = []
    frac, occ, spec = [], [], []
    for i, site in enumerate(structure):
        total = float(sum(site.species.values()))
        if total > 1.0 + _OCCUPANCY_TOL:
            raise DataFormatError(
                f"{where}: site {i} ({site.species_string}) has total occupancy {total:.3f}; "
                "expected at most 1 (a partially occupied site shares one position among species whose "
                "occupancies sum to ≤ 1)"
            )
        for sp, occu in site.species.items():
            sym = getattr(sp, "symbol", str(sp))
            try:
                Element(sym)
            except ValueError:
                raise MaterialError(
                    f"{where}: site {i} holds species {sym!r}, which is not a chemical element; "
                    "expected real atoms (replace dummy or deuterium labels by elements)"
                ) from None
            if sym not in symbols:
                symbols.append(sym)
            frac.append(site.frac_coords)
            occ.append(float(occu))
            spec.append(symbols.index(sym))
    return symbols, np.array(frac, dtype=float), np.array(occ, dtype=float), np.array(spec, dtype=np.int32)


def phase_from_structure(
    structure: Any,
    d_min_A: float,
    *,
    table: str = "pymatgen",
    u_iso_A2: float | dict[str, float] = 0.0,
    anomalous: dict[str, tuple[float, float]] | None = None,
    symprec: float = 1e-3,
    name: str = "",
    where: str = "structure",
    d_min_origin: str = "",
) -> PhaseStructure:
    """Build a :class:`PhaseStructure` from a pymatgen ``Structure``.

    Args:
        structure: the phase (conventional cell as read from its CIF).
        d_min_A: smallest d-spacing [Å] to enumerate (see :func:`d_min_for`).
        table: form-factor table, one of ``FORM_FACTOR_TABLES``.
        u_iso_A2: isotropic U [Å²] for every atom, or per element symbol. Anisotropic U from the site
            properties ``U11_cif`` … (pymatgen's convention) is used when present.
        anomalous: optional ``{element: (f′, f″)}`` at the wavelength used.
        symprec: spglib tolerance [Å] for the Laue group.
        name, where: label and the place named in error messages (file name).
        d_min_origin: what set d_min, for error messages (e.g. ``"λ = 0.01 Å with 2θ up to 50°"``).

    Raises:
        MaterialError: unknown table, element without coefficients; DataFormatError: bad occupancy,
        d_min_A ≤ 0, more than :data:`MAX_HKL` reflections or none at all with d ≥ d_min_A.
    """
    from pymatgen.analysis.diffraction.core import get_ustar

    if table not in FORM_FACTOR_TABLES:
        raise MaterialError(f"{where}: unknown form-factor table {table!r}; expected one of {FORM_FACTOR_TABLES}")
    if not np.isfinite(d_min_A) or d_min_A <= 0:
        raise DataFormatError(f"{where}: d_min must be a positive length in Å, got {d_min_A}")
    _check_hkl_budget(structure.lattice, d_min_A, where, d_min_origin)
    symbols, frac, occ, spec = _species_table(structure, table, where)
    try:
        coeff = form_factor_coefficients(tuple(symbols), table)
    except KeyError as missing:
        raise MaterialError(
            f"{where}: form-factor table {table!r} has no coefficients for element {missing.args[0]}; "
            f"expected one of the table's elements (the 'pymatgen' table covers Z = 1–98)"
        ) from None
    n_sp = len(symbols)
    f_anom = np.zeros((n_sp, 2))
    for sym, (fp, fpp) in (anomalous or {}).items():
        if sym in symbols:
            f_anom[symbols.index(sym)] = (fp, fpp)
    if isinstance(u_iso_A2, dict):
        u_iso = np.array([u_iso_A2.get(symbols[s], 0.0) for s in spec], dtype=float)
    else:
        u_iso = np.full(len(spec), float(u_iso_A2))
    ustar_sites = get_ustar(structure)
    if ustar_sites is None:
        u_star = np.zeros((len(spec), 3, 3))
    else:  # expand per species entry of each site
        per_site = [np.asarray(ustar_sites[i]) for i, site in enumerate(structure) for _ in site.species]
        u_star = np.array(per_site, dtype=float)

    # ---- enumerate hkl with d >= d_min at the reference lattice
    rec = structure.lattice.reciprocal_lattice_crystallographic.matrix  # rows a*, b*, c* [1/Å]
    hkl = _enumerate_hkl(structure.lattice, d_min_A)
    if len(hkl) == 0:
        raise _no_reflection_error(structure.lattice, d_min_A, where, d_min_origin)
    rotations, system = _laue_rotations(structure, symprec)
    label, canon = _families(hkl, rotations)
    n_fam = int(label.max()) + 1 if len(label) else 0
    mult = np.bincount(label, minlength=n_fam)
    order = np.argsort(label, kind="stable")
    starts = np.concatenate([[0], np.cumsum(mult)[:-1]])
    max_mult = int(mult.max()) if n_fam else 1
    members = np.zeros((n_fam, max_mult, 3), dtype=float)
    mask = np.zeros((n_fam, max_mult))
    sorted_hkl = hkl[order]
    for j in range(max_mult):  # loop over member slots (≤ 48), vectorised over families
        has = mult > j
        members[has, j] = sorted_hkl[starts[has] + j]
        mask[has, j] = 1.0
    members[~mask.astype(bool)] = np.repeat(members[:, :1], max_mult, axis=1)[~mask.astype(bool)]
    rep = np.zeros((n_fam, 3))
    best = np.full(n_fam, -1)
    np.maximum.at(best, label, canon)
    is_rep = canon == best[label]
    rep[label[is_rep]] = hkl[is_rep]

    # ---- drop systematic absences (|F|² < 1e-9 max at the reference structure, float64 host check)
    s = 0.5 * np.linalg.norm(rep @ rec, axis=1)
    a, b, c = coeff["a"], coeff["b"], coeff["c"]
    gauss = np.sum(a[None] * np.exp(-b[None] * (s**2)[:, None, None]), axis=-1)
    f0 = c[None] - 41.78214 * (s**2)[:, None] * gauss if table == "pymatgen" else c[None] + gauss
    f2 = np.empty(n_fam)
    chunk = max(1, 4_000_000 // len(spec))  # families per block: ≤ 4M complex terms (64 MB) at a time
    for lo in range(0, n_fam, chunk):
        phase = np.exp(2j * np.pi * (rep[lo:lo + chunk] @ frac.T))
        f2[lo:lo + chunk] = np.abs((phase * (occ[None] * f0[lo:lo + chunk][:, spec])).sum(axis=1)) ** 2
    present = f2 > 1e-9 * f2.max() if n_fam else np.zeros(0, bool)
    order_d = np.argsort(-1.0 / np.maximum(s[present], 1e-12))  # by increasing 2θ (decreasing d)
    sel = np.flatnonzero(present)[order_d]

    dt = float_dtype()
    mass = float(structure.composition.weight)
    return PhaseStructure(
        lattice=jnp.asarray(lattice_parameters(structure), dt),
        frac_coords=jnp.asarray(frac, dt),
        occupancy=jnp.asarray(occ, dt),
        species_index=jnp.asarray(spec, jnp.int32),
        u_iso_A2=jnp.asarray(u_iso, dt),
        u_star=jnp.asarray(u_star, dt),
        ff_a=jnp.asarray(a, dt),
        ff_b=jnp.asarray(b, dt),
        ff_c=jnp.asarray(c, dt),
        f_anomalous=jnp.asarray(f_anom, dt),
        hkl=jnp.asarray(rep[sel], dt),
        multiplicity=jnp.asarray(mult[sel], dt),
        members=jnp.asarray(members[sel], dt),
        member_mask=jnp.asarray(mask[sel], dt),
        cell_mass_amu=jnp.asarray(mass, dt),
        symbols=tuple(symbols),
        table=table,
        crystal_system=str(system),
        name=name or structure.composition.reduced_formula,
    )


def phase_from_cif(path: str | Path, d_min_A: float, **kwargs: Any) -> PhaseStructure:
    """:func:`load_structure` then :func:`phase_from_structure`, naming the file in every error."""
    structure = load_structure(path)
    kwargs.setdefault("where", str(path))
    kwargs.setdefault("name", Path(path).stem)
    return phase_from_structure(structure, d_min_A, **kwargs)
