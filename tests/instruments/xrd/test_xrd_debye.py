"""Debye scattering equation: exact vs histogram, Scherrer size of a cube, agreement with Bragg intensities."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd import debye_intensity, debye_intensity_histogram, form_factor_coefficients, pair_distance_histogram
from instruments.xrd.debye import form_factor_matrix

A = 3.0  # simple-cubic test lattice [Å]


def _cube(n: int) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * A


def _ff(q, symbols=("Cu",)):
    c = form_factor_coefficients(symbols)
    return form_factor_matrix(q, *(jnp.asarray(c[k], jnp.float32) for k in "abc"), True)


def _hist_pattern(pos, spec, n_species, q, width=0.005):
    n_bins = int(np.ceil(np.ptp(pos, axis=0).max() * np.sqrt(3) / width)) + 2
    hist = pair_distance_histogram(jnp.asarray(pos, jnp.float32), jnp.asarray(spec, jnp.int32), n_species, n_bins, width)
    counts = jnp.asarray(np.bincount(spec, minlength=n_species), jnp.float32)
    return np.asarray(debye_intensity_histogram(hist, width, _ff(q, ("Cu", "O")[:n_species]), counts, q)), hist


def test_histogram_matches_exact_double_sum():
    rng = np.random.default_rng(0)
    pos = _cube(5) + rng.normal(0.0, 0.1, (125, 3))
    spec = rng.integers(0, 2, 125)
    q = jnp.linspace(0.5, 6.0, 200)
    exact = np.asarray(debye_intensity(jnp.asarray(pos, jnp.float32), jnp.asarray(spec, jnp.int32), _ff(q, ("Cu", "O")), q, block_size=32))
    hist, h = _hist_pattern(pos, spec, 2, q, width=0.001)
    assert float(h.sum()) == 125 * 124  # every ordered pair once
    np.testing.assert_allclose(hist, exact, rtol=2e-3, atol=2e-3 * exact.max())


def _peak(q, s, center, half=0.28):
    sel = np.abs(q - center) < half
    qs, ys = q[sel], s[sel]
    base = np.interp(qs, [qs[0], qs[-1]], [ys[0], ys[-1]])
    y = ys - base
    return np.trapezoid(y, qs), y.max()


def test_scherrer_size_of_a_cube_and_bragg_intensities():
    """Cube of 16³ atoms (edge L = 48 Å): integral breadth of (100) in Q is 2π/L (K_β = 1 along ⟨100⟩,
    Langford & Wilson 1978) within 10 %; integrated (110)/(100) and (111)/(100) follow the powder Bragg
    intensities m|F|²/Q² (here 1 and 4/9) within 10 % (finite-size corrections: Laue side lobes)."""
    n = 16
    pos = _cube(n)
    q = jnp.linspace(1.2, 4.6, 3401)
    intensity, _ = _hist_pattern(pos, np.zeros(len(pos), int), 1, q)
    s = intensity / np.asarray(_ff(q)[0]) ** 2 / len(pos)  # per-atom S(Q); baseline 0 between peaks
    qq = np.asarray(q)
    q100, q110, q111 = (2 * np.pi / A * np.sqrt(k) for k in (1, 2, 3))
    area100, peak100 = _peak(qq, s, q100)
    size = 2 * np.pi / (area100 / peak100)
    assert size == pytest.approx(n * A, rel=0.10)
    area110, _ = _peak(qq, s, q110)
    area111, _ = _peak(qq, s, q111)
    assert area110 / area100 == pytest.approx((12 / q110**2) / (6 / q100**2), rel=0.10)
    assert area111 / area100 == pytest.approx((8 / q111**2) / (6 / q100**2), rel=0.10)
    assert area100 == pytest.approx(3.0 / A, rel=0.10)  # absolute: 6(2π/a)/(4π) per atom
