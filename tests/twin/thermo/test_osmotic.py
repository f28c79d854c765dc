"""Osmotic potentials: analytic Langmuir and Henry limits, closed-form transition, IAST, double well, EOS."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from twin.conditions import Conditions
from twin.errors import MaterialError
from twin.material import load_material
from twin.thermo import (
    host_landscape,
    iast_loadings,
    iast_spreading_pressure,
    langmuir_grand_potential,
    langmuir_loading,
    peng_robinson_phi,
    phase_loadings,
    phase_potentials,
    water_saturation_pressure_Pa,
)
from twin.thermo.eos import R_KJ_MOL_K
from twin.thermo.osmotic import PV_KJ_MOL_PER_PA_A3
from twin.thermo.transitions import crossing_pressure

F32 = jnp.float32


def test_langmuir_limits():
    n, k = F32(3.0), F32(2e-5)
    low = jnp.asarray([1e-3, 1e-2], F32)
    # Henry regime: N ≈ nKf and ψ ≈ nKf (relative error ~ Kf)
    np.testing.assert_allclose(langmuir_loading(n, k, low), n * k * low, rtol=1e-6)
    np.testing.assert_allclose(langmuir_grand_potential(n, k, low), n * k * low, rtol=1e-6)
    # saturation: N → n; half loading at f = 1/K
    assert float(langmuir_loading(n, k, F32(1e12))) == pytest.approx(3.0, rel=1e-5)
    assert float(langmuir_loading(n, k, 1.0 / k)) == pytest.approx(1.5, rel=1e-6)
    # Gibbs: dψ/dln f = N
    dpsi = jax.grad(lambda lf: langmuir_grand_potential(n, k, jnp.exp(lf)))(F32(np.log(5e4)))
    assert float(dpsi) == pytest.approx(float(langmuir_loading(n, k, F32(5e4))), rel=1e-5)


def test_iast_single_guest_and_equal_capacity_binary_are_exact():
    n = jnp.asarray([2.0, 5.0], F32)
    kf = jnp.asarray([3.0, 0.0], F32)
    assert float(iast_spreading_pressure(n, kf)) == pytest.approx(2.0 * np.log(4.0), rel=1e-6)
    # equal capacities: IAST = extended Langmuir, ψ = n ln(1 + Σ K f), N_g = n K_g f_g / (1 + Σ K f)
    n2 = jnp.asarray([4.0, 4.0], F32)
    kf2 = jnp.asarray([1.5, 0.7], F32)
    assert float(iast_spreading_pressure(n2, kf2)) == pytest.approx(4.0 * np.log(1 + 2.2), rel=1e-5)
    np.testing.assert_allclose(iast_loadings(n2, kf2), 4.0 * np.array([1.5, 0.7]) / 3.2, rtol=1e-5)


def test_single_guest_transition_closed_form():
    """Two Langmuir phases: Ω_o − Ω_c = ΔF + pΔV − RT[n_o ln(1+K_o f) − n_c ln(1+K_c f)] = 0 solved by hand."""
    with jax.enable_x64(True):
        p = load_material("mil53-al").thermo.astype(jnp.float64)
        t = 273.0
        g = p.guest_index("CO2")
        pstar = float(crossing_pressure(p, t, "CO2", 0, 1, 0.0, 5e4, 30e5))
        # independent evaluation with numpy of the same closed-form expression at p*
        phi = float(peng_robinson_phi(jnp.float64(t), jnp.float64(pstar), p.critical_temperature_K[g], p.critical_pressure_Pa[g], p.acentric_factor[g]))
        f = phi * pstar
        k = np.exp(np.asarray(p.log_k_ref[:, g]))
        n = np.asarray(p.n_max[:, g])
        df = float(p.host_energy_kj_mol[1] - t * p.host_entropy_kj_mol_K[1])
        dv = float(p.volume_A3[1] - p.volume_A3[0]) * PV_KJ_MOL_PER_PA_A3
        gap = df + pstar * dv - R_KJ_MOL_K * t * (n[1] * np.log1p(k[1] * f) - n[0] * np.log1p(k[0] * f))
        assert abs(gap) < 1e-9
        assert 1e5 < pstar < 30e5


def test_phase_potentials_match_formula_and_unknown_guest():
    p = load_material("mil53-al").thermo
    c = Conditions.make(300.0, {"CO2": 2e5})
    om = np.asarray(phase_potentials(p, c))
    g = p.guest_index("CO2")
    phi = float(peng_robinson_phi(F32(300.0), F32(2e5), p.critical_temperature_K[g], p.critical_pressure_Pa[g], p.acentric_factor[g]))
    dh = np.asarray(p.enthalpy_kj_mol[:, g])
    k = np.exp(np.asarray(p.log_k_ref[:, g]) - dh / R_KJ_MOL_K * (1 / 300.0 - 1 / 273.0))
    psi = np.asarray(p.n_max[:, g]) * np.log1p(k * phi * 2e5)
    expect = np.asarray(p.host_energy_kj_mol) - 300.0 * np.asarray(p.host_entropy_kj_mol_K) + 2e5 * np.asarray(p.volume_A3) * PV_KJ_MOL_PER_PA_A3 - R_KJ_MOL_K * 300.0 * psi
    np.testing.assert_allclose(om, expect, rtol=2e-5, atol=2e-4)
    with pytest.raises(MaterialError, match="guest 'Ar' is not in this material's parameter set"):
        phase_potentials(p, Conditions.make(300.0, {"Ar": 1e5}))


def test_hydrated_narrow_pore_at_ambient_humidity():
    p = load_material("mil53-al").thermo
    c = Conditions.make(298.15, {}, relative_humidity=0.5)
    om = np.asarray(phase_potentials(p, c))
    loads = np.asarray(phase_loadings(p, c))
    # np is stable and the lp is beyond its spinodal (an activated lp sample closes in humid air)
    assert om[0] < om[1] - float(p.barrier_kj_mol) / 3.0
    assert loads[0, p.guest_index("H2O")] > 3.0  # close to one H2O per Al (4 per site cell)


def test_co_adsorption_water_reduces_co2_loading():
    p = load_material("mil53-al").thermo
    dry = phase_loadings(p, Conditions.make(298.15, {"CO2": 1e5}))
    wet = phase_loadings(p, Conditions.make(298.15, {"CO2": 1e5}, relative_humidity=0.3))
    g = p.guest_index("CO2")
    assert float(wet[0, g]) < float(dry[0, g])


def test_host_landscape_spinodal_at_w_over_3():
    w = F32(12.0)
    eta0 = F32(0.0)
    second = jax.grad(jax.grad(lambda e, d: host_landscape(e, F32(0.0), d, w)), argnums=0)
    # closed state (η = 0) loses stability exactly at ΔΩ = −W/3
    assert float(second(eta0, F32(-4.0 + 0.05))) > 0.0
    assert float(second(eta0, F32(-4.0 - 0.05))) < 0.0
    assert float(second(F32(1.0), F32(4.0 - 0.05))) > 0.0
    assert float(second(F32(1.0), F32(4.0 + 0.05))) < 0.0
    # end values and barrier W/16 at ΔΩ = 0
    vals = host_landscape(jnp.asarray([0.0, 0.5, 1.0], F32), F32(1.0), F32(3.0), w)
    np.testing.assert_allclose(vals, [1.0, 2.0 + 12.0 / 16.0, 3.0], rtol=1e-6)
    assert host_landscape(jnp.zeros((2, 3), F32), F32(0.0), F32(1.0), w).shape == (2, 3)


def test_peng_robinson_against_numpy_cubic_and_ideal_limit():
    tc, pc, om = 304.1282, 7.3773e6, 0.225
    t, p = 303.0, 40e5
    kappa = 0.37464 + 1.54226 * om - 0.26992 * om**2
    alpha = (1 + kappa * (1 - np.sqrt(t / tc))) ** 2
    a = 0.45724 * alpha * (p / pc) / (t / tc) ** 2
    b = 0.07780 * (p / pc) / (t / tc)
    z = max(r.real for r in np.roots([1, -(1 - b), a - 3 * b * b - 2 * b, -(a * b - b * b - b**3)]) if abs(r.imag) < 1e-9)
    ln_phi = z - 1 - np.log(z - b) - a / (2 * np.sqrt(2) * b) * np.log((z + (1 + np.sqrt(2)) * b) / (z + (1 - np.sqrt(2)) * b))
    got = float(peng_robinson_phi(F32(t), F32(p), F32(tc), F32(pc), F32(om)))
    assert got == pytest.approx(np.exp(ln_phi), rel=1e-4)
    assert float(peng_robinson_phi(F32(t), F32(1.0), F32(tc), F32(pc), F32(om))) == pytest.approx(1.0, abs=1e-5)


def test_water_saturation_pressure_iapws():
    # IAPWS-95 saturation pressure at 298.15 K: 3.1699 kPa; at 373.124 K: 101.325 kPa (normal boiling point)
    assert float(water_saturation_pressure_Pa(F32(298.15))) == pytest.approx(3169.9, rel=2e-4)
    assert float(water_saturation_pressure_Pa(F32(373.124))) == pytest.approx(101325.0, rel=5e-4)


@pytest.mark.parametrize(
    "name, guest, temperature_K, start, phase",
    [
        ("mil53-al", "CO2", 273.0, "stable", "np"),  # ΔF(273 K) > 0: the np has the lower Ω at p → 0
        ("mil53-al", "CO2", 273.0, "activated", "lp"),  # the activated lp is metastable there (ΔF < W/3)
        ("mil53-al", "CO2", 303.0, "stable", "np"),
        ("dut8-ni", "n-butane", 273.0, "activated", "cp"),  # the empty bulk op is beyond its spinodal
    ],
)
def test_henry_regime_of_the_model_isotherm(name, guest, temperature_K, start, phase):
    """As p → 0 the branch's uptake per pressure tends to the Henry constant n_max·K(T) of the phase it is in
    (Langmuir: N/p = n K φ / (1 + K φ p), φ → 1); the relative deviation is K p to first order."""
    from twin.thermo import langmuir_affinity_per_Pa
    from twin.thermo.transitions import isotherm_branches

    p = load_material(name).thermo
    g, i = p.guest_index(guest), p.phase_names.index(phase)
    grid = np.geomspace(1e-3, 1.0, 7)  # Pa
    b = isotherm_branches(p, temperature_K, grid, guest, start=start)
    assert set(b.adsorption_phase.tolist()) == {i}
    k = float(langmuir_affinity_per_Pa(p.log_k_ref[i, g], p.enthalpy_kj_mol[i, g], F32(temperature_K), p.reference_temperature_K))
    henry = float(p.n_max[i, g]) * k  # molecules per cell per Pa
    deviation = np.abs(b.adsorption_uptake / grid / henry - 1.0)
    assert np.all(deviation <= 2.0 * k * grid + 2e-5)  # float32: 2e-5 beside the first-order term
    # and the slope converges: the deviation shrinks with p (down to float32 resolution)
    assert deviation[0] <= deviation[-1] + 2e-5
