"""Branches with spinodal hysteresis, differentiable transition pressures, CLI output and errors."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from twin.cli import main
from twin.material import load_material
from twin.thermo.transitions import crossing_pressure, find_transitions, isotherm_branches, phase_diagram


def test_transition_pressure_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        p = load_material("mil53-al").thermo.astype(jnp.float64)
        w3 = p.barrier_kj_mol / 3.0

        def p_step(prm):  # adsorption np -> lp spinodal at 273 K
            return crossing_pressure(prm, 273.0, "CO2", 0, 1, prm.barrier_kj_mol / 3.0, 1e5, 30e5)

        grad = jax.grad(p_step)(p)
        for name, index in (("host_energy_kj_mol", (1,)), ("n_max", (1, 0)), ("log_k_ref", (0, 0)), ("barrier_kj_mol", ())):
            h = 1e-5
            leaf = getattr(p, name)
            plus = p.__class__(**{**p.__dict__, name: leaf.at[index].add(h)})
            minus = p.__class__(**{**p.__dict__, name: leaf.at[index].add(-h)})
            fd = (float(p_step(plus)) - float(p_step(minus))) / (2 * h)
            assert float(getattr(grad, name)[index]) == pytest.approx(fd, rel=1e-4), name
        assert float(w3) > 0


def test_mil53_co2_sequence_lp_np_lp_with_hysteresis():
    m = load_material("mil53-al")
    grid = np.geomspace(1e2, 40e5, 300)
    b = isotherm_branches(m.thermo, 273.0, grid, "CO2")
    tr = [(t.branch, t.phase_from, t.phase_to) for t in find_transitions(m.thermo, 273.0, b, "CO2")]
    assert tr[:2] == [("adsorption", "lp", "np"), ("adsorption", "np", "lp")]
    assert ("desorption", "lp", "np") in tr
    steps = {(t.branch, t.phase_to): t.pressure_Pa for t in find_transitions(m.thermo, 273.0, b, "CO2")}
    assert steps[("desorption", "np")] < steps[("adsorption", "lp")]  # hysteresis


@pytest.mark.xfail(strict=True, reason="known shortfall: with the 273 K calibration and one T-independent W the "
                   "lp->np->lp sequence is not reproduced at 303 K (Bourrelly 2005 observe it at 304 K)")
def test_mil53_co2_sequence_at_room_temperature():
    m = load_material("mil53-al")
    b = isotherm_branches(m.thermo, 303.0, np.geomspace(1e2, 40e5, 300), "CO2")
    tr = [(t.branch, t.phase_from, t.phase_to) for t in find_transitions(m.thermo, 303.0, b, "CO2")]
    assert tr[:2] == [("adsorption", "lp", "np"), ("adsorption", "np", "lp")]


def test_phase_diagram_shape_and_phases():
    m = load_material("mil53-al")
    stable, gap = phase_diagram(m.thermo, jnp.linspace(220.0, 320.0, 5), jnp.geomspace(1e3, 30e5, 40), "CO2")
    assert stable.shape == (5, 40) and gap.shape == (5, 40)
    assert set(np.unique(np.asarray(stable))) <= {0, 1}


def test_cli_isotherm_csv_png_and_json(tmp_path, capsys):
    out = tmp_path / "iso.csv"
    rc = main(["isotherm", "--material", "mil53-al", "--guest", "CO2", "--temperature", "273 K",
               "--pressure", "0.01..40 bar", "--points", "120", "-o", str(out), "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["material"] == "mil53-al" and info["guest"] == "CO2" and info["temperature_K"] == 273.0
    assert {"branch", "from", "to", "pressure_bar"} <= set(info["transitions"][0])
    rows = list(csv.DictReader(out.open()))
    assert set(rows[0]) == {"pressure_bar", "uptake_mmol_per_g", "phase", "branch"}
    assert {r["branch"] for r in rows} == {"adsorption", "desorption"}
    assert out.with_suffix(".png").stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--material", "nope", "--guest", "CO2", "--temperature", "300 K"], "unknown material 'nope'"),
        (["--material", "mil53-al", "--guest", "Ar", "--temperature", "300 K"], "known guests: CO2, H2O, Xe, CH4"),
        (["--material", "mil53-al", "--guest", "CO2", "--temperature", "500 K"], "outside the validity range"),
        (["--material", "mil53-al", "--guest", "CO2", "--temperature", "300 K", "--pressure", "0..3 bar"], "must be positive"),
        (["--material", "mil53-al", "--guest", "CO2", "--temperature", "300 K", "--pressure", "-1..3 bar"], "must be positive"),
        (["--material", "mil53-al", "--guest", "CO2", "--temperature", "5 bar"], "expected a temperature"),
    ],
)
def test_cli_bad_input(argv, message, capsys):
    assert main(["isotherm", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_phase_diagram(tmp_path, capsys):
    out = tmp_path / "pd.csv"
    rc = main(["phase-diagram", "--material", "dut8-ni", "--guest", "n-butane", "--temperature", "263..283 K",
               "--temperatures", "3", "--pressure", "0.001..1 bar", "--points", "60", "-o", str(out), "--json"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["temperatures"]) == 3
    assert out.with_suffix(".png").is_file()
