"""IR on the technique seam: band table validation, the frequency map on η and loading, the instrument function,
and the golden CO2 ramp run (tests/data/golden/demo_run: MIL-53(Al), 0.2 → 16 → 0.2 bar CO2 at 303 K) whose
OH band moves with the phase fraction through `twin observe`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.series_io import read_observable
from instruments.technique import TwinFrames
from instruments.vib.bandtable import load_band_table
from instruments.vib.kubo import line_fwhm
from instruments.vib.technique import load_vib_settings, simulate_vib
from mofcore.errors import DataFormatError
from twin.cli import main

REPO = Path(__file__).resolve().parents[3]
IR_LAB = REPO / "datasets" / "instruments" / "lab_ftir.toml"
TABLE = REPO / "datasets" / "bands" / "mil53-al.toml"


def _frames(fraction_lp, loading, eta_std=0.0):
    n = len(fraction_lp)
    x = np.asarray(fraction_lp, np.float64)
    return TwinFrames(
        material="mil53-al", phase_names=("np", "lp"), structure_paths=(Path("np.cif"), Path("lp.cif")),
        volume_A3=(860.0, 1420.0), n_sites=1000.0, block=1,
        summaries={"phase_fraction": np.stack([1 - x, x], 1), "eta_mean": np.tile([0.0, 1.0], (n, 1)),
                   "eta_std": np.full((n, 2), eta_std), "loading": np.asarray(loading, np.float64).reshape(n, 1)},
        conditions={"time_s": np.arange(n, dtype=float), "temperature_K": np.full(n, 298.0),
                    "pressure_bar": np.ones(n), "relative_humidity": np.zeros(n)},
        source="synthetic")


def _oh_centroid(obs):
    x = np.asarray(obs.axis.values)
    m = (x > 3550) & (x < 3800)
    v = np.asarray(obs.values)[:, m]
    return (v * x[m]).sum(1) / v.sum(1), v.sum(1) * (x[1] - x[0])


def test_registry_has_ir_with_a_decreasing_wavenumber_axis():
    ir = registry.get("ir")
    assert ir.observable and ir.axis_name == "wavenumber"
    obs = simulate_vib(_frames([0.0], [0.0]), load_vib_settings(IR_LAB))
    assert obs.axis.decreasing and obs.axis.unit == "cm-1" and obs.technique == "ir"


def test_oh_band_follows_the_phase_fraction_at_fixed_loading():
    x_lp = np.linspace(0.0, 1.0, 11)
    obs = simulate_vib(_frames(x_lp, np.zeros(11)), load_vib_settings(IR_LAB))
    centroid, area = _oh_centroid(obs)
    table = load_band_table(TABLE)
    oh = table.bands[0]
    t_shift = oh.temperature_slope_cm1_per_K * (298.0 - table.reference_temperature_K)
    expected = (1 - x_lp) * oh.phases["np"].position_cm1 + x_lp * oh.phases["lp"].position_cm1 + t_shift
    # the centroid of two overlapping lines is the fraction-weighted mean; the window 3550-3800 cm⁻¹ cuts the
    # Lorentzian wings asymmetrically ((γ/π) ln(110/140) ≈ −0.4 to −0.7 cm⁻¹), a shift common to all frames
    np.testing.assert_allclose(centroid, expected, atol=1.0)
    np.testing.assert_allclose(centroid - centroid[0], expected - expected[0], atol=0.2)
    # unit IR intensity per cell, the window holds ≥ 97 % of the Lorentzian wings
    np.testing.assert_allclose(area, 1.0, rtol=0.03)
    np.testing.assert_allclose(obs.condition("OH_band_cm1"), expected, atol=1e-6)


def test_a_line_without_fluctuations_has_the_instrument_width():
    settings = load_vib_settings(IR_LAB)
    obs = simulate_vib(_frames([1.0], [0.0]), settings, np.arange(3600.0, 3800.0, 0.05))
    width = line_fwhm(obs.axis.values - 3703.0, np.asarray(obs.values[0]))
    # Voigt of the Lorentzian 8 cm⁻¹ and Gaussian 4 cm⁻¹ (Olivero–Longbothum: 0.5346 L + √(0.2166 L² + G²) = 10.08)
    # plus the Kubo line of 4 cm⁻¹ rms at 0.2 ps (fast limit, FWHM 2(2πc)Δ̃²τ_c = 1.2 cm⁻¹, Lorentzian): L = 9.2
    lorentz = 8.0 + 2 * 0.188365 * 16 * 0.2
    expected = 0.5346 * lorentz + np.sqrt(0.2166 * lorentz**2 + 4.0**2)
    assert width == pytest.approx(expected, rel=0.03)


def test_co2_band_grows_with_loading():
    obs = simulate_vib(_frames([1.0, 1.0, 1.0], [0.0, 2.0, 4.0]), load_vib_settings(IR_LAB))
    x = np.asarray(obs.axis.values)
    m = (x > 2250) & (x < 2420)
    area = np.asarray(obs.values)[:, m].sum(1) * (x[1] - x[0])
    assert area[0] == pytest.approx(0.0, abs=1e-6)
    assert area[2] / area[1] == pytest.approx(2.0, rel=0.01)


def test_golden_co2_ramp_moves_the_oh_band_with_the_phase_fraction(tmp_path, repo_root, capsys):
    run = tmp_path / "run"
    shutil.copytree(repo_root / "tests" / "data" / "golden" / "demo_run", run)
    assert main(["observe", str(run), "--technique", "ir", str(IR_LAB)]) == 0
    obs = read_observable(run / "observables" / "ir.h5")
    from twin.trajectory import Trajectory

    traj = Trajectory(run / "trajectory.h5")
    x_lp = traj.summary("phase_fraction")[:, 1]
    loading = traj.summary("loading")[:, 0]
    assert x_lp.min() < 0.01 and x_lp.max() > 0.99  # the run switches np → lp → np
    centroid, _ = _oh_centroid(obs)
    # remove the loading term of the frequency map (−6 cm⁻¹ per CO2 per cell): what is left is the phase's
    # position, 3690 cm⁻¹ (np) → 3703 cm⁻¹ (lp), which must follow the phase fraction frame by frame
    corrected = centroid + 6.0 * loading
    slope, intercept = np.polyfit(x_lp, corrected, 1)
    assert slope == pytest.approx(13.0, abs=2.0)
    assert np.corrcoef(x_lp, corrected)[0, 1] > 0.95
    # and the raw band: np at low pressure, shifted by the phase change and the CO2 loading at the top
    assert centroid[0] == pytest.approx(3690 - 6 * loading[0], abs=1.5)
    assert abs(centroid[np.argmax(x_lp)] - centroid[0]) > 5.0


def test_negative_width_in_a_band_table(tmp_path, capsys):
    bad = tmp_path / "bands.toml"
    bad.write_text(TABLE.read_text().replace('fwhm = { value = 8.0,', 'fwhm = { value = -8.0,', 1))
    with pytest.raises(DataFormatError, match=r"bands\[0\]\.phases\.lp\.fwhm: expected a non-negative width"):
        load_band_table(bad)
    instrument = tmp_path / "ir.toml"
    instrument.write_text(IR_LAB.read_text().replace('"../bands/mil53-al.toml"', f'"{bad.name}"'))
    run = tmp_path / "run"
    shutil.copytree(REPO / "tests" / "data" / "golden" / "demo_run", run)
    assert main(["observe", str(run), "--technique", "ir", str(instrument)]) == 2
    err = capsys.readouterr().err.strip()
    assert "expected a non-negative width" in err and len(err.splitlines()) == 1


def test_guest_columns_must_match(tmp_path):
    instrument = tmp_path / "ir.toml"
    instrument.write_text(IR_LAB.read_text().replace('guests = ["CO2"]', 'guests = ["CO2", "H2O"]')
                          .replace('"../bands/mil53-al.toml"', f'"{TABLE}"'))
    with pytest.raises(DataFormatError, match="sample.guests names 2 guests"):
        simulate_vib(_frames([0.0], [1.0]), load_vib_settings(instrument))


def test_raman_mode_weights_by_raman_activity(tmp_path):
    from instruments.vib.technique import RAMAN

    instrument = tmp_path / "raman.toml"
    instrument.write_text(IR_LAB.read_text().replace('mode = "ir"', 'mode = "raman"')
                          .replace('"../bands/mil53-al.toml"', f'"{TABLE}"'))
    settings = load_vib_settings(instrument)
    obs = RAMAN.simulate(_frames([1.0], [4.0]), settings, None)
    assert obs.technique == "raman" and dict(obs.attrs)["mode"] == "raman"
    x = np.asarray(obs.axis.values)
    # CO2 ν3 is Raman-inactive (mutual exclusion); the OH band carries its Raman activity 0.1
    assert np.asarray(obs.values)[0][(x > 2250) & (x < 2420)].max() == 0.0
    centroid, area = _oh_centroid(obs)
    assert area[0] == pytest.approx(0.1, rel=0.05)
    with pytest.raises(DataFormatError, match="the raman technique needs mode"):
        RAMAN.simulate(_frames([1.0], [4.0]), load_vib_settings(IR_LAB), None)


def test_raman_is_a_technique_of_its_own(tmp_path, repo_root, capsys):
    """`twin observe OUT --technique raman lab_raman` (issue: `--technique ir|raman`): the Raman activities of the
    band table on the Raman instrument's window; an IR instrument file is refused for it in one line."""
    run = tmp_path / "run"
    shutil.copytree(repo_root / "tests" / "data" / "golden" / "demo_run", run)
    assert main(["observe", str(run), "--technique", "raman", "lab_raman"]) == 0
    obs = read_observable(run / "observables" / "raman.h5")
    assert obs.technique == "raman" and obs.axis.name == "wavenumber" and obs.n_frames == 71
    assert float(obs.axis.values[0]) == pytest.approx(200.0) and np.all(np.isfinite(obs.values))
    capsys.readouterr()
    assert main(["observe", str(run), "--technique", "raman", "lab_ftir"]) == 2
    assert 'the raman technique needs mode = "raman"' in capsys.readouterr().err
