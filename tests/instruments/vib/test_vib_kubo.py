"""Kubo lineshapes: analytic limits (Lorentzian FWHM 2Δ²τ_c, Gaussian FWHM 2√(2 ln 2)Δ, in cm⁻¹ with Δ̃ the rms
fluctuation as a wavenumber and 2πc from scipy.constants), the two-site exchange crossover at k = δ/√2, and the
time-series routes (cumulant, exact) on simulated Gaussian–Markov and telegraph frequency series."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import constants as sc

from instruments.vib.kubo import (
    RAD_PER_PS_PER_CM1,
    autocorrelation,
    check_uniform_times,
    cumulant_correlation,
    exact_correlation,
    kubo_line,
    line_fwhm,
    spectrum_from_correlation,
    truncate_correlation,
    two_site_correlation,
)
from mofcore.errors import DataFormatError


def test_angular_conversion_is_two_pi_c():
    assert RAD_PER_PS_PER_CM1 == pytest.approx(2 * math.pi * sc.c * 100 * 1e-12, rel=1e-12)
    assert RAD_PER_PS_PER_CM1 == pytest.approx(0.188365, rel=1e-5)


def test_fast_limit_is_lorentzian_with_fwhm_2_delta2_tau():
    amp, tau = 5.0, 0.02  # κ = Δτ_c = 0.019
    line = kubo_line(amp, tau)
    expected = 2 * (amp * RAD_PER_PS_PER_CM1) ** 2 * tau / RAD_PER_PS_PER_CM1  # angular FWHM → cm⁻¹
    assert line.fwhm_cm1 == pytest.approx(expected, rel=0.01)
    # Lorentzian peak height 2/(πΓ) for a unit-area line; area 1 on the cm⁻¹ axis (float32 FFT: 1 %)
    assert line.intensity.max() == pytest.approx(2 / (math.pi * expected), rel=0.02)
    step = line.offset_cm1[1] - line.offset_cm1[0]
    assert line.intensity.sum() * step == pytest.approx(1.0, rel=0.01)
    assert line.regime == "fast"


def test_slow_limit_is_gaussian_with_fwhm_2_sqrt_2ln2_delta():
    amp, tau = 5.0, 200.0  # κ ≈ 190
    line = kubo_line(amp, tau)
    assert line.fwhm_cm1 == pytest.approx(2 * math.sqrt(2 * math.log(2)) * amp, rel=0.01)
    step = line.offset_cm1[1] - line.offset_cm1[0]
    sigma = amp
    assert line.intensity.max() == pytest.approx(1 / (sigma * math.sqrt(2 * math.pi)), rel=0.02)
    assert line.intensity.sum() * step == pytest.approx(1.0, rel=0.01)
    assert line.regime == "slow"


def test_intermediate_is_narrower_than_both_limits():
    line = kubo_line(5.0, 1.0)  # κ ≈ 0.94
    assert line.regime == "intermediate"
    assert line.fwhm_cm1 < min(line.fast_limit_fwhm_cm1, line.slow_limit_fwhm_cm1)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_bad_kubo_input(bad):
    with pytest.raises(DataFormatError, match="expected a positive, finite amplitude"):
        kubo_line(bad, 1.0)


def _two_site_line(delta_cm1, k):
    dt = 0.01 / (delta_cm1 * RAD_PER_PS_PER_CM1)
    t = jnp.arange(200000, dtype=jnp.result_type(float)) * dt
    offset, spec = spectrum_from_correlation(two_site_correlation(t, delta_cm1, k), dt, n_fft=1 << 19)
    return offset, np.asarray(spec)


def test_two_site_exchange_coalesces_at_delta_over_sqrt2():
    delta = 10.0  # ±10 cm⁻¹
    k_c = delta * RAD_PER_PS_PER_CM1 / math.sqrt(2)  # 1/ps
    for factor, split in ((0.85, True), (1.15, False)):
        offset, spec = _two_site_line(delta, factor * k_c)
        centre = int(np.argmin(np.abs(offset)))
        assert bool(spec[centre] < spec.max() * 0.999) == split, factor


def test_two_site_fast_exchange_width():
    delta, k = 2.0, 20.0  # k ≫ δ = 0.38 rad/ps: Lorentzian of angular FWHM δ²/k
    offset, spec = _two_site_line(delta, k)
    expected = (delta * RAD_PER_PS_PER_CM1) ** 2 / k / RAD_PER_PS_PER_CM1
    assert line_fwhm(offset, spec) == pytest.approx(expected, rel=0.02)


def _telegraph(key, n_sites, n_t, dt, delta_cm1, k):
    """±δ with rate k each way: the sign flips with probability (1 − e^{−2k dt})/2 per step."""
    k0, k1 = jax.random.split(key)
    flip = jax.random.bernoulli(k0, 0.5 * (1 - math.exp(-2 * k * dt)), (n_sites, n_t))
    start = jnp.where(jax.random.bernoulli(k1, 0.5, (n_sites, 1)), 1.0, -1.0)
    parity = jnp.cumsum(flip.astype(jnp.int32), axis=1) % 2
    return start * jnp.where(parity == 0, 1.0, -1.0) * delta_cm1


def test_exact_route_reproduces_telegraph_correlation():
    delta, k, dt = 10.0, 1.0, 0.01
    omega = 1500.0 + _telegraph(jax.random.PRNGKey(0), 400, 2048, dt, delta, k)
    c, mean = exact_correlation(omega, dt)
    assert float(mean) == pytest.approx(1500.0, abs=0.5)
    t = jnp.arange(c.shape[0], dtype=jnp.result_type(float)) * dt
    # the mean frequency is subtracted from the series; the ±δ pair is symmetric about 1500 only on average, so
    # compare moduli (tolerance: sampling noise of 400 sites × 1024 origins)
    assert np.max(np.abs(np.abs(np.asarray(c)) - np.abs(np.asarray(two_site_correlation(t, delta, k))))) < 0.05


def _ornstein_uhlenbeck(key, n_sites, n_t, dt, amp, tau):
    a = math.exp(-dt / tau)
    noise = jax.random.normal(key, (n_t, n_sites)) * amp * math.sqrt(1 - a * a)
    x0 = jax.random.normal(jax.random.fold_in(key, 1), (n_sites,)) * amp

    def step(x, xi):
        x = a * x + xi
        return x, x

    _, xs = jax.lax.scan(step, x0, noise)
    return xs.T


@pytest.mark.parametrize("route", [cumulant_correlation, exact_correlation])
def test_time_series_routes_reproduce_kubo_line(route):
    amp, tau, dt = 5.0, 1.0, 0.05  # κ ≈ 0.94: intermediate, where neither limit holds
    omega = 3700.0 + _ornstein_uhlenbeck(jax.random.PRNGKey(3), 512, 4096, dt, amp, tau)
    c, _ = route(omega, dt)
    offset, spec = spectrum_from_correlation(truncate_correlation(c), dt)
    ref = kubo_line(amp, tau)
    # 5 %: the rms of 512 finite series scatters by ~2 %, and C(t) is cut where |C| < 0.01 (truncate_correlation)
    assert line_fwhm(offset, np.asarray(spec)) == pytest.approx(ref.fwhm_cm1, rel=0.05)


def test_autocorrelation_matches_direct_sum():
    x = np.random.default_rng(1).normal(size=(3, 64))
    acf = np.asarray(autocorrelation(jnp.asarray(x, jnp.float32), 10))
    direct = np.stack([[np.mean(row[: 64 - m] * row[m:]) for m in range(10)] for row in x])
    np.testing.assert_allclose(acf, direct, atol=1e-5)


def test_non_uniform_time_steps_are_refused():
    assert check_uniform_times(np.arange(5) * 0.5) == pytest.approx(0.5)
    with pytest.raises(DataFormatError, match="expected uniform, increasing time steps"):
        check_uniform_times(np.array([0.0, 0.5, 1.1, 1.5]), "traj.npz")
