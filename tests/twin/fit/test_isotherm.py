"""Twin-level inference from isotherms: recovery of known sample parameters with calibrated intervals, the
fit of the measured MIL-53(Al)/CO2 isotherm at 273 K, prediction at another temperature, bad fit files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from twin.cli import main
from twin.errors import FitError
from twin.fit.config import parse_fit_config
from twin.fit.recovery import recovery_study


def test_reduced_recovery_study_covers_the_truth():
    """Sixteen seeded trials (the full study, ≥ 20 trials, is the slow test below): surrogate isotherm of a known
    powder + Gaussian noise + an XRD coherent size, fitted; the truth inside the 90 % intervals.

    The three parameters lie on one correlated ridge, so a noise draw that moves one interval off the truth
    moves all three: the trials, not the 48 intervals, are the independent events. With 16 trials at a nominal
    90 %, fewer than 11 covering has probability 0.3 %; a fit whose intervals cover 60 % (50 %) of the time
    fails it with probability 67 % (90 %). XLA's float rounding differs between CPUs, so the draws are not the same on every
    machine: the bound must hold for any seed, not for one."""
    r = recovery_study(n_trials=16, n_steps=400, burn=150, n_walkers=16, seed=1)
    inside = np.asarray(r["inside"])
    assert inside.shape == (16, 3)
    assert inside.mean() >= 0.65, inside.astype(int).tolist()


@pytest.mark.slow
def test_full_recovery_study_is_calibrated():
    """The study of the issue, with 72 seeded trials (~2.5 min): every parameter covered in at least 80 % of them.

    Measured: seed 2026, 72 trials: 0.97 / 0.97 / 0.96 (size median / width / defect sigma); seed 11, 48 trials:
    0.90 / 0.92 / 0.92; seed 7, 24 trials: 0.83 / 0.79 / 0.75 — the trials fail as wholes along the correlated
    ridge of the three parameters, so 24 of them are only 24 events (P(≤ 18 of 24) ≈ 3 % at a true 90 %: an unlucky draw, or a small
    undercoverage the larger studies do not show). Pooled over the 144 trials: 0.92 / 0.92 / 0.91."""
    r = recovery_study(n_trials=72, seed=2026)
    print(json.dumps({"coverage_90": r["coverage_90"], "coverage_all": r["coverage_all"]}))
    assert all(c >= 0.8 for c in r["coverage_90"].values()), r["coverage_90"]


def _fit_with_the_cli(out, iso, material, guest=None, temperature=None):
    """``twin fit --isotherm`` with a short sampler run (300 stored steps) into ``out``; guest and temperature
    from the file where they are not given."""
    options = (["--guest", guest] if guest else []) + (["--temperature", temperature] if temperature else [])
    code = main(["fit", "--isotherm", str(iso), "--material", material, *options, "-o", str(out), "--steps", "300",
                 "--json"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, shared_data):
    iso = shared_data / "isotherms" / "mil53al_boutin2010_ortiz2012" / "iso_CO2_273K.csv"
    return _fit_with_the_cli(tmp_path_factory.mktemp("fit273"), iso, "mil53-al", "CO2", "273 K")


def test_fit_of_the_measured_273_K_isotherm(fitted):
    doc = json.loads((fitted / "fit_result.json").read_text(encoding="utf-8"))
    params = doc["parameters"]
    for name, p in params.items():
        # one consistent summary: the reported value (posterior median) lies inside its own 90 % interval; the
        # least-squares optimum is named beside it and may not
        assert p["interval_90"][0] <= p["value"] <= p["interval_90"][1], name
        assert p["estimate"] == "posterior median" and np.isfinite(p["optimum"]), name
    # capacities and affinities are set by the plateaus, which the data pin down (Boutin et al. 2010: about
    # 9-10 CO2 per lp cell at the top, 2-3 per np cell on the first plateau)
    assert 8.5 < params["n_max_open"]["value"] < 11.0
    assert 2.0 < params["n_max_closed"]["value"] < 3.5
    assert len(doc["posterior_predictive"]) == 2
    for item in doc["posterior_predictive"]:
        inside = np.mean((np.asarray(item["observed"]) >= item["lower"]) & (np.asarray(item["observed"]) <= item["upper"]))
        assert inside > 0.6, item["label"]
    assert doc["measurements"][0]["sha256"] and (fitted / "fit_isotherm.png").is_file()
    # a short run (300 steps) must say where the sampler has not converged, parameter by parameter
    rhat = doc["convergence"]["sampler"]["split_rhat"]
    assert set(rhat) == set(params)
    for name, r in rhat.items():
        assert (r >= 1.1) == any(w.startswith(f"{name}: sampler not converged") for w in doc["warnings"]), name
    unconverged = max(rhat.values()) >= 1.1
    assert doc["convergence"]["final"] is not unconverged
    assert doc["warnings"][0].startswith("not final: the sampler has not converged") is unconverged
    if unconverged:
        assert "rerun with --steps 600 (or more) and --seed 0" in doc["warnings"][0]


def test_prediction_at_another_temperature_from_the_fit(fitted, tmp_path, capsys, shared_data):
    """`twin isotherm --from-fit`: the fitted powder (size spread, defects) at 298 K with a 90 % band from the
    fit's posterior draws, the measured 273 K file drawn over it, and a line saying what was written."""
    doc = json.loads((fitted / "fit_result.json").read_text(encoding="utf-8"))
    draws = doc["model"]["posterior_draws"]
    assert set(draws) == set(doc["parameters"]) and len(next(iter(draws.values()))) == 200
    csv_path = tmp_path / "pred" / "iso298.csv"
    iso = shared_data / "isotherms" / "mil53al_boutin2010_ortiz2012" / "iso_CO2_273K.csv"
    assert main(["isotherm", "--from-fit", str(fitted / "fit_result.json"), "--temperature", "298 K", "--pressure",
                 "0.01..30 bar", "--points", "120", "--measured", str(iso), "-o", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {csv_path} and {csv_path.with_suffix('.png')}" in printed
    assert csv_path.with_suffix(".png").stat().st_size > 10_000
    import pandas as pd

    table = pd.read_csv(csv_path)
    assert list(table.columns) == ["pressure_bar", "uptake_mmol_per_g", "uptake_p05_mmol_per_g",
                                   "uptake_p95_mmol_per_g", "open_fraction", "branch"]
    assert (table.uptake_p05_mmol_per_g <= table.uptake_p95_mmol_per_g + 1e-9).all()
    assert (table.uptake_p95_mmol_per_g - table.uptake_p05_mmol_per_g).max() > 0  # a band, not a line
    assert main(["isotherm", "--from-fit", str(fitted / "fit_result.json"), "--temperature", "298 K", "--pressure",
                 "0.01..30 bar", "--points", "120", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    reopening = next(t for t in out["transitions"] if t["branch"] == "adsorption")
    # the reopening step moves up with temperature (3.4 bar measured at 273 K; about 5-6 bar near 300 K,
    # Bourrelly et al., J. Am. Chem. Soc. 127, 13519 (2005))
    assert 3.5 < reopening["pressure_bar"] < 9.0
    assert reopening["pressure_bar_p05"] <= reopening["pressure_bar"] <= reopening["pressure_bar_p95"]


def _step_pressure(pressure, uptake, level):
    """Pressure where a branch crosses ``level`` (the first crossing along the branch), interpolated in ln p."""
    p, n = np.asarray(pressure, float), np.asarray(uptake, float)
    above = n >= level
    k = int(np.argmax(above[1:] != above[:-1]))
    assert above[k] != above[k + 1], "the branch does not cross the level"
    t = (level - n[k]) / (n[k + 1] - n[k])
    return float(np.exp(np.log(p[k]) + t * (np.log(p[k + 1]) - np.log(p[k]))))


@pytest.fixture(scope="module")
def fitted_dut8(tmp_path_factory, shared_data):
    iso = shared_data / "isotherms" / "pygaps_dut" / "DUT-8(Zn) EtOH 298K.aif"
    return _fit_with_the_cli(tmp_path_factory.mktemp("fitdut8"), iso, "dut8-zn")  # C2H5OH, 298 K: the file says


def test_guest_and_temperature_come_from_the_file(fitted_dut8):
    """The AIF file states `_exptl_adsorptive C2H5OH` and `_exptl_temperature 298.00` (K): no --guest or
    --temperature is needed, and the formula is read as the package's `ethanol`."""
    model = json.loads((fitted_dut8 / "fit_result.json").read_text(encoding="utf-8"))["model"]
    assert model["guest"] == "ethanol" and model["temperature_K"] == 298.0


@pytest.mark.parametrize("options, message", [
    (["--guest", "CO2"], r"was measured with C2H5OH \(ethanol\) but --guest is 'CO2'"),
    (["--temperature", "273 K"], r"the file states 298 K but --temperature is 273 K"),
    (["--guest", "unobtainium"], r"--guest: unknown gas 'unobtainium'; known gases .*ethanol \(EtOH, C2H5OH"),
])
def test_file_and_options_that_disagree_are_refused(options, message, shared_data, tmp_path, capsys):
    iso = shared_data / "isotherms" / "pygaps_dut" / "DUT-8(Zn) EtOH 298K.aif"
    assert main(["fit", "--isotherm", str(iso), "--material", "dut8-zn", *options, "-o", str(tmp_path / "o")]) == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_a_file_that_states_no_temperature_needs_the_option(shared_data, tmp_path, capsys):
    iso = shared_data / "isotherms" / "pygaps_dut" / "DUT-8(Zn)_EtOH_298K.csv"
    assert main(["fit", "--isotherm", str(iso), "--material", "dut8-zn", "--guest", "EtOH", "-o",
                 str(tmp_path / "o")]) == 2
    assert "the file does not state its temperature; give --temperature" in capsys.readouterr().err


@pytest.mark.parametrize("text, name", [("C2H5OH", "ethanol"), ("EtOH", "ethanol"), ("carbon dioxide", "CO2"),
                                        ("co2", "CO2"), ("Water", "H2O"), ("n-C4H10", "n-butane"), ("xenon", "Xe"),
                                        ("N2", "N2"), ("methane", "CH4")])
def test_gases_by_formula_and_common_name(text, name):
    from twin.thermo.gases import gas, gas_name

    assert gas_name(text) == name and gas(text).name == name


def test_fit_of_the_dut8_zn_ethanol_isotherm_explains_the_gate(fitted_dut8):
    """DUT-8(Zn) + ethanol at 298 K (raw BEL file, AIF): the gate opens at 6.1-6.3 kPa on adsorption and the
    framework closes only slowly below about 1 kPa on desorption. The fitted powder (host, open-phase Langmuir
    pair, crystal-to-crystal spread of the switching offsets) must put its adsorption step
    (half of the top uptake) within 5 % of the measured one, and its desorption step below it, within a factor
    of two of the measured 0.54 kPa."""
    doc = json.loads((fitted_dut8 / "fit_result.json").read_text(encoding="utf-8"))
    params = doc["parameters"]
    # the closed phase is in its Henry regime below the gate: its Langmuir pair is not freed (docs/fit.md)
    assert set(params) == {"delta_f_kj_mol", "barrier_kj_mol", "n_max_open", "p_half_open_bar", "intrinsic_sigma_kj_mol"}
    for name, p in params.items():
        assert np.isfinite(p["value"]) and p["interval_90"][0] <= p["interval_90"][1], name
    ads, des = doc["posterior_predictive"]
    assert ads["label"] == "adsorption branch" and ads["quantity"] == "uptake (ml(STP) g-1)"
    level = 0.5 * max(ads["observed"])  # 148 mL(STP)/g
    p_ads, p_ads_model = (_step_pressure(ads["axis"]["values"], ads[k], level) for k in ("observed", "median"))
    p_des, p_des_model = (_step_pressure(des["axis"]["values"], des[k], level) for k in ("observed", "median"))
    assert 6.1e-2 < p_ads < 6.6e-2 and 4.5e-3 < p_des < 6.5e-3  # bar: the measured steps
    assert abs(math.log(p_ads_model / p_ads)) < math.log(1.05)
    assert p_des_model < 0.5 * p_ads_model
    assert abs(math.log(p_des_model / p_des)) < math.log(2.0)


BASE = """
[fit]
technique = "isotherm"
material = "mil53-al"
guest = "CO2"
temperature = "273 K"
[[measurements]]
path = "iso.csv"
"""


@pytest.mark.parametrize("extra, message", [
    ('[parameters.size_median_nm]\nvalue = "500 nm"\nbounds = ["900 nm", "100 nm"]\n',
     r"parameters.size_median_nm.bounds: lower bound 900 nm is above upper 100 nm"),
    ('[parameters.size_median]\nvalue = "500 nm"\n', r"parameters.size_median: unknown key \(did you mean 'size_median_nm'\?\)"),
    ('[parameters.size_median_nm]\nvalue = 500\n', r"parameters.size_median_nm.value: expected a quantity with a unit"),
    ('[parameters.defect_sigma_kj_mol]\nvalue = "1 kJ/mol"\nprior = { mean = "1 kJ/mol", sd = "0 kJ/mol" }\n',
     r"prior.sd: expected a positive standard deviation"),
])
def test_bad_fit_files_name_the_key(tmp_path, extra, message):
    (tmp_path / "iso.csv").write_text("pressure_bar,uptake,branch\n1,1,adsorption\n", encoding="utf-8")
    import tomllib

    with pytest.raises(FitError, match=message):
        parse_fit_config(tomllib.loads(BASE + extra), "fit.toml", tmp_path)


def test_xrd_series_fit_file_errors(tmp_path):
    import tomllib

    text = '[fit]\ntechnique = "xrd-series"\nmaterial = "mil53-al"\ninstrument = "missing.toml"\n[[measurements]]\npath = "m"\n'
    with pytest.raises(FitError, match=r"fit.instrument: instrument file 'missing.toml' not found"):
        parse_fit_config(tomllib.loads(text), "fit.toml", tmp_path)
    (tmp_path / "inst.toml").write_text("", encoding="utf-8")
    (tmp_path / "m").mkdir()
    text = text.replace("missing.toml", "inst.toml") + '[truth]\nswitching_pressure = "5 bar"\n'
    with pytest.raises(FitError, match=r"truth.switching_pressure: unknown quantity"):
        parse_fit_config(tomllib.loads(text), "fit.toml", tmp_path)
    with pytest.raises(FitError, match=r"fit.technique: expected one of xrd-series, total-scattering, isotherm, nmr-series, got 'rietveld'"):
        parse_fit_config(tomllib.loads(text.replace('"xrd-series"', '"rietveld"')), "fit.toml", tmp_path)


def _one_branch_file(shared_data, tmp_path, branch="adsorption", keep=None):
    """The measured 273 K MIL-53(Al) CO2 isotherm cut down to one branch (as most measured isotherms are)."""
    source = shared_data / "isotherms" / "mil53al_boutin2010_ortiz2012" / "iso_CO2_273K.csv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [ln for ln in lines if not ln.startswith("#") and f",{branch},measured," in ln]
    path = tmp_path / f"{branch}_only.csv"
    head = [ln for ln in lines if ln.startswith("#") or ln.startswith("set,")]
    path.write_text("".join(head + rows[: keep or len(rows)]), encoding="utf-8")
    return path


def test_an_adsorption_only_isotherm_is_fitted_and_says_what_it_cannot_determine(shared_data, tmp_path, capsys):
    """The adsorption branch up to 2.5 bar, below the np → lp step: nothing about the open phase or the
    barrier is in these data, and the result says so parameter by parameter (their posteriors spread over most of
    their allowed range, as the flat prior does)."""
    path = _one_branch_file(shared_data, tmp_path, keep=20)
    out = tmp_path / "fit"
    assert main(["fit", "--isotherm", str(path), "--material", "mil53-al", "--guest", "CO2", "--temperature", "273 K",
                 "-o", str(out), "--steps", "200"]) == 0
    doc = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))
    assert [p["label"] for p in doc["posterior_predictive"]] == ["adsorption branch"]
    # every parameter says whether these data determine it; the undetermined ones are listed and warned about
    assert set(doc["undetermined"]) == {n for n, p in doc["parameters"].items() if not p["determined"]}
    assert {"n_max_open", "p_half_open_bar", "barrier_kj_mol"} <= set(doc["undetermined"])
    assert doc["parameters"]["p_half_closed_bar"]["determined"]  # the np plateau is measured
    for name in doc["undetermined"]:
        assert any(w.startswith(f"{name}: not determined by these data") for w in doc["warnings"])
    printed = capsys.readouterr().out
    assert all(f"warning: {name}: not determined" in printed for name in doc["undetermined"])


def test_an_isotherm_with_one_point_is_refused(shared_data, tmp_path, capsys):
    path = _one_branch_file(shared_data, tmp_path, keep=1)
    assert main(["fit", "--isotherm", str(path), "--material", "mil53-al", "--guest", "CO2", "--temperature", "273 K",
                 "-o", str(tmp_path / "fit")]) == 2
    err = capsys.readouterr().err
    assert "point(s) above" in err and "an isotherm fit needs a measured curve" in err and len(err.splitlines()) == 1
