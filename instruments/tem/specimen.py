r"""A crystal slab seen down a zone axis [uvw]: atoms of one repeat unit of a periodic field, and its slices.

Geometry. The zone axis is the lattice vector **d** = u**a** + v**b** + w**c** (the beam direction; [0 0 0] is
refused). Two lattice vectors **t₁**, **t₂** are chosen so that (**t₁**, **t₂**, **d**) is a primitive basis of
the (conventional) lattice, i.e. the integer matrix of their indices has determinant ±1, with projections P**t₁**,
P**t₂** on the plane ⊥ **d** as short and as close to perpendicular as possible (searched among indices
−3…3). Every atom of the cell (**t₁**, **t₂**, **d**) is projected: (x, y) on the plane, z = **r**·**d̂** modulo
|**d**|. The projected crystal is then exactly periodic with the 2-D lattice (P**t₁**, P**t₂**) laterally and with
|**d**| along the beam, so the multislice computes the potential of one repeat |**d**| and scans it
``n_repeats`` times (a slab of thickness n_repeats·|**d**|).

The field is a rectangle (FFT). When P**t₁** ⊥ P**t₂** (all main zones of orthorhombic, tetragonal and cubic
cells, and [010] of a monoclinic one) it is n₁|P**t₁**| × n₂|P**t₂**|, exactly periodic. Otherwise the
rectangle of the requested size is filled by tiling and atoms are wrapped into it: the field is then not a
period of the crystal and its edges carry a seam (``periodic = False``, said in the metadata).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mofcore.errors import DataFormatError

__all__ = ["Specimen", "parse_zone", "zone_frame", "specimen_from_structure"]


@dataclass(frozen=True)
class Specimen:
    """Atoms of one repeat unit along the beam of a periodic rectangular field.

    Attributes:
        xyz_A: positions [Å], (n_atoms, 3): x in [0, Lx), y in [0, Ly), z in [0, repeat_A) along the beam.
        species_index: element of each atom, (n_atoms,); ``symbols`` names them.
        symbols: element symbols.
        extent_A: (Lx, Ly) [Å].
        repeat_A: |d|, the period along the beam [Å].
        n_repeats: repeats scanned (thickness = n_repeats · repeat_A).
        periodic: whether the rectangle is a period of the projected crystal.
        zone: the zone axis (u, v, w).
        cell_2d_A: in-plane periods (|Pt₁|, |Pt₂|) [Å] and the angle between them [deg], (3,).
    """

    xyz_A: np.ndarray
    species_index: np.ndarray
    symbols: tuple[str, ...]
    extent_A: tuple[float, float]
    repeat_A: float
    n_repeats: int
    periodic: bool
    zone: tuple[int, int, int]
    cell_2d_A: tuple[float, float, float]

    @property
    def thickness_A(self) -> float:
        return self.repeat_A * self.n_repeats


def parse_zone(text: object, where: str = "zone") -> tuple[int, int, int]:
    """``"1 0 0"``, ``"[1,0,0]"`` or ``(1, 0, 0)`` → (1, 0, 0); three integers, not all zero, divided by their gcd."""
    if isinstance(text, str):
        parts = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    else:
        parts = list(text) if isinstance(text, (list, tuple)) else []
    try:
        uvw = tuple(int(p) for p in parts)
        ok = len(uvw) == 3 and all(float(p) == int(p) for p in parts)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataFormatError(f"{where}: expected a zone axis of three integers such as \"1 0 0\", got {text!r}")
    if uvw == (0, 0, 0):
        raise DataFormatError(f"{where}: the zone axis [0 0 0] is no direction; give e.g. \"1 0 0\"")
    g = math.gcd(math.gcd(abs(uvw[0]), abs(uvw[1])), abs(uvw[2]))
    return (uvw[0] // g, uvw[1] // g, uvw[2] // g)


def zone_frame(matrix_A: np.ndarray, zone: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The in-plane lattice vectors (t₁, t₂) as integer index rows (2, 3) and the lab frame R (3, 3) whose rows are
    x̂ = P t₁/|P t₁|, ŷ = ẑ × x̂, ẑ = d̂ (Cartesian, rows of ``matrix_A`` are a, b, c)."""
    d = np.asarray(zone, dtype=np.float64) @ matrix_A
    z = d / np.linalg.norm(d)
    rng = range(-3, 4)
    cands = np.array([t for t in itertools.product(rng, rng, rng) if any(t)], dtype=np.int64)
    proj = cands @ matrix_A
    proj = proj - np.outer(proj @ z, z)
    length = np.linalg.norm(proj, axis=1)
    keep = length > 1e-6
    cands, proj, length = cands[keep], proj[keep], length[keep]
    order = np.argsort(length, kind="stable")[:60]
    best, best_score = None, math.inf
    zone_arr = np.asarray(zone, dtype=np.int64)
    for i, j in itertools.combinations(order, 2):
        if abs(round(np.linalg.det(np.stack([cands[i], cands[j], zone_arr]).astype(np.float64)))) != 1:
            continue
        cos = abs(proj[i] @ proj[j]) / (length[i] * length[j])
        score = (cos > 1e-6) * 1e6 + cos * 1e3 + length[i] + length[j]
        if score < best_score:
            best, best_score = (i, j), score
    if best is None:
        raise DataFormatError(f"zone axis {list(zone)}: no lattice basis with small indices contains it "
                              "(give a zone with small indices)")
    i, j = best
    if length[j] > length[i] + 1e-9:
        i, j = j, i  # the longer period along x (images wider than tall)
    x = proj[i] / length[i]
    y = np.cross(z, x)
    if proj[j] @ y < 0:
        i, j = i, j
    return np.stack([cands[i], cands[j]]), np.stack([x, y, z])


def specimen_from_structure(structure, zone: tuple[int, int, int], *, field_A: float, thickness_A: float,
                            where: str = "structure") -> Specimen:
    """Tile a pymatgen ``Structure`` to a slab of ``thickness_A`` seen down ``zone`` over a field of at least
    ``field_A`` × ``field_A`` (exactly periodic when the projected cell is rectangular; module docstring)."""
    if not thickness_A > 0:
        raise DataFormatError(f"{where}: the thickness must be > 0 Å, got {thickness_A:g} Å")
    if not field_A > 0:
        raise DataFormatError(f"{where}: the field of view must be > 0 Å, got {field_A:g} Å")
    m = np.asarray(structure.lattice.matrix, dtype=np.float64)
    t, frame = zone_frame(m, zone)
    zone_arr = np.asarray(zone, dtype=np.int64)
    basis = np.stack([t[0], t[1], zone_arr]).astype(np.float64)  # rows: new cell vectors in old fractional indices
    d = zone_arr @ m
    repeat = float(np.linalg.norm(d))
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    # atoms of the new cell: old cells covering it, positions expressed in the new fractional basis
    span = np.abs(basis).sum(axis=0).astype(int) + 1
    shifts = np.array(list(itertools.product(*(range(-s, s + 1) for s in span))), dtype=np.float64)
    inv = np.linalg.inv(basis)
    all_frac = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    new = all_frac @ inv
    inside = np.all((new >= -1e-9) & (new < 1 - 1e-9), axis=1)
    n_expected = round(len(frac) * abs(np.linalg.det(basis)))
    symbols_all = [site.specie.symbol for site in structure]
    species_all = np.tile(np.arange(len(frac)), len(shifts))[inside]
    new = new[inside]
    if len(new) != n_expected:
        raise DataFormatError(f"{where}: the cell along zone {list(zone)} holds {len(new)} atoms, expected "
                              f"{n_expected}")
    cart = new @ (basis @ m)
    lab = cart @ frame.T
    p1, p2 = (t.astype(np.float64) @ m) @ frame.T[:, :2]
    l1, l2 = float(np.linalg.norm(p1)), float(np.linalg.norm(p2))
    angle = math.degrees(math.acos(max(-1.0, min(1.0, float(p1 @ p2) / (l1 * l2)))))
    periodic = abs(angle - 90.0) < 1e-4
    if periodic:
        n1, n2 = max(1, math.ceil(field_A / l1 - 1e-9)), max(1, math.ceil(field_A / l2 - 1e-9))
        extent = (n1 * l1, n2 * l2)
        ii, jj = np.meshgrid(np.arange(n1), np.arange(n2), indexing="ij")
    else:
        extent = (field_A, field_A)
        reach = int(math.ceil(2 * field_A / min(l1, l2))) + 2
        ii, jj = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    offsets = ii.reshape(-1, 1) * p1.reshape(1, 2) + jj.reshape(-1, 1) * p2.reshape(1, 2)
    xy = (lab[None, :, :2] + offsets[:, None, :]).reshape(-1, 2)
    z = np.tile(np.mod(lab[:, 2], repeat), len(offsets))
    src = np.tile(species_all, len(offsets))
    if periodic:
        xy = np.mod(xy, np.asarray(extent).reshape(1, 2))
    else:
        keep = (xy[:, 0] >= 0) & (xy[:, 0] < extent[0]) & (xy[:, 1] >= 0) & (xy[:, 1] < extent[1])
        xy, z, src = xy[keep], z[keep], src[keep]
    symbols = tuple(sorted(set(symbols_all), key=symbols_all.index))
    species = np.array([symbols.index(symbols_all[k]) for k in src], dtype=np.int32)
    n_repeats = max(1, round(thickness_A / repeat))
    return Specimen(xyz_A=np.column_stack([xy, z]), species_index=species, symbols=symbols, extent_A=extent,
                    repeat_A=repeat, n_repeats=n_repeats, periodic=periodic, zone=tuple(zone),
                    cell_2d_A=(l1, l2, angle))
