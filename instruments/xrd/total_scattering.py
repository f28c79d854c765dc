r"""X-ray total scattering F(Q) of a framework with finite structural coherence (Debye equation over a bulk
pair histogram).

The measured quantity is the total interference function in Faber–Ziman normalisation
(T. E. Faber, J. M. Ziman, Phil. Mag. 11, 153 (1965); D. A. Keen, J. Appl. Cryst. 34, 172 (2001)):

.. math::
    F(Q) = S(Q) - 1 = \frac{I_{coh}(Q)/N - \langle f^2\rangle}{\langle f\rangle^2},
    \qquad \langle f\rangle = \sum_a c_a f_a(Q),

so that, from the Debye equation (P. Debye, Ann. Phys. 351, 809 (1915)),

.. math::
    F(Q) = \sum_{a\le b} \frac{f_a f_b}{\langle f\rangle^2} \sum_k n_{ab}(r_k)\,
           \frac{\sin Q r_k}{Q r_k} \;-\; \rho_0 \int_0^\infty 4\pi r^2 \frac{\sin Q r}{Q r}\,dr,

where n_ab(r_k) counts the ordered pairs (i ∈ a, j ∈ b and i ∈ b, j ∈ a) per atom at distance r_k (the bulk,
i.e. every atom of one unit cell against the periodic crystal out to r_max) and the second term, the
average-density (uniform) contribution, removes the forward scattering of the sample as a whole: a finite
cluster's Debye sum contains the particle's small-angle scattering, the measured F(Q) of a bulk powder or
glass does not (it is subtracted with the self term and the normalisation). Pairs and the uniform term are
histogrammed on nodes r_k = kδ by the same linear ("cloud-in-cell") assignment as
:func:`instruments.xrd.debye.pair_distance_histogram`, so the two cancel at large r to the accuracy
(Qδ)²/8 of that scheme.

**Finite structural coherence.** Correlations beyond a local unit of radius r₀ are multiplied by the
characteristic function of a sphere of diameter D (the pair-distance envelope of a spherical particle:
K. Kodama, S. Iikubo, T. Taguchi, S. Shamoto, Acta Cryst. A 62, 444 (2006); C. L. Farrow, S. J. L. Billinge,
Acta Cryst. A 65, 232 (2009); PDFgui's ``spdiameter``),

.. math::
    \gamma_0(x; D) = 1 - \frac{3x}{2D} + \frac{x^3}{2D^3}\ (0 \le x < D),\quad 0\ (x \ge D),\qquad
    \gamma(r) = 1\ (r < r_0),\quad \gamma_0(r - r_0; D)\ (r \ge r_0),

applied to pairs *and* the uniform term, i.e. to the total correlation function h(r) = g(r) − 1:
h_model = γ·h_crystal, so F(Q → 0) stays finite (no particle SAXS) and the excluded-volume hole and the
intramolecular and first-shell distances (r < r₀: the imidazolate ring, Zn–N, Zn–C) stay complete whatever D.
With r₀ = 0 the envelope is exactly the spherical-particle one. D is a continuous, differentiable parameter.
**Departure from the particle model:** the shift by r₀ is ours; a real nanoparticle would have whole molecules
at its surface, which a sphere cut through the crystal does not, and an amorphous network keeps every local
unit intact — the shifted envelope says this and keeps the number of atoms in the first shell right.

**Displacements.** Pair terms are damped by Debye–Waller factors exp(−Q²u²) with u² the isotropic
mean-square displacement of one atom along one direction (uncorrelated atoms: ⟨Δr²⟩ = 2u² per pair, B = 8π²u²),
u²_local for r < r₀ (rigid units move together: small) and u² beyond (r-dependent in two steps). The uniform term
is not damped (as the baseline −4πrρ₀γ(r) of a PDF is not broadened).

**Expansion.** Distances beyond r₀ scale as r → r(1 + ε) (and ρ₀ → ρ₀/(1 + ε)³ with them); the local units keep
their bond lengths.

**Left out:** instrument resolution (Q-damping of the PDF), anomalous dispersion, Compton and multiple scattering
(removed by the data reduction that produces F(Q)), anisotropic or correlated displacements beyond the two
classes, orientational order, the crystal's preferred orientation. Form factors: the table named by the caller
(:mod:`instruments.xrd.form_factors`; ``"pymatgen"`` by default, the Mott–Bethe form of pymatgen's
``XRDCalculator``; ``"cromer_mann"`` the International Tables fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = [
    "NORMALISATIONS",
    "PairHistograms",
    "DebyeKernel",
    "bulk_pair_histograms",
    "pair_weights",
    "debye_kernel",
    "sphere_envelope",
    "shifted_envelope",
    "sinc_matvec",
    "coherent_interference",
    "debye_interference",
    "enveloped_interference",
]

#: normalisations of the measured F(Q): Faber–Ziman by ⟨f⟩² (Keen 2001), or by ⟨f²⟩
NORMALISATIONS = ("<f>^2", "<f^2>")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PairHistograms:
    """Bulk pair-distance histograms of a crystal, per atom of the unit cell, split at the local radius r₀.

    Attributes:
        local: counts on the fine nodes ``r_local_A`` (r ≤ r₀), (n_pairs, n_local).
        inter: counts on the nodes ``r_A`` (r ≥ r₀), (n_pairs, n_inter).
        r_local_A: fine nodes k·δ_local [Å], (n_local,).
        r_A: nodes r₀ + m·δ [Å], (n_inter,).
        density_local, density_inter: the uniform term 4πr²ρ₀ per node (trapezoidal weights), on the same nodes.
        concentration: atomic fraction of each species, (n_species,).
        number_density_A3: ρ₀ [Å⁻³], ().
        symbols: element of each species (static).
        pairs: (a, b) species indices of each pair row, a ≤ b (static).
        local_radius_A, bin_width_A, local_bin_width_A, r_max_A: grid (static, Å).
    """

    local: Float[Array, "n_pairs n_local"]
    inter: Float[Array, "n_pairs n_inter"]
    r_local_A: Float[Array, "n_local"]
    r_A: Float[Array, "n_inter"]
    density_local: Float[Array, "n_local"]
    density_inter: Float[Array, "n_inter"]
    concentration: Float[Array, "n_species"]
    number_density_A3: Float[Array, ""]
    symbols: tuple[str, ...] = field(metadata={"static": True})
    pairs: tuple[tuple[int, int], ...] = field(metadata={"static": True})
    local_radius_A: float = field(metadata={"static": True})
    bin_width_A: float = field(metadata={"static": True})
    local_bin_width_A: float = field(metadata={"static": True})
    r_max_A: float = field(metadata={"static": True})

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)


def _linear_assign(key_base: np.ndarray, t: np.ndarray, size: int) -> np.ndarray:
    """Counts of linear assignment of positions t (in node units) to nodes floor(t), floor(t)+1."""
    k = np.floor(t).astype(np.int64)
    w = t - k
    keys = key_base + k
    return (np.bincount(keys, weights=1.0 - w, minlength=size)
            + np.bincount(keys + 1, weights=w, minlength=size))[:size]


def bulk_pair_histograms(
    structure: Any,
    *,
    r_max_A: float = 60.0,
    bin_width_A: float = 0.025,
    local_radius_A: float = 3.5,
    local_bin_width_A: float = 0.005,
    chunk_distances: int = 2_000_000,
) -> PairHistograms:
    """Per-species-pair distance histograms of the bulk crystal, per atom of the unit cell (host side, NumPy).

    Every atom i of the cell is paired with every atom j ≠ i of the periodic crystal within ``r_max_A``
    (explicit lattice images, pruned to those that can reach the sphere), and each distance is assigned
    linearly to its two neighbouring nodes: the fine grid k·δ_local for r < r₀, the grid r₀ + m·δ for r ≥ r₀
    (r₀ is rounded to a multiple of both widths). Done once per structure; nothing is cached on disk.

    Args:
        structure: pymatgen ``Structure`` (ordered; a disordered site raises).
        r_max_A: largest distance [Å]; the largest usable coherence diameter is r_max − r₀.
        bin_width_A: δ beyond r₀ [Å]; the relative error of a term is ≤ (Qδ)²/8.
        local_radius_A: r₀ [Å], ≥ 0: below it the envelope is 1 and the local Debye–Waller factor applies.
        local_bin_width_A: δ below r₀ [Å] (the sharp intramolecular distances matter up to the highest Q).
        chunk_distances: distances computed per NumPy block (memory).

    Returns:
        :class:`PairHistograms` in the default JAX float dtype.

    Raises:
        ValueError: with the reason, for a disordered structure or inconsistent grid widths (callers at the
            edge turn it into the project's error naming the file).
    """
    from pymatgen.core import Element

    if not structure.is_ordered:
        raise ValueError("the structure has partially occupied sites; resolve the disorder into one ordering first")
    if not (0.0 < local_bin_width_A <= bin_width_A < r_max_A):
        raise ValueError(f"expected 0 < local_bin_width_A ≤ bin_width_A < r_max_A, got {local_bin_width_A}, "
                         f"{bin_width_A}, {r_max_A}")
    k0 = int(round(local_radius_A / bin_width_A))
    r0 = k0 * bin_width_A
    n_fine_per = int(round(bin_width_A / local_bin_width_A))
    dl = bin_width_A / n_fine_per
    symbols = tuple(sorted({sp.symbol for sp in structure.species}, key=lambda s: Element(s).Z))
    n_species = len(symbols)
    spec = np.array([symbols.index(sp.symbol) for sp in structure.species])
    pairs = tuple((a, b) for a in range(n_species) for b in range(a, n_species))
    pair_of = np.zeros((n_species, n_species), dtype=np.int64)
    for p, (a, b) in enumerate(pairs):
        pair_of[a, b] = pair_of[b, a] = p
    n_atoms = len(structure)
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    cart = (np.asarray(structure.frac_coords, dtype=np.float64) % 1.0) @ lattice

    # lattice images that can hold a partner within r_max of an atom of the central cell
    inv_d = np.linalg.norm(np.linalg.inv(lattice).T, axis=1)  # 1/d of the three lattice planes
    n_img = np.ceil(r_max_A * inv_d).astype(int) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in n_img], indexing="ij"), axis=-1).reshape(-1, 3)
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float) @ lattice
    diag = float(np.max(np.linalg.norm(corners[:, None] - corners[None, :], axis=-1)))
    shifts = grid @ lattice
    shifts = shifts[np.linalg.norm(shifts, axis=1) <= r_max_A + diag]
    partners = (cart[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    partner_spec = np.tile(spec, shifts.shape[0])

    n_inter = int(math.floor((r_max_A - r0) / bin_width_A)) + 1
    n_local = k0 * n_fine_per + 1
    inter = np.zeros(len(pairs) * n_inter)
    local = np.zeros(len(pairs) * n_local)
    r_cut = r0 + (n_inter - 1) * bin_width_A
    per_block = max(1, chunk_distances // partners.shape[0])
    for start in range(0, n_atoms, per_block):
        stop = min(start + per_block, n_atoms)
        d = np.linalg.norm(partners[None, :, :] - cart[start:stop, None, :], axis=-1)  # (block, n_partners)
        p = pair_of[spec[start:stop, None], partner_spec[None, :]]
        ok = (d > 1e-6) & (d < r_cut)
        dd, pp = d[ok], p[ok]
        near = dd < r0
        if np.any(near):
            local += _linear_assign(pp[near] * n_local, dd[near] / dl, local.size)
        far = ~near
        inter += _linear_assign(pp[far] * n_inter, (dd[far] - r0) / bin_width_A, inter.size)
    local = local.reshape(len(pairs), n_local) / n_atoms
    inter = inter.reshape(len(pairs), n_inter) / n_atoms

    rho0 = n_atoms / abs(float(np.linalg.det(lattice)))
    r_local = np.arange(n_local) * dl
    r_inter = r0 + np.arange(n_inter) * bin_width_A
    w_local = np.full(n_local, dl)
    w_local[[0, -1]] = 0.5 * dl
    w_inter = np.full(n_inter, bin_width_A)
    w_inter[0] = 0.5 * bin_width_A if k0 > 0 else 0.0  # node r₀ shared with the fine grid (r = 0 carries nothing)
    w_inter[-1] = 0.5 * bin_width_A  # the last node only collects pairs from below it, as the pairs do
    dens_local = 4.0 * np.pi * r_local**2 * rho0 * w_local if k0 > 0 else np.zeros(n_local)
    dens_inter = 4.0 * np.pi * r_inter**2 * rho0 * w_inter
    conc = np.bincount(spec, minlength=n_species) / n_atoms
    dt = jnp.zeros(()).dtype
    return PairHistograms(
        local=jnp.asarray(local, dt), inter=jnp.asarray(inter, dt), r_local_A=jnp.asarray(r_local, dt),
        r_A=jnp.asarray(r_inter, dt), density_local=jnp.asarray(dens_local, dt),
        density_inter=jnp.asarray(dens_inter, dt), concentration=jnp.asarray(conc, dt),
        number_density_A3=jnp.asarray(rho0, dt), symbols=symbols, pairs=pairs, local_radius_A=float(r0),
        bin_width_A=float(bin_width_A), local_bin_width_A=float(dl), r_max_A=float(r_cut),
    )


def pair_weights(
    q_inv_ang: Float[Array, "n_q"], histograms: PairHistograms, table: str = "pymatgen",
    normalisation: str = "<f>^2",
) -> tuple[Float[Array, "n_pairs n_q"], Float[Array, "n_q"]]:
    r"""Weights of each pair row and of the uniform term (host side, then JAX arrays).

    ``normalisation="<f>^2"`` (Faber–Ziman, Keen 2001): w_p = f_a f_b/⟨f⟩², uniform weight
    Σ c_a c_b f_a f_b/⟨f⟩² = 1. ``"<f^2>"`` (the other normalisation GudrunX offers): w_p = f_a f_b/⟨f²⟩, uniform
    weight ⟨f⟩²/⟨f²⟩. ⟨f⟩ = Σ c_a f_a; f₀ from the named table of :mod:`instruments.xrd.form_factors`
    (s = Q/4π). A pair row a ≠ b already holds both orders, so there is no factor 2.

    Raises:
        ValueError: an unknown normalisation or table (KeyError from the table: the element).
    """
    from instruments.xrd.form_factors import atomic_form_factor, form_factor_coefficients

    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; expected one of {', '.join(NORMALISATIONS)}")
    coeff = form_factor_coefficients(histograms.symbols, table)
    q = np.asarray(q_inv_ang, dtype=np.float64)
    f = np.asarray(atomic_form_factor(jnp.asarray(q / (4.0 * np.pi)), jnp.asarray(coeff["a"]),
                                      jnp.asarray(coeff["b"]), jnp.asarray(coeff["c"]), table == "pymatgen"),
                   dtype=np.float64).T  # (n_species, n_q)
    conc = np.asarray(histograms.concentration, dtype=np.float64)
    mean_f2 = (conc @ f) ** 2
    norm = mean_f2 if normalisation == "<f>^2" else conc @ f**2
    w = np.stack([f[a] * f[b] for a, b in histograms.pairs]) / norm[None, :]
    dt = jnp.zeros(()).dtype
    return jnp.asarray(w, dt), jnp.asarray(mean_f2 / norm, dt)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DebyeKernel:
    """The Q-dependent parts of F(Q) that no fit parameter changes (built once per Q grid by :func:`debye_kernel`).

    Attributes:
        q_inv_ang: Q [Å⁻¹], (n_q,).
        pair_matrix: M_qk = Σ_p w_p(Q_q) n_pk on the nodes beyond r₀, (n_q, n_inter).
        uniform_weight: weight of the uniform term, (n_q,) (1 for Faber–Ziman).
        density: the uniform term's node weights 4πr²ρ₀Δr beyond r₀, (n_inter,).
        r_A: nodes beyond r₀ (unexpanded) [Å], (n_inter,).
        local_pairs: the r < r₀ pair parts Σ_p w_p Σ_k n_pk sinc, one row per local shell (split at
            ``local_shells_A``, each with its own Debye–Waller factor), (n_shells, n_q).
        local_uniform: the uniform term below r₀, (n_q,).
        local_radius_A: r₀ (static).
        local_shells_A: inner boundaries of the local shells [Å] (static), e.g. (1.7,): bonds | the rest.
    """

    q_inv_ang: Float[Array, "n_q"]
    pair_matrix: Float[Array, "n_q n_inter"]
    uniform_weight: Float[Array, "n_q"]
    density: Float[Array, "n_inter"]
    r_A: Float[Array, "n_inter"]
    local_pairs: Float[Array, "n_shells n_q"]
    local_uniform: Float[Array, "n_q"]
    local_radius_A: float = field(metadata={"static": True})
    local_shells_A: tuple[float, ...] = field(default=(), metadata={"static": True})


def debye_kernel(
    q_inv_ang: Float[Array, "n_q"], histograms: PairHistograms, table: str = "pymatgen", normalisation: str = "<f>^2",
    local_shells_A: tuple[float, ...] = (),
) -> DebyeKernel:
    """Precompute the pair weights folded into the histogram (Σ_p w_p(Q) n_pk), and the r < r₀ parts (one row per
    local shell: ``local_shells_A`` are the inner boundaries below r₀, e.g. (1.7,) separates covalent bonds from
    the rest of the local unit, so that each gets its Debye–Waller factor).

    Folding the species pairs into one (n_q, n_inter) matrix makes every later evaluation one matrix–vector
    product Σ_k M_qk γ_k sinc(Q r_k (1 + ε)), whatever the number of species.
    """
    dt = jnp.zeros(()).dtype
    q = jnp.asarray(q_inv_ang, dt)
    w, uw = pair_weights(q, histograms, table, normalisation)
    one = jnp.ones((), dt)
    pm = w.T @ histograms.inter
    lmat = w.T @ histograms.local
    edges = (0.0, *sorted(float(b) for b in local_shells_A), float("inf"))
    rl = np.asarray(histograms.r_local_A)
    lp = jnp.stack([sinc_matvec(lmat, jnp.asarray((rl >= lo) & (rl < hi), dt), histograms.r_local_A, q, one)
                    for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    lu = uw * sinc_matvec(jnp.ones((1, histograms.r_local_A.shape[0]), dt), histograms.density_local,
                          histograms.r_local_A, q, one)
    return DebyeKernel(q_inv_ang=q, pair_matrix=pm, uniform_weight=uw, density=histograms.density_inter,
                       r_A=histograms.r_A, local_pairs=lp, local_uniform=lu, local_radius_A=histograms.local_radius_A,
                       local_shells_A=tuple(edges[1:-1]))


def sphere_envelope(x_A: Float[Array, "n"], diameter_A: Float[Array, ""]) -> Float[Array, "n"]:
    r"""γ₀(x; D) = 1 − 3x/(2D) + x³/(2D³) for 0 ≤ x < D, else 0: the fraction of a sphere of diameter D that
    overlaps its copy shifted by x (Kodama et al. 2006; Farrow & Billinge 2009). C¹ at x = D."""
    t = jnp.clip(x_A / diameter_A, 0.0, 1.0)
    return 1.0 - 1.5 * t + 0.5 * t**3


def shifted_envelope(r_A: Float[Array, "n"], diameter_A: Float[Array, ""], local_radius_A: float) -> Float[Array, "n"]:
    """γ(r) = 1 below r₀, γ₀(r − r₀; D) above (module docstring)."""
    return sphere_envelope(jnp.maximum(r_A - local_radius_A, 0.0), diameter_A)


def _sinc(y: Array) -> tuple[Array, Array]:
    safe = jnp.where(y > 0.0, y, 1.0)
    return jnp.where(y > 0.0, jnp.sin(safe) / safe, 1.0), safe


@jax.custom_jvp
def sinc_matvec(
    matrix: Float[Array, "n_rows n_r"], vector: Float[Array, "n_r"], r_A: Float[Array, "n_r"],
    q_inv_ang: Float[Array, "n_q"], scale: Float[Array, ""],
) -> Float[Array, "n_q"]:
    r"""G_q = Σ_k M_qk v_k sin(y)/y, y = Q_q r_k s (s = 1 + ε): the Debye kernel (sin y/y → 1 at y = 0).

    ``matrix`` has n_q rows, or one row shared by every Q. Its JVP is written out
    (:math:`y\,\partial_y \operatorname{sinc} y = \cos y - \operatorname{sinc} y`, ∂y/y = ∂Q/Q + ∂r/r + ∂s/s), so
    that a forward-mode Jacobian over many parameters builds the (n_q, n_r) kernel once and multiplies it by all
    tangents of ``vector`` together; symbolically zero tangents (usually M, Q and r) cost nothing.
    """
    s, _ = _sinc(q_inv_ang[:, None] * r_A[None, :] * scale)
    return (matrix * s) @ vector


def _is_zero(t: Any) -> bool:
    return type(t) is jax.custom_derivatives.SymbolicZero


def _sinc_matvec_jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    matrix, vector, r, q, scale = primals
    dm, dv, dr, dq, ds = tangents
    y = q[:, None] * r[None, :] * scale
    s, safe = _sinc(y)
    ms = matrix * s
    out = ms @ vector
    tangent = jnp.zeros_like(out)
    if not _is_zero(dv):
        tangent = tangent + ms @ dv
    if not _is_zero(dm):
        tangent = tangent + (dm * s) @ vector
    if not (_is_zero(dq) and _is_zero(dr) and _is_zero(ds)):
        mc = matrix * jnp.where(y > 0.0, jnp.cos(safe) - s, 0.0)  # M · y ∂sinc/∂y
        if not _is_zero(dr):
            tangent = tangent + mc @ (vector * dr / jnp.where(r > 0.0, r, 1.0))
        rel = jnp.zeros_like(q)
        if not _is_zero(dq):
            rel = rel + dq / jnp.where(q > 0.0, q, 1.0)
        if not _is_zero(ds):
            rel = rel + ds / scale
        if not (_is_zero(dq) and _is_zero(ds)):
            tangent = tangent + (mc @ vector) * rel
    return out, tangent


sinc_matvec.defjvp(_sinc_matvec_jvp, symbolic_zeros=True)


def coherent_interference(
    kernel: DebyeKernel, envelope: Float[Array, "n_inter"], expansion: Float[Array, ""],
) -> tuple[Float[Array, "n_q"], Float[Array, "n_q"]]:
    """The parts of F(Q) from r ≥ r₀ for an envelope on the nodes: (pairs, uniform term), before damping.

    Args:
        envelope: γ at the expanded distances r_k(1 + ε), (n_inter,) — linear in the envelope, so a mixture of
            components is one call with the mixed envelope.
        expansion: ε, ().
    """
    scale = 1.0 + expansion
    pairs = sinc_matvec(kernel.pair_matrix, envelope, kernel.r_A, kernel.q_inv_ang, scale)
    ones = jnp.ones((1, kernel.r_A.shape[0]), kernel.r_A.dtype)
    uniform = kernel.uniform_weight * sinc_matvec(ones, kernel.density * envelope, kernel.r_A, kernel.q_inv_ang, scale)
    return pairs, uniform


def debye_interference(
    kernel: DebyeKernel,
    diameter_A: Float[Array, ""],
    u2_local_A2: Float[Array, ""],
    u2_A2: Float[Array, ""],
    expansion: Float[Array, ""],
) -> Float[Array, "n_q"]:
    r"""F(Q) of the structure with coherence diameter D (module docstring), dimensionless.

    .. math::
        F = e^{-Q^2u_L^2}\,\Sigma^{<r_0}_{pairs} - U^{<r_0}
          + e^{-Q^2u^2}\,\Sigma^{\ge r_0}_{pairs}[\gamma] - U^{\ge r_0}[\gamma]

    Args:
        kernel: :func:`debye_kernel` for the Q grid and the structure's histograms.
        diameter_A: D [Å], > 0; keep D ≤ r_max − r₀ (beyond, the histogram is truncated and F ripples).
        u2_local_A2: u² of each local shell (below r₀) [Å²], (n_shells,) or a scalar for all.
        u2_A2: u² beyond r₀ [Å²].
        expansion: ε (distances beyond r₀ scale by 1 + ε).
    """
    env = shifted_envelope(kernel.r_A * (1.0 + expansion), diameter_A, kernel.local_radius_A)
    return enveloped_interference(kernel, env, u2_local_A2, u2_A2, expansion)


def enveloped_interference(
    kernel: DebyeKernel,
    envelope: Float[Array, "n_inter"],
    u2_local_A2: Float[Array, "n_shells"],
    u2_A2: Float[Array, ""],
    expansion: Float[Array, ""],
) -> Float[Array, "n_q"]:
    """F(Q) for any envelope on the nodes beyond r₀ — e.g. c·γ(D_cryst) + (1 − c)·γ(D_amorph), a crystalline and
    an amorphous component that share the local units (:func:`debye_interference` for one D)."""
    ip, iu = coherent_interference(kernel, envelope, expansion)
    q2 = kernel.q_inv_ang**2
    u2l = jnp.broadcast_to(jnp.reshape(u2_local_A2, (-1,)), (kernel.local_pairs.shape[0],))
    local = jnp.sum(jnp.exp(-q2[None, :] * u2l[:, None]) * kernel.local_pairs, axis=0)
    return local - kernel.local_uniform + jnp.exp(-q2 * u2_A2) * ip - iu
