r"""Vibrational lineshapes from frequency fluctuations: the Kubo stochastic lineshape theory and the cumulant route.

A vibrational transition whose frequency fluctuates, :math:`\omega(t) = \langle\omega\rangle + \delta\omega(t)`,
has the lineshape (R. Kubo, "Stochastic Liouville equations", J. Math. Phys. 4, 174 (1963); R. Kubo, in
*Fluctuation, Relaxation and Resonance in Magnetic Systems*, ed. D. ter Haar, Oliver & Boyd 1962, p. 23;
R. Kubo, Adv. Chem. Phys. 15, 101 (1969))

.. math::
    I(\omega) = \frac{1}{\pi}\,\mathrm{Re}\int_0^\infty C(t)\,e^{-i\omega t}\,dt, \qquad
    C(t) = \Bigl\langle \exp\Bigl(i\!\int_0^t \omega(t')\,dt'\Bigr)\Bigr\rangle ,

the average running over sites (and time origins of a stationary process). Three ways to get :math:`C(t)` are
provided, all vectorised (``vmap``/FFT, no Python loop over sites or frames):

* **Gaussian–Markov modulation** (:func:`kubo_correlation`): for :math:`\delta\omega` a stationary Gaussian process
  with :math:`\langle\delta\omega(0)\delta\omega(t)\rangle = \Delta^2 e^{-|t|/\tau_c}` the second cumulant is exact,
  :math:`C(t) = e^{i\langle\omega\rangle t - g(t)}` with

  .. math::
      g(t) = \Delta^2\tau_c^2\,\bigl(e^{-t/\tau_c} + t/\tau_c - 1\bigr).

  The line is computed from this by FFT — not switched between its limits. For :math:`\kappa = \Delta\tau_c \ll 1`
  (fast modulation, motional narrowing) it tends to a Lorentzian of angular FWHM :math:`2\Delta^2\tau_c`; for
  :math:`\kappa \gg 1` (slow modulation, inhomogeneous broadening) to a Gaussian of FWHM
  :math:`2\sqrt{2\ln 2}\,\Delta`.
* **Second-order cumulant of a frequency time series** (:func:`cumulant_correlation`): the autocorrelation
  :math:`c(t) = \langle\delta\omega(0)\delta\omega(t)\rangle` of the sites' series (FFT, averaged over sites and
  time origins), then :math:`g(t) = \int_0^t (t - s)\,c(s)\,ds` and :math:`C(t) = e^{i\langle\omega\rangle t -
  g(t)}` (exact for Gaussian fluctuations; S. Mukamel, *Principles of Nonlinear Optical Spectroscopy*, OUP 1995,
  ch. 8).
* **Exact average** (:func:`exact_correlation`): :math:`C(t) = \langle e^{i[\phi(t_0 + t) - \phi(t_0)]}\rangle` with
  the accumulated phase :math:`\phi(t) = \int_0^t \delta\omega\,dt'` (trapezoidal), i.e. the autocorrelation of
  :math:`z = e^{i\phi}`, computed by FFT. Right for non-Gaussian modulation (a frequency jumping between two
  values: the slow/fast exchange crossover), where the cumulant expansion is not exact.

**Units.** Frequencies enter and leave as wavenumbers :math:`\tilde\nu` [cm⁻¹] (``_cm1``), times in ps (``_ps``).
The angular frequency is :math:`\omega = 2\pi c\tilde\nu` with c from :mod:`scipy.constants`:
1 cm⁻¹ = 0.188365 rad/ps (:data:`RAD_PER_PS_PER_CM1`). Hence in wavenumbers the fast-limit FWHM is
:math:`\Gamma_\text{fast} = 2(2\pi c)\tilde\Delta^2\tau_c` and the slow-limit FWHM
:math:`\Gamma_\text{slow} = 2\sqrt{2\ln 2}\,\tilde\Delta`, where :math:`\tilde\Delta` is the rms fluctuation in cm⁻¹.

Left out: vibrational population relaxation (add it as an intrinsic Lorentzian width, ``lifetime_fwhm_cm1``),
non-Condon effects (the transition dipole is taken constant), and the quantum (detailed-balance) asymmetry of the
line; all lines here are classical and symmetric about their mean for symmetric fluctuations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy import constants as sc

from mofcore.errors import DataFormatError

__all__ = ["RAD_PER_PS_PER_CM1", "REGIME_TOLERANCE", "KuboLine", "kubo_g", "kubo_correlation", "fast_limit_fwhm_cm1",
           "slow_limit_fwhm_cm1", "spectrum_from_correlation", "line_fwhm", "kubo_line", "regime",
           "autocorrelation", "truncate_correlation", "cumulant_correlation", "exact_correlation",
           "check_uniform_times", "two_site_correlation"]

#: angular frequency per wavenumber, 2πc [rad ps⁻¹ per cm⁻¹] (c from scipy.constants, in cm/ps)
RAD_PER_PS_PER_CM1: float = 2.0 * math.pi * sc.c * 100.0 * 1e-12

#: a computed line is "fast" ("slow") when its FWHM is within this relative distance of the fast (slow) limit
REGIME_TOLERANCE: float = 0.10


def _float() -> jnp.dtype:
    return jnp.result_type(float)


def _complex() -> jnp.dtype:
    return jnp.complex128 if _float() == jnp.float64 else jnp.complex64


def kubo_g(time_ps: Float[Array, "n_t"], amplitude_cm1: float, correlation_time_ps: float) -> Float[Array, "n_t"]:
    r"""The Kubo line-broadening function of a Gaussian–Markov modulation,
    :math:`g(t) = \Delta^2\tau_c^2(e^{-t/\tau_c} + t/\tau_c - 1)` (dimensionless).

    Args:
        time_ps: times t ≥ 0 [ps], (n_t,).
        amplitude_cm1: rms frequency fluctuation :math:`\tilde\Delta` [cm⁻¹] (converted to Δ = 2πc·Δ̃ in rad/ps).
        correlation_time_ps: :math:`\tau_c` [ps], > 0.

    Returns:
        g(t), (n_t,).
    """
    t = jnp.asarray(time_ps, _float())
    delta = amplitude_cm1 * RAD_PER_PS_PER_CM1
    x = t / correlation_time_ps
    # expm1 keeps e^{-x} + x - 1 accurate at small x (≈ x²/2), where float32 would cancel it
    return (delta * correlation_time_ps) ** 2 * (jnp.expm1(-x) + x)


def kubo_correlation(time_ps: Float[Array, "n_t"], amplitude_cm1: float,
                     correlation_time_ps: float) -> Float[Array, "n_t"]:
    """:math:`C(t) = e^{-g(t)}` of a Gaussian–Markov modulation about the mean frequency (real, (n_t,))."""
    return jnp.exp(-kubo_g(time_ps, amplitude_cm1, correlation_time_ps))


def fast_limit_fwhm_cm1(amplitude_cm1: float, correlation_time_ps: float) -> float:
    r"""Lorentzian FWHM of the fast-modulation limit, :math:`2(2\pi c)\tilde\Delta^2\tau_c` [cm⁻¹]
    (angular: :math:`2\Delta^2\tau_c`)."""
    return 2.0 * RAD_PER_PS_PER_CM1 * amplitude_cm1**2 * correlation_time_ps


def slow_limit_fwhm_cm1(amplitude_cm1: float) -> float:
    r"""Gaussian FWHM of the slow-modulation (static) limit, :math:`2\sqrt{2\ln 2}\,\tilde\Delta` [cm⁻¹]."""
    return 2.0 * math.sqrt(2.0 * math.log(2.0)) * amplitude_cm1


def spectrum_from_correlation(correlation: Float[Array, "... n_t"], dt_ps: float, n_fft: int | None = None,
                              lifetime_fwhm_cm1: float = 0.0) -> tuple[np.ndarray, Array]:
    r"""The lineshape :math:`I(\tilde\nu) = \frac{1}{\pi}\mathrm{Re}\int_0^\infty C(t)e^{-i\omega t}dt` by FFT.

    The integral is the trapezoidal sum :math:`\delta t\,[\sum_n C_n e^{-i\omega t_n} - C_0/2]`, zero-padded to
    ``n_fft`` points; an intrinsic Lorentzian (population relaxation, FWHM Γ) multiplies :math:`C(t)` by
    :math:`e^{-\pi c\Gamma t}` (angular HWHM πcΓ). The line is normalised to unit area on the wavenumber axis
    when C(0) = 1 (I(ν̃) = 2πc·I(ω)).

    Args:
        correlation: C(t) at t = n·dt, n = 0 … n_t−1, any leading axes (sites, frames, bands).
        dt_ps: time step [ps].
        n_fft: FFT length ≥ n_t (default: the next power of two ≥ 4·n_t).
        lifetime_fwhm_cm1: intrinsic Lorentzian FWHM [cm⁻¹], ≥ 0.

    Returns:
        (offset_cm1 (n_fft,), ascending, centred on 0; intensity [1/cm⁻¹], (..., n_fft)).
    """
    c = jnp.asarray(correlation)
    n_t = c.shape[-1]
    if n_fft is None:
        n_fft = 1 << max(int(math.ceil(math.log2(4 * n_t))), 4)
    t = jnp.arange(n_t, dtype=_float()) * dt_ps
    if lifetime_fwhm_cm1 > 0:
        damp = jnp.exp(-0.5 * lifetime_fwhm_cm1 * RAD_PER_PS_PER_CM1 * t).reshape((1,) * (c.ndim - 1) + (n_t,))
        c = c * damp.astype(c.dtype)
    c = c.astype(_complex())
    c = c.at[..., 0].multiply(0.5)
    spec = jnp.fft.fft(c, n=n_fft, axis=-1) * dt_ps
    spec = jnp.fft.fftshift(jnp.real(spec), axes=-1) / math.pi * RAD_PER_PS_PER_CM1
    # numpy's FFT kernel is e^{-2πi kn/N}: bin k is ω_k = 2πk/(N dt), so C ∝ e^{+iΩt} peaks at +Ω
    freq = np.fft.fftshift(np.fft.fftfreq(n_fft, d=dt_ps)) * 2.0 * math.pi / RAD_PER_PS_PER_CM1
    return freq, spec


def truncate_correlation(correlation: Array, floor: float = 0.01) -> Array:
    """C(t) set to zero from the first lag where |C| falls below ``floor`` on (along the last axis).

    A C(t) averaged over a finite number of sites and time origins decays into a noise floor of order
    1/√(n_sites·n_origins) whose long, correlated tail would add ripples and a spurious narrowing to the line;
    cutting it where |C| first drops below ``floor`` (default 0.01) changes the line by at most of that order.
    """
    c = jnp.asarray(correlation)
    keep = jnp.cumprod((jnp.abs(c) >= floor).astype(jnp.int32), axis=-1)
    return jnp.where(keep > 0, c, jnp.zeros_like(c))


def line_fwhm(offset_cm1: np.ndarray, intensity: np.ndarray) -> float:
    """Full width at half maximum of a single-peaked line [cm⁻¹]: the outermost half-maximum crossings, linearly
    interpolated (a line with two maxima gets the width of its envelope)."""
    x = np.asarray(offset_cm1, np.float64)
    y = np.asarray(intensity, np.float64)
    if not np.all(np.isfinite(y)) or y.size < 3:
        return math.nan
    k = int(np.argmax(y))
    half = 0.5 * y[k]
    above = np.nonzero(y >= half)[0]
    lo, hi = int(above[0]), int(above[-1])
    if lo == 0 or hi == y.size - 1:
        return math.nan
    left = x[lo - 1] + (half - y[lo - 1]) * (x[lo] - x[lo - 1]) / (y[lo] - y[lo - 1])
    right = x[hi] + (half - y[hi]) * (x[hi + 1] - x[hi]) / (y[hi + 1] - y[hi])
    return float(right - left)


def regime(fwhm_cm1: float, amplitude_cm1: float, correlation_time_ps: float,
           tolerance: float = REGIME_TOLERANCE) -> str:
    """``"fast"`` when the computed FWHM is within ``tolerance`` (relative) of the fast-limit Lorentzian FWHM,
    ``"slow"`` when within ``tolerance`` of the slow-limit Gaussian FWHM, ``"intermediate"`` otherwise
    (with the default 10 %, measured: fast for κ = Δτ_c ≲ 0.65, slow for κ ≳ 3.5)."""
    fast = fast_limit_fwhm_cm1(amplitude_cm1, correlation_time_ps)
    slow = slow_limit_fwhm_cm1(amplitude_cm1)
    d_fast, d_slow = abs(fwhm_cm1 / fast - 1.0), abs(fwhm_cm1 / slow - 1.0)
    if d_fast <= tolerance and d_fast <= d_slow:
        return "fast"
    if d_slow <= tolerance:
        return "slow"
    return "intermediate"


@dataclass(frozen=True)
class KuboLine:
    """A computed Kubo line: ``intensity`` [1/cm⁻¹] (unit area) on ``offset_cm1`` from the mean frequency, its FWHM,
    the two limiting FWHMs, κ = Δτ_c (angular Δ) and the regime (:func:`regime`)."""

    offset_cm1: np.ndarray
    intensity: np.ndarray
    fwhm_cm1: float
    fast_limit_fwhm_cm1: float
    slow_limit_fwhm_cm1: float
    kappa: float
    regime: str


def _kubo_sampling(amplitude_cm1: float, correlation_time_ps: float, max_points: int) -> tuple[float, int]:
    """Time step and number of points resolving both the decay of C(t) and the line's extent."""
    delta = amplitude_cm1 * RAD_PER_PS_PER_CM1
    decay = 1.0 / delta + 1.0 / (delta * delta * correlation_time_ps)  # ≥ the 1/e time of C(t) in either limit
    total = 40.0 * decay
    dt = min(correlation_time_ps, 1.0 / delta) / 16.0
    dt = max(dt, total / max_points)
    return dt, int(math.ceil(total / dt)) + 1


def kubo_line(amplitude_cm1: float, correlation_time_ps: float, max_points: int = 1 << 18) -> KuboLine:
    r"""The Kubo line of a Gaussian–Markov modulation (module docstring), computed by FFT of :math:`e^{-g(t)}`.

    C(t) is sampled until :math:`g \gtrsim 40` (well decayed) with a step resolving both τ_c and 1/Δ (coarsened
    to at most ``max_points`` samples deep in the fast limit, where only the Lorentzian core matters), zero-padded
    4× for the FWHM.

    Args:
        amplitude_cm1: rms fluctuation :math:`\tilde\Delta` [cm⁻¹], > 0.
        correlation_time_ps: :math:`\tau_c` [ps], > 0.

    Raises:
        DataFormatError: a non-positive or non-finite amplitude or correlation time.
    """
    for name, value in (("amplitude", amplitude_cm1), ("correlation time", correlation_time_ps)):
        if not (math.isfinite(value) and value > 0):
            raise DataFormatError(f"Kubo line: expected a positive, finite {name}, got {value!r}")
    dt, n = _kubo_sampling(amplitude_cm1, correlation_time_ps, max_points)
    t = jnp.arange(n, dtype=_float()) * dt
    offset, spec = spectrum_from_correlation(kubo_correlation(t, amplitude_cm1, correlation_time_ps), dt)
    spec = np.asarray(spec, np.float64)
    fwhm = line_fwhm(offset, spec)
    return KuboLine(offset, spec, fwhm, fast_limit_fwhm_cm1(amplitude_cm1, correlation_time_ps),
                    slow_limit_fwhm_cm1(amplitude_cm1), amplitude_cm1 * RAD_PER_PS_PER_CM1 * correlation_time_ps,
                    regime(fwhm, amplitude_cm1, correlation_time_ps))


def check_uniform_times(time_ps: np.ndarray, where: str = "time series", rtol: float = 1e-6) -> float:
    """The step of uniformly spaced, increasing times [ps]; :class:`DataFormatError` otherwise (the FFT routes need
    a uniform step)."""
    t = np.asarray(time_ps, np.float64)
    if t.ndim != 1 or t.size < 2:
        raise DataFormatError(f"{where}: expected at least two times, got shape {t.shape}")
    steps = np.diff(t)
    dt = float(np.median(steps))
    if not np.all(np.isfinite(steps)) or dt <= 0 or np.max(np.abs(steps - dt)) > rtol * dt + 1e-12:
        raise DataFormatError(f"{where}: expected uniform, increasing time steps; steps range from "
                              f"{np.min(steps):.6g} to {np.max(steps):.6g} ps")
    return dt


def autocorrelation(x: Float[Array, "... n_t"], n_lags: int | None = None) -> Array:
    r"""Unbiased time-origin-averaged autocorrelation :math:`\langle x^*(t_0)x(t_0 + t)\rangle_{t_0}` by FFT
    (Wiener–Khinchin, zero-padded to 2·n_t so the circular correlation is the linear one), divided by the number
    of origins n_t − lag, for lags 0 … ``n_lags``−1 (default n_t//2: longer lags have too few origins).
    Real or complex ``x``, leading axes kept."""
    x = jnp.asarray(x)
    n_t = x.shape[-1]
    n_lags = n_t // 2 if n_lags is None else n_lags
    n_fft = 1 << int(math.ceil(math.log2(2 * n_t)))
    counts = jnp.asarray(n_t - np.arange(n_lags), _float()).reshape((1,) * (x.ndim - 1) + (n_lags,))
    if jnp.iscomplexobj(x):
        xf = jnp.fft.fft(x, n=n_fft, axis=-1)
        acf = jnp.fft.ifft(jnp.conj(xf) * xf, axis=-1)[..., :n_lags]
        return acf / counts.astype(acf.dtype)
    xf = jnp.fft.rfft(x, n=n_fft, axis=-1)  # real input: half the work
    acf = jnp.fft.irfft(jnp.real(xf) ** 2 + jnp.imag(xf) ** 2, n=n_fft, axis=-1)[..., :n_lags]
    return acf / counts


def _as_series(omega_cm1: Array) -> Array:
    w = jnp.asarray(omega_cm1, _float())
    return w[None, :] if w.ndim == 1 else w


def cumulant_correlation(omega_cm1: Float[Array, "n_sites n_t"], dt_ps: float,
                         n_lags: int | None = None) -> tuple[Array, Array]:
    r"""Second-order cumulant C(t) about the mean frequency from per-site frequency series (module docstring).

    Args:
        omega_cm1: ω̃(t) per site [cm⁻¹], (n_sites, n_t) (or (n_t,) for one site); uniform step ``dt_ps``.
        dt_ps: time step [ps].
        n_lags: lags kept (default n_t//2).

    Returns:
        (C(t) (n_lags,) real — the mean frequency factored out —, mean frequency [cm⁻¹]).
    """
    w = _as_series(omega_cm1)
    mean = jnp.mean(w)
    dw = (w - mean) * RAD_PER_PS_PER_CM1
    c = jnp.mean(autocorrelation(dw, n_lags), axis=0)  # rad²/ps²
    # g(t) = ∫0^t ds ∫0^s c(u) du: two cumulative trapezoids
    inner = jnp.concatenate([jnp.zeros(1, c.dtype), jnp.cumsum(0.5 * (c[1:] + c[:-1]) * dt_ps)])
    g = jnp.concatenate([jnp.zeros(1, c.dtype), jnp.cumsum(0.5 * (inner[1:] + inner[:-1]) * dt_ps)])
    return jnp.exp(-g), mean


def exact_correlation(omega_cm1: Float[Array, "n_sites n_t"], dt_ps: float,
                      n_lags: int | None = None) -> tuple[Array, Array]:
    r"""Exact :math:`C(t) = \langle e^{i[\phi(t_0+t) - \phi(t_0)]}\rangle` over sites and time origins (module
    docstring), about the mean frequency.

    Args, returns: as :func:`cumulant_correlation`, C complex (n_lags,).
    """
    w = _as_series(omega_cm1)
    mean = jnp.mean(w)
    dw = (w - mean) * RAD_PER_PS_PER_CM1
    phase = jnp.concatenate([jnp.zeros_like(dw[:, :1]), jnp.cumsum(0.5 * (dw[:, 1:] + dw[:, :-1]) * dt_ps, axis=1)],
                            axis=1)
    z = jax.lax.complex(jnp.cos(phase), jnp.sin(phase))
    return jnp.mean(autocorrelation(z, n_lags), axis=0), mean


def two_site_correlation(time_ps: Float[Array, "n_t"], half_splitting_cm1: float, rate_per_ps: float) -> Array:
    r"""Analytic C(t) of a frequency jumping between :math:`\pm\delta` with rate k each way (equal populations;
    Anderson's two-site exchange, P. W. Anderson, J. Phys. Soc. Jpn. 9, 316 (1954)):

    .. math::
        C(t) = e^{-kt}\bigl[\cosh(st) + (k/s)\sinh(st)\bigr], \quad s = \sqrt{k^2 - \delta^2}

    (s imaginary below k = δ: cos/sin). The two lines coalesce at :math:`k = \delta/\sqrt{2}` (Gutowsky–Holm,
    :math:`k_c = \pi\Delta\nu/\sqrt 2` with Δν = 2δ/2π the separation), and for k ≫ δ the line is a Lorentzian of
    angular FWHM :math:`\delta^2/k` (Kubo's fast limit with Δ = δ, τ_c = 1/(2k)). Real, (n_t,).
    """
    t = jnp.asarray(time_ps, _complex())
    d = half_splitting_cm1 * RAD_PER_PS_PER_CM1
    k = rate_per_ps
    s = jnp.sqrt(jnp.asarray(k * k - d * d, _complex()))
    s = jnp.where(jnp.abs(s) < 1e-12, 1e-12, s)
    # e^{-kt}[cosh st + (k/s) sinh st] written as two decaying exponentials (no overflow of cosh at k ≫ δ)
    return jnp.real(0.5 * ((1.0 + k / s) * jnp.exp(-(k - s) * t) + (1.0 - k / s) * jnp.exp(-(k + s) * t)))
