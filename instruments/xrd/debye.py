r"""Debye scattering equation for nanocrystals and atom clusters (JAX, blocked for memory).

.. math::
    I(Q) = \sum_i f_i(Q)^2 + \sum_{i \ne j} f_i(Q) f_j(Q)\,\frac{\sin Q r_{ij}}{Q r_{ij}}

(P. Debye, Ann. Phys. 351, 809 (1915); B. E. Warren, *X-ray Diffraction*, Dover 1990, ch. 10), in
electrons² per cluster, Q = 4π sin θ / λ [Å⁻¹], f from :mod:`instruments.xrd.form_factors`
(s = Q / 4π). Orientational average of an isotropic powder of identical clusters; no
Lorentz–polarisation, no Debye–Waller, no instrument — apply those on top.

Two evaluations:

* :func:`debye_intensity`: the exact double sum over atom pairs, in (block × block) tiles so memory is
  O(block² · n_q) however many atoms; cost O(N² n_q).
* :func:`pair_distance_histogram` + :func:`debye_intensity_histogram`: distances histogrammed per species
  pair on a grid r_k = kδ by linear (two-point, "cloud-in-cell") assignment — a pair at r = (k + w)δ adds
  1 − w to node k and w to node k + 1 — then a sum over nodes; O(N²) once plus O(n_bins · n_q). The sum is
  then exact for a kernel linear between nodes, so the error of a term is at most (Qδ)²/8 relative whatever
  the distances are (1.25e-3 at Qδ = 0.1). Counting at bin centres would instead err by up to Qδ/2 for the
  discrete distance shells of a crystal, which do not fill a bin uniformly; debyecalculator spreads distances
  onto its grid by interpolation for the same reason (F. L. Johansen et al., J. Appl. Cryst. 57 (2024)).
  The histogram costs one scatter-add of a (count, first moment) pair per atom pair, on small SIMD tiles of
  species-sorted, coordinate-major atoms (~2 ns per pair on one core of a 2-core x86 machine, 8–10× less
  CPU than debyecalculator 1.1.1's grid sum at 10⁴–10⁵ atoms); the node sum uses two matrix products over
  blocks of nodes instead of a table of n_q × n_bins sines. Against debyecalculator (Cu cubes of 10³–10⁵
  atoms, Q = 1–10 Å⁻¹): ~9e-5 of the peak at δ = 0.01 Å, ~2e-5 at δ = 0.005 Å (``benchmarks/README.md``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = ["debye_intensity", "pair_distance_histogram", "debye_intensity_histogram", "form_factor_matrix"]


def form_factor_matrix(
    q_inv_ang: Float[Array, "n_q"], a: Float[Array, "n_species 4"], b: Float[Array, "n_species 4"],
    c: Float[Array, "n_species"], mott_bethe: bool,
) -> Float[Array, "n_species n_q"]:
    """f₀ of each species on the Q grid (s = Q/4π), with an extra zero row for padding atoms."""
    from instruments.xrd.form_factors import atomic_form_factor

    f = atomic_form_factor(q_inv_ang / (4.0 * jnp.pi), a, b, c, mott_bethe).T
    return jnp.concatenate([f, jnp.zeros_like(f[:1])], axis=0)


def _pad(positions: Array, species: Array, n_species: int, block: int) -> tuple[Array, Array, int]:
    n = positions.shape[0]
    nb = -(-n // block)
    pad = nb * block - n
    pos = jnp.concatenate([positions, jnp.zeros((pad, 3), positions.dtype)])
    spec = jnp.concatenate([species, jnp.full((pad,), n_species, species.dtype)])
    return pos.reshape(nb, block, 3), spec.reshape(nb, block), nb


@partial(jax.jit, static_argnames=("block_size",))
def debye_intensity(
    positions_A: Float[Array, "n_atoms 3"],
    species_index: Int[Array, "n_atoms"],
    form_factors: Float[Array, "n_species_plus_1 n_q"],
    q_inv_ang: Float[Array, "n_q"],
    block_size: int = 128,
) -> Float[Array, "n_q"]:
    """Exact Debye sum I(Q) [e²] (equation in the module docstring), tiled in block_size² pairs.

    Args:
        positions_A: Cartesian positions [Å].
        species_index: species of each atom (row of ``form_factors``).
        form_factors: f(Q) per species with a last zero row (:func:`form_factor_matrix`).
        q_inv_ang: Q grid [Å⁻¹], > 0.
    """
    n_species = form_factors.shape[0] - 1
    pos, spec, _ = _pad(positions_A, species_index, n_species, block_size)

    def row(total: Array, xi: tuple[Array, Array]) -> tuple[Array, None]:
        pi, si = xi
        fi = form_factors[si]  # (b, n_q)

        def col(acc: Array, xj: tuple[Array, Array]) -> tuple[Array, None]:
            pj, sj = xj
            fj = form_factors[sj]
            r = jnp.sqrt(jnp.sum((pi[:, None, :] - pj[None, :, :]) ** 2, axis=-1))  # (b, b)
            qr = r[:, :, None] * q_inv_ang[None, None, :]
            sinc = jnp.where(qr > 1e-8, jnp.sin(qr) / jnp.where(qr > 1e-8, qr, 1.0), 1.0)
            return acc + jnp.einsum("iq,ijq,jq->q", fi, sinc, fj), None

        acc, _ = jax.lax.scan(col, jnp.zeros_like(q_inv_ang), (pos, spec))
        return total + acc, None

    total, _ = jax.lax.scan(row, jnp.zeros_like(q_inv_ang), (pos, spec))
    return total


def _species_blocks(
    positions: Array, species: Array, n_species: int, n_bins: int, bin_width: Array, block: int,
) -> tuple[Array, Array, int]:
    """Atoms in blocks of ``block`` that each hold one species, as (n_blocks, 3, block) coordinates, and the species
    of each block. Padding atoms, and atoms of a species outside 0…n_species−1, sit at one point farther than
    n_bins·δ from every atom, so their pairs fall beyond the last node (or at r = 0) and are dropped. With several
    species the number of blocks is the static bound ⌈(n + n_species·(block − 1))/block⌉ (each species is padded to
    whole blocks; the spare blocks are all padding)."""
    n = positions.shape[0]
    valid = (species >= 0) & (species < n_species)
    reach = n_bins * bin_width + 1.0
    far = jnp.max(jnp.where(valid[:, None], positions, 0.0), axis=0, initial=0.0) + reach
    if n_species == 1:
        nb = max(1, -(-n // block))
        pos = jnp.concatenate([jnp.where(valid[:, None], positions, far),
                               jnp.broadcast_to(far, (nb * block - n, 3)).astype(positions.dtype)])
        block_species = jnp.zeros((nb,), jnp.int32)
    else:
        nb = max(1, -(-(n + n_species * (block - 1)) // block))
        sp = jnp.where(valid, species, n_species).astype(jnp.int32)
        counts = jnp.bincount(sp, length=n_species + 1)[:n_species]
        padded = -(-counts // block) * block
        first_slot = jnp.cumsum(padded) - padded
        first_sorted = jnp.cumsum(counts) - counts
        order = jnp.argsort(sp, stable=True)
        s_sorted = sp[order]
        s_row = jnp.minimum(s_sorted, n_species - 1)
        slot = jnp.where(s_sorted < n_species, first_slot[s_row] + jnp.arange(n) - first_sorted[s_row], nb * block)
        pos = jnp.broadcast_to(far, (nb * block, 3)).astype(positions.dtype).at[slot].set(positions[order], mode="drop")
        block_species = jnp.searchsorted(jnp.cumsum(padded), jnp.arange(nb) * block, side="right")
        block_species = jnp.minimum(block_species, n_species - 1).astype(jnp.int32)
    return pos.reshape(nb, block, 3).transpose(0, 2, 1), block_species, nb


@partial(jax.jit, static_argnames=("n_species", "n_bins", "block_size"))
def pair_distance_histogram(
    positions_A: Float[Array, "n_atoms 3"],
    species_index: Int[Array, "n_atoms"],
    n_species: int,
    n_bins: int,
    bin_width_A: float,
    block_size: int = 32,
) -> Float[Array, "n_species n_species n_bins"]:
    """Linear-assignment counts of ordered pairs i ≠ j per species pair on the distance nodes r_k = k·δ,
    k < n_bins (module docstring). Pairs closer than 1e-6 Å, pairs beyond node n_bins − 1 (choose
    ``n_bins·bin_width_A`` above the largest distance in the cluster) and atoms whose species is not in
    0…n_species−1 are left out.

    Algorithm (the cost per pair is one scatter-add; the rest is vectorised):

    * the atoms are sorted by species into blocks of ``block_size`` (one species per block, padding far away) and
      stored coordinate-major, so a tile of distances is three broadcast differences, a square root and a scale —
      SIMD code, with the dynamic slice of the column block on the tile's outer axis (hoisted out of the loop);
    * each unordered pair of blocks is visited once: row block r meets blocks r, r+1, …, r + n_blocks//2
      (cyclically) in a scan; the diagonal tile counts both orders with weight ½, the antipodal tile of an even
      number of blocks (met from both sides) weight ½, all others weight 1, and the result is H + Hᵀ over species;
    * per tile, a pair at t = r/δ = k + s adds the complex number w + i·w·s, i.e. (count, first moment), to bin k
      of a partial histogram of the row block — one scatter-add of two floats (two real scatter-adds cost 1.5×
      as much); node weights follow as count − moment at k plus moment at k + 1 (the two-node assignment of the
      module docstring), and the partials are summed over row blocks with Kahan compensation (a node of a
      10⁵-atom cluster collects ~10⁸ pairs, beyond float32's 2²⁴ exact integers; one row block adds ≲ 10⁴);
    * tiles are small (32 × 32 pairs by default) on purpose: XLA's CPU backend splits larger element-wise
      kernels over threads, and inside this loop the hand-off costs more than the kernel (measured on a 2-core
      x86 machine: 1.4–2 ns per pair at 32², 3–5.5 ns at 64²–256²); the scatter-add runs on one thread whatever
      the size, and XLA runs the loop's kernels one after the other, so the histogram uses one core.

    Accuracy: exact integer counts up to 2²⁴ per row-block partial; distances in the dtype of the positions
    (float32: ~1e-7 relative, i.e. ~1e-5 Å at 100 Å, which moves ≲ 1e-3 of a pair's weight between neighbouring
    nodes at δ = 0.01 Å, as any float32 distance does); agrees with a brute-force float64 assignment of the same
    float32 positions to ~1e-2 counts (tests); the sum over nodes errs by at most (Qδ)²/8 per term.
    """
    b = block_size
    dtype = positions_A.dtype
    cdtype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    width = jnp.asarray(bin_width_A, dtype)
    pos, block_species, nb = _species_blocks(positions_A, species_index, n_species, n_bins, width, b)
    size = n_species * n_species * n_bins
    half = nb // 2
    offsets = jnp.arange(half + 1)
    weights = jnp.where(offsets == 0, 0.5, 1.0)
    if nb % 2 == 0 and nb > 1:
        weights = weights.at[half].set(0.5)
    weights = weights.astype(dtype)
    inv = 1.0 / width
    t_min = 1e-6 * inv  # pairs closer than 1e-6 Å (an atom with itself, coincident atoms) are left out
    top = jnp.asarray(n_bins - 1, dtype)

    def row(carry: tuple[Array, Array], r: Array) -> tuple[tuple[Array, Array], None]:
        hist, comp = carry
        pi = pos[r]  # (3, b): the inner (contiguous) axis of every tile
        row_base = block_species[r] * (n_species * n_bins)

        def col(acc: Array, xs: tuple[Array, Array]) -> tuple[Array, None]:
            c, w = xs
            pj = pos[c]  # (3, b): the outer axis, so its dynamic slice is hoisted out of the SIMD loop
            d2 = ((pj[0][:, None] - pi[0][None]) ** 2 + (pj[1][:, None] - pi[1][None]) ** 2
                  + (pj[2][:, None] - pi[2][None]) ** 2)
            t = jnp.minimum(jnp.sqrt(d2) * inv, top)
            k = jnp.floor(t)
            base = 0 if n_species == 1 else row_base + block_species[c] * n_bins
            # bin index, or the spare bin `size` for dropped pairs; flattened only now, from tile-shaped t alone
            idx = jnp.where((t > t_min) & (k < top), base + k.astype(jnp.int32), size).reshape(-1)
            # (count, first moment) as one complex number: one scatter-add of a pair of floats per pair
            upd = jax.lax.complex(jnp.broadcast_to(w, t.shape), w * (t - k)).reshape(-1)
            return acc.at[idx].add(upd, mode="promise_in_bounds"), None

        acc, _ = jax.lax.scan(col, jnp.zeros((size + 1,), cdtype), ((r + offsets) % nb, weights))
        count = jnp.real(acc[:size]).reshape(-1, n_bins)
        moment = jnp.imag(acc[:size]).reshape(-1, n_bins)
        part = (count - moment + jnp.pad(moment[:, :-1], ((0, 0), (1, 0)))).reshape(-1)  # nodes k and k + 1
        y = part - comp  # Kahan-compensated sum over row blocks
        total = hist + y
        return (total, (total - hist) - y), None

    zeros = jnp.zeros((size,), dtype)
    (hist, _), _ = jax.lax.scan(row, (zeros, zeros), jnp.arange(nb))
    hist = hist.reshape(n_species, n_species, n_bins)
    return hist + jnp.swapaxes(hist, 0, 1)  # each visit filled (a, b) only: both orders


def _pairwise_sum(x: Array) -> Array:
    """Sum over the last axis by halving (rounding error ~log₂(n)·ε of the largest term, not n·ε): the block terms
    of the node sum are large and cancel."""
    n = x.shape[-1]
    width = 1 << max(0, (n - 1).bit_length())
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - n)])
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:]
    return x[..., 0]


def _split(v: Array) -> tuple[Array, Array]:
    """v = head + tail with head holding the upper half of the mantissa (bit mask), so a product of two heads, of
    two tails or of a head and a tail is exact."""
    itype, mask = (jnp.int64, ~((1 << 27) - 1)) if v.dtype == jnp.float64 else (jnp.int32, ~((1 << 12) - 1))
    head = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(v, itype) & mask, v.dtype)
    return head, v - head


def _sin_cos_of_angles(q: Array, n: Array, width: Array) -> tuple[Array, Array]:
    """sin and cos of q·n·δ (n integers) to the accuracy of sin and cos themselves, not ε·|qnδ|: nδ = R + R'
    exactly (Dekker's product), q·R = q₁R₁ (exact) + e with q = q₁ + q₂, R = R₁ + R₂, e = q₁R₂ + q₂R₁ + q₂R₂ + qR'
    small, then angle addition. A rounded angle would be shared by all the nodes that use it."""
    nf = n.astype(q.dtype)
    r_hi = nf * width
    n1, n2 = _split(nf)
    w1, w2 = _split(width)
    r_lo = ((n1 * w1 - r_hi) + n1 * w2 + n2 * w1) + n2 * w2
    q1, q2 = _split(q)
    h1, h2 = _split(r_hi)
    p = q1 * h1
    e = (q1 * h2 + q2 * h1 + q2 * h2) + q * r_lo
    sp, cp, se, ce = jnp.sin(p), jnp.cos(p), jnp.sin(e), jnp.cos(e)
    return sp * ce + cp * se, cp * ce - sp * se


@jax.jit
def debye_intensity_histogram(
    histogram: Float[Array, "n_species n_species n_bins"],
    bin_width_A: Float[Array, ""],
    form_factors: Float[Array, "n_species_plus_1 n_q"],
    species_counts: Float[Array, "n_species"],
    q_inv_ang: Float[Array, "n_q"],
) -> Float[Array, "n_q"]:
    """I(Q) [e²] from a pair-distance histogram on the nodes r_k = kδ (:func:`pair_distance_histogram`):
    Σ_a N_a f_a² + Σ_ab f_a f_b Σ_k n_ab,k sinc(Q r_k).

    The node sum is evaluated without a (n_q × n_bins) table of sines: with k = mL + l (L ≈ √n_bins),
    Σ_k n_k sin(Q r_k)/(Q r_k) = n_0 + (1/Q) Σ_m [sin(Q mLδ) A_m(Q) + cos(Q mLδ) B_m(Q)], where
    A_m = Σ_l (n_k/r_k) cos(Q lδ) and B_m = Σ_l (n_k/r_k) sin(Q lδ) are two matrix products; so
    2·(n_bins/L + L)·n_q sines and cosines and 2·n_bins·n_q multiply-adds, O(n_q·√n_bins) memory. The
    angle addition costs two roundings; the coarse angles Q·mLδ (up to ~10³ rad), whose rounding would be
    shared by a whole block of L nodes, are formed exactly (:func:`_sin_cos_of_angles`). Measured against a
    float64 direct sum of the same float32 histogram (10⁴-atom Cu cube, 900 Q points): 6e-7 of the peak (a
    direct float32 table of sinc(Q r_k): 7e-6). At Q = 0 the sum is Σ_k n_k."""
    n_bins = histogram.shape[-1]
    n_pairs = histogram.shape[0] * histogram.shape[1]
    dtype = q_inv_ang.dtype
    width = jnp.asarray(bin_width_A, dtype)
    n_fine = max(1, int(np.ceil(np.sqrt(n_bins))))
    n_coarse = -(-n_bins // n_fine)
    h = histogram.reshape(n_pairs, n_bins).astype(dtype)
    k = jnp.arange(n_bins)
    g = jnp.where(k[None] > 0, h / (jnp.maximum(k, 1).astype(dtype) * width)[None], 0.0)  # n_k / r_k; node 0 apart
    g = jnp.pad(g, ((0, 0), (0, n_coarse * n_fine - n_bins))).reshape(n_pairs, n_coarse, n_fine)
    q = q_inv_ang
    sin_fine, cos_fine = _sin_cos_of_angles(q[:, None], jnp.arange(n_fine)[None], width)  # (n_q, L)
    sin_coarse, cos_coarse = _sin_cos_of_angles(q[:, None], (jnp.arange(n_coarse) * n_fine)[None], width)  # (n_q, M)
    hi = jax.lax.Precision.HIGHEST
    a = jnp.einsum("pml,ql->pqm", g, cos_fine, precision=hi)
    b = jnp.einsum("pml,ql->pqm", g, sin_fine, precision=hi)
    sine_sum = _pairwise_sum(a * sin_coarse[None] + b * cos_coarse[None])  # Σ_k g_k sin(Q r_k)
    safe_q = jnp.where(q > 0.0, q, 1.0)
    s_ab = jnp.where(q[None] > 0.0, h[:, :1] + sine_sum / safe_q[None], jnp.sum(h, axis=-1, keepdims=True))
    s_ab = s_ab.reshape(histogram.shape[0], histogram.shape[1], -1)
    f = form_factors[:-1]  # (n_species, n_q)
    cross = jnp.einsum("aq,abq,bq->q", f, s_ab, f)
    return jnp.einsum("a,aq->q", species_counts, f**2) + cross


def species_counts(species_index: np.ndarray, n_species: int) -> np.ndarray:
    """Number of atoms of each species."""
    return np.bincount(np.asarray(species_index), minlength=n_species).astype(float)
