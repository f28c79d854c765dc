"""Saturation and sublimation pressures of the guest gases against published values, and the edge check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.errors import MaterialError
from twin.thermo import check_below_saturation, peng_robinson_saturation_pressure_Pa, saturation, saturation_pressure_Pa
from twin.thermo.eos import co2_sublimation_pressure_Pa, co2_vapour_pressure_Pa, ice_sublimation_pressure_Pa
from twin.thermo.gases import GASES

ATM_PA = 101325.0


@pytest.mark.parametrize(
    "name, temperature_K, published_Pa, rel",
    [
        # reference equations (tolerance: their own accuracy, well below 0.1 %)
        ("CO2", 273.15, 3.4851e6, 1e-3),  # NIST Webbook (Span & Wagner 1996 EOS): 3.4851 MPa
        ("CO2", 216.592, 0.51795e6, 1e-3),  # triple point (Span & Wagner 1996)
        ("CO2", 194.686, ATM_PA, 1e-3),  # normal sublimation temperature (Span & Wagner 1996)
        ("H2O", 298.15, 3169.9, 1e-4),  # IAPWS-95
        ("H2O", 230.0, 8.947352740, 1e-5),  # ice Ih, check value of the IAPWS 2011 sublimation release
        # Peng–Robinson equal fugacity (tolerance 2 %, the accuracy of the corresponding-states α(T))
        ("n-butane", 273.15, 1.032e5, 0.02),  # NIST Webbook (Bücker & Wagner 2006 EOS): 1.03 bar
        ("n-butane", 272.66, ATM_PA, 0.02),  # normal boiling point (Bücker & Wagner 2006)
        ("N2", 77.355, ATM_PA, 0.02),  # normal boiling point (Span et al. 2000)
        ("CH4", 111.667, ATM_PA, 0.02),  # normal boiling point (Setzmann & Wagner 1991)
        ("Xe", 165.051, ATM_PA, 0.02),  # normal boiling point (Lemmon & Span 2006)
        ("Xe", 161.405, 81.77e3, 0.02),  # triple point (Lemmon & Span 2006)
        # ethanol (polar; PR with the Poling 2001 constants): Dillon & Penoncello 2004 reference equation as
        # tabulated in Perry's Handbook, 8th ed., Table 2-214; CRC Handbook at 25 °C; normal boiling point
        ("ethanol", 295.0, 6.6146e3, 0.015),
        ("ethanol", 298.15, 7.87e3, 0.015),
        ("ethanol", 310.0, 15.298e3, 0.015),
        ("ethanol", 351.44, ATM_PA, 0.025),
    ],
)
def test_saturation_pressure_against_published_values(name, temperature_K, published_Pa, rel):
    assert saturation_pressure_Pa(name, temperature_K) == pytest.approx(published_Pa, rel=rel)


def test_lines_and_no_limit_above_the_critical_temperature():
    assert saturation("CO2", 204.0).line == "sublimation line"
    assert saturation("CO2", 273.0).line == "vapour pressure"
    for name, gas in GASES.items():
        assert math.isinf(saturation_pressure_Pa(name, gas.critical_temperature_K + 0.1)), name
    # the CO2 vapour-pressure and sublimation equations meet at the triple point
    assert co2_vapour_pressure_Pa(216.592) == pytest.approx(co2_sublimation_pressure_Pa(216.592), rel=1e-4)
    assert ice_sublimation_pressure_Pa(273.16) == pytest.approx(611.657, rel=1e-9)
    # below the triple point the solid has the lower vapour pressure; the two lines meet at T_t
    xe = GASES["Xe"]
    liquid = lambda t: peng_robinson_saturation_pressure_Pa(t, xe.critical_temperature_K, xe.critical_pressure_Pa, xe.acentric_factor)  # noqa: E731
    assert saturation_pressure_Pa("Xe", 140.0) < liquid(140.0)
    assert saturation_pressure_Pa("Xe", xe.triple_temperature_K - 1e-6) == pytest.approx(liquid(xe.triple_temperature_K), rel=1e-5)
    # monotone in T over every material's validity range
    t = np.linspace(77.0, 400.0, 60)
    for name in GASES:
        p = np.array([saturation_pressure_Pa(name, x) for x in t])
        finite = np.isfinite(p)
        assert np.all(np.diff(p[finite]) > 0.0), name


def test_peng_robinson_saturation_has_equal_fugacities():
    """Independent check of the solver: at p_σ the smallest and largest roots of the PR cubic (numpy.roots)
    have equal fugacity coefficients."""
    for name, temperature_K in (("Xe", 200.0), ("n-butane", 300.0), ("CH4", 150.0), ("CO2", 250.0)):
        g = GASES[name]
        p = peng_robinson_saturation_pressure_Pa(temperature_K, g.critical_temperature_K, g.critical_pressure_Pa, g.acentric_factor)
        t_r, p_r = temperature_K / g.critical_temperature_K, p / g.critical_pressure_Pa
        kappa = 0.37464 + 1.54226 * g.acentric_factor - 0.26992 * g.acentric_factor**2
        alpha = (1 + kappa * (1 - np.sqrt(t_r))) ** 2
        a, b = 0.45724 * alpha * p_r / t_r**2, 0.07780 * p_r / t_r
        z = np.sort([r.real for r in np.roots([1, -(1 - b), a - 3 * b * b - 2 * b, -(a * b - b * b - b**3)]) if abs(r.imag) < 1e-9])
        s2 = np.sqrt(2.0)
        ln_phi = [zz - 1 - np.log(zz - b) - a / (2 * s2 * b) * np.log((zz + (1 + s2) * b) / (zz + (1 - s2) * b)) for zz in (z[0], z[-1])]
        assert len(z) == 3 and ln_phi[0] == pytest.approx(ln_phi[1], abs=1e-8), name


def test_check_below_saturation_names_gas_temperature_limit_and_request():
    check_below_saturation("CO2", 273.0, 30e5)
    check_below_saturation("CO2", 320.0, 1e9)  # supercritical: no limit
    with pytest.raises(MaterialError, match=r"^--pressure: CO2 at 204 K deposits as a solid above 2\.106 bar \(sublimation line, .*up to 40 bar"):
        check_below_saturation("CO2", 204.0, 40e5, where="--pressure")
    with pytest.raises(MaterialError, match=r"n-butane at 273 K condenses above 1\.028 bar \(vapour pressure, .*up to 2 bar"):
        check_below_saturation("n-butane", 273.0, 2e5)


def test_ethanol_at_298_K_covers_the_dut8_isotherm_and_refuses_condensation():
    """The DUT-8(Zn) ethanol isotherm at 298 K ends at 7.44 kPa (p0 = 7.7 kPa in the file): below the limit;
    8.5 kPa is above the saturation pressure (Peng-Robinson: 7.87 kPa at 298.0 K)."""
    sat = saturation("ethanol", 298.0)
    assert sat.line == "vapour pressure" and 7.44e3 < sat.pressure_Pa < 8.0e3
    check_below_saturation("ethanol", 298.0, 7.44e3)
    with pytest.raises(MaterialError, match=r"^pressure: ethanol at 298 K condenses above 0\.0787 bar \(vapour pressure, Peng-Robinson"):
        check_below_saturation("ethanol", 298.0, 8.5e3)
    assert saturation("ethanol", 150.0).line == "sublimation line"  # below the triple point 159.0 K
