"""The anisotropic (wine-rack) breathing path of MIL-53 cells: endpoints, volume, opposite axis changes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd.breathing_lattice import (
    breathing_lattice,
    cell_volume_A3,
    channel_axes,
    channel_geometry,
    lattice_at_volume,
)
from mofcore.breathing import breathing_path

# Serre et al., J. Am. Chem. Soc. 124, 13519 (2002): MIL-53(Cr) lt (np, C2/c) and ht (lp, Imcm)
CR_NP = np.array([19.685, 7.849, 6.782, 90.0, 104.9, 90.0])
CR_LP = np.array([16.733, 13.038, 6.812, 90.0, 90.0, 90.0])
# Wong-Ng et al., Powder Diffr. 34, 216 (2019): MIL-53(Al) np (site cell, P2_1/c halved) and lp (Imma, a = chain)
AL_NP = np.array([19.4993, 7.61735, 6.5687, 90.0, 104.219, 90.0])
AL_LP = np.array([6.6324, 16.736, 12.840, 90.0, 90.0, 90.0])


@pytest.mark.parametrize(("closed", "opened"), [(CR_NP, CR_LP), (AL_NP, AL_LP)])
def test_endpoints_reproduce_both_cif_cells(closed, opened):
    # float32 lattice: 2e-5 relative on lengths and angles
    np.testing.assert_allclose(np.asarray(breathing_lattice(0.0, closed, opened, setting=0)), closed, rtol=2e-5)
    np.testing.assert_allclose(np.asarray(breathing_lattice(1.0, closed, opened, setting=1)), opened, rtol=2e-5)


@pytest.mark.parametrize(("closed", "opened"), [(CR_NP, CR_LP), (AL_NP, AL_LP)])
def test_volume_follows_the_twins_v_of_eta_and_is_monotonic(closed, opened):
    eta = jnp.linspace(0.0, 1.0, 41)
    volume = np.asarray(cell_volume_A3(breathing_lattice(eta, closed, opened)))
    expected = np.asarray(breathing_path(eta, float(cell_volume_A3(jnp.asarray(closed))), float(cell_volume_A3(jnp.asarray(opened)))))
    np.testing.assert_allclose(volume, expected, rtol=1e-5)  # float32
    assert np.all(np.diff(volume) > 0.0)


def test_one_channel_axis_shrinks_while_the_other_grows():
    """lp → np in MIL-53(Cr): the long diagonal a grows 16.73 → 19.69 Å, the short b shrinks 13.04 → 7.85 Å,
    each monotonically along the path, and the chain axis c stays within 0.5 %."""
    eta = jnp.linspace(0.0, 1.0, 41)
    lat = np.asarray(breathing_lattice(eta, CR_NP, CR_LP, setting=1))
    long_axis = lat[:, 0] * np.sin(np.deg2rad(lat[:, 4]))  # a sin β: the diagonal ⟂ to the chain
    assert np.all(np.diff(long_axis) < 0.0)  # falls with η: grows towards np
    assert np.all(np.diff(lat[:, 1]) > 0.0)  # short diagonal opens with η
    assert np.ptp(lat[:, 2]) / lat[0, 2] < 5e-3


def test_the_path_is_not_an_isotropic_scaling():
    """Halfway in volume, the isotropic scaling of the lp cell keeps b/a = 0.78; the wine-rack does not."""
    lat = np.asarray(breathing_lattice(0.5, CR_NP, CR_LP, setting=1))
    assert lat[1] / lat[0] < 0.6 < CR_LP[1] / CR_LP[0]


def test_channel_axes_and_geometry_of_the_cif_cells():
    assert channel_axes(CR_LP) == (0, 1, 2) and channel_axes(AL_LP) == (1, 2, 0) and channel_axes(AL_NP) == (0, 1, 2)
    strut, chain, tilt, phi = (float(x) for x in channel_geometry(jnp.asarray(CR_LP), (0, 1, 2)))
    # strut length of the ht cell: √(a² + b²)/2 = 10.606 Å, the L that Neimark et al. 2011 use (Figure 4 data)
    assert strut == pytest.approx(10.6064, abs=1e-3) and chain == pytest.approx(6.812)
    assert 2.0 * np.rad2deg(phi) == pytest.approx(75.85, abs=0.01) and tilt == 90.0


def test_lattice_at_volume_keeps_strut_and_chain():
    lat = lattice_at_volume(jnp.asarray([1450.0, 1486.14, 1510.0]), 10.6064, 6.812, 90.0, (0, 1, 2))
    strut = 0.5 * np.hypot(np.asarray(lat[:, 0]), np.asarray(lat[:, 1]))
    np.testing.assert_allclose(strut, 10.6064, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(cell_volume_A3(lat)), [1450.0, 1486.14, 1510.0], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(lat[1, :3]), CR_LP[:3], rtol=1e-4)


def test_jit_equals_eager_and_the_path_is_differentiable():
    f = lambda e: breathing_lattice(e, CR_NP, CR_LP)
    eta = jnp.asarray([0.2, 0.7])
    np.testing.assert_allclose(np.asarray(jax.jit(f)(eta)), np.asarray(f(eta)), rtol=1e-6)
    dv = jax.grad(lambda e: cell_volume_A3(f(e)))(jnp.asarray(0.5))
    assert float(dv) == pytest.approx(6.0 * 0.25 * (1486.14 - 1012.64), rel=1e-3)  # dV/dη = 6ΔV η(1−η)


def test_wine_rack_pairs_are_recognised():
    from instruments.xrd.breathing_lattice import is_wine_rack_pair

    assert is_wine_rack_pair(CR_NP, CR_LP) and is_wine_rack_pair(AL_NP, AL_LP)
    dut8_cp = np.array([13.8944, 8.1805, 12.1722, 91.1412, 103.8734, 104.5498])  # datasets/structures/dut8ni_cp.cif
    dut8_op = np.array([18.431, 18.431, 9.391, 90.0, 90.0, 90.0])
    hkust = np.array([26.343, 26.343, 26.343, 90.0, 90.0, 90.0])
    assert not is_wine_rack_pair(dut8_cp, dut8_op) and not is_wine_rack_pair(hkust, hkust)


@pytest.mark.parametrize("setting", [0, 1])
def test_phase_lattice_on_path_returns_the_cif_cell_at_its_endpoint(setting):
    from instruments.xrd.breathing_lattice import phase_lattice_on_path

    own = (AL_NP, AL_LP)[setting] * np.array([1.001, 0.999, 1.0, 1.0, 1.0, 1.0])  # a CIF slightly off the TOML cell
    eta = np.array([float(setting), 0.5, 1.0 - float(setting)])
    lattice, dlattice = phase_lattice_on_path(eta, AL_NP, AL_LP, own, setting)
    np.testing.assert_array_equal(lattice[0], own)  # bit for bit at the endpoint
    np.testing.assert_allclose(dlattice[0], 0.0, atol=1e-6)  # h'(η_end) = 0
    # away from the endpoint the volume follows V(η) up to the CIF's own offset (the 0.1 % length tweaks above)
    v = np.asarray(cell_volume_A3(jnp.asarray(lattice)))
    v_path = np.asarray(cell_volume_A3(breathing_lattice(jnp.asarray(eta, jnp.float32), AL_NP, AL_LP, setting=setting)))
    np.testing.assert_allclose(v / v_path, v[0] / v_path[0], rtol=1e-5)
