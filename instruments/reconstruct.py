"""Atoms of a cell (or of a block of cells) from its breathing order parameter η.

The twin stores η per unit cell; XRD (Debye equation), TEM and export need atoms. A cell at η is built
by linear interpolation between the two phase endpoint structures (η = 0 narrow pore, η = 1 large pore):
lattice parameters (a, b, c, α, β, γ) and fractional coordinates, the latter along the minimum-image
displacement of each atom. This is the linear (Vegard-like) path between end members; the true
transition path of the framework (hinge rotations at fixed linker length) is not linear, so distances
inside a cell at intermediate η are approximate (a few % in bond lengths at η = 0.5 for MIL-53); the
endpoints are exact.

Interpolation needs a common atom ordering: atom k of one endpoint must be the same atom as atom k of the
other. :func:`common_ordering` verifies it, or builds it by an optimal assignment per element
(Hungarian algorithm, scipy ``linear_sum_assignment``, on minimum-image distances in the mean lattice)
and rejects pairs whose matched atoms are further apart than ``max_displacement_A``.

Partially occupied structures cannot be turned into atoms and raise :class:`twin.errors.MaterialError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mofcore.errors import MaterialError

__all__ = ["common_ordering", "interpolate_structure", "to_ase", "crystal_atoms"]


def _require_ordered(structure: Any, where: str) -> None:
    if not structure.is_ordered:
        bad = next(i for i, s in enumerate(structure) if not s.is_ordered)
        raise MaterialError(
            f"{where}: site {bad} ({structure[bad].species_string}) is partially occupied; atoms can only be "
            "reconstructed from an ordered structure (expected every site fully occupied by one element)"
        )


def _params(structure: Any) -> np.ndarray:
    return np.array([*structure.lattice.abc, *structure.lattice.angles], dtype=float)


def common_ordering(
    structure_eta0: Any,
    structure_eta1: Any,
    *,
    max_displacement_A: float = 2.5,
    allow_origin_shift: bool = True,
    where: str = "phase endpoints",
) -> np.ndarray:
    """Permutation ``perm`` such that ``structure_eta1[perm[k]]`` is the same atom as ``structure_eta0[k]``.

    With ``allow_origin_shift`` the endpoint η = 1 may sit on another origin (e.g. Imma vs C2/c
    settings): candidate shifts that put an atom of the rarest element onto each of its partners are
    tried and the best match is kept (the shift is then removed by :func:`interpolate_structure`,
    which interpolates along the minimum-image displacement after the match).

    Raises:
        MaterialError: different compositions or atom counts, partial occupancy, or a matched atom moves
            more than ``max_displacement_A`` (not the same framework in the same setting).
    """
    from pymatgen.core import Lattice
    from scipy.optimize import linear_sum_assignment

    _require_ordered(structure_eta0, f"{where} (η = 0)")
    _require_ordered(structure_eta1, f"{where} (η = 1)")
    sp0 = np.array([s.specie.symbol for s in structure_eta0])
    sp1 = np.array([s.specie.symbol for s in structure_eta1])
    if len(sp0) != len(sp1) or sorted(sp0) != sorted(sp1):
        raise MaterialError(
            f"{where}: the endpoint cells differ in content ({structure_eta0.composition.formula} vs "
            f"{structure_eta1.composition.formula}); expected the same atoms in cells of the same setting"
        )
    mean = Lattice.from_parameters(*(0.5 * (_params(structure_eta0) + _params(structure_eta1))))
    f0, f1 = structure_eta0.frac_coords, structure_eta1.frac_coords

    def match(shift: np.ndarray) -> tuple[np.ndarray, float]:
        perm = np.empty(len(sp0), dtype=int)
        worst = 0.0
        for el in np.unique(sp0):  # a few elements
            i0, i1 = np.flatnonzero(sp0 == el), np.flatnonzero(sp1 == el)
            diff = f1[i1][None, :, :] - shift - f0[i0][:, None, :]
            diff -= np.round(diff)
            dist = np.linalg.norm(diff @ mean.matrix, axis=-1)
            rows, cols = linear_sum_assignment(dist)
            perm[i0[rows]] = i1[cols]
            worst = max(worst, float(dist[rows, cols].max()))
        return perm, worst

    perm, worst = match(np.zeros(3))
    if worst > max_displacement_A and allow_origin_shift:
        # candidate origin shifts: map the first atom of the rarest element onto each of its partners
        counts = {el: int((sp0 == el).sum()) for el in np.unique(sp0)}
        rare = min(counts, key=counts.get)
        anchor = f0[np.flatnonzero(sp0 == rare)[0]]
        for partner in f1[sp1 == rare]:
            cand_perm, cand_worst = match(partner - anchor)
            if cand_worst < worst:
                perm, worst = cand_perm, cand_worst
    if worst > max_displacement_A:
        raise MaterialError(
            f"{where}: after optimal matching an atom moves {worst:.2f} Å between the endpoints; expected at "
            f"most {max_displacement_A} Å (are both cells in the same setting and origin?)"
        )
    return perm


def _displacement(structure_eta0: Any, structure_eta1: Any, perm: np.ndarray) -> np.ndarray:
    """Minimum-image fractional displacement of every atom, rigid translation (mean) removed."""
    df = structure_eta1.frac_coords[perm] - structure_eta0.frac_coords
    df -= np.round(df)
    return df - df.mean(axis=0, keepdims=True)


def interpolate_structure(structure_eta0: Any, structure_eta1: Any, eta: float, *, ordering: np.ndarray | None = None) -> Any:
    """pymatgen ``Structure`` at η ∈ [0, 1] (linear path; see module docstring)."""
    from pymatgen.core import Lattice, Structure

    perm = common_ordering(structure_eta0, structure_eta1) if ordering is None else ordering
    p = (1.0 - eta) * _params(structure_eta0) + eta * _params(structure_eta1)
    f0 = structure_eta0.frac_coords
    df = _displacement(structure_eta0, structure_eta1, perm)
    species = [s.specie for s in structure_eta0]
    return Structure(Lattice.from_parameters(*p), species, f0 + eta * df)


def to_ase(structure: Any) -> Any:
    """ASE ``Atoms`` of a pymatgen structure (needs ``ase``)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(structure)


def crystal_atoms(
    structure_eta0: Any, structure_eta1: Any, eta: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Atoms of a block of cells with η per cell, shape (nx, ny, nz).

    Cell (i, j, k) gets the cell reconstructed at its own η; its origin is the sum of the local cell
    vectors along the path (0,0,0) → (i,0,0) → (i,j,0) → (i,j,k) (each cell contributes its own a, b
    or c vector), so neighbouring cells of different η stay in contact. Cells with ``mask`` False
    (outside the crystal or a crack) are left out. Vectorised over cells.

    Returns:
        positions [Å] (n_atoms, 3), species index (n_atoms,), element symbols.
    """
    from pymatgen.core import Lattice

    eta = np.asarray(eta, dtype=float)
    if eta.ndim != 3:
        raise MaterialError(f"crystal_atoms: expected η on a 3-D cell lattice (nx, ny, nz), got shape {eta.shape}")
    perm = common_ordering(structure_eta0, structure_eta1)
    p0, p1 = _params(structure_eta0), _params(structure_eta1)
    f0 = structure_eta0.frac_coords
    df = _displacement(structure_eta0, structure_eta1, perm)
    params = (1.0 - eta[..., None]) * p0 + eta[..., None] * p1  # (nx, ny, nz, 6)
    flat = params.reshape(-1, 6)
    # lattice matrices per cell (pymatgen's standard orientation), vectorised through the unique η values
    uniq, inv = np.unique(np.round(flat, 6), axis=0, return_inverse=True)
    mats = np.array([Lattice.from_parameters(*u).matrix for u in uniq])[inv.reshape(-1)].reshape(*eta.shape, 3, 3)
    a_vec, b_vec, c_vec = mats[..., 0, :], mats[..., 1, :], mats[..., 2, :]
    ox = np.cumsum(a_vec[:, :1, :1], axis=0) - a_vec[:, :1, :1]  # along x at j = k = 0
    oy = np.cumsum(b_vec[:, :, :1], axis=1) - b_vec[:, :, :1]  # along y at k = 0
    oz = np.cumsum(c_vec, axis=2) - c_vec
    origin = ox + oy + oz  # broadcast (nx, ny, nz, 3)
    frac = f0[None] + eta.reshape(-1)[:, None, None] * df[None]  # (n_cells, n_at, 3)
    cart = np.einsum("cai,cij->caj", frac, mats.reshape(-1, 3, 3)) + origin.reshape(-1, 1, 3)
    keep = np.ones(eta.size, bool) if mask is None else np.asarray(mask, bool).reshape(-1)
    symbols = tuple(sorted({s.specie.symbol for s in structure_eta0}))
    spec = np.array([symbols.index(s.specie.symbol) for s in structure_eta0], dtype=np.int32)
    positions = cart[keep].reshape(-1, 3)
    return positions, np.tile(spec, int(keep.sum())), symbols
