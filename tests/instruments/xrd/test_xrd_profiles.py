"""Profile functions: analytic limits (unit area, TCH limits, Langford–Wilson column lengths, Scherrer)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd import (
    chebyshev_background,
    pseudo_voigt,
    pseudo_voigt_sum,
    size_fwhm_deg,
    strain_fwhm_deg,
    tch_fwhm_fraction,
    volume_weighted_column_length,
)


@pytest.mark.parametrize("frac", [0.0, 0.5, 1.0])
def test_pseudo_voigt_has_unit_area_and_fwhm(frac):
    x = jnp.linspace(-400.0, 400.0, 800_001)
    p = pseudo_voigt(x, jnp.asarray([0.0]), jnp.asarray([0.5]), jnp.asarray([frac]))[0]
    area = float(np.sum(np.asarray(p, dtype=np.float64)) * 0.001)
    # Lorentzian tails beyond ±400 FWHM miss 2/(π·1600) ≈ 4e-4 of the area
    assert area == pytest.approx(1.0, abs=5e-4 if frac else 1e-5)
    half = np.asarray(x)[np.asarray(p) >= 0.5 * float(p.max())]
    assert half.max() - half.min() == pytest.approx(0.5, abs=2e-3)


def _pv_sum_float64(x, c, w, f, inten):
    u2 = ((x[None, :] - c[:, None]) / w[:, None]) ** 2
    lor = 2.0 / (np.pi * w[:, None]) / (1.0 + 4.0 * u2)
    gau = 2.0 / w[:, None] * np.sqrt(np.log(2.0) / np.pi) * np.exp(-4.0 * np.log(2.0) * u2)
    return inten @ (f[:, None] * lor + (1.0 - f[:, None]) * gau)


def test_pseudo_voigt_sum_value_and_hand_written_jvp():
    """Σ I P equals intensity @ pseudo_voigt; its hand-written JVP equals autodiff of the plain profile (forward,
    reverse, second order) and central differences of a float64 NumPy evaluation."""
    x = np.linspace(5.0, 30.0, 600)
    args64 = (x, np.array([7.0, 12.3, 20.0, 29.5]), np.array([0.08, 0.5, 1.2, 0.3]), np.array([0.0, 0.6, 1.0, 0.3]),
              np.array([1.0, 3.0, 0.5, 2.0]))
    args = tuple(jnp.asarray(a, jnp.float32) for a in args64)
    plain = lambda *a: a[4] @ pseudo_voigt(*a[:4])  # noqa: E731
    np.testing.assert_allclose(pseudo_voigt_sum(*args), plain(*args), rtol=1e-6, atol=1e-6)
    every = (0, 1, 2, 3, 4)
    for ours, ref in zip(jax.jacfwd(pseudo_voigt_sum, every)(*args), jax.jacfwd(plain, every)(*args), strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))
    loss = lambda fn: lambda *a: jnp.sum(jnp.sin(fn(*a)))  # noqa: E731
    for ours, ref in zip(jax.grad(loss(pseudo_voigt_sum), every)(*args), jax.grad(loss(plain), every)(*args), strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))
    h_ours = jax.hessian(loss(pseudo_voigt_sum), 2)(*args)
    h_ref = jax.hessian(loss(plain), 2)(*args)
    np.testing.assert_allclose(h_ours, h_ref, rtol=1e-3, atol=1e-4 * float(np.abs(h_ref).max()))
    jac = jax.jacfwd(pseudo_voigt_sum, (1, 2, 3))(*args)
    for k, col in zip((1, 2, 3), jac, strict=True):
        for peak in range(4):
            step = 1e-6
            hi = [a.copy() for a in args64]
            lo = [a.copy() for a in args64]
            hi[k][peak] += step
            lo[k][peak] -= step
            fd = (_pv_sum_float64(*hi) - _pv_sum_float64(*lo)) / (2 * step)
            np.testing.assert_allclose(np.asarray(col)[:, peak], fd, rtol=2e-3, atol=2e-4 * np.abs(fd).max())


def test_tch_limits():
    g, f = tch_fwhm_fraction(jnp.asarray(0.1), jnp.asarray(0.0))
    assert float(g) == pytest.approx(0.1, rel=1e-6) and float(f) == pytest.approx(0.0, abs=1e-7)
    g, f = tch_fwhm_fraction(jnp.asarray(1e-6), jnp.asarray(0.1))
    assert float(g) == pytest.approx(0.1, rel=1e-4) and float(f) == pytest.approx(1.0, abs=1e-4)


def test_column_lengths_match_langford_wilson_cube_and_sphere():
    """⟨L⟩_v/L of a cube along ⟨100⟩, ⟨110⟩, ⟨111⟩: 1, 2√2/3, √3/2 (K_β = 1, 1.0607, 1.1547); sphere 3/4."""
    n = jnp.asarray([[1.0, 0, 0], [1, 1, 0], [1, 1, 1]]) / jnp.asarray([[1.0], [np.sqrt(2)], [np.sqrt(3)]])
    cube = volume_weighted_column_length(n, jnp.ones(3), "box")
    np.testing.assert_allclose(np.asarray(cube), [1.0, 2 * np.sqrt(2) / 3, np.sqrt(3) / 2], rtol=1e-5)
    plate = volume_weighted_column_length(n[:1], jnp.asarray([1.0, 4.0, 4.0]), "box")
    assert float(plate[0]) == pytest.approx(1.0 / 16 ** (1 / 3), rel=1e-5)  # thin edge along x
    sphere = volume_weighted_column_length(n, jnp.ones(3), "sphere")
    np.testing.assert_allclose(np.asarray(sphere), 0.75)


def test_scherrer_and_strain_widths():
    tt = jnp.asarray([20.0, 60.0])
    lam, size = 1.5406, 200.0
    beta_deg = np.degrees(lam / (size * np.cos(np.radians(np.asarray(tt) / 2))))
    np.testing.assert_allclose(np.asarray(size_fwhm_deg(tt, jnp.asarray(lam), jnp.full(2, size))), 2 / np.pi * beta_deg, rtol=1e-5)
    # ε = 1e-3 rms: FWHM = 2.3548·2·1e-3·tan θ rad
    expect = np.degrees(2.35482 * 2e-3 * np.tan(np.radians(np.asarray(tt) / 2)))
    np.testing.assert_allclose(np.asarray(strain_fwhm_deg(tt, jnp.full(2, 1e-3))), expect, rtol=1e-4)


def test_chebyshev_background_matches_numpy():
    x = jnp.linspace(5.0, 80.0, 50)
    c = jnp.asarray([3.0, -1.0, 0.5, 0.25])
    ref = np.polynomial.chebyshev.chebval((2 * np.asarray(x) - 85.0) / 75.0, np.asarray(c))
    np.testing.assert_allclose(np.asarray(chebyshev_background(x, c, 5.0, 80.0)), ref, rtol=1e-5, atol=1e-5)
