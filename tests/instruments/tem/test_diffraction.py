"""Electron diffraction: spot positions against pymatgen's reciprocal lattice, the zone law, extinctions, the
dynamical pattern of the exit wave, and bad zone axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instruments.tem.diffraction import exit_wave_pattern, render_pattern, zone_reflections
from instruments.tem.multislice import exit_wave, make_grid
from instruments.tem.specimen import specimen_from_structure
from instruments.xrd.structure import load_structure
from mofcore.errors import DataFormatError

STRUCTURES = Path(__file__).resolve().parents[3] / "datasets" / "structures"


@pytest.fixture(scope="module")
def lp():
    return load_structure(STRUCTURES / "mil53al_lp.cif")


@pytest.mark.parametrize(("name", "zone"), [("mil53al_lp", (1, 0, 0)), ("mil53al_lp", (1, 1, 0)),
                                            ("mil53al_np", (0, 0, 1)), ("mil53al_np", (0, 1, 0)),
                                            ("mil53al_np", (1, 0, 1))])
def test_spot_positions_against_pymatgen_reciprocal_lattice(name, zone):
    s = load_structure(STRUCTURES / f"{name}.cif")
    refl = zone_reflections(s, zone, g_max_inv_A=0.6)
    assert len(refl.hkl) > 4
    g_pmg = s.lattice.reciprocal_lattice.get_cartesian_coords(refl.hkl) / (2 * np.pi)  # pymatgen carries 2 pi
    # the zone law: every g is perpendicular to the beam, and the in-plane coordinates keep its length
    beam = np.asarray(zone, float) @ s.lattice.matrix
    assert np.allclose(g_pmg @ beam, 0.0, atol=1e-9)
    assert np.allclose(np.linalg.norm(refl.g_xy_inv_A, axis=1), np.linalg.norm(g_pmg, axis=1), rtol=1e-10)
    assert np.allclose(refl.g_xy_inv_A, g_pmg @ refl.frame[:2].T, atol=1e-10)
    assert np.allclose(refl.d_A, [s.lattice.d_hkl(h) for h in refl.hkl], rtol=1e-10)


def test_lp_011_at_10_2_A_and_body_centring_extinctions(lp):
    refl = zone_reflections(lp, (1, 0, 0), g_max_inv_A=0.5)
    hkl = {tuple(h) for h in refl.hkl}
    assert (0, 1, 1) in hkl
    d011 = refl.d_A[[tuple(h) == (0, 1, 1) for h in refl.hkl]][0]
    assert d011 == pytest.approx(10.19, abs=0.01)
    # I-centring: h + k + l odd is extinct (kept out as zero intensity)
    assert all((h + k + l) % 2 == 0 for h, k, l in hkl)


def test_render_pattern_places_spots(lp):
    refl = zone_reflections(lp, (1, 0, 0), g_max_inv_A=0.4)
    img, pixel = render_pattern(refl, n_pixels=128, g_max_inv_A=0.4)
    assert img.shape == (128, 128) and pixel == pytest.approx(0.8 / 128)
    gx, gy = refl.g_xy_inv_A[0]
    j, i = int((gx + 0.4) / pixel), int((gy + 0.4) / pixel)
    assert img[i, j] > 0.5 * refl.intensity[0]


def test_dynamical_pattern_of_a_thin_slab_shows_the_kinematical_spots(lp):
    spec = specimen_from_structure(lp, (1, 0, 0), field_A=30.0, thickness_A=7.0)
    grid = make_grid(spec.extent_A, 0.2)
    pattern, (px, py) = exit_wave_pattern(exit_wave(spec, grid, 300e3), grid.sampling_A)
    assert pattern.sum() == pytest.approx(1.0, abs=0.03)
    ny, nx = pattern.shape
    refl = zone_reflections(lp, (1, 0, 0), g_max_inv_A=0.6)
    # the strongest kinematical reflections are strong in the dynamical pattern of a one-cell slab
    for gx, gy in refl.g_xy_inv_A[:4]:
        i, j = ny // 2 + round(gy / py), nx // 2 + round(gx / px)
        assert pattern[i, j] > 1e-4
    # forbidden (0 1 0) is absent
    assert pattern[ny // 2, nx // 2 + round(1 / 16.736 / px)] < 1e-6


def test_zone_000_is_refused(lp):
    with pytest.raises(DataFormatError, match=r"\[0 0 0\]"):
        zone_reflections(lp, (0, 0, 0))


def test_coexisting_domains_sum_incoherently(lp):
    from instruments.tem.diffraction import coexisting_reflections

    np_ = load_structure(STRUCTURES / "mil53al_np.cif")
    r_lp = zone_reflections(lp, (1, 0, 0), g_max_inv_A=0.4)
    r_np = zone_reflections(np_, (0, 0, 1), g_max_inv_A=0.4)
    mixed = coexisting_reflections([(r_lp, 0.25, lp.volume), (r_np, 0.75, np_.volume)])
    assert len(mixed.hkl) == len(r_lp.hkl) + len(r_np.hkl)
    assert mixed.intensity.sum() == pytest.approx(0.25 * r_lp.intensity.sum() / lp.volume**2
                                                  + 0.75 * r_np.intensity.sum() / np_.volume**2)
    only_lp = coexisting_reflections([(r_lp, 1.0, lp.volume), (r_np, 0.0, np_.volume)])
    assert np.count_nonzero(only_lp.intensity) == len(r_lp.hkl)
    with pytest.raises(DataFormatError, match="fractions"):
        coexisting_reflections([(r_lp, -1.0, lp.volume)])
