"""Sequential layered-stack fit of an in situ XRD series (twin/fit/layered.py): synthetic recovery, the measured
graphene-oxide/water series of Futamura et al., Nat. Commun. 15, 3585 (2024), the command line and bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from instruments.observable import Axis, Observable
from twin.cli import main
from twin.errors import FitError
from twin.fit.layered import (
    PARAMETER_NAMES,
    fit_layered_series,
    load_layered_series,
    read_uptake_isotherm,
    uptake_at,
)

GO = "moisture/go_water_futamura2024"
Q_INV_NM = np.round(np.arange(0.36, 14.14 + 1e-9, 0.02), 4)  # the grid of the measured GO series: one compiled solver


def _counts(q: np.ndarray, d: float, thickness: float, spread: float, rng: np.random.Generator,
            peak_counts: float = 3000.0) -> np.ndarray:
    """Noisy counts of the fit's own model: stacks (``peak_counts`` at the 001 line) + small-angle power law +
    a linear background."""
    from instruments.xrd.layered import layered_pattern

    with jax.enable_x64(True):
        stack = np.asarray(layered_pattern(jnp.asarray(q), d, thickness, spread))
        at_line = float(layered_pattern(jnp.asarray([2 * np.pi / d]), d, thickness, spread)[0])
    mean = peak_counts * stack / at_line + 400.0 * (q / q[0]) ** -2.5 + 200.0 + 5.0 * q
    return rng.poisson(mean).astype(np.float64)


def _series(truth: list[tuple[float, float, float]], seed: int, q: np.ndarray = Q_INV_NM[Q_INV_NM >= 3.0]) -> Observable:
    rng = np.random.default_rng(seed)
    y = np.stack([_counts(q, *t, rng) for t in truth])
    return Observable(axis=Axis(q, "q", "1/nm"), values=y, sigma=np.sqrt(np.maximum(y, 1.0)),
                      conditions={"relative_pressure": np.linspace(0.0, 0.9, len(truth))}, technique="xrd",
                      unit="counts", labels=tuple(f"frame_{i:02d}.xy" for i in range(len(truth))), source="synthetic")


def _write_folder(folder, y: np.ndarray, q: np.ndarray, relative_pressure) -> None:
    folder.mkdir()
    rows = ["index,file,relative_pressure"]
    for i, frame in enumerate(y):
        name = f"frame_{i:02d}.xy"
        body = "\n".join(f"{a:.4f} {b:.2f}" for a, b in zip(q, frame))
        (folder / name).write_text(f"q_inv_nm intensity_counts\n{body}\n", encoding="utf-8")
        rows.append(f"{i},{name},{relative_pressure[i]}")
    (folder / "conditions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


# the truth of the synthetic series: stacks of ⟨N⟩_V = 5.5 … 7.5 layers, thinner than the paracrystal's coherence
# length 2/(q₀₀₁σ)² ≈ 13 … 19 layers, so thickness and spread both shape the line and separate; the 002 line lies in
# the range for d ≥ 0.9 nm
TRUTH = [(0.80, 6.0, 0.050), (0.95, 6.0, 0.050), (1.10, 6.0, 0.050)]


def test_synthetic_series_is_recovered_within_three_standard_uncertainties():
    data = _series(TRUTH, seed=3)
    fit = fit_layered_series(data)
    for i, truth in enumerate(TRUTH):
        for k, true in enumerate(truth):
            value, esd = fit["values"][i, k], fit["esd"][i, k]
            assert np.isfinite(esd) and esd > 0
            assert abs(value - true) <= 3.0 * esd, (PARAMETER_NAMES[k], i, value, esd, true)
    assert np.all(fit["line"]) and np.all(fit["converged"])
    assert np.all(np.abs(fit["chi2_reduced"] - 1.0) < 0.2)  # Poisson noise of the model itself: χ²_ν ≈ 1


@pytest.mark.slow
def test_synthetic_90_percent_intervals_cover_the_truth():
    """Coverage over 24 noise replicates × 3 parameters (72 intervals): the binomial 99 % range of a calibrated
    90 % interval is 0.79 … 0.97."""
    inside = []
    for seed in range(24):
        fit = fit_layered_series(_series(TRUTH[1:2], seed=100 + seed))
        for k, true in enumerate(TRUTH[1]):
            inside.append(abs(fit["values"][0, k] - true) <= 1.6449 * fit["esd"][0, k])
    assert 0.79 <= np.mean(inside) <= 0.99, np.mean(inside)


def test_frames_start_from_the_previous_frame_or_the_strongest_line():
    fit = fit_layered_series(_series(TRUTH, seed=4))
    assert fit["start"][0] in {"line in the data", "thinner stacks"}
    assert set(fit["start"][1:]) <= {"line in the data", "previous frame"}


# -------------------------------------------------------------------------------------------- measured GO series
def test_go_series_loads_on_q_in_inverse_nm_without_a_wavelength(shared_data):
    data = load_layered_series(shared_data / GO / "xrd_insitu_h2o", q_range_inv_nm=(0.0, None))
    assert data.axis.unit == "1/nm" and data.axis.values[0] == pytest.approx(0.36) and data.axis.values[-1] == pytest.approx(14.14)
    np.testing.assert_allclose(data.condition("relative_pressure"), [0.0, 0.012, 0.18, 0.39, 0.59, 0.8, 0.9])


def test_default_range_starts_below_the_most_swollen_line(shared_data):
    data = load_layered_series(shared_data / GO / "xrd_insitu_h2o")
    # the wettest frame's 001 line sits at 2π/1.16 nm ≈ 5.4 nm⁻¹; the range starts at 0.6 × that
    assert data.axis.values[0] == pytest.approx(0.6 * 5.4, abs=0.1)


def test_uptake_is_the_adsorption_branch_interpolated(shared_data):
    p, u, name = read_uptake_isotherm(shared_data / GO / "isotherm_h2o.csv")
    assert name == "uptake_mmol_per_g" and np.all(np.diff(p) >= 0)
    assert uptake_at(np.array([0.0]), p, u)[0] == pytest.approx(0.684)  # a measured point (first row)
    # between the adsorption points 0.5459 (12.96) and 0.596 (13.887); the desorption branch is higher there
    assert uptake_at(np.array([0.59]), p, u)[0] == pytest.approx(12.96 + (0.59 - 0.5459) / (0.596 - 0.5459) * 0.927)
    assert np.isnan(uptake_at(np.array([0.99]), p, u)[0])  # beyond the last adsorption point (0.9531)


def test_measured_go_series_dry_and_wet_frames(shared_data):
    """Futamura et al. (2024) report d001 = 0.72 nm dry and 1.18 nm at saturation. Tolerances, set before the
    fit was run: ±0.02 nm dry — our d̄ is the mean spacing of a paracrystal seen through |F|²/q², which may sit a
    few 0.01 nm from 2π/q_peak, the paper's way; 1.10 … 1.22 nm at P/P0 = 0.9, where the swelling is not yet
    complete. χ²_ν < 3: Poisson weights, and a model without the in-plane bands or the polarisation factor."""
    data = load_layered_series(shared_data / GO / "xrd_insitu_h2o")
    ends = Observable(axis=data.axis, values=data.values[[0, 6]], sigma=data.sigma[[0, 6]],
                      conditions={k: np.asarray(v)[[0, 6]] for k, v in data.conditions.items()},
                      technique="xrd", unit="counts", labels=(data.labels[0], data.labels[6]), source=data.source)
    fit = fit_layered_series(ends)
    d = fit["values"][:, 0]
    assert d[0] == pytest.approx(0.72, abs=0.02)
    assert 1.10 <= d[1] <= 1.22
    assert np.all(np.isfinite(fit["esd"][:, :3])) and np.all(fit["esd"][:, :3] > 0)
    assert np.all(fit["chi2_reduced"] < 3.0)
    assert fit["values"][1, 2] > fit["values"][0, 2]  # wet galleries are more heterogeneous


@pytest.mark.slow
def test_twin_fit_layered_on_the_measured_go_series(shared_data, tmp_path, capsys):
    out = tmp_path / "go"
    assert main(["fit", "--xrd-series", str(shared_data / GO / "xrd_insitu_h2o"), "--model", "layered",
                 "-o", str(out)]) == 0
    table = pd.read_csv(out / "fit_series.csv", comment="#")
    assert len(table) == 7
    for name in ("relative_pressure", "uptake_mmol_per_g", "d001_nm", "d001_nm_stderr", "coherent_thickness_nm",
                 "coherent_thickness_nm_stderr", "d_spread_nm", "d_spread_nm_stderr", "chi2_nu", "rwp"):
        assert name in table.columns and np.all(np.isfinite(table[name])), name
    d = table["d001_nm"].to_numpy()
    assert np.all(np.diff(d) > 0)  # swells with every step of P/P0
    assert d[0] == pytest.approx(0.72, abs=0.02) and 1.10 <= d[-1] <= 1.22
    assert np.all(table["chi2_nu"] < 3.0)
    assert np.all(np.diff(table["uptake_mmol_per_g"]) > 0)
    result = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))
    assert result["model"]["kind"] == "xrd-series-layered" and result["run_id"] in (out / "fit_series.csv").read_text()
    assert (out / "fit_layered.png").is_file()


# -------------------------------------------------------------------------------------------- command line, input
def test_twin_fit_xrd_series_layered_writes_the_per_frame_table(tmp_path, capsys):
    rng = np.random.default_rng(7)
    q = Q_INV_NM
    y = np.stack([_counts(q, *t, rng) for t in TRUTH[:2]])
    _write_folder(tmp_path / "series", y, q, [0.1, 0.5])
    iso = tmp_path / "isotherm_h2o.csv"
    iso.write_text("relative_pressure,uptake_mmol_per_g,branch\n0.0,0.5,adsorption\n0.9,20.0,adsorption\n"
                   "0.5,15.0,desorption\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["fit", "--xrd-series", str(tmp_path / "series"), "--model", "layered", "-o", str(out)]
    assert main(args) == 0
    table = pd.read_csv(out / "fit_series.csv", comment="#")
    np.testing.assert_allclose(table["relative_pressure"], [0.1, 0.5])
    np.testing.assert_allclose(table["uptake_mmol_per_g"], [0.5 + 0.1 / 0.9 * 19.5, 0.5 + 0.5 / 0.9 * 19.5])
    for k, name in enumerate(("d001_nm", "coherent_thickness_nm", "d_spread_nm")):
        assert np.all(np.abs(table[name] - [t[k] for t in TRUTH[:2]]) <= 3.5 * table[f"{name}_stderr"]), name
    assert "d001 (nm)" in capsys.readouterr().out
    # the output safety: an OUT holding a fit result is refused without --overwrite, in one line, exit 2
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds a fit result" in err and err.count("\n") == 1
    assert main(args + ["--overwrite"]) == 0
    _check_report_section(out, tmp_path)


def _check_report_section(out, tmp_path) -> None:
    """`twin report OUT` on the fit-only directory (no trajectory: a fit of measured data): the fit's sections,
    with the layered panels (measured vs model per frame with residuals; parameters against P/P0 beside the
    isotherm; per-frame table), and no section that needs a run."""
    import json

    assert main(["report", str(out)]) == 0
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["sections"]) == ["fit", "layered-fit", "provenance"]
    layered = summary["sections"]["layered-fit"]
    assert layered["d001_increases_with_drive"] is True and len(layered["chi2_reduced"]) == 2
    assert "d001 (nm)" in page and "Layered stacks" in page
    figures = {f["file"] if "file" in f else str(f) for f in summary["figures"]}
    assert any("layered-frames" in f for f in figures) and any("layered-parameters" in f for f in figures)


def test_fit_file_with_model_layered(tmp_path, capsys):
    rng = np.random.default_rng(8)
    y = np.stack([_counts(Q_INV_NM, *t, rng) for t in TRUTH[:2]])
    _write_folder(tmp_path / "series", y, Q_INV_NM, [0.2, 0.6])
    fit_file = tmp_path / "go.toml"
    fit_file.write_text('[fit]\ntechnique = "xrd-series"\nmodel = "layered"\nq_range_inv_nm = [1.0, 20.0]\n\n'
                        '[[measurements]]\npath = "series"\n', encoding="utf-8")
    assert main(["fit", str(fit_file), "-o", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "fit_result.json").read_text(encoding="utf-8"))
    assert result["model"]["q_range_inv_nm"][0] >= 1.0 and result["model"]["q_range_inv_nm"][1] <= 14.14
    assert "d001_nm_frame_00" in result["parameters"]


def test_a_series_without_a_stacking_line_is_refused_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(9)
    q = Q_INV_NM
    y = np.stack([rng.poisson(400.0 * (q / q[0]) ** -2.5 + 200.0 + 5.0 * q).astype(float) for _ in range(3)])
    _write_folder(tmp_path / "flat", y, q, [0.0, 0.4, 0.8])
    code = main(["fit", "--xrd-series", str(tmp_path / "flat"), "--model", "layered", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no frame shows a stacking (00l) line" in err
    assert not (tmp_path / "out" / "fit_result.json").exists()


def test_xrd_series_without_model_or_with_both_inputs_is_refused(tmp_path, capsys):
    assert main(["fit", "--xrd-series", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "--model layered" in capsys.readouterr().err
    assert main(["fit", "--model", "layered", "-o", str(tmp_path / "o")]) == 2
    assert "go with --xrd-series" in capsys.readouterr().err


def test_relative_pressure_drives_the_xrd_series_loader(shared_data):
    """Issue 16: a conditions log with relative_pressure (P/P0) is a valid driving condition of the xrd-series
    fit (its loader used to demand pressure_bar)."""
    from twin.fit.xrd_series import driving_condition, load_xrd_series

    data = load_xrd_series(shared_data / GO / "xrd_insitu_h2o", wavelength_A=1.5406)  # any λ: Q → 2θ
    name, values, unit = driving_condition(data)
    assert name == "relative_pressure" and unit == "1"
    np.testing.assert_allclose(values, [0.0, 0.012, 0.18, 0.39, 0.59, 0.8, 0.9])


def test_a_series_without_any_driving_condition_is_refused(tmp_path):
    from twin.fit.xrd_series import load_xrd_series

    folder = tmp_path / "s"
    folder.mkdir()
    rows = ["file,temperature_K"]
    for i in range(2):
        (folder / f"f{i}.xy").write_text("2theta counts\n" + "\n".join(f"{5 + 0.1 * j:.2f} {100 + j}"
                                                                        for j in range(50)) + "\n", encoding="utf-8")
        rows.append(f"f{i}.xy,300")
    (folder / "conditions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(FitError, match="have no pressure; add a conditions log with a pressure .pressure_bar., relative pressure"):
        load_xrd_series(folder)
