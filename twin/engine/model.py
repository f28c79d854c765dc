r"""The discrete mesoscale free energy, its forces, guest transport fluxes and the noise generator.

Free energy of a crystal (kJ/mol; one term per site i inside the crystal, one per intact link ⟨ij⟩):

.. math::
    F[\eta] = \sum_i \Omega(\eta_i;\, \Omega_{c,i}, \Omega_{o,i}, W)
            + \sum_{\langle ij\rangle_d} \frac{J_d}{2}(\eta_i - \eta_j)^2
            + \frac{B}{2}\sum_i (\eta_i - \bar\eta)^2,
    \qquad \Omega_{p,i} = b^3\,\Omega_p(T, f_i) + \gamma_p \sum_d w_d\,e_{i,d} + \Delta_p\,d_i

with Ω(η; …) the double well of :func:`twin.thermo.host_landscape` on [0, 1] (so that a single site has
exactly the thermodynamic metastability window of :mod:`twin.thermo`) and, outside [0, 1], the end value of
the phase drive, Ω_c + ΔΩ h(clip(η, 0, 1)) + W g(η) (:func:`site_landscape`): the cubic h of the thermo well
keeps falling beyond the end states, so far past a spinodal (ΔΩ ≫ W) a site pushed beyond η = 1 (or below 0)
would run away to the next stationary point at η = (1 + 3ΔΩ/W)/2; with the clip only the barrier g acts there
and confines it, Ω_p the osmotic potential of phase p (OFAST,
Coudert et al., JACS 130, 14294 (2008)), e_{i,d} the number of exposed faces of site i normal to axis d (0–2;
Σ_d e_{i,d} = 6 − z_i with z_i the intact links; each carries the per-phase surface energy γ_p times the
relative face area w_d), d_i the defect flag with shift Δ_p and J_d the coupling along axis d, which
gives interfaces an energy and a width (the discrete Ginzburg–Landau / phase-field gradient term; Cahn &
Hilliard, J. Chem. Phys. 28, 258 (1958)).

Coherency. The last term couples every site to the mean η̄ of its crystal (all sites inside it): the
infinite-range part of the elastic interaction of a coherent crystal whose phases differ in cell volume. For a
dilatational misfit and homogeneous elastic constants the elastic energy of coherent phase coexistence does
not depend on the shape of the domains and is E₀ V c(1 − c) for a fraction c of the second phase
(A. G. Khachaturyan, *Theory of Structural Transformations in Solids*, Wiley 1983, ch. 8), which
B/2 Σ(η_i − η̄)² is for η ∈ {0, 1} with B = 2E₀V_cell. It makes a crystal switch as a whole (mean-field like;
S. Miyashita et al., Prog. Theor. Phys. 114, 719 (2005), for the same effect of elastic interactions in
spin-crossover crystals), which is the premise of the crystal-size term of :mod:`twin.thermo.surface`. The
mean runs over the crystal, not over its coherent domains: cracks do not relieve it (a limitation). Its force
−B(η_i − η̄) (the mean's own derivative sums to zero) needs one reduction over the crystal per step, so
sharded runs with B > 0 agree with unsharded ones to float rounding, not bit for bit; B = 0 (the default)
compiles it out.

Guests. In the fast-adsorption limit (default) every site is in equilibrium with the gas, f_i = f_gas. With
guest transport the conserved loading n_i (molecules per site cell) is the state and the local fugacity
follows from the grand-potential formulation of phase-field models (M. Plapp, Phys. Rev. E 84, 031601
(2011)): ω(η, μ) is the double well above with Ω_p evaluated at the local fugacity f, and
n = −∂ω/∂μ = (1 − h(η)) N_c(f) + h(η) N_o(f) with N_p the Langmuir loading of phase p (single guest) and
h = η²(3 − 2η). The η force is −∂ω/∂η at fixed μ. Fluxes between neighbours are driven by the chemical
potential (Onsager form, lattice gas with site exclusion):

.. math::
    J_{i\to j} = \frac{\bar D_{ij}}{a_d^2}\,\bar M_{ij}\,(\ln f_i - \ln f_j), \qquad
    M = \frac{\partial n}{\partial \ln f} = (1-h) N_c \theta_c (1-\theta_c) + h N_o \theta_o (1-\theta_o)

which for a uniform phase is Fick's law with the transport diffusivity D_p (Reed–Ehrlich lattice gas without
interactions: J. Kärger, D. M. Ruthven, D. N. Theodorou, *Diffusion in Nanoporous Materials*, Wiley 2012,
ch. 3). Every exposed face of a site exchanges with the gas through the same expression with ln f_gas and the
mobility M(η_i, f_gas) of a ghost site filled by the gas.

The link mobility :math:`\bar M_{ij}` is the logarithmic mean :math:`(M_i - M_j)/(\ln M_i - \ln M_j)`, not the
arithmetic one. In the Henry regime (M = n, ln f = ln n + const) the flux is then exactly
:math:`\bar D(n_i - n_j)/a^2`, the standard FTCS discretisation of Fick's law, however steep the profile (an
empty crystal next to the gas included); the arithmetic mean would give ½(n_i+n_j) ln(n_i/n_j), unbounded as
one side empties. Where M is exponential in ln f (both Langmuir tails) the logarithmic mean equals the chord
Δn/Δln f, and near the maximum of M it lies below it, so the effective diffusivity never exceeds D and the
time-step limit of :mod:`twin.engine.dynamics` holds (cf. the Scharfetter–Gummel flux of drift–diffusion
schemes, IEEE Trans. Electron Devices 16, 64 (1969), which uses the same mean).

The local fugacity is the positive root of a quadratic: with x = K_o f, r = K_c/K_o, a = (1 − h) N_c and
b = h N_o, n = a r x/(1 + r x) + b x/(1 + x) is r(n − a − b) x² + [r(n − a) + (n − b)] x + n = 0, solved in
the cancellation-free form (:func:`fugacity_from_loading`; one square root instead of a Newton iteration).
Cost notes (CPU, measured with ``benchmarks/bench_engine.py``): K_o f, its logarithm, M and ln M are
computed once per site (:func:`guest_site_fields`, on the halo'd grid) and read by the six neighbours, the
logarithmic mean needs no square root (:func:`log_mean_from_logs`), and the exchange with the gas is one term
per site (the exposed faces share ln f_gas and M_gas), not one per face.

Left out: the finite-range (shape-dependent) part of the elastic interactions, adsorption heat, guest noise.

Noise. The Euler–Maruyama increments use a counter-based hash of (global site index, step, seed): uniform
variates with unit variance, ξ = √12 (u − ½). Non-Gaussian increments with the right first two moments give a
weak order-1 scheme for the same stochastic equation (P. E. Kloeden, E. Platen, *Numerical Solution of
Stochastic Differential Equations*, Springer 1992, §14.1), and a counter-based generator makes the noise a pure
function of position and step: identical under sharding, on resume and for any chunking (J. K. Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC11 (2011)). The 32-bit mixing function is Wellons'
``lowbias32`` (constants 0x7feb352d, 0x846ca68b; hash-prospector, 2018).
"""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, UInt8

from mofcore.breathing import breathing_path, breathing_path_derivative, smoothstep
from twin.engine.lattice import DEFECT_BIT, DIRECTIONS, INSIDE_BIT

__all__ = [
    "shift",
    "halo",
    "neighbour",
    "link_bit",
    "inside",
    "defect",
    "exposed_faces",
    "exposed_faces_per_axis",
    "surface_term",
    "coherency_force",
    "site_potentials",
    "free_energy",
    "eta_force",
    "landscape_derivative",
    "site_landscape",
    "hash32",
    "step_keys",
    "uniform_noise",
    "gaussian_like_noise",
    "noise_from_keys",
    "smoothstep",
    "loading_from_log_fugacity",
    "fugacity_from_loading",
    "log_fugacity_from_loading",
    "guest_site_fields",
    "adsorption_term",
    "guest_fluxes_divergence",
    "log_mean",
    "log_mean_from_logs",
]


def shift(x: Array, axis: int, offset: int, periodic: bool) -> Array:
    """Value of the neighbour at i + offset along spatial ``axis`` (0, 1, 2 of the last three axes).

    Open boundaries give 0 beyond the edge (links there are absent, so the value never matters). Built from a
    slice and a concatenation, which XLA fuses into the consuming loop (no ``jnp.roll``).
    """
    ax = x.ndim - 3 + axis
    n = x.shape[ax]
    if offset > 0:
        body = jax.lax.slice_in_dim(x, 1, n, axis=ax)
        edge = jax.lax.slice_in_dim(x, 0, 1, axis=ax) if periodic else jnp.zeros_like(jax.lax.slice_in_dim(x, 0, 1, axis=ax))
        return jnp.concatenate([body, edge], axis=ax)
    body = jax.lax.slice_in_dim(x, 0, n - 1, axis=ax)
    edge = jax.lax.slice_in_dim(x, n - 1, n, axis=ax) if periodic else jnp.zeros_like(jax.lax.slice_in_dim(x, 0, 1, axis=ax))
    return jnp.concatenate([edge, body], axis=ax)


def halo(x: Array, periodic: bool) -> Array:
    """``x`` padded by one plane on each side of the last three axes (zeros, or the periodic images).

    The padded copy is written once and the seven reads of a stencil (the site and its six neighbours)
    are plain offset slices of it (:func:`neighbour`). Shifting by concatenation inside the fused stencil
    instead costs a select per element and read (measured 10× slower for the guest fluxes on CPU). The
    copy passes an ``optimization_barrier`` (which keeps the early HLO passes from folding the pad into
    its readers; XLA on CPU drops barriers before fusion, which on its own leaves a pad read at several
    offsets as a kernel of its own). Under sharding the pad of the sharded axis is where the halo
    exchange happens.
    """
    width = [(0, 0)] * (x.ndim - 3) + [(1, 1)] * 3
    padded = jnp.pad(x, width, mode="wrap") if periodic else jnp.pad(x, width)
    return jax.lax.optimization_barrier(padded)


def neighbour(padded: Array, axis: int, offset: int) -> Array:
    """Value at i + offset along spatial ``axis`` from a :func:`halo` array (shape of the unpadded field)."""
    index = [slice(None)] * (padded.ndim - 3) + [slice(1, -1)] * 3
    ax = padded.ndim - 3 + axis
    index[ax] = slice(1 + offset, padded.shape[ax] - 1 + offset)
    return padded[tuple(index)]


def link_bit(links: UInt8[Array, "..."], k: int, dtype) -> Array:
    """1.0 where link k (order of :data:`twin.engine.lattice.DIRECTIONS`) is intact, else 0.0."""
    return ((links >> np.uint8(k)) & np.uint8(1)).astype(dtype)


def inside(links, dtype):
    """1.0 on sites inside the crystal."""
    return link_bit(links, INSIDE_BIT, dtype)


def defect(links, dtype):
    """1.0 on defective sites."""
    return link_bit(links, DEFECT_BIT, dtype)


def exposed_faces(links, dtype):
    """6 − z: faces of a site without an intact link (surface, void or crack), 0 outside the crystal."""
    z = sum(link_bit(links, k, dtype) for k in range(6))
    return (6.0 - z) * inside(links, dtype)


def exposed_faces_per_axis(links, dtype) -> tuple[Array, Array, Array]:
    """e_d = 2 − l_{+d} − l_{−d}: exposed faces normal to x, y, z (0, 1 or 2), 0 outside the crystal."""
    ins = inside(links, dtype)
    return tuple((2.0 - link_bit(links, 2 * d, dtype) - link_bit(links, 2 * d + 1, dtype)) * ins  # type: ignore[return-value]
                 for d in range(3))


def surface_term(links, gamma, face_weight, dtype):
    """γ Σ_d w_d e_{i,d} per site [kJ/mol]: ``gamma`` a scalar (one phase, or a difference of two)."""
    e = exposed_faces_per_axis(links, dtype)
    return gamma * (face_weight[0] * e[0] + face_weight[1] * e[1] + face_weight[2] * e[2])


def coherency_force(eta, links, coherency):
    """−∂/∂η_i of B/2 Σ_j (η_j − η̄)² = −B (η_i − η̄) over one crystal (zero outside it).

    ``eta`` and ``links`` of one crystal (nx, ny, nz); vmap over a batch.
    """
    ins = inside(links, eta.dtype)
    return -coherency * (eta - _crystal_mean(eta, ins)) * ins


def _crystal_mean(eta, ins):
    """η̄ over the sites inside one crystal (``ins`` its 0/1 mask)."""
    return jnp.sum(ins * eta) / jnp.maximum(jnp.sum(ins), 1.0)


def site_potentials(omega_closed, omega_open, links, surface_energy, defect_shift, block_volume: float,
                    face_weight=None):
    r"""Per-site Ω_c,i and Ω_o,i [kJ/mol per site]: b³·Ω_p + γ_p Σ_d w_d e_{i,d} + Δ_p d_i.

    ``omega_closed``/``omega_open`` are per site cell (scalars, or per-site arrays with guest transport);
    ``face_weight`` w_d (default ones: γ_p per face whatever its orientation).
    """
    dtype = jnp.result_type(omega_closed)
    w = jnp.ones((3,), dtype) if face_weight is None else jnp.asarray(face_weight, dtype)
    d = defect(links, dtype)
    oc = block_volume * omega_closed + surface_term(links, surface_energy[0], w, dtype) + defect_shift[0] * d
    oo = block_volume * omega_open + surface_term(links, surface_energy[-1], w, dtype) + defect_shift[-1] * d
    return oc, oo


def free_energy(eta: Float[Array, "*b nx ny nz"], links, omega_closed, omega_open, barrier, coupling,
                periodic: bool, coherency=0.0) -> Float[Array, ""]:
    """Total discrete free energy F[η] [kJ/mol] of the module docstring (the one definition; tests differentiate it).

    Args:
        eta: order parameter, (..., nx, ny, nz).
        links: packed site bits, same shape.
        omega_closed, omega_open: per-site Ω_c,i and Ω_o,i (:func:`site_potentials`) [kJ/mol].
        barrier: W per site [kJ/mol].
        coupling: (J_x, J_y, J_z) per link [kJ/mol].
        periodic: periodic boundaries.
        coherency: B [kJ/mol per site] of the coupling to the crystal mean (one crystal: no batch axis).
    """
    dtype = eta.dtype
    local = jnp.sum(inside(links, dtype) * site_landscape(eta, omega_closed, omega_open, barrier))
    bonds = jnp.zeros((), dtype)
    for axis in range(3):
        k = 2 * axis  # the +d link of each site counts each bond once
        diff = eta - shift(eta, axis, 1, periodic)
        bonds = bonds + 0.5 * coupling[axis] * jnp.sum(link_bit(links, k, dtype) * diff * diff)
    ins = inside(links, dtype)
    coherent = 0.5 * coherency * jnp.sum(ins * (eta - _crystal_mean(eta, ins)) ** 2)
    return local + bonds + coherent


def site_landscape(eta, omega_closed, omega_open, barrier):
    r"""Ω(η) = Ω_c + (Ω_o − Ω_c) h(clip(η, 0, 1)) + W η²(1 − η)² [kJ/mol]: :func:`twin.thermo.host_landscape`
    on [0, 1], with the phase drive held at its end values outside (module docstring)."""
    c = jnp.clip(eta, 0.0, 1.0)
    return breathing_path(c, omega_closed, omega_open) + barrier * (eta * (1.0 - eta)) ** 2


def landscape_derivative(eta, omega_closed, omega_open, barrier):
    r"""∂Ω/∂η of :func:`site_landscape`: 6ΔΩ c(1 − c) + 2Wη(1−η)(1 − 2η) with c = clip(η, 0, 1)
    (on [0, 1] the 2η(1−η)[3ΔΩ + W(1 − 2η)] of the thermo double well)."""
    c = jnp.clip(eta, 0.0, 1.0)
    return (breathing_path_derivative(c, omega_closed, omega_open)
            + 2.0 * barrier * eta * (1.0 - eta) * (1.0 - 2.0 * eta))


def eta_force(eta, links, omega_closed, omega_open, barrier, coupling, periodic: bool, eta_halo=None,
              coherency=None):
    r"""−∂F/∂η_i, the hand-fused form of ``-jax.grad(free_energy)`` (a test checks they agree).

    .. math:: -\partial F/\partial\eta_i = -\Omega'(\eta_i) - \sum_{d,\pm} J_d\,l_{i,d\pm}(\eta_i - \eta_{i\pm d})
              - B(\eta_i - \bar\eta)

    Zero outside the crystal. ``eta_halo``: :func:`halo` of η if the caller has it already. ``coherency``:
    B, or ``None`` to leave the term out (one crystal; vmap for a batch).
    """
    dtype = eta.dtype
    padded = halo(eta, periodic) if eta_halo is None else eta_halo
    force = -landscape_derivative(eta, omega_closed, omega_open, barrier) * inside(links, dtype)
    for k, (axis, offset) in enumerate(DIRECTIONS):
        force = force - coupling[axis] * link_bit(links, k, dtype) * (eta - neighbour(padded, axis, offset))
    if coherency is not None:
        force = force + coherency_force(eta, links, coherency)
    return force


# ------------------------------------------------------------------------------------------ noise
_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)


def hash32(x: Array) -> Array:
    """Wellons' lowbias32 integer hash (bijective on uint32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * _M1
    x = x ^ (x >> np.uint32(15))
    x = x * _M2
    return x ^ (x >> np.uint32(16))


def site_index(shape: tuple[int, ...]) -> Array:
    """Global flat index of each site (uint32; wraps beyond 2³² sites) built from iotas (shards correctly)."""
    index = jnp.zeros(shape, jnp.uint32)
    for axis, n in enumerate(shape):
        index = index * np.uint32(n) + jax.lax.broadcasted_iota(jnp.uint32, shape, axis)
    return index


def step_keys(key: Array, step: Array) -> tuple[Array, Array]:
    """Two 32-bit keys for one step from the state's key words and the step counter."""
    s = step.astype(jnp.uint32)
    k1 = hash32(key[0] ^ hash32(s * np.uint32(0x9E3779B1) + key[1]))
    k2 = hash32(k1 + np.uint32(0x632BE5AB) ^ key[1])
    return k1, k2


def uniform_noise(shape, key, step, dtype) -> Array:
    """Uniform variates in (0, 1) per site for one step: a pure function of (site, step, key)."""
    k1, k2 = step_keys(key, step)
    return _uniform_from_keys(shape, k1, k2, dtype)


def _uniform_from_keys(shape, k1, k2, dtype) -> Array:
    bits = hash32(hash32(site_index(shape) ^ k1) + k2)
    return (bits >> np.uint32(8)).astype(dtype) * (2.0**-24) + 2.0**-25


def gaussian_like_noise(shape, key, step, dtype) -> Array:
    """Zero-mean, unit-variance increments √12 (u − ½) (weak Euler scheme, see module docstring)."""
    return noise_from_keys(shape, *step_keys(key, step), dtype)


def noise_from_keys(shape, k1, k2, dtype) -> Array:
    """:func:`gaussian_like_noise` from the two step keys of :func:`step_keys` (computed once per step
    outside the site loop: inside a fused loop XLA would recompute the scalar key hash at every site)."""
    return (_uniform_from_keys(shape, k1, k2, dtype) - 0.5) * np.sqrt(12.0).astype(dtype)


# ------------------------------------------------------------------------------------ guest transport
def loading_from_log_fugacity(log_f, eta, n_max, log_k):
    r"""n(η, f) = (1 − h) N_c(f) + h N_o(f) and M = ∂n/∂ln f (single guest, Langmuir per phase).

    Args:
        log_f: ln(f / Pa) per site.
        eta: order parameter per site.
        n_max: (n_c, n_o) capacities [molecules per site cell].
        log_k: (ln K_c, ln K_o) with K in 1/Pa at the current temperature.
    """
    h = smoothstep(jnp.clip(eta, 0.0, 1.0))
    theta_c = jax.nn.sigmoid(log_k[0] + log_f)
    theta_o = jax.nn.sigmoid(log_k[-1] + log_f)
    n = (1.0 - h) * n_max[0] * theta_c + h * n_max[-1] * theta_o
    m = (1.0 - h) * n_max[0] * theta_c * (1.0 - theta_c) + h * n_max[-1] * theta_o * (1.0 - theta_o)
    return n, m


def fugacity_from_loading(n, eta, n_max, k):
    r"""f [Pa] solving n(η, f) = n exactly (inverse of :func:`loading_from_log_fugacity`).

    The positive root of r(n − n̄) x² + [r(n − a) + (n − b)] x + n = 0, x = K_o f (module docstring), as
    2n/(s − q₁) when q₁ ≤ 0 and (q₁ + s)/(2r(n̄ − n)) otherwise, s = √(q₁² + 4r(n̄ − n)n), so neither form
    cancels. n is clipped to [max(10⁻²⁵ n̄, 10⁻³⁰), (1 − 10⁻⁶) n̄] with n̄ raised to 10⁻²⁰: an empty site has
    a tiny, finite fugacity, a full one a large, finite one, and so has a site whose phase does not adsorb
    the guest at all (N_p = 0). In float32 that keeps x, ln x and M finite at every site, the ghost sites
    of the halo (η = n = 0) included, for 10⁻¹¹ ≲ K_c/K_o ≲ 10¹².

    Args:
        n: loading per site [molecules per site cell].
        eta: order parameter per site.
        n_max: (n_c, n_o) capacities [molecules per site cell].
        k: (K_c, K_o) Langmuir affinities [1/Pa].
    """
    return _scaled_fugacity(n, smoothstep(jnp.clip(eta, 0.0, 1.0)), n_max, k[0] / k[-1]) / k[-1]


def _scaled_fugacity(n, h, n_max, ratio):
    """x = K_o f of :func:`fugacity_from_loading`, from h(η) and ``ratio`` r = K_c/K_o."""
    a = (1.0 - h) * n_max[0]
    b = h * n_max[-1]
    n_bar = jnp.maximum(a + b, 1e-20)
    n = jnp.clip(n, jnp.maximum(1e-25 * n_bar, 1e-30), (1.0 - 1e-6) * n_bar)
    q2 = ratio * (n_bar - n)  # minus the x² coefficient, > 0
    q1 = ratio * (n - a) + (n - b)
    t = jnp.sqrt(q1 * q1 + 4.0 * q2 * n) + jnp.abs(q1)
    positive = q1 > 0.0
    return jnp.where(positive, t, 2.0 * n) / jnp.where(positive, 2.0 * q2, t)


def log_fugacity_from_loading(n, eta, n_max, log_k, newton_steps: int = 0):
    r"""ln f solving n(η, f) = n: ln of :func:`fugacity_from_loading`, then ``newton_steps`` Newton steps in
    ln f (not needed in float32: the closed form is exact to rounding; kept for float64 polishing)."""
    log_f = jnp.log(fugacity_from_loading(n, eta, n_max, jnp.exp(log_k)))
    for _ in range(newton_steps):
        value, slope = loading_from_log_fugacity(log_f, eta, n_max, log_k)
        log_f = log_f - (value - n) / jnp.maximum(slope, 1e-30)
    return log_f


def log_mean(a: Array, b: Array) -> Array:
    r"""Logarithmic mean :math:`(a-b)/(\ln a - \ln b)` of positive numbers, with L(a, a) = a.

    Values below 10⁻³⁰ are raised to it; computed by :func:`log_mean_from_logs`.
    """
    tiny = jnp.asarray(1e-30, a.dtype)
    a, b = jnp.maximum(a, tiny), jnp.maximum(b, tiny)
    return log_mean_from_logs(a, jnp.log(a), b, jnp.log(b))


def _tanh_over_x_series(n_terms: int) -> tuple[float, ...]:
    """Taylor coefficients of tanh(x)/x in powers of x², c_n = 2²ⁿ(2²ⁿ − 1) B₂ₙ/(2n)! (n = 1, 2, …), from
    exact Bernoulli numbers B_m (recurrence Σ_{k≤m} C(m+1, k) B_k = 0; Abramowitz & Stegun 23.1 and 4.5.64)."""
    bern = [Fraction(1)]
    for m in range(1, 2 * n_terms + 1):
        bern.append(-sum(math.comb(m + 1, k) * bern[k] for k in range(m)) / (m + 1))
    return tuple(float(4**n * (4**n - 1) * bern[2 * n] / math.factorial(2 * n)) for n in range(1, n_terms + 1))


#: terms of the tanh(x)/x series per float width: the first omitted one is below 8.5·10⁻⁹ (float32, 5 terms)
#: and 2.3·10⁻¹⁸ (float64, 11 terms) for |x| < 1/4
_LOG_MEAN_SERIES = {4: _tanh_over_x_series(5), 8: _tanh_over_x_series(11)}


def log_mean_from_logs(a, log_a, b, log_b):
    r"""L(a, b) from a, ln a, b, ln b (ln a computed once per site, read by every neighbour).

    With d = ln a − ln b and x = d/2, a ± b = 2√(ab)(cosh x, sinh x), so L = ½(a + b)·tanh(x)/x: for
    |d| < ½ the Taylor series of tanh(x)/x (:func:`_tanh_over_x_series`; alternating, so truncated below the
    float's rounding), else (a − b)/d with a − b ≥ 0.39 max(a, b) (no cancellation). Symmetric in (a, b), so
    a link's flux is the same, with opposite sign, seen from both ends, and it needs no square root (unlike
    the form √(ab) sinh x/x).
    """
    d = log_a - log_b
    small = jnp.abs(d) < 0.5
    x2 = 0.25 * d * d
    coefficients = _LOG_MEAN_SERIES[8 if jnp.dtype(d.dtype).itemsize >= 8 else 4]
    series = coefficients[-1]
    for c in coefficients[-2::-1]:
        series = c + x2 * series
    direct = (a - b) / jnp.where(small, 1.0, d)
    return jnp.where(small, 0.5 * (a + b) * series, direct)


def guest_site_fields(loading, eta, n_max, affinity_ratio):
    r"""Per-site fields of the local isotherm that the transport stencil and the η force read.

    Returns ``(x, log_x, mobility, log_mobility)``: x = K_o f of the site's loading (the open phase's
    K f, :func:`fugacity_from_loading`), ln x (= ln f + ln K_o: the stencil only needs differences of ln f),
    M = ∂n/∂ln f (:func:`loading_from_log_fugacity`, raised to 10⁻³⁰) and ln M.

    Args:
        loading, eta: per site.
        n_max: (N_c, N_o). affinity_ratio: r = K_c/K_o.

    Elementwise: the engine evaluates it on the halo'd grid (from the halos of η and n), so the stencil reads
    each neighbour's value as an offset slice. Written for XLA's fusion on CPU, which writes to memory every
    transcendental value that more than one output uses: only x is shared, and M comes from it in one
    kernel, as x[(1 − h) N_c r w + h N_o]/(1 + x)² with w = (1 + x)²/(1 + r x)², which is
    (1 − h) N_c θ_c(1 − θ_c) + h N_o θ_o(1 − θ_o) with θ_p = K_p f/(1 + K_p f).
    """
    h = smoothstep(jnp.clip(eta, 0.0, 1.0))
    x = _scaled_fugacity(loading, h, n_max, affinity_ratio)
    # the form of the docstring: bounded terms (the squares of (1 + x)(1 + r x) would overflow float32 at full
    # sites for K_c/K_o below 10⁻⁷ or above 10⁷); each division's result used once, which XLA fuses into one kernel
    one_x, one_rx = 1.0 + x, 1.0 + affinity_ratio * x
    denominator = one_x * one_x
    w = denominator / (one_rx * one_rx)
    numerator = x * ((1.0 - h) * n_max[0] * affinity_ratio * w + h * n_max[-1])
    mobility = jnp.maximum(numerator, 1e-30 * denominator) / denominator
    return x, jnp.log(x), mobility, jnp.log(mobility)


def adsorption_term(x, affinity_ratio, ads_scale):
    r"""The adsorption part of Ω_o − Ω_c at a site, S_o ln(1 + K_o f) − S_c ln(1 + K_c f) [kJ/mol per site],
    from x = K_o f, r = K_c/K_o and S_p = ``ads_scale`` = b³RT N_p.

    ln(1 + Kf), not log1p (XLA's log1p costs two logarithms and a division): rounding 1 + Kf adds at most
    2⁻²⁴ to the absolute error of each logarithm, so at most 6·10⁻⁸ (S_c + S_o) to that of the term beyond
    log1p's, e.g. 2·10⁻⁶ kJ/mol for MIL-53(Al) and CO2 at 303 K, far below RT.
    """
    return ads_scale[-1] * jnp.log(1.0 + x) - ads_scale[0] * jnp.log(1.0 + affinity_ratio * x)


def guest_fluxes_divergence(fields_halo, eta_halo, mobility_gas, diffusivity, links, log_x_gas, spacing_A,
                            gas_exchange: bool = True):
    r"""Net inflow Σ_j J_{j→i} per site [molecules per site cell per s] (flux form: conserves Σ n exactly).

    Args:
        fields_halo: ``(log_x, mobility, log_mobility)`` of :func:`guest_site_fields` on the halo'd grid
            (shape of :func:`halo`'s output); ln x = ln f + ln K_o.
        eta_halo: :func:`halo` of η (the diffusivity D(η) = (1 − h) D_c + h D_o of each neighbour).
        mobility_gas: M of each site at the gas fugacity (the ghost site of an exposed face), per site.
        diffusivity: (D_c, D_o) [Å²/s].
        links: packed bits. log_x_gas: ln x = ln(K_o f) of the gas (boundary condition on exposed faces).
        spacing_A: site spacing (a_x, a_y, a_z) [Å].
        gas_exchange: exchange with the gas through exposed faces (False: closed crystal).
    """
    dtype = fields_halo[0].dtype
    tiny = jnp.asarray(1e-30, dtype)

    def site_diffusivity(e):
        return breathing_path(jnp.clip(e, 0.0, 1.0), diffusivity[0], diffusivity[-1])

    log_x, m, log_m = (neighbour(x, 0, 0) for x in fields_halo)
    d_site = site_diffusivity(neighbour(eta_halo, 0, 0))
    inflow = jnp.zeros_like(log_x)
    gas_rate = jnp.zeros_like(log_x)
    for k, (axis, offset) in enumerate(DIRECTIONS):
        rate = 1.0 / (spacing_A[axis] ** 2)
        nb_log_x, nb_m, nb_log_m = (neighbour(x, axis, offset) for x in fields_halo)
        nb_d = site_diffusivity(neighbour(eta_halo, axis, offset))
        l = link_bit(links, k, dtype)
        mean_m = log_mean_from_logs(m, log_m, nb_m, nb_log_m)
        inflow = inflow + rate * l * 0.5 * (d_site + nb_d) * mean_m * (nb_log_x - log_x)
        gas_rate = gas_rate + rate * (1.0 - l)
    if gas_exchange:  # every exposed face: the same ghost site, so one term weighted by Σ_faces a_d⁻²
        mg = jnp.maximum(mobility_gas, tiny)
        mean_g = log_mean_from_logs(m, log_m, mg, jnp.log(mg))
        inflow = inflow + gas_rate * d_site * mean_g * (log_x_gas - log_x)
    return inflow * inside(links, dtype)
