"""Crystal geometry on the site lattice: shapes, sizes, links, defects, powders (host side, NumPy).

One lattice site is one site cell of the material (or a block of b×b×b of them). A crystal is a boolean mask
on an (nx, ny, nz) box; the bonds to the six neighbours, the inside flag and the defect flag are packed into
one ``uint8`` per site (:data:`LINK_BITS`), so the geometry costs one byte per site in the hot loop:

====  =====================================================================================
bit   meaning
====  =====================================================================================
0–5   link to the neighbour along +x, −x, +y, −y, +z, −z is intact (both sites inside, cohesive)
6     the site is inside the crystal
7     the site carries a point defect (missing linker / node, or a defect nanoregion)
====  =====================================================================================

A missing link is a face exposed to the gas: the crystal surface, a void, or a crack
(:mod:`twin.engine.model` uses ``6 − popcount(links)`` for the surface term and for gas exchange).

Shapes (bounding box L_x × L_y × L_z, centre c, reduced coordinates u = (x − c)/(L/2)):
cuboid/plate/needle: |u_i| ≤ 1 (a plate is thin along z and a needle long along x by the sizes given);
sphere/ellipsoid: Σ u_i² ≤ 1; truncated: a cuboid with its corners cut by the octahedron Σ|u_i| ≤ 3 − 3t
(t = truncation fraction of the half-edge removed at each corner).

Heterogeneity: point defects with probability ``defect_concentration`` per site; correlated defect nanoregions
and voids as level sets of a Gaussian random field with a Gaussian covariance of correlation length ξ
(thresholded to the requested volume fraction; Teubner, Europhys. Lett. 14, 403 (1991) for level-cut
Gaussian fields as models of two-phase media).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import ScenarioError

__all__ = [
    "LINK_BITS",
    "INSIDE_BIT",
    "DEFECT_BIT",
    "DIRECTIONS",
    "Geometry",
    "size_in_sites",
    "crystal_mask",
    "pack_links",
    "gaussian_level_set",
    "build_geometry",
    "powder_sizes_A",
]

#: bits 0..5: links along +x, −x, +y, −y, +z, −z
LINK_BITS = 0b0011_1111
INSIDE_BIT = 6
DEFECT_BIT = 7
#: (axis, offset) of each link bit
DIRECTIONS = ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1))


@dataclass(frozen=True)
class Geometry:
    """Host-side geometry of one crystal or a padded batch of crystals.

    Attributes:
        links: packed site bits (see module docstring), uint8, (nx, ny, nz) or (n_crystals, nx, ny, nz).
        spacing_A: distance between neighbouring sites along x, y, z [Å] (site cell × block).
        periodic: periodic boundaries along all three axes.
        block: coarse-graining factor b.
        size_A: bounding-box edges of each crystal [Å], (3,) or (n_crystals, 3).
    """

    links: np.ndarray
    spacing_A: tuple[float, float, float]
    periodic: bool
    block: int
    size_A: np.ndarray

    @property
    def site_shape(self) -> tuple[int, ...]:
        return tuple(self.links.shape)

    @property
    def mask(self) -> np.ndarray:
        return (self.links >> INSIDE_BIT) & 1 == 1

    @property
    def n_sites(self) -> int:
        return int(self.mask.sum())


def size_in_sites(size_A, cell_A, block: int) -> tuple[int, int, int]:
    """Edges of the bounding box in sites: round(L_i / (b·a_i)), at least 1."""
    return tuple(max(1, int(round(float(L) / (block * float(a))))) for L, a in zip(size_A, cell_A))  # type: ignore[return-value]


def crystal_mask(shape: str, n_sites: tuple[int, int, int], box: tuple[int, int, int] | None = None,
                 truncation: float = 0.0) -> np.ndarray:
    """Boolean mask of a crystal of ``n_sites`` edges, centred in a box (default: the crystal's own box)."""
    box = tuple(n_sites) if box is None else tuple(box)
    if tuple(box) != tuple(n_sites):  # the crystal's own box of exactly n sites per edge, centred in the larger one
        own = crystal_mask(shape, n_sites, None, truncation)
        out = np.zeros(box, dtype=bool)
        start = [(m - n) // 2 for n, m in zip(n_sites, box)]
        out[tuple(slice(a, a + n) for a, n in zip(start, n_sites))] = own
        return out
    coords = []
    for n, m in zip(n_sites, box):
        centre = (m - 1) / 2.0
        coords.append((np.arange(m) - centre) / (n / 2.0))
    u = np.meshgrid(*coords, indexing="ij", sparse=True)
    inside_box = (np.abs(u[0]) <= 1.0) & (np.abs(u[1]) <= 1.0) & (np.abs(u[2]) <= 1.0)
    if shape in ("cuboid", "plate", "needle"):
        mask = inside_box
    elif shape in ("sphere", "ellipsoid"):
        mask = u[0] ** 2 + u[1] ** 2 + u[2] ** 2 <= 1.0
    elif shape == "truncated":
        mask = inside_box & (np.abs(u[0]) + np.abs(u[1]) + np.abs(u[2]) <= 3.0 - 3.0 * truncation)
    else:
        raise ScenarioError(f"crystal.shape: expected one of cuboid, plate, needle, sphere, ellipsoid, truncated, got {shape!r}")
    mask = np.broadcast_to(mask, box).copy()
    if not mask.any():  # a crystal smaller than one site still holds its central site
        mask[tuple(m // 2 for m in box)] = True
    return mask


def _neighbour(a: np.ndarray, axis: int, offset: int, periodic: bool) -> np.ndarray:
    """Value at i+offset along a spatial axis (last three axes); False/0 beyond an open boundary."""
    ax = a.ndim - 3 + axis
    if periodic:
        return np.roll(a, -offset, axis=ax)
    out = np.zeros_like(a)
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    if offset > 0:
        src[ax], dst[ax] = slice(1, None), slice(None, -1)
    else:
        src[ax], dst[ax] = slice(None, -1), slice(1, None)
    out[tuple(dst)] = a[tuple(src)]
    return out


def pack_links(mask: np.ndarray, defects: np.ndarray | None = None, periodic: bool = False) -> np.ndarray:
    """Pack inside flag, defect flag and the six links (both ends inside) into one uint8 per site."""
    mask = np.asarray(mask, dtype=bool)
    bits = np.zeros(mask.shape, dtype=np.uint8)
    for k, (axis, offset) in enumerate(DIRECTIONS):
        bits |= ((mask & _neighbour(mask, axis, offset, periodic)).astype(np.uint8) << k)
    bits |= mask.astype(np.uint8) << INSIDE_BIT
    if defects is not None:
        bits |= (np.asarray(defects, dtype=bool) & mask).astype(np.uint8) << DEFECT_BIT
    return bits


def gaussian_level_set(shape: tuple[int, ...], fraction: float, correlation_sites: tuple[float, float, float],
                       rng: np.random.Generator) -> np.ndarray:
    """Boolean field with volume fraction ``fraction``: the top ``fraction`` of a Gaussian random field.

    The field is white noise filtered in Fourier space by exp(−k²ξ²/4) (Gaussian covariance exp(−r²/2ξ²)
    per axis, ξ in sites), thresholded at its (1 − fraction) quantile.
    """
    if fraction <= 0.0:
        return np.zeros(shape, dtype=bool)
    spatial = shape[-3:]
    noise = rng.standard_normal(shape).astype(np.float32)
    k2 = np.zeros(spatial, dtype=np.float32)
    for axis, (n, xi) in enumerate(zip(spatial, correlation_sites)):
        k = 2.0 * np.pi * np.fft.fftfreq(n).astype(np.float32)
        shape_k = [1, 1, 1]
        shape_k[axis] = n
        k2 = k2 + (k * float(xi)).reshape(shape_k) ** 2
    filt = np.exp(-k2 / 4.0)
    axes = tuple(range(len(shape) - 3, len(shape)))
    field = np.fft.irfftn(np.fft.rfftn(noise, axes=axes) * filt[..., : spatial[2] // 2 + 1], s=spatial, axes=axes)
    threshold = np.quantile(field, 1.0 - fraction)
    return field > threshold


def powder_sizes_A(median_A: float, width: float, n_crystals: int, aspect, rng: np.random.Generator) -> np.ndarray:
    """Bounding boxes [Å] of a log-normal powder: L = median·aspect·exp(σ z), one z per crystal, (n, 3)."""
    z = rng.standard_normal(n_crystals)
    return median_A * np.asarray(aspect, dtype=np.float64)[None, :] * np.exp(width * z)[:, None]


def build_geometry(crystal, heterogeneity, cell_A: tuple[float, float, float], seed: int) -> Geometry:
    """Geometry of a scenario's crystal (or powder) with its defects and voids.

    Args:
        crystal: :class:`twin.scenario.Crystal`.
        heterogeneity: :class:`twin.scenario.Heterogeneity`.
        cell_A: site-cell edges (a, b, c) [Å] that map lengths to sites (the open phase's cell).
        seed: seed of the defect and powder draws (NumPy PCG64, independent of the dynamics' noise).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    b = int(crystal.block)
    spacing = tuple(b * float(a) for a in cell_A)
    series = getattr(crystal, "sizes_A", None)
    if crystal.distribution is not None or series is not None:
        if series is not None:
            sizes = np.asarray(series, dtype=np.float64)
        else:
            d = crystal.distribution
            sizes = powder_sizes_A(d.median_A, d.width, d.n_crystals, d.aspect, rng)
        n_sites = [size_in_sites(s, cell_A, b) for s in sizes]
        box = tuple(max(n[i] for n in n_sites) for i in range(3))
        mask = np.stack([crystal_mask(crystal.shape, n, box, crystal.truncation) for n in n_sites])
    else:
        if crystal.size_cells is not None:
            n_sites = tuple(max(1, int(round(n / b))) for n in crystal.size_cells)
            sizes = np.asarray([n * s for n, s in zip(n_sites, spacing)])
        else:
            sizes = np.asarray(crystal.size_A, dtype=np.float64)
            n_sites = size_in_sites(sizes, cell_A, b)
        mask = crystal_mask(crystal.shape, n_sites, None, crystal.truncation)
    if crystal.periodic and mask.ndim == 3 and not mask.all():
        raise ScenarioError(f"crystal.periodic: periodic boundaries need a box-filling cuboid, got shape {crystal.shape!r}")
    h = heterogeneity
    corr = h.correlation_length_A or 0.0
    corr_sites = tuple(max(corr / s, 0.5) for s in spacing)
    if h.void_fraction > 0.0:
        void_corr = corr_sites if corr > 0.0 else (1.0, 1.0, 1.0)
        mask = mask & ~gaussian_level_set(mask.shape, h.void_fraction, void_corr, rng)
    defects = rng.random(mask.shape, dtype=np.float32) < h.defect_concentration
    if h.nanoregion_fraction > 0.0:
        defects |= gaussian_level_set(mask.shape, h.nanoregion_fraction, corr_sites, rng)
    links = pack_links(mask, defects, crystal.periodic)
    return Geometry(links=links, spacing_A=spacing, periodic=bool(crystal.periodic), block=b, size_A=np.asarray(sizes))
