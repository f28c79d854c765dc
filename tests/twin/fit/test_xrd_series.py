"""Sample-level summary of an in situ XRD series: switching pressures in their brackets, pooled domain sizes,
the log-normal size quadrature, and the readers' checks on a measured series."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import DataFormatError, FitError
from twin.fit.pattern import lognormal_sizes_A
from twin.fit.xrd_series import _pooled, coherent_size_truth, load_xrd_series, switching_summary


def _swing():
    """Rising 0 → 10 bar then falling, 1 bar apart; open above 4.3 bar rising, closed below 2.6 bar falling."""
    p = np.concatenate([np.arange(0.0, 10.5, 1.0), np.arange(9.0, -0.5, -1.0)])
    rising = np.arange(p.size) <= 10
    w = np.where(rising, (p > 4.3).astype(float), (p > 2.6).astype(float))
    return p, w


def test_switching_pressures_lie_in_their_brackets_with_uniform_intervals():
    p, w = _swing()
    out = switching_summary(w, np.full(w.size, 1e-4), p, seed=1, n_draws=20000)
    assert out["names"] == ["switching_pressure_adsorption", "switching_pressure_desorption", "hysteresis_width"]
    ads, des, width = out["values"]
    assert ads == pytest.approx(4.5) and des == pytest.approx(2.5)  # linear interpolation of a 0/1 step
    assert width == pytest.approx(2.0)
    # a step between two measured frames is only known to lie in that bracket: uniform draws in it
    d_ads, d_des, d_width = out["draws"]
    assert d_ads.min() >= 4.0 and d_ads.max() <= 5.0 and d_des.min() >= 2.0 and d_des.max() <= 3.0
    np.testing.assert_allclose(np.quantile(d_ads, [0.05, 0.95]), [4.05, 4.95], atol=0.01)
    assert np.std(d_ads) == pytest.approx(1.0 / np.sqrt(12.0), rel=0.02)  # uniform over one bar
    assert np.corrcoef(d_ads, d_width)[0, 1] == pytest.approx(np.sqrt(0.5), abs=0.02)  # width = ads − des


def test_truth_of_a_sampled_step_is_covered_at_the_stated_rate():
    """Steps placed uniformly between measured frames: the 90 % interval covers the true step ≈ 90 % of the time."""
    rng = np.random.default_rng(3)
    p = np.arange(0.0, 10.5, 1.0)
    inside = []
    for true_step in rng.uniform(2.0, 8.0, 200):
        w = (p > true_step).astype(float)
        out = switching_summary(w, np.full(p.size, 1e-3), p, seed=int(rng.integers(1 << 30)), n_draws=2000)
        lo, hi = np.quantile(out["draws"][0], [0.05, 0.95])
        inside.append(lo <= true_step <= hi)
    assert 0.84 <= np.mean(inside) <= 0.96


def test_no_switching_gives_no_pressures():
    p = np.linspace(0.0, 10.0, 11)
    assert switching_summary(np.zeros(11), np.full(11, 0.01), p)["names"] == []


def test_coherent_size_truth_is_the_volume_weighted_mean_edge():
    sizes_A = np.asarray([[100.0, 200.0]])
    counts = np.asarray([[8.0, 1.0]])  # equal volumes: 8·10³ = 1·20³ nm³
    assert coherent_size_truth(sizes_A, counts)[0] == pytest.approx(15.0)  # (10 + 20)/2 nm
    assert coherent_size_truth(np.asarray([[500.0]]), np.asarray([[3.0]]))[0] == pytest.approx(50.0)


@pytest.mark.parametrize("width", [0.0, 0.2, 0.5])
def test_lognormal_quadrature_has_the_requested_volume_weighted_moments(width):
    import jax.numpy as jnp

    sizes, number = (np.asarray(a, float) for a in lognormal_sizes_A(jnp.asarray(40.0), jnp.asarray(width)))
    vol = number * sizes**3
    vol /= vol.sum()
    assert np.sum(vol * sizes) / 10.0 == pytest.approx(40.0, rel=2e-4 if width < 0.4 else 2e-3)  # ⟨L⟩_V
    log_mean = np.sum(vol * np.log(sizes))
    log_sd = np.sqrt(np.sum(vol * (np.log(sizes) - log_mean) ** 2))
    assert log_sd == pytest.approx(width, abs=1e-3)  # float32 nodes


def test_pooled_mean_inflates_by_the_birge_ratio():
    mean, se = _pooled(np.asarray([10.0, 10.0, 10.0]), np.asarray([1.0, 1.0, 1.0]))
    assert mean == 10.0 and se == pytest.approx(1.0 / np.sqrt(3.0))
    mean, se = _pooled(np.asarray([8.0, 12.0]), np.asarray([0.1, 0.1]))  # scatter 40× the esd
    assert mean == pytest.approx(10.0) and se == pytest.approx(np.std([8.0, 12.0], ddof=1) / np.sqrt(2.0), rel=1e-6)


def _write_frame(path, tth, counts, header=""):
    path.write_text(header + "\n".join(f"{x:.4f} {y:.0f}" for x, y in zip(tth, counts)) + "\n", encoding="utf-8")


def test_series_loader_reads_a_folder_with_its_log(tmp_path):
    tth = np.linspace(5.0, 30.0, 200)
    for k in range(3):
        _write_frame(tmp_path / f"run_{k}.xy", tth, 100 + 10 * k + np.zeros(200), "# counts\n")
    (tmp_path / "conditions_log.csv").write_text("file,time_s,pressure_bar\nrun_0.xy,0,0.5\nrun_1.xy,10,1.5\n"
                                                 "run_2.xy,20,2.5\n", encoding="utf-8")
    data = load_xrd_series(tmp_path)
    assert data.n_frames == 3 and data.values.shape == (3, 200) and data.technique == "xrd"
    np.testing.assert_allclose(data.condition("pressure_bar"), [0.5, 1.5, 2.5])
    np.testing.assert_allclose(data.sigma[1], np.sqrt(110.0))  # counting statistics


def test_series_loader_refuses_what_it_cannot_refine(tmp_path):
    tth = np.linspace(5.0, 30.0, 200)
    single = tmp_path / "one.xy"
    _write_frame(single, tth, np.full(200, 50.0))
    with pytest.raises(DataFormatError, match="one pattern, but an in situ series needs several"):
        load_xrd_series(single)
    folder = tmp_path / "grids"
    folder.mkdir()
    _write_frame(folder / "a_0.xy", tth, np.full(200, 50.0))
    _write_frame(folder / "a_1.xy", tth[:150], np.full(150, 50.0))
    with pytest.raises(DataFormatError, match="a_1.xy is on a different 2θ grid"):
        load_xrd_series(folder)
    nolog = tmp_path / "nolog"
    nolog.mkdir()
    for k in range(2):
        _write_frame(nolog / f"b_{k}.xy", tth, np.full(200, 50.0))
    with pytest.raises(FitError, match="have no pressure; add a conditions log"):
        load_xrd_series(nolog)


def test_series_on_a_spectroscopic_axis_is_refused(tmp_path):
    wn = np.linspace(400.0, 4000.0, 200)
    for k in range(2):
        (tmp_path / f"ir_{k}.csv").write_text("wavenumber_cm-1,absorbance\n" + "".join(
            f"{x:.2f},{0.1 + 0.01 * k:.4f}\n" for x in wn), encoding="utf-8")
    (tmp_path / "conditions_log.csv").write_text("file,pressure_bar\nir_0.csv,1\nir_1.csv,2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"expected a 2θ \(deg\) or Q axis for powder XRD, got wavenumber"):
        load_xrd_series(tmp_path)


def test_series_table_and_figure_follow_a_relative_pressure_drive(tmp_path):
    """A MOF series driven by P/P0 (a humidity or vapour experiment): the per-frame CSV carries the relative
    pressure and the figure is drawn against it, not against an empty pressure column."""
    import pandas as pd

    from twin.fit.workflow import _plot_series, _write_series_csv

    nan = float("nan")
    series = {"frame": ["a", "b", "c"], "time_s": [0.0, 1.0, 2.0], "pressure_bar": [nan] * 3,
              "relative_pressure": [0.1, 0.5, 0.2], "relative_humidity": [nan] * 3, "temperature_K": [298.0] * 3,
              "weight_fraction": {"np": [0.9, 0.2, 0.6], "lp": [0.1, 0.8, 0.4]},
              "weight_fraction_esd": {"np": [0.01] * 3, "lp": [0.01] * 3},
              "refined": {}, "Rwp": [0.1] * 3, "Rexp": [0.1] * 3, "chi2_reduced": [1.0] * 3}
    _write_series_csv(tmp_path / "fit_series.csv", series)
    table = pd.read_csv(tmp_path / "fit_series.csv", comment="#")
    assert list(table["relative_pressure"]) == [0.1, 0.5, 0.2] and "relative_humidity" not in table
    result = {"series": series, "model": {"driving_condition": "relative_pressure", "branches": [1, 1, -1]},
              "parameters": {}}
    _plot_series(tmp_path / "fig.png", result, "mil53-al")
    assert (tmp_path / "fig.png").stat().st_size > 5_000
