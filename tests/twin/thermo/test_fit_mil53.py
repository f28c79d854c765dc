"""Fit MIL-53(Al)/CO2 to measured data at several temperatures and check the steps land where the measurements
put them: the 273 K isotherm of Boutin et al., J. Phys. Chem. C 114, 22237 (2010), the pure-CO2 ends of the
CO2/CH4 isobars of Ortiz et al., Langmuir 28, 494 (2012) at 253, 292 and 323 K (data fxcoudert/citable-data,
CC-BY-4.0), and the thermal hysteresis of the empty solid of Liu et al., J. Am. Chem. Soc. 130, 11813 (2008)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from twin.material import load_material
from twin.thermo.fitting import HostFit, _fugacity, apply_fit, fit_enthalpy, fit_host, fit_langmuir
from twin.thermo.transitions import find_transitions, isotherm_branches

FOLDER = "isotherms/mil53al_boutin2010_ortiz2012"
#: wt% → molecules per site cell: 100 × M(CO2) / M(4 Al(OH)(bdc)) (see the data README)
WT_PER_MOLECULE = 100.0 * 44.009 / 832.42


def _rows(shared_data, name):
    lines = [line for line in (shared_data / FOLDER / name).read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def _read(shared_data):
    rows = [r for r in _rows(shared_data, "iso_CO2_273K.csv") if r["kind"] == "measured" and float(r["pressure_bar"]) > 0]
    pick = lambda b: np.array([(float(r["pressure_bar"]) * 1e5, float(r["uptake_molecules_per_cell"])) for r in rows if r["branch"] == b])
    return pick("adsorption"), pick("desorption")


def _isobar_ends(shared_data, name):
    """(pressure [Pa], uptake [molecules per cell]) at x_CO2 = 1 of the adsorption isobars, rising pressure."""
    pts = [(float(r["total_pressure_bar"]) * 1e5, float(r["uptake_wt_percent"]) / WT_PER_MOLECULE)
           for r in _rows(shared_data, name) if r["branch"] == "ads" and r["x_co2"] == "1" and r["total_pressure_bar"]]
    return np.array(sorted(pts))


def _measured_step(points, low, high):
    """Pressure where the uptake crosses the midpoint between the np plateau and the lp level (interpolated)."""
    mid = 0.5 * (low + high)
    p, n = points[:, 0], points[:, 1]
    order = np.argsort(p)
    p, n = p[order], n[order]
    k = int(np.argmax((n[:-1] < mid) & (n[1:] >= mid) & (p[:-1] > 1e5)))
    return p[k] + (mid - n[k]) * (p[k + 1] - p[k]) / (n[k + 1] - n[k])


def _steps(params, t, p_max=10e5):
    b = isotherm_branches(params, t, np.geomspace(1e2, p_max, 300), "CO2")
    return {(x.branch, x.phase_to): x.pressure_Pa for x in find_transitions(params, t, b, "CO2")}


def test_joint_fit_reproduces_measured_steps_and_the_shipped_parameters(shared_data):
    ads, des = _read(shared_data)
    ends = {t: _isobar_ends(shared_data, f) for t, f in ((253.0, "iso_253K.csv"), (292.0, "iso_292K_2ab.csv"), (323.0, "iso_323K_2.csv"))}
    material = load_material("mil53-al")
    params, t = material.thermo, 273.0
    g = params.guest_index("CO2")
    # stage 1: Langmuir per phase at 273 K
    np_sel = np.concatenate([ads[(ads[:, 0] >= 0.12e5) & (ads[:, 0] <= 2.5e5)], des[(des[:, 0] >= 0.05e5) & (des[:, 0] <= 1.1e5)]])
    lp_sel = np.concatenate([ads[ads[:, 0] >= 4.5e5], des[des[:, 0] >= 2.09e5]])
    lang = {name: fit_langmuir(_fugacity(params, g, t, sel[:, 0]), sel[:, 1]) for name, sel in (("np", np_sel), ("lp", lp_sel))}
    trial = apply_fit(params, "CO2", t, lang, HostFit(0.0, 10.0, 0.0), 137.5)
    # stage 2: enthalpies from the phase-assigned isobar ends (np plateau at 253/292 K; lp at 253/292 K and 323 K)
    e253, e292, e323 = ends[253.0], ends[292.0], ends[323.0]
    dh_np, rms_np = fit_enthalpy(trial, "CO2", "np", [(253.0, e253[:2, 0], e253[:2, 1]), (292.0, e292[:3, 0], e292[:3, 1])])
    dh_lp, rms_lp = fit_enthalpy(trial, "CO2", "lp", [(253.0, e253[2:, 0], e253[2:, 1]), (292.0, e292[5:, 0], e292[5:, 1]), (323.0, e323[:, 0], e323[:, 1])])
    assert rms_np < 0.3 and rms_lp < 0.4  # molecules per cell
    assert -50.0 < dh_np < dh_lp < -25.0  # the np binds CO2 more strongly (both physisorption magnitudes)
    heat = {"np": dh_np, "lp": dh_lp}
    trial = apply_fit(params, "CO2", t, lang, HostFit(0.0, 10.0, 0.0), 137.5, 350.0, heat)
    # stage 3: ΔF(273 K), W(273 K) jointly on all temperatures, tied to T by the empty-solid hysteresis
    empty = np.zeros(0)
    more = [(tt, e[:, 0], e[:, 1], empty, empty) for tt, e in ends.items()]
    host = fit_host(trial, "CO2", t, ads[:, 0], ads[:, 1], des[:, 0], des[:, 1], more_isotherms=more,
                    thermal_hysteresis_K=(137.5, 350.0), n_grid=81)
    fitted = apply_fit(params, "CO2", t, lang, host, 137.5, 350.0, heat)
    assert host.rms_uptake < 0.6  # molecules per cell over 68 points (uptake up to 9)

    # 273 K: adsorption step within 15 % of the measured one, desorption step below it
    steps = _steps(fitted, t)
    p_ads = _measured_step(ads, 2.7, 7.5)
    assert steps[("adsorption", "lp")] == pytest.approx(p_ads, rel=0.15)
    assert steps[("desorption", "np")] < min(steps[("adsorption", "lp")], p_ads)
    # 253 K and 292 K: the isobar ends are np at 1.5 / 2.75 bar and lp at 3 / 6 bar; the model step lies between
    # (10 % slack for the 253 K step, which the model puts at the 1.5 bar point)
    assert 1.35e5 < _steps(fitted, 253.0)[("adsorption", "lp")] < 3.0e5
    assert 2.75e5 < _steps(fitted, 292.0)[("adsorption", "lp")] < 6.0e5

    # the shipped parameter file holds this fit (regression beside the measured-data checks above)
    shipped = material.thermo
    np.testing.assert_allclose(np.asarray(shipped.n_max[:, g]), np.asarray(fitted.n_max[:, g]), rtol=2e-3)
    np.testing.assert_allclose(np.asarray(shipped.log_k_ref[:, g]), np.asarray(fitted.log_k_ref[:, g]), atol=2e-3)
    np.testing.assert_allclose(np.asarray(shipped.enthalpy_kj_mol[:, g]), np.asarray(fitted.enthalpy_kj_mol[:, g]), rtol=2e-3)
    for name in ("barrier_kj_mol", "barrier_entropy_kj_mol_K"):
        assert float(getattr(shipped, name)) == pytest.approx(float(getattr(fitted, name)), rel=1e-2), name
    for name in ("host_energy_kj_mol", "host_entropy_kj_mol_K"):
        assert float(getattr(shipped, name)[1]) == pytest.approx(float(getattr(fitted, name)[1]), rel=1e-2), name


def test_shipped_parameters_give_lp_uptake_without_breathing_at_323K(shared_data):
    """At 323 K the model has no np window, and the lp Langmuir uptake matches every measured isobar end."""
    params = load_material("mil53-al").thermo
    e323 = _isobar_ends(shared_data, "iso_323K_2.csv")
    b = isotherm_branches(params, 323.0, e323[:, 0], "CO2")
    assert set(b.adsorption_phase.tolist()) == {1} and find_transitions(params, 323.0, b, "CO2") == []
    np.testing.assert_allclose(b.adsorption_uptake, e323[:, 1], atol=0.6)  # molecules per cell
