"""The global VT fit of static ²H spectra (twin/fit/nmr.py) on the measured D2O/graphene-oxide series
(Futamura et al., Nat. Commun. 15, 3585 (2024), CC-BY-4.0): the rate-grid weights, leave-one-temperature-out,
`twin fit` end to end and `twin nmr deuterium --from-fit`.

The default tests fix C_q (190 kHz, the profiled optimum of the full fit, docs/nmr.md) and use 377 ZCW directions
(the tetrahedral model with η_Q = 0 samples cos β uniformly, so its rigid pattern is smooth already) to stay fast;
the full fit with the C_q profile is marked slow.
"""

from __future__ import annotations

import json
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from twin.cli import main
from twin.errors import FitError
from twin.fit.nmr import RATE_GRID_LOG10, leave_one_out, load_nmr_series, make_setup, rate_weights
from twin.fit.result import load_fit_result

SERIES = ("moisture", "go_water_futamura2024", "nmr_2h_d2o_vt")
FAST = {"cq_hz": 190e3, "n_orientations": 377, "starts": ((7.0, 30.0),)}


def test_rate_weights_interpolate_and_integrate():
    ln_nodes = jnp.asarray(np.log(10.0) * np.asarray(RATE_GRID_LOG10), jnp.float32)
    x = np.asarray(ln_nodes, np.float64)
    h = x[1] - x[0]
    # σ → 0: linear interpolation between the two nodes around μ
    mu = x[20] + 0.25 * h
    w = np.asarray(rate_weights(ln_nodes, jnp.float32(mu), jnp.float32(0.0)), np.float64)
    assert w[20] == pytest.approx(0.75, abs=1e-4) and w[21] == pytest.approx(0.25, abs=1e-4)
    # a broad distribution inside the grid: weights sum to 1, keep the mean and the variance (+ h²/6 of the hats)
    for sigma in (0.5, 3.0):
        w = np.asarray(rate_weights(ln_nodes, jnp.float32(x[40]), jnp.float32(sigma)), np.float64)
        assert w.sum() == pytest.approx(1.0, abs=1e-5) and np.all(w > -1e-7)
        assert np.sum(w * x) == pytest.approx(x[40], abs=1e-3)
        assert np.sum(w * (x - x[40]) ** 2) == pytest.approx(sigma**2 + h**2 / 6.0, rel=2e-3)
    # tails beyond the grid land on the end nodes
    w = np.asarray(rate_weights(ln_nodes, jnp.float32(x[0] - 5.0), jnp.float32(1.0)), np.float64)
    assert w[0] == pytest.approx(1.0, abs=1e-4)


def test_leave_one_temperature_out_beats_the_neighbours(shared_data):
    """Fitted to the other five temperatures, the model predicts the 193 K spectrum (narrow line of the mobile water
    over what is left of the broad one) better than any mix a·y(153 K) + b·y(213 K) + c of its measured neighbours.
    Measured: χ² 3.5e3 against 4.7e3 on 4000 points (docs/nmr.md)."""
    data = load_nmr_series(shared_data.joinpath(*SERIES))
    index = int(np.where(data.temperature_K == 193.0)[0][0])
    result = leave_one_out(data, make_setup(**FAST), index)
    assert result["temperature_K"] == 193.0
    assert result["chi2_model"] < 0.9 * result["chi2_neighbours"]


@pytest.fixture(scope="module")
def fitted(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("nmr_fit")
    fit_file = out / "fit.toml"
    fit_file.write_text(textwrap.dedent(f"""\
        [fit]
        technique = "nmr-series"
        motion = "tetrahedral"
        echo_delay = "20 us"
        cq = "190 kHz"
        orientations = 377

        [[measurements]]
        path = "{shared_data.joinpath(*SERIES).as_posix()}"
        """), encoding="utf-8")
    assert main(["fit", str(fit_file), "-o", str(out)]) == 0
    return out


def test_twin_fit_writes_a_valid_fit_result(fitted, capsys):
    result = load_fit_result(fitted / "fit_result.json", check_measurements=True)
    doc = result.to_dict()
    params = doc["parameters"]
    assert doc["techniques"] == ["nmr"] and all(m["technique"] == "nmr" for m in doc["measurements"])
    assert len(doc["measurements"]) == 7 and len(result.posterior_predictive) == 6
    # the Arrhenius law of the jumps: E_a ≈ 27 kJ/mol, k(213 K) ≈ 3e7 1/s (docs/nmr.md)
    assert 20.0 < params["activation_energy_kJ_mol"]["value"] < 35.0
    assert 7.0 < params["log10_rate_ref_per_s"]["value"] < 8.0
    for name in ("activation_energy_kJ_mol", "log10_rate_ref_per_s", "lorentzian_kHz", "log10_k0_per_s"):
        lo, hi = params[name]["interval_90"]
        assert lo < params[name]["value"] < hi and params[name]["stderr"] > 0
    assert params["cq_kHz"]["fixed"] and params["cq_kHz"]["value"] == 190.0
    assert 0.9 < doc["figures_of_merit"]["chi2_reduced"] < 1.5
    assert doc["model"]["kind"] == "2h-exchange-series"
    assert (fitted / "fit_nmr.png").is_file()
    from mofcore.outputs import read_run_id

    assert read_run_id(fitted / "fit_nmr.png") == doc["run_id"]  # the result and its figure are one set
    # the fit of measured spectra alone has its report: parameters, correlations, spectra with residuals
    assert main(["report", str(fitted)]) == 0
    summary = json.loads((fitted / "report" / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["sections"]) == ["fit", "provenance"]
    assert len(summary["sections"]["fit"]["posterior_predictive_coverage"]) == 4


def test_nmr_series_option_refuses_what_it_cannot_fit(tmp_path, capsys):
    assert main(["fit", "--nmr-series", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "--nmr-series: " in capsys.readouterr().err
    assert main(["fit", "--nmr-series", str(tmp_path), "--isotherm", "x.aif", "-o", str(tmp_path / "o")]) == 2
    assert "give one of" in capsys.readouterr().err


@pytest.mark.slow
def test_nmr_series_option_fits_the_measured_series_with_the_default_settings(shared_data, tmp_path, capsys):
    """`twin fit --nmr-series FOLDER -o OUT` (the form of the issue): the documented default fit, C_q fitted
    (docs/nmr.md: 190.1 kHz, E_a 26.6 kJ/mol; about 2 min)."""
    out = tmp_path / "out"
    assert main(["fit", "--nmr-series", str(shared_data.joinpath(*SERIES)), "-o", str(out), "--quiet"]) == 0
    params = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))["parameters"]
    assert abs(params["cq_kHz"]["value"] - 190.1) < 3.0
    assert abs(params["activation_energy_kJ_mol"]["value"] - 26.6) < 1.0


def test_from_fit_gives_the_spectrum_at_any_temperature(fitted, tmp_path, capsys):
    capsys.readouterr()
    csv = tmp_path / "spectrum.csv"
    assert main(["nmr", "deuterium", "--from-fit", str(fitted / "fit_result.json"), "--temperature", "250 K",
                 "--frequency", "-416.9..416.9 kHz", "--points", "4000", "-o", str(csv), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["temperature_K"] == 250.0 and summary["rate_per_s"] > 1e7
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert csv.read_text().splitlines()[0] == "frequency_Hz,intensity" and table.shape == (4000, 2)
    assert table[0, 0] == pytest.approx(-416.9e3) and abs(table[np.argmax(table[:, 1]), 0]) < 500.0
    assert main(["nmr", "deuterium", "--from-fit", str(fitted / "fit_result.json")]) == 2
    assert "--temperature: --from-fit needs the temperature" in capsys.readouterr().err


def test_fit_file_errors_name_the_key(tmp_path, shared_data, capsys):
    folder = shared_data.joinpath(*SERIES).as_posix()
    cases = {
        'distribution = "gaussian"': r"fit.distribution: expected one of activation-energy, log-normal",
        'cq_range = ["250 kHz", "150 kHz"]': r"fit.cq_range: expected 1 kHz ≤ low < high",
        'echo_delay = "20 K"': r"fit.echo_delay: expected a time",
    }
    for line, message in cases.items():
        path = tmp_path / "fit.toml"
        path.write_text(f'[fit]\ntechnique = "nmr-series"\n{line}\n\n[[measurements]]\npath = "{folder}"\n',
                        encoding="utf-8")
        from twin.fit.config import load_fit_config

        with pytest.raises(FitError, match=message):
            load_fit_config(path)


@pytest.mark.slow
def test_full_fit_with_the_cq_profile(shared_data, tmp_path):
    """The documented fit (docs/nmr.md): C_q profiled, 987 directions; about 1.5 min on 2 cores."""
    from twin.fit.nmr import run_nmr_fit

    result = run_nmr_fit(shared_data.joinpath(*SERIES), tmp_path, make_setup())
    params = result["parameters"]
    assert 180.0 < params["cq_kHz"]["value"] < 200.0
    assert 24.0 < params["activation_energy_kJ_mol"]["value"] < 30.0
    lo, hi = params["cq_kHz"]["interval_90"]
    assert lo < params["cq_kHz"]["value"] < hi
