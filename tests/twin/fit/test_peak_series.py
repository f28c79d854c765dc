"""Peak-only refinement of an in situ series (twin fit --xrd-series FOLDER --model peaks): a host with no material
file or structure followed through its peaks, frame by frame, with standard uncertainties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.cli import main
from twin.fit.peak_series import PeakWindow, fit_peak_series, load_native_series

TWO_THETA = np.round(np.arange(8.0, 14.0, 0.01), 4)
WAVELENGTH_A = 1.5406
# truth per frame: (position °2θ, FWHM °, area counts·°, η); background 200 counts with a slope
TRUTH = [(10.00, 0.12, 400.0, 0.3), (10.20, 0.14, 380.0, 0.5), (10.45, 0.16, 350.0, 0.7)]


def _pattern(truth: tuple[float, float, float, float], rng: np.random.Generator) -> np.ndarray:
    x0, fwhm, area, eta = truth
    z = (TWO_THETA - x0) / fwhm
    lorentz = 2.0 / (np.pi * fwhm) / (1.0 + 4.0 * z**2)
    gauss = 2.0 / fwhm * np.sqrt(np.log(2.0) / np.pi) * np.exp(-4.0 * np.log(2.0) * z**2)
    mean = area * (eta * lorentz + (1.0 - eta) * gauss) + 200.0 + 5.0 * (TWO_THETA - 11.0)
    return rng.poisson(mean).astype(float)


def _write(folder, frames: np.ndarray, pressures) -> None:
    folder.mkdir()
    rows = ["file,pressure_bar"]
    for i, y in enumerate(frames):
        name = f"scan_{i}.xy"
        body = "\n".join(f"{a:.4f} {b:.0f}" for a, b in zip(TWO_THETA, y, strict=True))
        (folder / name).write_text(f"# 2theta (deg)  counts\n{body}\n", encoding="utf-8")
        rows.append(f"{name},{pressures[i]}")
    (folder / "conditions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(11)
    _write(tmp_path / "series", np.stack([_pattern(t, rng) for t in TRUTH]), [0.5, 2.0, 8.0])
    return tmp_path / "series"


def test_a_moving_peak_is_recovered_within_its_uncertainties(series):
    data = load_native_series(series)
    assert data.axis.name == "two_theta" and data.axis.unit == "deg"
    result = fit_peak_series(data, [PeakWindow(9.0, 11.6)], wavelength_A=WAVELENGTH_A)
    (peak,) = result["series"]["peaks"]
    for k, name in enumerate(("position", "fwhm", "area")):
        value, err = np.asarray(peak[name]), np.asarray(peak[f"{name}_stderr"])
        truth = np.array([t[k] for t in TRUTH])
        assert np.all(err > 0) and np.all(np.abs(value - truth) <= 4.0 * err), (name, value, err)
    assert all(peak["detected"]) and all(peak["converged"])
    assert np.all(np.asarray(peak["chi2_reduced"]) < 1.5)  # Poisson data, the right model
    d = WAVELENGTH_A / (2.0 * np.sin(np.radians(np.asarray(peak["position"])) / 2.0))
    np.testing.assert_allclose(peak["d_A"], d, rtol=1e-9)


def test_the_cli_writes_the_per_frame_table_and_refuses_a_window_outside_the_data(series, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fit", "--xrd-series", str(series), "--model", "peaks", "--peak", "9..11.6", "--wavelength",
                 "1.5406 A", "-o", str(out), "--quiet"]) == 0
    assert "peak 1 (9..11.6 deg)" in capsys.readouterr().out
    table = pd.read_csv(out / "fit_series.csv", comment="#")
    assert list(table["pressure_bar"]) == [0.5, 2.0, 8.0]
    for column in ("peak1_position_deg", "peak1_position_deg_stderr", "peak1_fwhm_deg", "peak1_area",
                   "peak1_area_stderr", "peak1_d_A", "peak1_d_A_stderr"):
        assert np.all(np.isfinite(table[column])), column
    assert main(["report", str(out)]) == 0  # a fit of measured data alone has its own report
    code = main(["fit", "--xrd-series", str(series), "--model", "peaks", "--peak", "30..40", "-o",
                 str(tmp_path / "out2")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "peak 1: the window 30..40 deg holds 0 points of the series" in err


def test_a_series_without_peaks_is_refused_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    _write(tmp_path / "flat", rng.poisson(200.0, size=(3, TWO_THETA.size)).astype(float), [1.0, 2.0, 3.0])
    assert main(["fit", "--xrd-series", str(tmp_path / "flat"), "--model", "peaks", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no peak stands out of the counting noise" in err


def test_the_measured_graphene_oxide_series_peak_by_peak(shared_data):
    """The same GO frames as the layered fit, with no layer model: the 001 peak per frame. The paper (Futamura et
    al. 2024) quotes the interlayer distance from peak positions, 0.72 nm dry and 1.18 nm at saturation; a
    peak-only d = 2π/Q_peak should agree within 0.02 nm at both ends (checked after the fit was first run, so it
    is a consistency check with the paper's analysis, not a blind prediction), and grow monotonically."""
    data = load_native_series(shared_data / "moisture" / "go_water_futamura2024" / "xrd_insitu_h2o")
    assert data.axis.name == "q"
    (peak,) = fit_peak_series(data, [PeakWindow(0.4, 1.1)])["series"]["peaks"]
    d_nm = np.asarray(peak["d_A"]) / 10.0
    assert abs(d_nm[0] - 0.72) < 0.02 and abs(d_nm[-1] - 1.18) < 0.02
    assert np.all(np.diff(d_nm) > 0) and np.all(np.asarray(peak["d_A_stderr"]) < 0.01)
