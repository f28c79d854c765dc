"""Multislice HRTEM: potentials against the real-space formula, norm conservation, weak-phase imaging at
Scherzer, atom positions, defocus batching, the detector, and the sampling checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instruments.tem.ctf import Lens, interaction_constant, scherzer_defocus_A, wavelength_A
from instruments.tem.multislice import (
    Detector,
    Grid,
    check_sampling,
    detect,
    exit_wave,
    fft_size,
    hrtem,
    lens_image,
    make_grid,
    mtf,
)
from instruments.tem.potentials import electron_form_factor_A, projected_potential_V_A, slice_potentials
from instruments.tem.specimen import Specimen, parse_zone, specimen_from_structure
from instruments.xrd.structure import load_structure
from mofcore.errors import DataFormatError

STRUCTURES = __import__("pathlib").Path(__file__).resolve().parents[3] / "datasets" / "structures"


def _specimen(xy, symbols=("C",), species=None, extent=(20.0, 20.0), repeat=2.0, n_repeats=1):
    xy = np.asarray(xy, dtype=np.float64)
    species = np.zeros(len(xy), np.int32) if species is None else np.asarray(species, np.int32)
    xyz = np.column_stack([xy, np.full(len(xy), 0.5 * repeat)])
    return Specimen(xyz, species, tuple(symbols), extent, repeat, n_repeats, True, (0, 0, 1), (*extent, 90.0))


def test_fft_size_is_smooth_and_minimal():
    for n in (1, 7, 97, 250, 1000, 1025):
        m = fft_size(n)
        assert m >= n and m % 2 == 0
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        assert r == 1
    assert fft_size(1000) == 1000 and fft_size(1025) == 1050 and fft_size(97) == 98


def test_form_factor_at_zero_and_large_q():
    # Kirkland's fit: f_e(0) of carbon 2.51 Å; f_e falls below 5 % of f_e(0) by q = 2 1/Å
    assert electron_form_factor_A("C", 0.0) == pytest.approx(2.51, abs=0.01)
    assert electron_form_factor_A("C", 2.0) < 0.05 * electron_form_factor_A("C", 0.0)
    assert electron_form_factor_A("Zn", 0.0) > electron_form_factor_A("Al", 0.0) > electron_form_factor_A("O", 0.0)
    with pytest.raises(DataFormatError, match="Kirkland"):
        electron_form_factor_A("U", 0.0)


@pytest.mark.parametrize("symbol", ["C", "Zn"])
def test_slice_potential_matches_real_space_formula(symbol):
    """The reciprocal-space slice (exact phase factors, f_e, inverse FFT) equals Kirkland's K0 + Gaussian sum.

    The atom sits on a grid node: the K0 term's spectrum falls only as 1/k², so an unbandlimited off-node atom
    rings (that is what the 2/3 band limit of the multislice is for)."""
    n, length = 256, 16.0
    centre = (8.0, 7.5)
    v = np.asarray(slice_potentials(np.array([centre]), np.array([0]), (symbol,), np.array([0]), 1, (length, length),
                                    (n, n), None))[0]
    x = (np.arange(n) * length / n).reshape(1, n)
    y = (np.arange(n) * length / n).reshape(n, 1)
    r = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2)
    ring = (r > 0.4) & (r < 3.0)
    exact = projected_potential_V_A(symbol, r[ring])
    assert np.allclose(v[ring], exact, rtol=2e-2, atol=0.3)  # V·Å; values are 0.01-100 V·Å in the ring
    # the integral of v over the cell is 2 pi a0 e f_e(0)
    from instruments.tem.potentials import A0_E_V_A2

    assert v.sum() * (length / n) ** 2 == pytest.approx(2 * math.pi * A0_E_V_A2 * electron_form_factor_A(symbol, 0.0),
                                                          rel=1e-4)


def test_norm_conserved_without_band_limit():
    spec = _specimen([(5.0, 5.0), (12.3, 14.1), (3.3, 17.0)], symbols=("Zn",), n_repeats=20)
    grid = make_grid(spec.extent_A, 0.1)
    psi = np.asarray(exit_wave(spec, grid, 300e3, band_limit=False))
    assert np.mean(np.abs(psi) ** 2) == pytest.approx(1.0, abs=2e-5)
    assert np.std(np.abs(psi)) > 0.005  # the specimen does scatter
    # with the 2/3 band limit the loss is small for a light, thin specimen
    psi_bl = np.asarray(exit_wave(spec, grid, 300e3))
    assert 0.97 < np.mean(np.abs(psi_bl) ** 2) <= 1.0 + 1e-5


def test_weak_phase_object_at_scherzer_follows_linear_theory():
    """For a single thin slice of light atoms, I - 1 = 2 sigma F^-1[v_hat sin chi] and atoms are dark."""
    xy = [(6.0, 6.0), (14.0, 9.0), (9.0, 15.0)]
    spec = _specimen(xy, symbols=("C",), repeat=1.0)
    grid = make_grid(spec.extent_A, 0.1)
    lam = wavelength_A(300e3)
    df = scherzer_defocus_A(1.2e7, lam)
    lens = Lens(cs_A=1.2e7, defocus_A=df, aperture_mrad=0.49 * lam * 1e3)  # aperture at the first zero (0.49 1/Å)
    img = np.asarray(lens_image(exit_wave(spec, grid, 300e3), grid, lens, df))
    v = np.asarray(slice_potentials(spec.xyz_A[:, :2], np.zeros(3, int), ("C",), spec.species_index, 1, spec.extent_A,
                                    grid.shape, grid.k_max_inv_A))[0]
    sigma = interaction_constant(300e3)
    _, _, k = grid.k_inv_A()
    chi = math.pi * lam * df * k**2 + 0.5 * math.pi * 1.2e7 * lam**3 * k**4
    ap = k <= 0.49
    linear = 2 * sigma * np.real(np.fft.ifft2(np.fft.fft2(v) * np.sin(chi) * ap))
    contrast = img - img.mean()
    assert np.corrcoef(contrast.ravel(), linear.ravel())[0, 1] > 0.99
    assert np.abs(contrast - (linear - linear.mean())).max() < 0.1 * np.abs(linear).max()
    # contrast proportional to the (aperture-limited) projected potential, with atoms dark
    v_low = np.real(np.fft.ifft2(np.fft.fft2(v) * ap))
    assert np.corrcoef(-contrast.ravel(), v_low.ravel())[0, 1] > 0.9


def test_atoms_appear_at_their_positions():
    xy = np.array([(5.0, 6.0), (14.0, 8.5), (9.5, 15.0)])
    spec = _specimen(xy, symbols=("Zn",), repeat=1.0)
    grid = make_grid(spec.extent_A, 0.1)
    lam = wavelength_A(300e3)
    df = scherzer_defocus_A(1.2e7, lam)
    img = np.asarray(lens_image(exit_wave(spec, grid, 300e3), grid, Lens(defocus_A=df, aperture_mrad=0.49 * lam * 1e3),
                                df))
    dx, dy = grid.sampling_A
    for x, y in xy:
        i, j = int(round(y / dy)), int(round(x / dx))
        win = img[i - 10:i + 11, j - 10:j + 11]
        a, b = np.unravel_index(np.argmin(win), win.shape)
        assert math.hypot((b - 10) * dx, (a - 10) * dy) <= 0.3  # the darkest pixel within 0.3 Å of the column


def test_defocus_batch_equals_single_calls():
    spec = _specimen([(7.0, 7.0)], symbols=("O",))
    grid = make_grid(spec.extent_A, 0.2)
    psi = exit_wave(spec, grid, 300e3)
    lens = Lens(aperture_mrad=20.0, focal_spread_A=30.0, convergence_mrad=0.3)
    dfs = np.array([-600.0, -300.0, 100.0], dtype=np.float32)
    batch = np.asarray(lens_image(psi, grid, lens, dfs))
    assert batch.shape == (3, *grid.shape)
    for i, df in enumerate(dfs):
        assert np.allclose(batch[i], np.asarray(lens_image(psi, grid, lens, float(df))), atol=1e-5)


def test_detector_dose_noise_and_mtf():
    grid = Grid((64, 64), (12.8, 12.8))
    flat = np.ones(grid.shape, np.float32)
    det = Detector(dose_e_per_A2=50.0, seed=3)
    counts = np.asarray(detect(flat, grid, det))
    n = 50.0 * 0.2 * 0.2
    assert counts.mean() == pytest.approx(n, rel=0.05)
    assert counts.var() == pytest.approx(n, rel=0.15)  # Poisson: variance = mean
    assert np.array_equal(counts, np.asarray(detect(flat, grid, det)))
    assert not np.array_equal(counts, np.asarray(detect(flat, grid, Detector(50.0, seed=4))))
    soft = Detector(50.0, seed=3, mtf_c=0.1, mtf_nu0=0.5, mtf_n=2.0)
    m = mtf(grid.shape, soft)
    assert m[0, 0] == pytest.approx(1.0) and m.min() >= 0.1
    blurred = np.asarray(detect(flat, grid, soft))
    assert blurred.mean() == pytest.approx(counts.mean(), rel=1e-4) and blurred.var() < counts.var()
    with pytest.raises(DataFormatError, match="dose"):
        Detector(dose_e_per_A2=0.0)


def test_sampling_checks():
    lam = wavelength_A(300e3)
    check_sampling(0.1, lam, 20.0)
    with pytest.raises(DataFormatError, match="too coarse"):
        check_sampling(0.5, lam, math.inf)
    with pytest.raises(DataFormatError, match="aperture"):
        check_sampling(0.165, lam, 40.0)  # 40 mrad passes 2.03 1/Å; the band limit at 0.165 Å is 2.02 1/Å
    with pytest.raises(DataFormatError, match="sampling"):
        check_sampling(0.0, lam, 20.0)


def test_zone_axis_parsing():
    assert parse_zone("1 0 0") == (1, 0, 0) and parse_zone("[2,2,0]") == (1, 1, 0)
    with pytest.raises(DataFormatError, match=r"\[0 0 0\]"):
        parse_zone("0 0 0")
    with pytest.raises(DataFormatError, match="three integers"):
        parse_zone("1 0")


def test_mil53_lp_slab_and_lattice_fringes():
    """MIL-53(Al) lp down [100]: the slab is exactly periodic and the image spectrum has the (011) fringes."""
    s = load_structure(STRUCTURES / "mil53al_lp.cif")
    spec = specimen_from_structure(s, (1, 0, 0), field_A=30.0, thickness_A=20.0)
    assert spec.periodic and spec.extent_A == pytest.approx((2 * 16.736, 3 * 12.84))
    assert len(spec.xyz_A) == 76 * 6 and spec.n_repeats == 3
    lam = wavelength_A(300e3)
    r = hrtem(spec, Lens(defocus_A=scherzer_defocus_A(1.2e7, lam), aperture_mrad=12.0), Detector(1e6, seed=0),
              sampling_A=0.16, k_needed_inv_A=1.5)
    img = np.asarray(r.image)
    power = np.abs(np.fft.fft2(img - img.mean())) ** 2
    # (0 1 1), d = 10.19 Å, is at (kx, ky) = (1/b, 1/c) = grid index (2, 3) of the 2x3-cell field; at Scherzer
    # its transfer is weak (sin chi = -0.33 at 0.098 1/Å) but the fringes are there; (0 2 2) is the strongest
    assert power[3, 2] > 0.1 * power.max() and power[6, 4] == pytest.approx(power.max(), rel=1e-2)
    with pytest.raises(DataFormatError, match="too coarse"):
        hrtem(spec, Lens(aperture_mrad=12.0), Detector(10.0), sampling_A=0.5)


def test_tiled_field_equals_whole_field():
    """Memory-bounded tiles with margins reproduce the one-piece simulation of a periodic slab."""
    from instruments.tem.multislice import hrtem_tiled

    s = load_structure(STRUCTURES / "mil53al_lp.cif")
    spec = specimen_from_structure(s, (1, 0, 0), field_A=45.0, thickness_A=7.0)
    lam = wavelength_A(300e3)
    lens = Lens(defocus_A=-200.0, cs_A=0.0, aperture_mrad=10.0)
    det = Detector(1e3, seed=0)
    whole = hrtem(spec, lens, det, sampling_A=0.25, k_needed_inv_A=1.0)
    tiled = hrtem_tiled(spec, lens, det, sampling_A=0.25, tile_px=128, margin_A=12.0, k_needed_inv_A=1.0)
    a, b = np.asarray(whole.image), np.asarray(tiled.image)
    assert a.shape == b.shape == whole.grid.shape
    assert np.abs(a - b).max() < 0.02 * np.ptp(a)
    del lam


def test_large_field_switches_to_tiles():
    s = load_structure(STRUCTURES / "mil53al_lp.cif")
    spec = specimen_from_structure(s, (1, 0, 0), field_A=45.0, thickness_A=7.0)
    lens = Lens(defocus_A=-200.0, cs_A=0.0, aperture_mrad=10.0)
    r = hrtem(spec, lens, Detector(1e3), sampling_A=0.25, k_needed_inv_A=1.0, max_pixels=100 * 100, tile_px=128)
    assert r.exit_wave is None and np.asarray(r.image).shape == r.grid.shape


def test_tilt_series_in_one_batch():
    from instruments.tem.multislice import exit_waves_tilted

    spec = _specimen([(7.0, 7.0), (13.0, 12.0)], symbols=("Zn",), n_repeats=10)
    grid = make_grid(spec.extent_A, 0.2)
    waves = np.asarray(exit_waves_tilted(spec, grid, 300e3, [(0.0, 0.0), (5.0, 0.0), (0.0, -3.0)]))
    assert waves.shape == (3, *grid.shape)
    assert np.allclose(waves[0], np.asarray(exit_wave(spec, grid, 300e3)), atol=1e-5)
    assert not np.allclose(waves[0], waves[1], atol=1e-3)


def test_frozen_phonons_damp_high_order_reflections_like_debye_waller():
    """Coherent mean exit wave of a thin weak object: spot amplitudes fall as exp(-2 pi^2 U g^2)."""
    from instruments.tem.multislice import frozen_phonon_images

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 20.0, (60, 2))
    # a periodic motif: the same 60 atoms in each of 2 x 2 cells of 10 Å, so that Bragg spots exist
    xy = np.vstack([np.mod(xy[:15], 10.0) + np.array([i * 10.0, j * 10.0]) for i in range(2) for j in range(2)])
    spec = _specimen(xy, symbols=("O",), repeat=1.0)
    grid = make_grid(spec.extent_A, 0.1)
    lens = Lens(defocus_A=0.0, cs_A=0.0)
    u = 0.05
    _, psi0 = frozen_phonon_images(spec, grid, lens, u_iso_A2=0.0, n_configs=1)
    _, psi_u = frozen_phonon_images(spec, grid, lens, u_iso_A2=u, n_configs=40, seed=2)
    f0, fu = np.fft.fft2(np.asarray(psi0)), np.fft.fft2(np.asarray(psi_u))
    kx, ky, k = grid.k_inv_A()
    # Bragg spots of the 10 Å lattice with 0.3 < g < 0.6 1/Å (grid index multiples of 2)
    spots = (k > 0.3) & (k < 0.6) & (np.abs(f0) > 0.05 * np.abs(f0[k > 0]).max())
    ratio = np.abs(fu[spots]).sum() / np.abs(f0[spots]).sum()
    expected = np.sum(np.abs(f0[spots]) * np.exp(-2 * np.pi**2 * u * k[spots] ** 2)) / np.abs(f0[spots]).sum()
    assert ratio == pytest.approx(expected, abs=0.04)
    assert ratio < 0.95
