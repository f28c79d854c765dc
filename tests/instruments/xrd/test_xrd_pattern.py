"""Patterns and in situ series: phase coexistence, size broadening, Kα doublet, shifts, batching."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd import (
    CU_KA1_A,
    CU_KA2_A,
    d_min_for,
    make_instrument,
    make_phase_state,
    pattern_series,
    phase_from_structure,
    powder_pattern,
    weight_fractions,
)


@pytest.fixture(scope="module")
def phases(mil53al):
    lp, np_ = mil53al
    return (phase_from_structure(lp, d_min_for(1.545, 30.0), name="lp"),
            phase_from_structure(np_, d_min_for(1.545, 30.0), name="np"))


def _fwhm(x, y, center, half_window=0.6, baseline=True):
    sel = np.abs(x - center) < half_window
    xs, ys = x[sel], y[sel] - (y[sel].min() if baseline else 0.0)
    above = xs[ys >= 0.5 * ys.max()]
    return above.max() - above.min()


def _series_states(phases, frac_lp, size_A):
    n = frac_lp.shape[0]

    def state(phase, count):
        return make_phase_state(
            jnp.broadcast_to(phase.lattice, (n, 6)), cell_count=count,
            dlattice_deta=jnp.zeros((n, 6)), eta_std=jnp.full(n, 0.02), microstrain=jnp.zeros(n),
            size_A=size_A, size_weight=jnp.ones_like(size_A), domain_aspect=jnp.ones((n, 3)),
            march_dollase_ratio=jnp.ones(n), preferred_hkl=jnp.ones((n, 3)))

    return state(phases[0], frac_lp), state(phases[1], 1.0 - frac_lp)


def test_pressure_ramp_series_lp_np_trade_intensity_with_coexistence(phases):
    """np → lp across a CO2 pressure ramp (phase fraction from a smooth step, as the twin reports it)."""
    pressure_bar = jnp.linspace(0.0, 10.0, 21)
    frac_lp = jax.nn.sigmoid((pressure_bar - 5.0) / 0.8)  # lp fraction rising through the transition
    sizes = jnp.broadcast_to(jnp.asarray([300.0, 600.0]), (21, 2))
    grid = jnp.linspace(5.0, 20.0, 1501)
    inst = make_instrument("CuKa")
    obs = pattern_series(phases, _series_states(phases, frac_lp, sizes), inst, grid, batch_size=7)
    y = np.asarray(obs.values)
    assert y.shape == (21, 1501) and obs.axis.name == "two_theta" and obs.technique == "xrd"
    x = np.asarray(grid)
    i_lp = y[:, np.argmin(np.abs(x - 8.67))]
    i_np = y[:, np.argmin(np.abs(x - 12.52))]
    assert np.all(np.diff(i_lp) > 0) and np.all(np.diff(i_np) < 0)  # they trade intensity
    mid = 10  # at the transition both reflections are present (coexistence)
    assert i_lp[mid] > 0.3 * i_lp[-1] and i_np[mid] > 0.3 * i_np[0]
    # series == the single-frame function frame by frame (batched evaluation changes nothing)
    st_lp, st_np = _series_states(phases, frac_lp, sizes)
    one = jax.tree_util.tree_map(lambda v: v[mid], (st_lp, st_np))
    np.testing.assert_allclose(np.asarray(jax.jit(powder_pattern)(phases, one, inst, grid)), y[mid], rtol=2e-4, atol=1e-3 * y.max())


def test_peaks_broaden_when_domains_shrink_and_recover_scherrer(phases):
    grid = jnp.linspace(7.5, 10.0, 5001)
    inst = make_instrument(CU_KA1_A, caglioti_u=0.0, caglioti_v=0.0, caglioti_w=1e-8, tch_y=0.0)
    widths = []
    for size in (2000.0, 500.0, 150.0):
        st = make_phase_state(phases[0].lattice, size_A=size, domain_shape="sphere")
        y = np.asarray(powder_pattern(phases[:1], (st,), inst, grid))
        widths.append(_fwhm(np.asarray(grid), y, 8.673, 1.2, baseline=False))
        # pure size broadening: Lorentzian FWHM = (2/π)·λ/(¾D·cos θ)
        expected = np.degrees(2 / np.pi * CU_KA1_A / (0.75 * size * np.cos(np.radians(8.673 / 2))))
        assert widths[-1] == pytest.approx(expected, rel=0.03)
    assert widths[0] < widths[1] < widths[2]


def test_size_distribution_is_volume_weighted(phases):
    """A 50/50 number mix of 100 Å and 1000 Å domains is dominated (volume 1:1000) by the large ones."""
    grid = jnp.linspace(7.5, 10.0, 2501)
    inst = make_instrument(CU_KA1_A, tch_y=0.0)
    mix = make_phase_state(phases[0].lattice, size_A=[100.0, 1000.0], size_weight=[1.0, 1.0])
    big = make_phase_state(phases[0].lattice, size_A=1000.0)
    y_mix = np.asarray(powder_pattern(phases[:1], (mix,), inst, grid))
    y_big = np.asarray(powder_pattern(phases[:1], (big,), inst, grid))
    np.testing.assert_allclose(y_mix, y_big, rtol=0.0, atol=2e-3 * y_big.max())


def test_ka_doublet_zero_shift_and_displacement(phases):
    grid = jnp.linspace(8.6, 8.75, 751)
    st = make_phase_state(phases[0].lattice, size_A=1e7)
    y = np.asarray(powder_pattern(phases[:1], (st,), make_instrument("CuKa", tch_y=0.0, caglioti_u=0.0, caglioti_v=0.0, caglioti_w=1e-5), grid))
    x = np.asarray(grid)
    # the strongest line in the window and its Kα2 partner at 2 asin(λ2/λ1 · sin θ1)
    t1 = x[np.argmax(y)]
    t2 = 2 * np.degrees(np.arcsin(CU_KA2_A / CU_KA1_A * np.sin(np.radians(t1 / 2))))
    j2 = np.argmin(np.abs(x - t2))
    assert y[j2] / y.max() == pytest.approx(0.5, rel=0.02)
    grid = jnp.linspace(8.4, 8.95, 1101)
    x = np.asarray(grid)
    st = make_phase_state(phases[0].lattice, size_A=5000.0)
    shifted = np.asarray(powder_pattern(phases[:1], (st,), make_instrument("CuKa", zero_shift_deg=0.05), grid))
    base = np.asarray(powder_pattern(phases[:1], (st,), make_instrument("CuKa"), grid))
    assert x[np.argmax(shifted)] - x[np.argmax(base)] == pytest.approx(0.05, abs=0.002)
    disp = np.asarray(powder_pattern(phases[:1], (st,), make_instrument("CuKa", displacement_um=100.0, goniometer_radius_mm=240.0), grid))
    expected = -np.degrees(2 * 0.1 * np.cos(np.radians(x[np.argmax(base)] / 2)) / 240.0)
    assert x[np.argmax(disp)] - x[np.argmax(base)] == pytest.approx(expected, abs=0.002)


def test_eta_spread_gives_anisotropic_microstrain(phases):
    """σ_η broadens reflections that move with η; with dlattice only along a, (0kl) stay sharp."""
    grid = jnp.linspace(7.5, 16.0, 8501)
    inst = make_instrument(CU_KA1_A)
    dlat = jnp.asarray([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])  # only a moves
    sharp = make_phase_state(phases[0].lattice, size_A=5000.0)
    spread = make_phase_state(phases[0].lattice, size_A=5000.0, dlattice_deta=dlat, eta_std=0.3)
    x = np.asarray(grid)
    y0 = np.asarray(powder_pattern(phases[:1], (sharp,), inst, grid))
    y1 = np.asarray(powder_pattern(phases[:1], (spread,), inst, grid))
    assert _fwhm(x, y1, 8.673, 0.4) == pytest.approx(_fwhm(x, y0, 8.673, 0.4), abs=0.002)  # (011)
    assert _fwhm(x, y1, 15.02, 0.4) > 1.5 * _fwhm(x, y0, 15.02, 0.4)  # (101)


def test_weight_fractions_and_gradients(phases):
    w = weight_fractions(jnp.asarray([1.0, 3.0]), jnp.asarray([phases[0].cell_mass_amu, phases[1].cell_mass_amu]))
    assert float(jnp.sum(w)) == pytest.approx(1.0) and float(w[1]) == pytest.approx(0.75, rel=1e-5)
    grid = jnp.linspace(8.0, 9.5, 301)
    inst = make_instrument(CU_KA1_A)

    def peak(size):
        st = make_phase_state(phases[0].lattice, size_A=size)
        return powder_pattern(phases[:1], (st,), inst, grid).max()

    assert float(jax.grad(peak)(jnp.asarray(200.0))) > 0  # larger domains → taller peak
