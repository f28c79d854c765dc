"""The shared statistics of the fits (mofcore/stats.py) and the breathing interpolation (mofcore/breathing.py),
each checked against an independent calculation: numbers worked out by hand, NumPy's own Chebyshev
polynomials, exact recovery of known coefficients from noise-free data, the analytic values of h(η) and
derivatives by automatic differentiation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mofcore.breathing import breathing_path, breathing_path_derivative, smoothstep, smoothstep_derivative
from mofcore.stats import (
    FiguresOfMerit,
    chebyshev_basis,
    figures_of_merit,
    pooled_figures_of_merit,
    poisson_sigma,
    solve_scale_background,
)


# ------------------------------------------------------------------------------------------- poisson_sigma
def test_poisson_sigma_is_the_square_root_of_the_counts_with_one_for_empty_steps():
    counts = np.array([0.0, 0.25, 1.0, 4.0, 9.0, 1e4])
    assert poisson_sigma(counts) == pytest.approx([1.0, 1.0, 1.0, 2.0, 3.0, 100.0], rel=1e-15)
    # σ = s·√max(N, 1) for counts scaled by an attenuation factor or divided by a count time
    assert poisson_sigma(counts, 0.5) == pytest.approx([0.5, 0.5, 0.5, 1.0, 1.5, 50.0], rel=1e-15)
    assert poisson_sigma([4.0, 0.0], np.array([2.0, 3.0])) == pytest.approx([4.0, 3.0], rel=1e-15)
    assert poisson_sigma(np.array([9], np.int64)).dtype == np.float64  # host side: float64


def test_poisson_sigma_keeps_the_jax_dtype_and_runs_under_jit():
    counts = jnp.asarray([0.0, 16.0, 100.0], jnp.float32)
    sigma = jax.jit(poisson_sigma)(counts)
    assert sigma.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(sigma), [1.0, 4.0, 10.0], rtol=1e-7)  # float32


# --------------------------------------------------------------------------------------- figures of merit
def test_figures_of_merit_of_a_residual_worked_out_by_hand():
    y_obs = np.array([10.0, 20.0, 30.0, 40.0])
    y_calc = np.array([11.0, 18.0, 30.0, 42.0])
    sigma = np.array([1.0, 2.0, 3.0, 4.0])
    # r = (−1, 1, 0, −½): χ² = 2.25; Σ (y/σ)² = 4 × 100 = 400; N − P = 4 − 1 = 3
    fom = figures_of_merit((y_obs - y_calc) / sigma, y_obs, sigma, n_params=1)
    assert isinstance(fom, FiguresOfMerit)
    assert float(fom.chi2) == pytest.approx(2.25, rel=1e-15)
    assert float(fom.rwp) == pytest.approx(0.075, rel=1e-15)  # √(2.25/400)
    assert float(fom.rexp) == pytest.approx(np.sqrt(3.0) / 20.0, rel=1e-15)  # √(3/400)
    assert float(fom.chi2_reduced) == pytest.approx(0.75, rel=1e-15)
    assert float(fom.chi2_reduced) == pytest.approx((float(fom.rwp) / float(fom.rexp)) ** 2, rel=1e-14)
    assert fom.as_dict() == pytest.approx({"Rwp": 0.075, "Rexp": np.sqrt(3.0) / 20.0, "chi2": 2.25,
                                           "chi2_reduced": 0.75}, rel=1e-15)


def test_figures_of_merit_floor_the_degrees_of_freedom_at_one():
    y = np.array([4.0, 9.0])
    fom = figures_of_merit(np.array([1.0, 1.0]), y, np.sqrt(y), n_params=5)
    assert float(fom.chi2_reduced) == pytest.approx(2.0, rel=1e-15)  # χ²/1
    assert float(fom.rexp) == pytest.approx(np.sqrt(1.0 / 13.0), rel=1e-15)  # Σ (y/σ)² = 16/4 + 81/9 = 13


def test_figures_of_merit_agree_under_jit_in_float32():
    rng = np.random.default_rng(1)
    y = rng.uniform(50.0, 500.0, 64)
    r = rng.standard_normal(64)
    host = figures_of_merit(r, y, np.sqrt(y), 3)
    dev = jax.jit(figures_of_merit, static_argnums=3)(jnp.asarray(r, jnp.float32), jnp.asarray(y, jnp.float32),
                                                      jnp.asarray(np.sqrt(y), jnp.float32), 3)
    assert dev.rwp.dtype == jnp.float32
    for a, b in zip(host, dev, strict=True):
        assert float(b) == pytest.approx(float(a), rel=1e-5)  # float32


def test_pooled_figures_of_merit_are_those_of_the_concatenated_series():
    rng = np.random.default_rng(2)
    y = rng.uniform(10.0, 100.0, (3, 40))
    sigma = np.sqrt(y)
    r = rng.standard_normal((3, 40))
    n_params = np.array([4, 6, 5])
    chi2 = np.sum(r**2, axis=1)
    pooled = pooled_figures_of_merit(chi2, 40 - n_params, y, sigma)
    # no frame shares a parameter: the whole series is one fit of 120 points and 15 parameters
    whole = figures_of_merit(r.ravel(), y.ravel(), sigma.ravel(), int(np.sum(n_params)))
    for a, b in zip(whole, pooled, strict=True):
        assert float(b) == pytest.approx(float(a), rel=1e-13)
    assert float(pooled.chi2) == pytest.approx(float(np.sum(r**2)), rel=1e-13)


# --------------------------------------------------------------------------------- scale and background
def test_chebyshev_basis_matches_numpy_chebyshev_on_the_mapped_axis():
    x = np.linspace(5.0, 65.0, 301)
    t = (x - 35.0) / 30.0
    basis = chebyshev_basis(x, 6, 5.0, 65.0)
    assert basis.shape == (301, 6)
    np.testing.assert_allclose(basis, np.polynomial.chebyshev.chebvander(t, 5), rtol=0.0, atol=1e-13)
    # T_k(cos θ) = cos kθ; a chosen subset of orders, in the order asked for
    theta = np.linspace(0.0, np.pi, 50)
    np.testing.assert_allclose(chebyshev_basis(np.cos(theta), (4, 1), -1.0, 1.0),
                               np.stack([np.cos(4 * theta), np.cos(theta)], axis=1), atol=1e-13)
    assert chebyshev_basis(x, 0, 5.0, 65.0).shape == (301, 0)


def _two_peaks(x):
    return np.stack([np.exp(-(((x - 12.0) / 0.4) ** 2)) * 1e3, np.exp(-(((x - 20.0) / 0.6) ** 2)) * 5e2])


def test_background_solve_recovers_known_scales_and_chebyshev_coefficients_exactly():
    x = np.linspace(5.0, 30.0, 500)
    patterns = _two_peaks(x)
    scales, coeffs = np.array([2.5, 0.7]), np.array([120.0, -30.0, 8.0, 2.0])
    t = (2.0 * x - 35.0) / 25.0
    y = scales @ patterns + np.polynomial.chebyshev.chebval(t, coeffs)  # noise-free
    sigma = np.sqrt(y)
    coef = solve_scale_background(patterns, y, sigma, x, x[0], x[-1], 4)
    np.testing.assert_allclose(coef, np.concatenate([scales, coeffs]), rtol=1e-10)
    # a fixed part taken off first, and only some background orders refined
    fixed = 0.7 * patterns[1] + np.polynomial.chebyshev.chebval(t, [0.0, -30.0, 0.0, 2.0])
    coef = solve_scale_background(patterns[:1], y, sigma, x, x[0], x[-1], (0, 2), offset=fixed)
    np.testing.assert_allclose(coef, [2.5, 120.0, 8.0], rtol=1e-10)
    # background alone
    coef = solve_scale_background(np.zeros((0, x.size)), y - scales @ patterns, sigma, x, x[0], x[-1], 4)
    np.testing.assert_allclose(coef, coeffs, rtol=1e-10)


def test_background_solve_runs_under_jit_in_float32():
    x = np.linspace(5.0, 30.0, 400)
    patterns = _two_peaks(x)
    t = (2.0 * x - 35.0) / 25.0
    y = np.array([1.5, 3.0]) @ patterns + np.polynomial.chebyshev.chebval(t, [80.0, 10.0, -4.0])
    xj = jnp.asarray(x, jnp.float32)

    @jax.jit
    def solve(p, yy, s):
        return solve_scale_background(p, yy, s, xj, xj[0], xj[-1], 3)

    coef = solve(jnp.asarray(patterns, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(np.sqrt(y), jnp.float32))
    assert coef.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(coef), [1.5, 3.0, 80.0, 10.0, -4.0], rtol=2e-4, atol=2e-3)  # float32


def test_background_solve_gives_zero_for_an_empty_column():
    x = np.linspace(0.0, 1.0, 50)
    y = 3.0 + 0.0 * x
    coef = solve_scale_background(np.zeros((1, 50)), y, np.ones(50), x, 0.0, 1.0, 1)
    np.testing.assert_allclose(coef, [0.0, 3.0], atol=1e-12)
    assert solve_scale_background(np.zeros((0, 50)), y, np.ones(50), x, 0.0, 1.0, 0).shape == (0,)


# -------------------------------------------------------------------------------------------- breathing
def test_smoothstep_end_values_slopes_and_midpoint():
    assert smoothstep(0.0) == 0.0 and smoothstep(1.0) == 1.0
    assert smoothstep(0.5) == 0.5
    assert smoothstep_derivative(0.0) == 0.0 and smoothstep_derivative(1.0) == 0.0
    assert smoothstep_derivative(0.5) == 1.5  # 6 · ½ · ½
    eta = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(smoothstep(1.0 - eta), 1.0 - smoothstep(eta), atol=1e-15)  # h(1−η) = 1 − h(η)


def test_smoothstep_derivatives_match_automatic_differentiation():
    eta = jnp.linspace(-0.2, 1.2, 29, dtype=jnp.float32)
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(smoothstep))(eta)), np.asarray(smoothstep_derivative(eta)),
                               rtol=1e-6, atol=1e-6)
    path = jax.vmap(jax.grad(lambda e: breathing_path(e, jnp.float32(850.0), jnp.float32(1480.0))))(eta)
    np.testing.assert_allclose(np.asarray(path), np.asarray(breathing_path_derivative(eta, 850.0, 1480.0)),
                               rtol=1e-5, atol=1e-3)


def test_breathing_path_runs_from_the_closed_to_the_open_value():
    v_closed, v_open = 864.0, 1486.0  # Å³, narrow- and large-pore MIL-53 cells
    assert breathing_path(0.0, v_closed, v_open) == v_closed
    assert breathing_path(1.0, v_closed, v_open) == v_open
    assert breathing_path(0.5, v_closed, v_open) == pytest.approx(0.5 * (v_closed + v_open), rel=1e-15)
    eta = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(breathing_path(eta, v_closed, v_open),
                               v_closed + (v_open - v_closed) * (3.0 * eta**2 - 2.0 * eta**3), rtol=1e-14)


def test_the_fits_and_the_engine_use_these_functions():
    """One copy: the public names elsewhere are these functions, not copies of them."""
    import twin.engine.model
    import twin.fit

    assert twin.fit.poisson_sigma is poisson_sigma
    assert twin.engine.model.smoothstep is smoothstep
