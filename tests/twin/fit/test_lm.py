"""Levenberg–Marquardt solver (twin.fit.lm): known minima, bounds, stopping at the float32 floor."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from twin.fit.lm import levenberg_marquardt


def test_linear_least_squares_stops_at_the_floor_in_a_few_iterations():
    """A linear model: the Gauss–Newton step is exact, so the solver must stop right after it (the undamped
    step's gain is then below ftol·χ²) instead of raising λ through rejected trials."""
    rng = np.random.default_rng(3)
    a = jnp.asarray(rng.normal(size=(200, 5)), jnp.float32)
    truth = jnp.asarray([1.0, -2.0, 0.5, 3.0, 0.0], jnp.float32)
    y = a @ truth + 0.01 * jnp.asarray(rng.normal(size=200), jnp.float32)
    res = levenberg_marquardt(lambda x, y: y - a @ x, jnp.zeros(5, jnp.float32), y)
    exact = np.linalg.lstsq(np.asarray(a, float), np.asarray(y, float), rcond=None)[0]
    np.testing.assert_allclose(res.x, exact, atol=1e-4)
    assert bool(res.converged) and int(res.n_iter) <= 3


def test_rosenbrock_residuals_reach_the_known_minimum():
    """r = (10(x₂ − x₁²), 1 − x₁): minimum χ² = 0 at (1, 1) from the classic start (−1.2, 1)."""
    def residual(x):
        return jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    res = levenberg_marquardt(residual, jnp.asarray([-1.2, 1.0], jnp.float32), max_iter=100)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=2e-3)
    assert bool(res.converged) and float(res.chi2) < 1e-6


@pytest.mark.parametrize("bound", [0.5, -0.25])
def test_active_bound_holds_the_parameter_and_frees_the_others(bound):
    """Minimum of (x₀ − 1)² + (x₁ − x₀ − 2)² with x₀ ≤ bound < 1: x₀ ends on the bound and x₁ at its conditional
    optimum bound + 2, as a bounded quadratic program gives."""
    def residual(x):
        return jnp.stack([x[0] - 1.0, x[1] - x[0] - 2.0])

    res = levenberg_marquardt(residual, jnp.asarray([bound - 1.0, 0.0], jnp.float32),
                              upper=jnp.asarray([bound, jnp.inf], jnp.float32))
    np.testing.assert_allclose(res.x, [bound, bound + 2.0], atol=1e-5)
    assert bool(res.converged)


def test_batched_problems_under_vmap_match_one_by_one():
    xs = jnp.linspace(0.0, 1.0, 50, dtype=jnp.float32)

    def residual(p, y):
        return y - p[0] * jnp.exp(-p[1] * xs)

    ys = jnp.stack([2.0 * jnp.exp(-3.0 * xs), 0.5 * jnp.exp(-1.0 * xs)])
    start = jnp.asarray([1.0, 1.0], jnp.float32)
    batched = jax.vmap(lambda y: levenberg_marquardt(residual, start, y))(ys)
    for k in range(2):
        one = levenberg_marquardt(residual, start, ys[k])
        np.testing.assert_allclose(batched.x[k], one.x, rtol=1e-5)
    np.testing.assert_allclose(batched.x, [[2.0, 3.0], [0.5, 1.0]], rtol=1e-4)


def test_a_zero_column_neither_stalls_the_stop_nor_takes_a_step():
    """A parameter the model does not depend on (a frozen one): its rounding-size singular value is cut, so the
    linear problem still stops after the exact step and the parameter stays where it started."""
    rng = np.random.default_rng(4)
    a = jnp.asarray(rng.normal(size=(200, 4)), jnp.float32)
    a = a.at[:, 2].set(0.0)
    y = a @ jnp.asarray([1.0, -2.0, 0.0, 3.0], jnp.float32) + 0.01 * jnp.asarray(rng.normal(size=200), jnp.float32)
    res = levenberg_marquardt(lambda x, y: y - a @ x, jnp.asarray([0.0, 0.0, 0.7, 0.0], jnp.float32), y)
    assert float(res.x[2]) == pytest.approx(0.7, abs=1e-6)
    assert bool(res.converged) and int(res.n_iter) <= 3


def test_a_nan_model_is_not_reported_as_converged():
    res = levenberg_marquardt(lambda x: jnp.full(3, jnp.nan) * x[0], jnp.asarray([1.0], jnp.float32))
    assert not bool(res.converged)
