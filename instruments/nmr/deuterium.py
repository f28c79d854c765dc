r"""Static ²H powder spectra with exchange: solid echo, line broadening, Arrhenius rates, distributions of rates.

The lineshape of one rate is the powder sum of :mod:`instruments.nmr.exchange` over the ZCW directions of
:mod:`instruments.nmr.orientations`, for the sites of a jump model of :mod:`instruments.nmr.motion`:

.. math::
    s(t) = \mathrm{Re}\sum_{\hat b} w_{\hat b}\,\mathbf 1^\mathsf{T} e^{A(\hat b)(\tau + t)}\,e^{A^*(\hat b)\tau}\,\mathbf p,\qquad
    I(\nu) = \mathrm{Re}\,2\int_0^\infty s(t)\,a(t)\,e^{-2\pi i\nu t}\,dt ,

one calculation for the slow, intermediate and fast regimes, with the finite-τ distortion and the loss of echo
intensity of the intermediate regime (minimum where k is of the order of :math:`2\pi\frac34 C_q`; Spiess &
Sillescu, J. Magn. Reson. 42, 381 (1981)). The area of I is the echo amplitude s(0) (1 for a full echo).

**Rates.** Arrhenius, :math:`k = k_0\,e^{-E_a/RT}` (:func:`arrhenius_rate`). Heterogeneous dynamics, the rule for
confined water, are a log-normal distribution of rates — a Gaussian in :math:`\ln k` of width σ — or, equivalently
at one temperature, a Gaussian distribution of activation energies of width :math:`\sigma_E`, for which
:math:`\sigma = \sigma_E/RT` (:func:`ln_rate_width`; e.g. M. Vogel, Phys. Rev. Lett. 101, 225701 (2008);
S. A. Lusceac, M. Vogel, J. Phys.: Condens. Matter 22, 284105 (2010) for ²H of confined water). The spectrum of
a distribution is the weighted sum of spectra at Gauss–Hermite nodes in :math:`\ln k` (:func:`lognormal_rates`,
12 nodes by default, enough for σ up to ≈ 3 on the broadened spectra here; a sharp component — the fast
narrow line — is never under-resolved, since its spectrum hardly changes with k). A rigid fraction adds the
slow-limit spectrum with its weight: two-phase spectra (a Pake doublet under a narrow line).

**Regimes** (:func:`regime`), by the rate against :math:`\omega_Q = 2\pi\frac34 C_q`: slow for
:math:`k \le 10^{-3}\,\omega_Q`, fast for :math:`k \ge 10^{2}\,\omega_Q` (there the spectrum is that of the averaged
tensor of :func:`instruments.nmr.motion.motional_average` to well under the line broadening), intermediate in
between.

Computation: one jitted function per model and grid (:func:`make_deuterium`, cached), vmapped over the
orientations and batched over rates with :func:`jax.lax.map`; callers map it over frames.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import constants as sc

from instruments.nmr.exchange import (
    QUADRUPOLAR_FACTOR,
    SpectrumGrid,
    _float_dtype,
    fid_from_modes,
    powder_modes,
    spectrum_from_fid,
    spectrum_grid,
)
from instruments.nmr.motion import JumpModel, jump_model
from instruments.nmr.orientations import zcw_orientations
from mofcore.errors import DataFormatError

__all__ = ["DEFAULT_ORIENTATIONS", "DeuteriumSimulator", "make_deuterium", "deuterium_spectrum", "echo_intensity",
           "powder_convergence", "arrhenius_rate", "ln_rate_width", "lognormal_rates", "regime", "check_window",
           "check_inputs", "FAST_LIMIT", "SLOW_LIMIT"]

#: ZCW directions used by default, in the model's domain (an octant for most models: docs/nmr.md for the
#: convergence; tests/instruments/nmr/test_deuterium.py::test_powder_average_converges)
DEFAULT_ORIENTATIONS = 4181
#: k ≥ FAST_LIMIT · ω_Q is the fast regime, k ≤ SLOW_LIMIT · ω_Q the slow one (ω_Q = 2π·¾·C_q)
FAST_LIMIT = 1e2
SLOW_LIMIT = 1e-3
_GAS_CONSTANT_KJ = sc.R / 1000.0


def arrhenius_rate(k0_per_s: Any, activation_energy_kj_mol: Any, temperature_K: Any) -> Any:
    r""":math:`k = k_0\,e^{-E_a/RT}` [1/s] (NumPy or JAX arrays, broadcast).

    Args:
        k0_per_s: pre-exponential factor :math:`k_0` [1/s].
        activation_energy_kj_mol: :math:`E_a` [kJ/mol].
        temperature_K: T [K].
    """
    xp = jnp if any(isinstance(a, jax.Array) for a in (k0_per_s, activation_energy_kj_mol, temperature_K)) else np
    return k0_per_s * xp.exp(-activation_energy_kj_mol / (_GAS_CONSTANT_KJ * temperature_K))


def ln_rate_width(energy_width_kj_mol: Any, temperature_K: Any) -> Any:
    r"""Width σ of ln k for a Gaussian distribution of activation energies of width :math:`\sigma_E`: :math:`\sigma_E/RT`."""
    return energy_width_kj_mol / (_GAS_CONSTANT_KJ * temperature_K)


def lognormal_rates(median_per_s: Any, ln_width: float, n_nodes: int = 12) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss–Hermite nodes and weights of a log-normal distribution of rates.

    :math:`\ln k_i = \ln k_{med} + \sigma x_i` with :math:`x_i, w_i` the probabilists' Gauss–Hermite rule
    (:func:`numpy.polynomial.hermite_e.hermegauss`), weights normalised to 1; σ = 0 gives one node.

    Returns:
        (rates (…, n_nodes) [1/s], weights (n_nodes,) [1]).
    """
    if ln_width == 0.0:
        return np.asarray(median_per_s, np.float64)[..., None], np.ones(1)
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    return np.asarray(median_per_s, np.float64)[..., None] * np.exp(ln_width * x), w / w.sum()


def regime(rate_per_s: float, cq_hz: float) -> str:
    """``"slow"``, ``"intermediate"`` or ``"fast"`` (module docstring)."""
    omega_q = QUADRUPOLAR_FACTOR * abs(cq_hz)
    if rate_per_s >= FAST_LIMIT * omega_q:
        return "fast"
    if rate_per_s <= SLOW_LIMIT * omega_q:
        return "slow"
    return "intermediate"


def _extent_hz(model: JumpModel, cq_hz: float) -> float:
    """Half-width of the widest pattern the model can give: ¾·C_q·max |principal value| of its site tensors."""
    return 0.75 * abs(cq_hz) * float(np.max(np.abs(np.linalg.eigvalsh(model.tensors))))


def check_window(grid: SpectrumGrid, model: JumpModel, cq_hz: float, *, where: str = "frequency") -> None:
    """Raise :class:`DataFormatError` when the grid does not hold the whole pattern (it would fold back)."""
    extent = _extent_hz(model, cq_hz)
    if grid.start_hz > -extent or grid.start_hz + grid.step_hz * (grid.n_points - 1) < extent:
        stop_khz = (grid.start_hz + grid.step_hz * (grid.n_points - 1)) / 1e3
        raise DataFormatError(
            f"{where}: the window {grid.start_hz / 1e3:g}..{stop_khz:g} kHz is too narrow for C_q = {cq_hz / 1e3:g} "
            f"kHz, whose {model.name} pattern reaches ±{extent / 1e3:g} kHz (¾·C_q); widen it")


def _number(value: Any, where: str, lo: float = -math.inf, hi: float = math.inf, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(value)) or not lo <= float(value) <= hi:
        raise DataFormatError(f"{where}: expected {what}, got {value!r}")
    return float(value)


def check_inputs(cq_hz: Any, rate_per_s: Any, echo_delay_s: Any, *, lorentzian_hz: Any = 0.0,
                 gaussian_hz: Any = 0.0, rate_width: Any = 0.0, rigid_fraction: Any = 0.0) -> None:
    """Validate the arguments of :func:`deuterium_spectrum` once, at the edge (DataFormatError naming the argument)."""
    _number(cq_hz, "cq", 1e-9, math.inf, "a positive quadrupole coupling C_q in Hz")
    rates = np.asarray(rate_per_s, dtype=np.float64) if not isinstance(rate_per_s, bool) else np.asarray(np.nan)
    if rates.size == 0 or not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise DataFormatError(f"rate: expected non-negative finite rates in 1/s, got {rate_per_s!r}")
    _number(echo_delay_s, "echo_delay", 0.0, 1.0, "an echo delay between 0 and 1 s")
    _number(lorentzian_hz, "lorentzian", 0.0, math.inf, "a non-negative Lorentzian FWHM in Hz")
    _number(gaussian_hz, "gaussian", 0.0, math.inf, "a non-negative Gaussian FWHM in Hz")
    _number(rate_width, "rate_width", 0.0, 10.0, "a width σ of ln k between 0 and 10")
    _number(rigid_fraction, "rigid_fraction", 0.0, 1.0, "a fraction between 0 and 1")


@dataclass(frozen=True, eq=False)
class DeuteriumSimulator:
    """Pure functions for one jump model on one grid (from :func:`make_deuterium`).

    Attributes:
        model: the jump model.
        grid: the frequency grid.
        n_time: FID samples (≤ grid.n_points; the rest is zero-filled).
        directions, weights: the ZCW powder set, (n_orientations, 3), (n_orientations,).
        fid: ``(cq_hz, rate_per_s, echo_delay_s) -> s (n_time,)`` for one rate (jitted).
        fids: ``(cq_hz, rates (n,), echo_delay_s) -> (n, n_time)``, batched over rates (a jitted
            :func:`jax.lax.map` over chunks; host wrapper, the rates are padded to a multiple of the batch).
        spectra: ``(fids (n, n_time), lorentzian_hz, gaussian_hz) -> complex (n, n_points)`` (jitted).
        echo: ``(cq_hz, rates (n,), echo_delay_s) -> s(0) (n,)``, the echo amplitude (jitted).
    """

    model: JumpModel
    grid: SpectrumGrid
    n_time: int
    directions: np.ndarray
    weights: np.ndarray
    fid: Any
    fids: Any
    spectra: Any
    echo: Any


@functools.lru_cache(maxsize=32)
def make_deuterium(motion: str, asymmetry: float, angle_deg: float | None, n_sites: int | None, grid: SpectrumGrid,
                   n_orientations: int = DEFAULT_ORIENTATIONS, n_time: int | None = None,
                   batch_size: int = 8) -> DeuteriumSimulator:
    """Build (and cache) the jitted functions of one model, grid and powder set (:class:`DeuteriumSimulator`).

    Args:
        motion, asymmetry, angle_deg, n_sites: the jump model (:func:`instruments.nmr.motion.jump_model`).
        grid: the frequency grid (:func:`instruments.nmr.exchange.spectrum_grid`).
        n_orientations: ZCW directions in the model's domain (rounded up to a ZCW size).
        n_time: FID samples (default: the grid's points; fewer when the broadening kills the signal earlier).
        batch_size: rates evaluated together inside :func:`jax.lax.map` (memory ∝ batch × modes × √n_time).
    """
    model = jump_model(motion, asymmetry, angle_deg, n_sites)
    directions, weights = zcw_orientations(n_orientations, model.powder_domain)
    n_time = grid.n_points if n_time is None else int(min(n_time, grid.n_points))
    dt = _float_dtype()
    b, w = jnp.asarray(directions, dt), jnp.asarray(weights, dt)
    tensors, unit_rates = jnp.asarray(model.tensors, dt), jnp.asarray(model.rate_matrix, dt)
    populations = jnp.asarray(model.populations, dt)

    def modes(cq_hz: Any, rate_per_s: Any, echo_delay_s: Any) -> tuple[Any, Any]:
        return powder_modes(b, w, tensors, unit_rates, populations, jnp.asarray(cq_hz, dt),
                            jnp.asarray(rate_per_s, dt), jnp.asarray(echo_delay_s, dt))

    def fid_one(cq_hz: Any, rate_per_s: Any, echo_delay_s: Any) -> Any:
        lam, amplitudes = modes(cq_hz, rate_per_s, echo_delay_s)
        return jnp.real(fid_from_modes(lam, amplitudes, grid.dwell_s, n_time))

    @jax.jit
    def fid_chunks(cq_hz: Any, rates: Any, echo_delay_s: Any) -> Any:
        return jax.lax.map(lambda r: fid_one(cq_hz, r, echo_delay_s), rates, batch_size=batch_size)

    def fid_many(cq_hz: Any, rates: Any, echo_delay_s: Any) -> Any:
        # padded to a multiple of the batch (repeating the last rate) so that few shapes get compiled
        rates = np.asarray(rates, np.float64).ravel()
        n = rates.size
        padded = np.concatenate([rates, np.full(-n % batch_size, rates[-1] if n else 0.0)])
        return fid_chunks(jnp.asarray(cq_hz, dt), jnp.asarray(padded, dt), jnp.asarray(echo_delay_s, dt))[:n]

    def spectra(fids: Any, lorentzian_hz: Any, gaussian_hz: Any) -> Any:
        return jax.vmap(lambda f: spectrum_from_fid(f, grid, jnp.asarray(lorentzian_hz, dt),
                                                    jnp.asarray(gaussian_hz, dt)))(fids)

    def echo(cq_hz: Any, rates: Any, echo_delay_s: Any) -> Any:
        return jax.vmap(lambda r: jnp.real(jnp.sum(modes(cq_hz, r, echo_delay_s)[1])))(jnp.asarray(rates, dt))

    return DeuteriumSimulator(model, grid, n_time, directions, weights, jax.jit(fid_one), fid_many,
                              jax.jit(spectra), jax.jit(echo))


def deuterium_spectrum(
    cq_hz: float, asymmetry: float, motion: str, angle_deg: float | None, rate_per_s: Any, echo_delay_s: float,
    frequency_hz: Any, *, n_sites: int | None = None, lorentzian_hz: float = 1000.0, gaussian_hz: float = 0.0,
    rate_width: float = 0.0, rigid_fraction: float = 0.0, n_orientations: int = DEFAULT_ORIENTATIONS,
    n_rate_nodes: int = 12,
) -> np.ndarray:
    r"""The static ²H solid-echo powder spectrum (absorption) of a jump model at one or several rates.

    :math:`I(\nu) = (1-f)\sum_i w_i\,I_{k_i}(\nu) + f\,I_0(\nu)` — the lineshape of :mod:`instruments.nmr.exchange` at
    Gauss–Hermite nodes :math:`k_i` of a log-normal distribution of rates around ``rate_per_s`` (width σ of ln k,
    ``rate_width``; σ = 0 is one rate), plus a rigid fraction f. Area: the echo amplitude (1 for a full echo,
    less in the intermediate regime).

    Args:
        cq_hz: :math:`C_q = e^2qQ/h` > 0 [Hz] (e.g. 170e3 for an aromatic C–D, ≈ 215e3 for D2O ice).
        asymmetry: :math:`\eta_Q` in [0, 1].
        motion: one of :data:`instruments.nmr.motion.MOTIONS`.
        angle_deg: angle of the C–D bond to the jump axis [deg], or ``None`` for the model's default.
        rate_per_s: escape rate k (median of the distribution) ≥ 0 [1/s]: a number or an array (n_rates,).
        echo_delay_s: τ ≥ 0 of the solid echo [s] (0: ideal FID).
        frequency_hz: uniform frequency grid [Hz], increasing or decreasing, (n_points,).
        n_sites: sites on the cone (``"cone"``).
        lorentzian_hz, gaussian_hz: FWHM of the line broadening [Hz].
        rate_width: σ of ln k (log-normal distribution) ≥ 0.
        rigid_fraction: f in [0, 1].
        n_orientations: ZCW directions in the model's domain (an octant or a hemisphere; rounded up to a ZCW size).
        n_rate_nodes: Gauss–Hermite nodes for σ > 0.

    Returns:
        I [1/Hz] on ``frequency_hz`` (float64), (n_points,) for a scalar rate, else (n_rates, n_points).

    Raises:
        DataFormatError: a bad argument (names it), or a window narrower than the pattern (:func:`check_window`).
    """
    check_inputs(cq_hz, rate_per_s, echo_delay_s, lorentzian_hz=lorentzian_hz, gaussian_hz=gaussian_hz,
                 rate_width=rate_width, rigid_fraction=rigid_fraction)
    grid = spectrum_grid(frequency_hz)
    simulator = make_deuterium(motion, float(asymmetry), None if angle_deg is None else float(angle_deg), n_sites,
                               grid, int(n_orientations))
    check_window(grid, simulator.model, cq_hz)
    scalar = np.ndim(rate_per_s) == 0
    rates, weights = lognormal_rates(np.atleast_1d(np.asarray(rate_per_s, np.float64)), float(rate_width),
                                     n_rate_nodes)
    n_rates, n_nodes = rates.shape
    all_rates = np.concatenate([rates.ravel(), [0.0]]) if rigid_fraction > 0 else rates.ravel()
    fids = simulator.fids(cq_hz, all_rates, echo_delay_s)
    mixed = jnp.einsum("rnt,n->rt", fids[: n_rates * n_nodes].reshape(n_rates, n_nodes, -1),
                       jnp.asarray(weights, fids.dtype))
    if rigid_fraction > 0:
        mixed = (1.0 - rigid_fraction) * mixed + rigid_fraction * fids[-1][None, :]
    intensity = np.asarray(jnp.real(simulator.spectra(mixed, lorentzian_hz, gaussian_hz)), dtype=np.float64)
    nu = np.asarray(frequency_hz, np.float64)
    if nu[0] > nu[-1]:
        intensity = intensity[:, ::-1]
    return intensity[0] if scalar else intensity


def echo_intensity(cq_hz: float, asymmetry: float, motion: str, angle_deg: float | None, rate_per_s: Any,
                   echo_delay_s: float, *, n_sites: int | None = None,
                   n_orientations: int = DEFAULT_ORIENTATIONS) -> np.ndarray:
    r"""The solid-echo amplitude :math:`s(0)` relative to a full echo (1 in the slow and fast limits, less between).

    Args: as :func:`deuterium_spectrum` (``rate_per_s`` a number or an array).

    Returns:
        s(0) [1], the shape of ``rate_per_s`` (float64).
    """
    check_inputs(cq_hz, rate_per_s, echo_delay_s)
    grid = SpectrumGrid(-1e6, 1e6 / 16.0, 32)  # not used by the echo amplitude; a fixed key for the cache
    simulator = make_deuterium(motion, float(asymmetry), None if angle_deg is None else float(angle_deg), n_sites,
                               grid, int(n_orientations))
    rates = np.asarray(rate_per_s, np.float64)
    return np.asarray(simulator.echo(cq_hz, rates.ravel(), echo_delay_s), np.float64).reshape(rates.shape)


def powder_convergence(
    cq_hz: float, asymmetry: float, motion: str, angle_deg: float | None, rate_per_s: float, echo_delay_s: float,
    frequency_hz: Any, *, sizes: tuple[int, ...] = (233, 377, 610, 987, 1597, 2584), reference: int = 17711,
    **kwargs: Any,
) -> dict[str, list[float]]:
    r"""How the powder spectrum converges with the number of ZCW directions.

    Returns:
        ``{"n_orientations": [...], "max_deviation": [...], "rms_deviation": [...]}``: the largest and the rms
        difference to the spectrum with ``reference`` directions, relative to its maximum [1].
    """
    ref = deuterium_spectrum(cq_hz, asymmetry, motion, angle_deg, rate_per_s, echo_delay_s, frequency_hz,
                             n_orientations=reference, **kwargs)
    scale = float(np.max(np.abs(ref)))
    out: dict[str, list[float]] = {"n_orientations": [], "max_deviation": [], "rms_deviation": []}
    for n in sizes:
        y = deuterium_spectrum(cq_hz, asymmetry, motion, angle_deg, rate_per_s, echo_delay_s, frequency_hz,
                               n_orientations=n, **kwargs)
        out["n_orientations"].append(int(n))
        out["max_deviation"].append(float(np.max(np.abs(y - ref)) / scale))
        out["rms_deviation"].append(float(np.sqrt(np.mean((y - ref) ** 2)) / scale))
    return out
