"""The layered-stack (paracrystal) diffraction model against its analytic limits (instruments/xrd/layered.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd.layered import (
    layer_form_factor_sq,
    layered_pattern,
    mean_layers,
    mean_stack_interference,
    stack_interference,
)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _fwhm(q: np.ndarray, z: np.ndarray) -> float:
    half = z.max() / 2.0
    above = np.nonzero(z > half)[0]
    return float(q[above[-1]] - q[above[0]])


def test_sigma_zero_is_the_laue_n_slit_function():
    d, n = 0.8, 12
    q = np.linspace(0.3, 20.0, 20001)
    z = np.asarray(stack_interference(jnp.asarray(q), d, 0.0, float(n)))
    laue = np.sin(n * q * d / 2) ** 2 / np.sin(q * d / 2) ** 2 / n
    away = np.abs(np.sin(q * d / 2)) > 1e-3  # the closed form is 0/0 exactly on a Bragg point
    np.testing.assert_allclose(z[away], laue[away], rtol=0, atol=1e-8)  # float64 round-off of the closed form


@pytest.mark.parametrize("order", [1, 2, 3])
def test_bragg_peaks_sit_at_two_pi_n_over_d(order):
    d = 0.72
    q0 = 2 * np.pi * order / d
    q = np.linspace(q0 - 0.5, q0 + 0.5, 10001)
    z = np.asarray(mean_stack_interference(jnp.asarray(q), d, 2e-3, 8.0))
    assert abs(q[np.argmax(z)] - q0) <= 1e-4 * q0  # grid step 1e-4 nm⁻¹; the tiny σ shifts it by far less


@pytest.mark.parametrize("shape", [1.0, 3.0, 30.0])
@pytest.mark.parametrize("thickness_nm", [5.0, 12.0])
def test_integral_breadth_is_scherrer_two_pi_over_lv(shape, thickness_nm):
    """Stokes–Wilson: integral breadth of a 00l line = 2π/L_V for the layer-weighted mean thickness."""
    d = 0.8
    q = np.linspace(np.pi / d, 3 * np.pi / d, 400001)  # one period around 001
    z = np.asarray(mean_stack_interference(jnp.asarray(q), d, 2e-3, thickness_nm, shape))
    breadth = np.trapezoid(z, q) / z.max()
    # σ = 2e-3 nm adds q²σ²/d ≈ 3e-4 nm⁻¹ of paracrystalline breadth: 0.1 % of 2π/L_V at most
    assert breadth == pytest.approx(2 * np.pi / thickness_nm, rel=2e-3)


def test_peak_height_is_mean_square_over_mean_number_of_layers():
    from scipy.stats import nbinom

    d, thickness, k = 0.8, 6.0, 3.0
    n_mean, p = (float(v) for v in mean_layers(thickness, d, k))
    m = np.arange(0, 4000)
    w = nbinom.pmf(m, k, 1 - p)
    n = m + 1
    assert (w * n).sum() == pytest.approx(n_mean, rel=1e-10)
    assert (w * n**2).sum() / (w * n).sum() == pytest.approx(thickness / d, rel=1e-10)
    z = mean_stack_interference(jnp.asarray([2 * np.pi / d]), d, 1e-3, thickness, k)
    assert float(z[0]) == pytest.approx(thickness / d, rel=1e-3)


def test_distribution_average_equals_the_explicit_sum_over_stacks():
    from scipy.stats import nbinom

    d, sigma, thickness, k = 0.9, 0.04, 7.0, 2.0
    _, p = (float(v) for v in mean_layers(thickness, d, k))
    q = jnp.asarray(np.linspace(1.0, 15.0, 57))
    n = np.arange(1, 400)
    w = nbinom.pmf(n - 1, k, 1 - p)
    direct = sum(w[i] * n[i] * np.asarray(stack_interference(q, d, sigma, float(n[i]))) for i in range(n.size))
    direct /= (w * n).sum()
    np.testing.assert_allclose(np.asarray(mean_stack_interference(q, d, sigma, thickness, k)), direct, rtol=1e-8)


def test_spread_broadens_higher_orders_as_n_squared():
    """Paracrystal: FWHM of order n → q_n²σ²/d̄ (∝ n²) when the stacks are thick; size broadening alone is
    the same for every order."""
    d = 0.8

    def width(order: int, sigma: float, thickness: float) -> float:
        q0 = 2 * np.pi * order / d
        q = np.linspace(q0 - 2.0, q0 + 2.0, 200001)
        return _fwhm(q, np.asarray(mean_stack_interference(jnp.asarray(q), d, sigma, thickness, 30.0)))

    size_only = width(2, 1e-3, 8.0) / width(1, 1e-3, 8.0)
    assert size_only == pytest.approx(1.0, abs=0.02)
    ratios = [width(2, s, 1000.0) / width(1, s, 1000.0) for s in (0.01, 0.02, 0.04)]
    assert ratios[-1] == pytest.approx(4.0, rel=0.05)
    for s in (0.02, 0.04):
        assert width(1, s, 1000.0) == pytest.approx((2 * np.pi / d) ** 2 * s**2 / d, rel=0.1)
    assert width(2, 0.04, 8.0) / width(1, 0.04, 8.0) > width(2, 0.01, 8.0) / width(1, 0.01, 8.0) > 1.0


def test_pattern_is_form_factor_times_interference_over_q_squared_and_differentiable():
    q = jnp.asarray(np.linspace(1.0, 14.0, 200))
    y = layered_pattern(q, 0.9, 6.0, 0.05)
    expected = layer_form_factor_sq(q) * mean_stack_interference(q, 0.9, 0.05, 6.0) / q**2
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-12)
    assert float(layer_form_factor_sq(jnp.asarray([1e-6]))[0]) == pytest.approx(36.0, abs=0.05)  # f_C(0) = Z = 6
    jitted = jax.jit(lambda a, b, c: layered_pattern(q, a, b, c))(0.9, 6.0, 0.05)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(y), rtol=1e-10)
    grad = jax.grad(lambda a: jnp.sum(layered_pattern(q, a[0], a[1], a[2])))(jnp.asarray([0.9, 6.0, 0.05]))
    assert np.all(np.isfinite(np.asarray(grad)))
