r"""¹²⁹Xe NMR of xenon adsorbed in a breathing framework: shifts per environment, Bloch–McConnell exchange, and
exchange that emerges from xenon random walks over the cell lattice of a frame.

**Shift per environment.** The shift of xenon in a pore of one phase is a wall term that depends on the pore size
through the mean free path ℓ of a xenon atom between wall collisions, plus a Xe–Xe term linear in the local
xenon density (:func:`wall_shift_ppm`, :func:`adsorbed_shift_ppm`),

.. math::
    \delta(\ell, \rho) = \delta_S + \frac{a\,b}{b + \ell} + \sigma_{\mathrm{Xe\text{-}Xe}}\,\rho ,\qquad
    a = 243\ \mathrm{ppm},\ b = 2.054\ \text{Å}

(J. Demarquay, J. Fraissard, Chem. Phys. Lett. 136, 314 (1987), fitted to zeolites; δ_S is the shift at
ℓ → ∞ from the wall interaction, 0 for a "neutral" wall; the limit ℓ → 0 gives δ_S + 243 ppm). The form and the
two constants are the ones quoted throughout the ¹²⁹Xe literature for this paper; they were *not* checked against
the original here. ρ is the xenon loading in atoms per site cell and σ_Xe-Xe a per-material coefficient (ppm per
atom per cell; estimated in the shipped instrument). The gas line (:func:`gas_shift_ppm`) sits at
:math:`\sigma_1\rho_{gas}` with :math:`\rho_{gas}` in amagat (ideal gas) and σ₁ ≈ 0.548 ppm/amagat at 300 K
(C. J. Jameson, A. K. Jameson, S. M. Cohen, J. Chem. Phys. 59, 4540 (1973); quoted from memory, not verified here).

**Bloch–McConnell** (H. M. McConnell, J. Chem. Phys. 28, 430 (1958)). n sites with populations p, frequencies
ν_j (Hz), transverse relaxation :math:`R_{2,j} = 1/T_{2,j}` and first-order rates :math:`k_{ij}` (i → j):

.. math::
    \frac{d\mathbf M}{dt} = A\mathbf M,\quad A = 2\pi i\,\mathrm{diag}(\nu) - \mathrm{diag}(R_2)
      - \mathrm{diag}\Bigl(\sum_j k_{ij}\Bigr) + k^\mathsf{T},\qquad
    I(\nu) = 2\,\mathrm{Re}\bigl[\mathbf 1^\mathsf{T}(2\pi i\nu - A)^{-1}\mathbf p\bigr]

(:func:`bloch_mcconnell`), one n × n linear solve per frequency, unit area in Hz. For two equally populated sites
without relaxation it is the textbook coalescence lineshape: two Lorentzians of FWHM :math:`1/(\pi T_2) + k/\pi` in
slow exchange, one line at the mean in fast exchange, coalescence at :math:`k_c = \pi\Delta\nu/\sqrt 2`
(H. S. Gutowsky, C. H. Holm, J. Chem. Phys. 25, 1228 (1956)).

**Random walks** (:func:`walk_spectrum`). Each walker is one xenon atom on the site lattice of a frame (phase
index per site, −1 outside the crystal) or in the gas. A hop i → j between neighbouring sites has the rate
:math:`g_{ij}/w_i` with :math:`w_p` the xenon loading of phase p (atoms per site cell) and the symmetric conductance
:math:`g_{ij} = w h/6` inside one phase (h the hop rate of the phase, 6D/a² for a diffusivity D and site spacing
a) and the harmonic mean of :math:`w_a h_a/6` and :math:`w_b h_b/6` across an a|b interface: detailed balance
holds with the equilibrium :math:`\pi_i \propto w_{p_i}`. A hop out of the crystal puts the walker in the gas (rate
:math:`h/6` per exposed face); a gas walker returns to a random exposed face at the rate that gives the gas fraction
asked for. Along its path each walker accumulates the phase :math:`\phi = 2\pi\int\nu(t)\,dt` and the decay
:math:`\int R_2(t)\,dt` of the states it visits; the signal is :math:`g(t) = \langle e^{i\phi - \int R_2}\rangle` over
walkers, Fourier transformed as in :func:`instruments.nmr.exchange.spectrum_from_fid`. The walks run in continuous
time: every iteration of one ``lax.while_loop`` advances all walkers by one hop after an exponential waiting time,
and g at the dwell times is rebuilt from per-state difference arrays (:func:`_walk_kernel`), so the occupancy
history has no time-step error. Slow, intermediate and fast exchange between domains, and with the gas, follow
from the domain and crystal size alone.

:func:`first_passage_rates` maps a lattice onto discrete sites for comparison: the rate out of phase p is the
inverse mean first-passage time out of p averaged over the equilibrium distribution in p, split among the
destinations by their share of the outgoing flux.

Left out: chemical-shift anisotropy of xenon in the channels (the lines are isotropic Lorentzians), the spread of
loadings inside one phase, single-file effects, cross-relaxation and hyperpolarisation, and magnetic
susceptibility broadening, barriers at broken bonds (cracks). The event budget caps the hop rate h of every phase
at 0.35·``max_events``/t_acq (the rates h, so that detailed balance holds; for a small gas fraction all rates by
one factor), reported as ``rate_cap_per_s``: harmless only where the capped exchange is still fast. float32 phases
carry ~10⁻⁴ rad of rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float
from scipy import constants

from instruments.nmr.exchange import spectrum_from_fid, spectrum_grid
from mofcore.errors import DataFormatError

__all__ = ["DF_WALL_PPM", "DF_LENGTH_A", "GAS_SIGMA_PPM_PER_AMAGAT", "wall_shift_ppm", "adsorbed_shift_ppm",
           "gas_density_amagat", "gas_shift_ppm", "langmuir_loading", "check_exchange", "two_site_rates",
           "bloch_mcconnell", "xenon_spectrum", "WalkResult", "walk_spectrum", "first_passage_rates",
           "slab_first_passage_rate"]

#: Demarquay–Fraissard constants: δ = δ_S + DF_WALL_PPM · DF_LENGTH_A / (DF_LENGTH_A + ℓ)
DF_WALL_PPM = 243.0
DF_LENGTH_A = 2.054
#: σ₁ of pure xenon gas near 300 K [ppm/amagat] (Jameson et al. 1973; not verified here)
GAS_SIGMA_PPM_PER_AMAGAT = 0.548


def wall_shift_ppm(mean_free_path_A: Float[Array, "..."], surface_shift_ppm: float = 0.0) -> Float[Array, "..."]:
    r"""Demarquay–Fraissard shift of xenon at zero loading, :math:`\delta_S + a\,b/(b + \ell)` [ppm] (module docstring).

    Args:
        mean_free_path_A: ℓ ≥ 0 [Å], any shape.
        surface_shift_ppm: δ_S [ppm].
    """
    ell = np.asarray(mean_free_path_A, np.float64)
    return surface_shift_ppm + DF_WALL_PPM * DF_LENGTH_A / (DF_LENGTH_A + ell)


def adsorbed_shift_ppm(mean_free_path_A, loading_per_cell, sigma_xexe_ppm, surface_shift_ppm: float = 0.0):
    """Wall term plus Xe–Xe term, δ = δ_wall(ℓ) + σ_Xe-Xe · ρ [ppm] (ρ: atoms per site cell)."""
    return wall_shift_ppm(mean_free_path_A, surface_shift_ppm) + np.asarray(sigma_xexe_ppm) * np.asarray(
        loading_per_cell, np.float64)


def gas_density_amagat(pressure_Pa, temperature_K):
    """Ideal-gas density in amagat (number density over that at 101.325 kPa and 273.15 K)."""
    return np.asarray(pressure_Pa, np.float64) / constants.atm * (constants.zero_Celsius / np.asarray(temperature_K,
                                                                                                      np.float64))


def gas_shift_ppm(density_amagat, sigma_ppm_per_amagat: float = GAS_SIGMA_PPM_PER_AMAGAT):
    """Shift of the xenon gas line, σ₁ · ρ [ppm] (the reference, 0 ppm, is the gas at zero density)."""
    return sigma_ppm_per_amagat * np.asarray(density_amagat, np.float64)


def langmuir_loading(pressure_Pa, temperature_K, n_max, p_half_Pa, enthalpy_kj_mol=0.0, reference_K=298.15):
    r"""Langmuir loading :math:`n = n_{max}\,Kp/(1 + Kp)` with :math:`1/K = p_{1/2}\,e^{\Delta H/R\,(1/T - 1/T_{ref})}`
    [atoms per site cell] (van 't Hoff; ΔH < 0 for adsorption)."""
    t = np.asarray(temperature_K, np.float64)
    p_half = np.asarray(p_half_Pa, np.float64) * np.exp(
        np.asarray(enthalpy_kj_mol, np.float64) * 1e3 / constants.R * (1.0 / t - 1.0 / reference_K))
    kp = np.asarray(pressure_Pa, np.float64) / p_half
    return np.asarray(n_max, np.float64) * kp / (1.0 + kp)


# ---------------------------------------------------------------------------------------------------------------
# Bloch–McConnell


def check_exchange(populations, rates, *, where: str = "exchange") -> tuple[np.ndarray, np.ndarray]:
    """Validate populations (n,) and rates (n, n) [1/s, i → j] for :func:`bloch_mcconnell`.

    Raises:
        DataFormatError: not finite, negative rates or populations, populations not summing to 1, a non-zero
            diagonal, or populations that the rates do not keep stationary.
    """
    p = np.asarray(populations, np.float64)
    k = np.asarray(rates, np.float64)
    n = p.size
    if p.ndim != 1 or n < 1 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise DataFormatError(f"{where}: populations: expected n ≥ 1 finite non-negative numbers, got {p.tolist()}")
    if abs(p.sum() - 1.0) > 1e-6:
        raise DataFormatError(f"{where}: populations: expected them to sum to 1, got {p.sum():.6g}")
    if k.shape != (n, n) or not np.all(np.isfinite(k)):
        raise DataFormatError(f"{where}: rates: expected a finite {n} × {n} matrix (i → j) [1/s], got shape {k.shape}")
    if np.any(k < 0):
        raise DataFormatError(f"{where}: rates: exchange rates must be non-negative, got {k[k < 0].min():g} 1/s")
    if np.any(np.diag(k) != 0):
        raise DataFormatError(f"{where}: rates: the diagonal must be 0 (the rate of leaving a site is implied)")
    net = k.T @ p - p * k.sum(axis=1)
    scale = max(float(np.max(p[:, None] * k)), 1e-300)
    if np.max(np.abs(net)) > 1e-6 * scale:
        raise DataFormatError(f"{where}: rates: the populations are not stationary under the rates (net flux "
                              f"{np.max(np.abs(net)):.3g} 1/s; detailed balance needs p_i k_ij = p_j k_ji)")
    return p, k


def two_site_rates(rate_ab_per_s: float, populations) -> np.ndarray:
    """Two-site rates (2, 2) from the rate a → b and the populations (detailed balance: k_ba = k_ab p_a / p_b)."""
    p = np.asarray(populations, np.float64)
    k_ab = float(rate_ab_per_s)
    k_ba = k_ab * p[0] / p[1] if p[1] > 0 else 0.0
    return np.array([[0.0, k_ab], [k_ba, 0.0]])


@jax.jit
def _bm_kernel(nu, site_hz, pop, rates, r2):
    n = site_hz.shape[0]
    out = jnp.sum(rates, axis=1)
    a_re = -jnp.diag(r2 + out) + rates.T
    a_im = 2.0 * jnp.pi * jnp.diag(site_hz)
    # (2πiν − A): real part −A_re, imaginary part 2πν·1 − A_im
    eye = jnp.eye(n, dtype=nu.dtype)
    m_re = jnp.broadcast_to(-a_re, (nu.shape[0], n, n))
    m_im = 2.0 * jnp.pi * nu[:, None, None] * eye[None] - a_im[None]
    m = lax.complex(m_re, m_im)
    rhs = jnp.broadcast_to(lax.complex(pop, jnp.zeros_like(pop)), (nu.shape[0], n))
    x = jnp.linalg.solve(m, rhs[..., None])[..., 0]
    return 2.0 * jnp.real(jnp.sum(x, axis=-1))


def bloch_mcconnell(frequency_hz, site_hz, populations, rates, r2_per_s, *, where: str = "exchange") -> np.ndarray:
    """The n-site Bloch–McConnell absorption spectrum on ``frequency_hz`` (module docstring), unit area [1/Hz].

    Args:
        frequency_hz: the axis [Hz], (n_points,).
        site_hz: site frequencies [Hz], (n,).
        populations: p (n,), summing to 1.
        rates: k (n, n) [1/s], k[i, j] the rate i → j, zero diagonal.
        r2_per_s: 1/T₂ of each site [1/s], scalar or (n,), ≥ 0.

    Returns:
        I(ν) [1/Hz], (n_points,), float64.

    Raises:
        DataFormatError: bad populations or rates (:func:`check_exchange`), negative R₂.
    """
    p, k = check_exchange(populations, rates, where=where)
    site = np.broadcast_to(np.asarray(site_hz, np.float64), p.shape)
    r2 = np.broadcast_to(np.asarray(r2_per_s, np.float64), p.shape)
    if not np.all(np.isfinite(r2)) or np.any(r2 < 0):
        raise DataFormatError(f"{where}: r2: expected non-negative relaxation rates 1/T2, got {r2.tolist()}")
    nu = np.asarray(frequency_hz, np.float64)
    # work relative to the middle of the sites (smaller numbers in float32)
    centre = 0.5 * (site.min() + site.max())
    f = jnp.result_type(float)
    values = _bm_kernel(jnp.asarray(nu - centre, f), jnp.asarray(site - centre, f), jnp.asarray(p, f),
                        jnp.asarray(k, f), jnp.asarray(r2, f))
    return np.asarray(values, np.float64)


def xenon_spectrum(shift_ppm, site_shift_ppm, populations, rates, *, larmor_hz: float = 110.7e6,
                   linewidth_hz=100.0) -> np.ndarray:
    """A ¹²⁹Xe spectrum of discrete sites with exchange on a chemical-shift axis, unit area [1/ppm].

    The public entry point for given sites: shifts δ_j (ppm), populations, rates (i → j, 1/s) and a Lorentzian
    FWHM per site (Hz; R₂ = π·FWHM), through :func:`bloch_mcconnell` at the Larmor frequency ν₀ (ν = ν₀ δ 10⁻⁶).

    Args:
        shift_ppm: the axis [ppm], (n_points,).
        site_shift_ppm: δ_j [ppm], (n,).
        populations: (n,), summing to 1.
        rates: (n, n) [1/s].
        larmor_hz: ν₀ [Hz] (110.7 MHz: 9.4 T).
        linewidth_hz: FWHM without exchange [Hz], scalar or (n,).

    Raises:
        DataFormatError: bad input (negative rates or widths, populations not summing to 1, …).
    """
    if not larmor_hz > 0:
        raise DataFormatError(f"xenon spectrum: larmor_hz: expected a positive frequency, got {larmor_hz!r}")
    width = np.asarray(linewidth_hz, np.float64)
    if np.any(~np.isfinite(width)) or np.any(width < 0):
        raise DataFormatError(f"xenon spectrum: linewidth_hz: expected non-negative widths, got {width.tolist()}")
    scale = larmor_hz * 1e-6
    values = bloch_mcconnell(np.asarray(shift_ppm, np.float64) * scale, np.asarray(site_shift_ppm) * scale,
                             populations, rates, math.pi * width, where="xenon spectrum")
    return values * scale


# ---------------------------------------------------------------------------------------------------------------
# Random walks


_OFFSETS = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


def _hop_table(phase: np.ndarray, weight: np.ndarray, hop: np.ndarray, periodic: bool, gas: bool):
    """Neighbour index and hop rate of every site and direction; index n_sites is the gas.

    Returns:
        site_phase (n_sites,), neighbour (n_sites, 6) int, rate (n_sites, 6) [1/s].
    """
    shape = phase.shape
    inside = phase >= 0
    index = -np.ones(shape, np.int64)
    n = int(inside.sum())
    index[inside] = np.arange(n)
    site_phase = phase[inside]
    gas_index = n
    conductance = weight * hop / 6.0  # per phase
    neighbour = np.zeros((n, 6), np.int64)
    rate = np.zeros((n, 6), np.float64)
    coords = np.argwhere(inside)
    for d, off in enumerate(_OFFSETS):
        target = coords + np.asarray(off)
        outside = np.zeros(n, bool)
        if periodic:
            target = target % np.asarray(shape)
        else:
            outside = np.any((target < 0) | (target >= np.asarray(shape)), axis=1)
            target = np.clip(target, 0, np.asarray(shape) - 1)
        t_index = index[target[:, 0], target[:, 1], target[:, 2]]
        outside |= t_index < 0
        a = site_phase
        b = np.where(outside, a, phase[target[:, 0], target[:, 1], target[:, 2]])
        ga, gb = conductance[a], conductance[b]
        g = np.where(a == b, ga, 2.0 * ga * gb / np.maximum(ga + gb, 1e-300))
        r = g / weight[a]
        neighbour[:, d] = np.where(outside, gas_index, t_index)
        rate[:, d] = np.where(outside, hop[a] / 6.0 if gas else 0.0, r)
    return site_phase, neighbour, rate


@dataclass(frozen=True)
class WalkResult:
    """A random-walk spectrum and what the walk did.

    Attributes:
        shift_ppm: the axis [ppm], (n_points,). intensity: spectrum [1/ppm], (n_points,), area ≈ 1.
        fid: g(t) at the dwell times, complex, (n_time,). dwell_s: Δt [s].
        occupancy: mean fraction of walker-time in each state (phases, then the gas), (n_phases + 1,).
        populations: equilibrium populations of the states, (n_phases + 1,).
        n_events: iterations of the event loop (the most hops of one walker, plus one).
        rate_cap_per_s: hop rates were capped here (None if not).
    """

    shift_ppm: np.ndarray
    intensity: np.ndarray
    fid: np.ndarray
    dwell_s: float
    occupancy: np.ndarray
    populations: np.ndarray
    n_events: int
    rate_cap_per_s: float | None


def _walk_kernel(key, start, neighbour, cdf, total_rate, surface_cdf, omega, r2, state_of, *, n_states: int,
                 n_time: int, dwell: float, max_events: int):
    r"""Continuous-time walks, all walkers one event per iteration (module docstring, "Random walks").

    A walker in state s from t_a to t_b contributes :math:`C\,e^{(i\omega_s - R_s)t_n}` to g(t_n) for every sampling
    time t_a ≤ t_n < t_b, with :math:`C = e^{i\phi_a - D_a}e^{-(i\omega_s - R_s)t_a}`: +C and −C go into a difference
    array of state s at the first and one-past-last index, and a cumulative sum per state rebuilds g.
    """
    gas = neighbour.shape[0] - 1
    n_walkers = start.shape[0]
    f = omega.dtype
    t_end = jnp.asarray(n_time * dwell, f)
    two_pi = jnp.asarray(2.0 * math.pi, f)
    inv_w = jnp.asarray(1.0 / n_walkers, f)

    def body(carry):
        pos, t, phi, dec, acc_re, acc_im, occ, it = carry
        u = jax.random.uniform(jax.random.fold_in(key, it), (3, n_walkers), dtype=f,
                               minval=jnp.finfo(f).tiny, maxval=1.0)
        s = state_of[pos]
        rate = total_rate[pos]
        tau = jnp.where(rate > 0, -jnp.log(u[0]) / jnp.maximum(rate, jnp.finfo(f).tiny), t_end)
        t_new = jnp.minimum(t + tau, t_end)
        live = t < t_end
        n_a = jnp.ceil(t / dwell).astype(jnp.int32)
        n_b = jnp.where(live, jnp.ceil(t_new / dwell).astype(jnp.int32), n_a)
        n_b = jnp.minimum(n_b, n_time)
        crosses = n_b > n_a
        w, r = omega[s], r2[s]
        mag = jnp.where(crosses, jnp.exp(r * t - dec) * inv_w, 0.0)
        ang = phi - jnp.mod(w * t, two_pi)
        c_re, c_im = mag * jnp.cos(ang), mag * jnp.sin(ang)
        acc_re = acc_re.at[s, n_a].add(c_re).at[s, n_b].add(-c_re)
        acc_im = acc_im.at[s, n_a].add(c_im).at[s, n_b].add(-c_im)
        span = jnp.where(live, t_new - t, 0.0)
        occ = occ + jax.nn.one_hot(s, n_states, dtype=f) * span[:, None]  # per walker: no float32 drift
        phi = jnp.mod(phi + w * span, two_pi)
        dec = dec + r * span
        d = jax.vmap(jnp.searchsorted)(cdf[pos], u[1])
        d = jnp.minimum(d, 5)
        entry = jnp.minimum(jnp.searchsorted(surface_cdf, u[2]), gas - 1).astype(pos.dtype)
        nxt = jnp.where(pos == gas, entry, neighbour[pos, d])
        hopped = live & (t_new < t_end)
        pos = jnp.where(hopped, nxt, pos)
        return pos, t_new, phi, dec, acc_re, acc_im, occ, it + 1

    def cond(carry):
        return jnp.any(carry[1] < t_end) & (carry[-1] < max_events)

    zeros = jnp.zeros((n_walkers,), f)
    acc = jnp.zeros((n_states, n_time + 1), f)
    init = (start, zeros, zeros, zeros, acc, acc, jnp.zeros((n_walkers, n_states), f), jnp.asarray(0, jnp.int32))
    pos, t, _, _, acc_re, acc_im, occ, it = lax.while_loop(cond, body, init)
    t_n = jnp.arange(n_time, dtype=f) * dwell
    cum_re = jnp.cumsum(acc_re, axis=1)[:, :n_time]
    cum_im = jnp.cumsum(acc_im, axis=1)[:, :n_time]
    env = jnp.exp(-r2[:, None] * t_n[None])
    rot = jnp.mod(omega[:, None] * t_n[None], two_pi)
    e_re, e_im = env * jnp.cos(rot), env * jnp.sin(rot)
    g_re = jnp.sum(cum_re * e_re - cum_im * e_im, axis=0)
    g_im = jnp.sum(cum_re * e_im + cum_im * e_re, axis=0)
    return lax.complex(g_re, g_im), jnp.mean(occ, axis=0) / t_end, it, jnp.sum(t < t_end)


_walk_jit = jax.jit(_walk_kernel, static_argnames=("n_states", "n_time", "dwell", "max_events"))


def walk_spectrum(
    phase, shift_ppm_axis, state_shift_ppm, hop_rate_per_s, loading_per_cell, *, linewidth_hz=100.0,
    larmor_hz: float = 110.7e6, gas_fraction: float = 0.0, periodic: bool = False, n_walkers: int = 4096,
    acquisition_s: float | None = None, max_events: int = 100_000, seed: int = 0, where: str = "xenon walk",
) -> WalkResult:
    """The ¹²⁹Xe spectrum of xenon random walks over one frame's site lattice (module docstring).

    The walks run in continuous time (one exponential waiting time per hop, all walkers advanced together, one
    event per iteration), so the site-occupancy history, and the phase it accumulates, carry no time-step error.

    Args:
        phase: phase index of every site, −1 outside the crystal [1], (nx, ny, nz) int.
        shift_ppm_axis: the axis [ppm], uniform, (n_points,).
        state_shift_ppm: shift of xenon in each phase, then of the gas [ppm], (n_phases + 1,).
        hop_rate_per_s: h of each phase [1/s] (6D/a²), (n_phases,).
        loading_per_cell: xenon loading of each phase w_p > 0 [atoms per site cell], (n_phases,).
        linewidth_hz: Lorentzian FWHM of each state without exchange [Hz] (R₂ = π·FWHM), scalar or (n_phases + 1,).
        larmor_hz: ν₀ [Hz].
        gas_fraction: equilibrium fraction of the xenon in the gas, in [0, 1) (0: no escape).
        periodic: wrap the lattice (no crystal surface except sites marked −1).
        n_walkers: walkers. acquisition_s: length of the signal [s] (default: 6 T₂ of the narrowest line, at most
            the grid's 1/δν). max_events: hops a walker may make in the acquisition; hop rates h above
            0.35·max_events/t_acq are capped there (reported as ``rate_cap_per_s``).
        seed: random seed.

    Raises:
        DataFormatError: inconsistent shapes, negative rates or loadings, no site inside, a gas fraction outside
            [0, 1), a crystal without surface where a gas fraction is asked for.
    """
    phase = np.asarray(phase)
    if phase.ndim != 3 or not np.issubdtype(phase.dtype, np.integer):
        raise DataFormatError(f"{where}: phase: expected an integer (nx, ny, nz) lattice, got {phase.dtype} "
                              f"{phase.shape}")
    hop = np.asarray(hop_rate_per_s, np.float64).ravel()
    weight = np.asarray(loading_per_cell, np.float64).ravel()
    n_phases = hop.size
    shifts = np.asarray(state_shift_ppm, np.float64).ravel()
    if weight.size != n_phases or shifts.size != n_phases + 1:
        raise DataFormatError(f"{where}: expected {n_phases} loadings and {n_phases + 1} shifts (phases, then the "
                              f"gas), got {weight.size} and {shifts.size}")
    if not np.all(np.isfinite(hop)) or np.any(hop < 0):
        raise DataFormatError(f"{where}: hop rates must be non-negative, got {hop.tolist()}")
    if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
        raise DataFormatError(f"{where}: loadings must be positive, got {weight.tolist()}")
    if np.any(phase >= n_phases) or not np.any(phase >= 0):
        raise DataFormatError(f"{where}: phase: expected indices −1 … {n_phases - 1} with at least one site inside")
    if not 0.0 <= gas_fraction < 1.0:
        raise DataFormatError(f"{where}: gas_fraction: expected a fraction in [0, 1), got {gas_fraction!r}")
    width = np.broadcast_to(np.asarray(linewidth_hz, np.float64), shifts.shape)
    if np.any(~np.isfinite(width)) or np.any(width < 0):
        raise DataFormatError(f"{where}: linewidth_hz: expected non-negative widths, got {width.tolist()}")
    grid = spectrum_grid(np.asarray(shift_ppm_axis, np.float64) * larmor_hz * 1e-6, where=f"{where}: shift axis")
    gas_on = gas_fraction > 0
    r2 = math.pi * width
    dwell = grid.dwell_s
    if acquisition_s is None:
        acquisition_s = 6.0 / max(float(np.min(r2)), 1.0 / (grid.n_points * dwell))
    n_time = int(min(grid.n_points, max(16, math.ceil(acquisition_s / dwell))))
    t_end = n_time * dwell
    budget = 0.7 * max_events / t_end  # events per second a walker may make
    # a phase's hop rate is capped at budget/2 (a site's total rate is at most 2h: harmonic-mean interfaces);
    # capping the rates h themselves, not the rates of single sites, keeps detailed balance
    cap = budget / 2.0 if np.any(hop > budget / 2.0) else None
    site_phase, neighbour, rate = _hop_table(phase, weight, np.minimum(hop, budget / 2.0), periodic, gas_on)
    n_sites = site_phase.size
    escape = (neighbour == n_sites) & (rate > 0)
    if gas_on and not np.any(escape):
        raise DataFormatError(f"{where}: gas_fraction > 0 but the crystal has no surface (periodic lattice without "
                              "sites outside)")
    pi_site = weight[site_phase] / weight[site_phase].sum()
    populations = np.zeros(n_phases + 1)
    np.add.at(populations, site_phase, pi_site * (1.0 - gas_fraction))
    populations[-1] = gas_fraction
    reentry_rate = 0.0
    total = rate.sum(axis=1)
    if gas_on:  # re-entry from the gas by detailed balance with the (capped) escape
        escape_rate = float(np.sum(pi_site[:, None] * np.where(escape, rate, 0.0)))  # per adsorbed walker
        reentry_rate = escape_rate * (1.0 - gas_fraction) / gas_fraction
        if reentry_rate > budget:  # a small gas fraction: slow every rate by the same factor
            cap = budget
            rate, total = rate * (budget / reentry_rate), total * (budget / reentry_rate)
            reentry_rate = budget
    cdf = np.cumsum(rate, axis=1) / np.maximum(total, 1e-300)[:, None]
    cdf = np.concatenate([cdf, np.ones((1, 6))])
    total = np.concatenate([total, [reentry_rate]])
    neighbour = np.concatenate([neighbour, np.full((1, 6), n_sites)])
    faces = escape.sum(axis=1).astype(np.float64) if gas_on else np.ones(n_sites)
    surface_cdf = np.cumsum(faces) / faces.sum()  # re-entry: an exposed face drawn uniformly
    state_of = np.concatenate([site_phase, [n_phases]])
    nu_state = shifts * larmor_hz * 1e-6
    f = jnp.result_type(float)
    rng = np.random.default_rng(seed)
    start_p = np.concatenate([pi_site * (1.0 - gas_fraction), [gas_fraction]])
    start = rng.choice(n_sites + 1, size=n_walkers, p=start_p / start_p.sum())
    fid, occ, events, unfinished = _walk_jit(
        jax.random.PRNGKey(seed), jnp.asarray(start, jnp.int32), jnp.asarray(neighbour, jnp.int32),
        jnp.asarray(cdf, f), jnp.asarray(total, f), jnp.asarray(surface_cdf, f),
        jnp.asarray(2.0 * math.pi * nu_state, f), jnp.asarray(r2, f), jnp.asarray(state_of, jnp.int32),
        n_states=n_phases + 1, n_time=n_time, dwell=float(dwell), max_events=int(max_events))
    if int(unfinished):
        raise DataFormatError(f"{where}: {int(unfinished)} of {n_walkers} walkers did not reach the end of the "
                              f"acquisition in {max_events} events; raise max_events")
    spectrum = np.real(np.asarray(spectrum_from_fid(fid, grid, jnp.asarray(0.0, f), jnp.asarray(0.0, f))))
    axis = grid.frequency_hz / (larmor_hz * 1e-6)
    intensity = spectrum * larmor_hz * 1e-6
    if np.asarray(shift_ppm_axis)[0] > np.asarray(shift_ppm_axis)[-1]:
        axis, intensity = axis[::-1], intensity[::-1]
    return WalkResult(axis, intensity, np.asarray(fid), dwell, np.asarray(occ, np.float64), populations,
                      int(events), cap)


def first_passage_rates(phase, hop_rate_per_s, loading_per_cell, *, periodic: bool = True) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """Discrete-site populations and rates (i → j) [1/s] of the phases of a lattice from mean first-passage times.

    The rate out of phase p is 1/⟨τ_p⟩, ⟨τ_p⟩ the mean first-passage time out of the sites of p averaged over the
    equilibrium distribution on them (one sparse linear solve per phase), split among the other phases by their
    share of the outgoing flux. No gas (the lattice's surface, if any, reflects).

    Returns:
        populations (n_phases,), rates (n_phases, n_phases).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    phase = np.asarray(phase)
    hop = np.asarray(hop_rate_per_s, np.float64)
    weight = np.asarray(loading_per_cell, np.float64)
    site_phase, neighbour, rate = _hop_table(phase, weight, hop, periodic, gas=False)
    n = site_phase.size
    pi = weight[site_phase] / weight[site_phase].sum()
    n_phases = hop.size
    populations = np.bincount(site_phase, weights=pi, minlength=n_phases)
    rates = np.zeros((n_phases, n_phases))
    valid = neighbour < n
    for p in range(n_phases):
        sites = np.nonzero(site_phase == p)[0]
        if sites.size == 0:
            continue
        local = -np.ones(n + 1, np.int64)
        local[sites] = np.arange(sites.size)
        rows, cols, vals = [], [], []
        diag = np.zeros(sites.size)
        for d in range(6):
            tgt = neighbour[sites, d]
            r = np.where(valid[sites, d], rate[sites, d], 0.0)
            same = local[tgt] >= 0
            stay = same & (tgt == sites)
            diag += np.where(stay, 0.0, r)
            m = same & ~stay & (r > 0)
            rows.append(np.nonzero(m)[0])
            cols.append(local[tgt[m]])
            vals.append(-r[m])
        own = np.arange(sites.size)
        a = coo_matrix((np.concatenate([diag] + vals), (np.concatenate([own] + rows), np.concatenate([own] + cols))),
                       shape=(sites.size, sites.size)).tocsr()
        if not np.any(diag > 0) or np.all(site_phase == p):
            continue
        tau = spsolve(a, np.ones(sites.size))
        mean_tau = float(np.sum(pi[sites] * tau) / np.sum(pi[sites]))
        flux = np.zeros(n_phases)
        for d in range(6):
            tgt = neighbour[sites, d]
            other = valid[sites, d] & (site_phase[np.minimum(tgt, n - 1)] != p)
            np.add.at(flux, site_phase[np.minimum(tgt, n - 1)][other], (pi[sites] * rate[sites, d])[other])
        rates[p] = flux / flux.sum() / mean_tau
    return populations, rates


def slab_first_passage_rate(hop_rate_per_s: float, width_sites: int) -> float:
    """1/⟨τ⟩ out of a slab of L sites between two other slabs, hops at h/6 per direction: 2h/((L + 1)(L + 2))."""
    return 2.0 * hop_rate_per_s / ((width_sites + 1) * (width_sites + 2))
