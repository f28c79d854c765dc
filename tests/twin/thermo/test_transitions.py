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
from twin.thermo import host_barrier_kj_mol
from twin.thermo.transitions import (
    crossing_pressure,
    crossing_temperature,
    find_thermal_transitions,
    find_transitions,
    isobar_branches,
    isotherm_branches,
    phase_diagram,
)


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


def test_mil53_co2_sequence_at_room_temperature():
    """Bourrelly et al., J. Am. Chem. Soc. 127, 13519 (2005), CO2 at 304 K: np at low pressure, reopening step
    at about 5-6 bar. The model (parameters fitted at 253-323 K, not at 303 K) gives lp -> np -> lp with the
    adsorption step at 6.6 bar; the bounds below allow 4-8 bar."""
    m = load_material("mil53-al")
    b = isotherm_branches(m.thermo, 303.0, np.geomspace(1e2, 40e5, 300), "CO2")
    found = find_transitions(m.thermo, 303.0, b, "CO2")
    tr = [(t.branch, t.phase_from, t.phase_to) for t in found]
    assert tr[:2] == [("adsorption", "lp", "np"), ("adsorption", "np", "lp")]
    steps = {(t.branch, t.phase_to): t.pressure_Pa for t in found}
    assert steps[("adsorption", "np")] < 1e5
    assert 4e5 < steps[("adsorption", "lp")] < 8e5
    assert steps[("desorption", "np")] < steps[("adsorption", "lp")]


def test_empty_mil53_thermal_hysteresis():
    """Liu et al., J. Am. Chem. Soc. 130, 11813 (2008): the empty lp closes on cooling at 125-150 K and the np
    reopens on heating at 325-375 K. Carried by ΔF_host(T) and W(T) of the double well."""
    m = load_material("mil53-al")
    tb = isobar_branches(m.thermo, np.linspace(110.0, 400.0, 146), 0.0, "CO2")
    found = [(t.branch, t.phase_to, t.temperature_K) for t in find_thermal_transitions(m.thermo, 0.0, tb, "CO2")]
    assert [(b, p) for b, p, _ in found] == [("cooling", "np"), ("heating", "lp")]
    assert 125.0 <= found[0][2] <= 150.0
    assert 325.0 <= found[1][2] <= 375.0
    # spinodal temperatures in closed form: ΔF(T) = ±W(T)/3 with ΔF = ΔU − TΔS and W = W_ref − S_W (T − T_ref)
    p = m.thermo
    du, ds = float(p.host_energy_kj_mol[1]), float(p.host_entropy_kj_mol_K[1])
    w0, sw, t0 = float(p.barrier_kj_mol), float(p.barrier_entropy_kj_mol_K), float(p.reference_temperature_K)
    t_close = (du - (w0 + sw * t0) / 3.0) / (ds - sw / 3.0)
    t_open = (du + (w0 + sw * t0) / 3.0) / (ds + sw / 3.0)
    assert found[0][2] == pytest.approx(t_close, abs=0.05)
    assert found[1][2] == pytest.approx(t_open, abs=0.05)


def test_xe_cooling_at_half_a_bar_closes_the_lp():
    """Volkringer et al., J. Phys. Chem. C (2017), doi:10.1021/acs.jpcc.7b06006: Xe loaded at 0.5 bar, lp -> np on
    cooling from 327 to 237 K. The model (Xe Langmuir parameters are estimates) closes inside that window. The
    reopening they see below 230 K is NOT reproduced (the estimated lp Xe affinity is too weak), see
    docs/materials.md."""
    m = load_material("mil53-al")
    tb = isobar_branches(m.thermo, np.linspace(200.0, 330.0, 131), 0.5e5, "Xe", start="lp")
    found = find_thermal_transitions(m.thermo, 0.5e5, tb, "Xe")
    cooling = [t for t in found if t.branch == "cooling"]
    assert cooling[0].phase_to == "np" and 237.0 <= cooling[0].temperature_K <= 327.0


def test_barrier_law_and_thermal_crossing_gradient():
    with jax.enable_x64(True):
        p = load_material("mil53-al").thermo.astype(jnp.float64)
        t = jnp.asarray([150.0, 273.0, 350.0])
        w = host_barrier_kj_mol(p, t)
        np.testing.assert_allclose(w, float(p.barrier_kj_mol) - float(p.barrier_entropy_kj_mol_K) * (np.asarray(t) - 273.0), rtol=1e-12)

        def t_open(prm):  # heating: np -> lp spinodal of the empty host
            return crossing_temperature(prm, 0.0, "CO2", 0, 1, 300.0, 400.0)

        grad = jax.grad(t_open)(p)
        for name, index in (("barrier_entropy_kj_mol_K", ()), ("host_entropy_kj_mol_K", (1,)), ("barrier_kj_mol", ())):
            h = 1e-6
            leaf = getattr(p, name)
            plus = p.__class__(**{**p.__dict__, name: leaf.at[index].add(h)})
            minus = p.__class__(**{**p.__dict__, name: leaf.at[index].add(-h)})
            fd = (float(t_open(plus)) - float(t_open(minus))) / (2 * h)
            assert float(getattr(grad, name)[index]) == pytest.approx(fd, rel=1e-5), name


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
