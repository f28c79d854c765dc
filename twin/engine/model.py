r"""The discrete mesoscale free energy, its forces, guest transport fluxes and the noise generator.

Free energy of a crystal (kJ/mol; one term per site i inside the crystal, one per intact link ⟨ij⟩):

.. math::
    F[\eta] = \sum_i \Omega(\eta_i;\, \Omega_{c,i}, \Omega_{o,i}, W)
            + \sum_{\langle ij\rangle_d} \frac{J_d}{2}(\eta_i - \eta_j)^2,
    \qquad \Omega_{p,i} = b^3\,\Omega_p(T, f_i) + \gamma_p\,(6 - z_i) + \Delta_p\,d_i

with Ω(η; …) the double well of :func:`twin.thermo.host_landscape` (so that a single site has exactly the
thermodynamic metastability window of :mod:`twin.thermo`), Ω_p the osmotic potential of phase p (OFAST,
Coudert et al., JACS 130, 14294 (2008)), z_i the number of intact links (6 − z exposed faces carry the
per-phase surface energy γ_p), d_i the defect flag with shift Δ_p and J_d the coupling along axis d, which
gives interfaces an energy and a width (the discrete Ginzburg–Landau / phase-field gradient term; Cahn &
Hilliard, J. Chem. Phys. 28, 258 (1958)).

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

Left out: elastic (strain-mediated, long-range) interactions between sites, adsorption heat, guest noise.

Noise. The Euler–Maruyama increments use a counter-based hash of (global site index, step, seed): uniform
variates with unit variance, ξ = √12 (u − ½). Non-Gaussian increments with the right first two moments give a
weak order-1 scheme for the same stochastic equation (P. E. Kloeden, E. Platen, *Numerical Solution of
Stochastic Differential Equations*, Springer 1992, §14.1), and a counter-based generator makes the noise a pure
function of position and step: identical under sharding, on resume and for any chunking (J. K. Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC11 (2011)). The 32-bit mixing function is Wellons'
``lowbias32`` (constants 0x7feb352d, 0x846ca68b; hash-prospector, 2018).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, UInt8

from twin.engine.lattice import DEFECT_BIT, DIRECTIONS, INSIDE_BIT
from twin.thermo import host_landscape

__all__ = [
    "shift",
    "link_bit",
    "inside",
    "defect",
    "exposed_faces",
    "site_potentials",
    "free_energy",
    "eta_force",
    "landscape_derivative",
    "hash32",
    "uniform_noise",
    "gaussian_like_noise",
    "smoothstep",
    "loading_from_log_fugacity",
    "log_fugacity_from_loading",
    "guest_fluxes_divergence",
    "log_mean",
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


def smoothstep(eta):
    """h(η) = η²(3 − 2η): the phase interpolation of :func:`twin.thermo.host_landscape`."""
    return eta * eta * (3.0 - 2.0 * eta)


def site_potentials(omega_closed, omega_open, links, surface_energy, defect_shift, block_volume: float):
    r"""Per-site Ω_c,i and Ω_o,i [kJ/mol per site]: b³·Ω_p + γ_p (6 − z_i) + Δ_p d_i.

    ``omega_closed``/``omega_open`` are per site cell (scalars, or per-site arrays with guest transport).
    """
    dtype = jnp.result_type(omega_closed)
    exposed = exposed_faces(links, dtype)
    d = defect(links, dtype)
    oc = block_volume * omega_closed + surface_energy[0] * exposed + defect_shift[0] * d
    oo = block_volume * omega_open + surface_energy[-1] * exposed + defect_shift[-1] * d
    return oc, oo


def free_energy(eta: Float[Array, "*b nx ny nz"], links, omega_closed, omega_open, barrier, coupling,
                periodic: bool) -> Float[Array, ""]:
    """Total discrete free energy F[η] [kJ/mol] of the module docstring (the one definition; tests differentiate it).

    Args:
        eta: order parameter, (..., nx, ny, nz).
        links: packed site bits, same shape.
        omega_closed, omega_open: per-site Ω_c,i and Ω_o,i (:func:`site_potentials`) [kJ/mol].
        barrier: W per site [kJ/mol].
        coupling: (J_x, J_y, J_z) per link [kJ/mol].
        periodic: periodic boundaries.
    """
    dtype = eta.dtype
    local = jnp.sum(inside(links, dtype) * host_landscape(eta, omega_closed, omega_open, barrier))
    bonds = jnp.zeros((), dtype)
    for axis in range(3):
        k = 2 * axis  # the +d link of each site counts each bond once
        diff = eta - shift(eta, axis, 1, periodic)
        bonds = bonds + 0.5 * coupling[axis] * jnp.sum(link_bit(links, k, dtype) * diff * diff)
    return local + bonds


def landscape_derivative(eta, omega_closed, omega_open, barrier):
    r"""∂Ω/∂η of the double well: 2η(1−η)[3(Ω_o − Ω_c) + W(1 − 2η)]."""
    return 2.0 * eta * (1.0 - eta) * (3.0 * (omega_open - omega_closed) + barrier * (1.0 - 2.0 * eta))


def eta_force(eta, links, omega_closed, omega_open, barrier, coupling, periodic: bool):
    r"""−∂F/∂η_i, the hand-fused form of ``-jax.grad(free_energy)`` (a test checks they agree).

    .. math:: -\partial F/\partial\eta_i = -\Omega'(\eta_i) - \sum_{d,\pm} J_d\,l_{i,d\pm}(\eta_i - \eta_{i\pm d})

    Zero outside the crystal.
    """
    dtype = eta.dtype
    force = -landscape_derivative(eta, omega_closed, omega_open, barrier) * inside(links, dtype)
    for k, (axis, offset) in enumerate(DIRECTIONS):
        force = force - coupling[axis] * link_bit(links, k, dtype) * (eta - shift(eta, axis, offset, periodic))
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
    bits = hash32(hash32(site_index(shape) ^ k1) + k2)
    return (bits >> np.uint32(8)).astype(dtype) * (2.0**-24) + 2.0**-25


def gaussian_like_noise(shape, key, step, dtype) -> Array:
    """Zero-mean, unit-variance increments √12 (u − ½) (weak Euler scheme, see module docstring)."""
    return (uniform_noise(shape, key, step, dtype) - 0.5) * np.sqrt(12.0).astype(dtype)


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


def log_fugacity_from_loading(n, eta, n_max, log_k, newton_steps: int = 4):
    r"""ln f solving n(η, f) = n (inverse of :func:`loading_from_log_fugacity`), by Newton in ln f.

    Start: one Langmuir site with the interpolated capacity and affinity, ln f₀ = logit(n/n̄) − ln K̄,
    then ``newton_steps`` steps (quadratic convergence; the start is exact at η = 0 and 1).
    """
    h = smoothstep(jnp.clip(eta, 0.0, 1.0))
    n_bar = (1.0 - h) * n_max[0] + h * n_max[-1]
    log_k_bar = (1.0 - h) * log_k[0] + h * log_k[-1]
    theta = jnp.clip(n / n_bar, 1e-30, 1.0 - 1e-6)
    log_f = jnp.log(theta) - jnp.log1p(-theta) - log_k_bar
    for _ in range(newton_steps):
        value, slope = loading_from_log_fugacity(log_f, eta, n_max, log_k)
        log_f = log_f - (value - n) / jnp.maximum(slope, 1e-30)
    return log_f


def log_mean(a: Array, b: Array) -> Array:
    r"""Logarithmic mean :math:`(a-b)/(\ln a - \ln b)` of positive numbers, with L(a, a) = a.

    Written as :math:`\sqrt{ab}\,\sinh(d/2)/(d/2)`, d = ln a − ln b, and the series
    :math:`\sqrt{ab}(1 + d^2/24)` for |d| < 10⁻²; values below 10⁻³⁰ are raised to it.
    """
    tiny = jnp.asarray(1e-30, a.dtype)
    la, lb = jnp.log(jnp.maximum(a, tiny)), jnp.log(jnp.maximum(b, tiny))
    d = la - lb
    geo = jnp.exp(0.5 * (la + lb))
    small = jnp.abs(d) < 1e-2
    half = 0.5 * jnp.where(small, 1.0, d)
    return jnp.where(small, geo * (1.0 + d * d / 24.0), geo * jnp.sinh(half) / half)


def guest_fluxes_divergence(log_f, mobility, mobility_gas, diffusivity, links, log_f_gas, spacing_A,
                            periodic: bool, gas_exchange: bool = True):
    r"""Net inflow Σ_j J_{j→i} per site [molecules per site cell per s] (flux form: conserves Σ n exactly).

    Args:
        log_f: ln f per site. mobility: M = ∂n/∂ln f per site. mobility_gas: M of each site at the gas
            fugacity (the ghost site of an exposed face). diffusivity: D(η) per site [Å²/s].
        links: packed bits. log_f_gas: ln f of the gas (boundary condition on exposed faces).
        spacing_A: site spacing (a_x, a_y, a_z) [Å].
        gas_exchange: exchange with the gas through exposed faces (False: closed crystal).
    """
    dtype = log_f.dtype
    inflow = jnp.zeros_like(log_f)
    for k, (axis, offset) in enumerate(DIRECTIONS):
        rate = 1.0 / (spacing_A[axis] ** 2)
        nb_log_f = shift(log_f, axis, offset, periodic)
        nb_m = shift(mobility, axis, offset, periodic)
        nb_d = shift(diffusivity, axis, offset, periodic)
        l = link_bit(links, k, dtype)
        inflow = inflow + rate * l * 0.5 * (diffusivity + nb_d) * log_mean(mobility, nb_m) * (nb_log_f - log_f)
        if gas_exchange:
            inflow = inflow + rate * (1.0 - l) * diffusivity * log_mean(mobility, mobility_gas) * (log_f_gas - log_f)
    return inflow * inside(links, dtype)
