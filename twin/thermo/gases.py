r"""Constants of the guest gases: Peng–Robinson inputs, triple points, and the saturation (condensation) limit.

Values typed in from:

* [poling2001] B. E. Poling, J. M. Prausnitz, J. P. O'Connell, *The Properties of Gases and Liquids*,
  5th ed., McGraw-Hill (2001), Appendix A (T_c, p_c, ω).
* [span1996] R. Span, W. Wagner, J. Phys. Chem. Ref. Data 25, 1509 (1996) — CO2 critical and triple point.
* [iapws95] W. Wagner, A. Pruß, J. Phys. Chem. Ref. Data 31, 387 (2002) — H2O critical and triple point.
* [setzmann1991] U. Setzmann, W. Wagner, J. Phys. Chem. Ref. Data 20, 1061 (1991) — CH4 triple point 90.6941 K.
* [span2000] R. Span, E. W. Lemmon, R. T. Jacobsen, W. Wagner, A. Yokozeki, J. Phys. Chem. Ref. Data 29, 1361
  (2000) — N2 triple point 63.151 K.
* [lemmon2006] E. W. Lemmon, R. Span, J. Chem. Eng. Data 51, 785 (2006) — Xe triple point 161.405 K.
* [buecker2006] D. Bücker, W. Wagner, J. Phys. Chem. Ref. Data 35, 929 (2006) — n-butane triple point 134.895 K.
* [crc2016] W. M. Haynes (ed.), *CRC Handbook of Chemistry and Physics*, 97th ed. (2016), "Enthalpy of fusion"
  (ΔH_fus at the melting point: CH4 0.94, N2 0.71, Xe 2.27, n-butane 4.66, ethanol 4.931 kJ/mol) and the
  melting point of ethanol, 159.0 K (taken as its triple point; the two differ by far less than 0.1 K).
* Molar masses from the IUPAC 2013 standard atomic weights (conventional values).

Saturation limit (:func:`saturation`). Below T_c a gas condenses at its saturation pressure; below its triple
point it deposits as a solid at the sublimation pressure. The adsorption model (Peng–Robinson vapour
fugacity, :mod:`twin.thermo.eos`) describes neither, so the command line refuses pressures above this limit
(:func:`check_below_saturation`). Which equation gives the limit:

=========  ======================================================  ====================================
gas        T_t ≤ T < T_c (vapour–liquid)                           T < T_t (vapour–solid)
=========  ======================================================  ====================================
CO2        Span & Wagner 1996, eq. 3.13                             Span & Wagner 1996, eq. 3.12
H2O        Wagner & Pruß 2002, eq. 2.5                              IAPWS 2011 (ice Ih), 50–273.16 K
others     Peng–Robinson equal fugacity (these constants)           PR line at T_t continued with
                                                                    ΔH_sub = ΔH_vap + ΔH_fus (below)
=========  ======================================================  ====================================

For N2, CH4, Xe, n-butane and ethanol below the triple point the solid and the (supercooled) liquid have vapour
pressures related by the Clausius–Clapeyron equation with the enthalpy of fusion taken constant:

.. math:: \ln p_{subl}(T) = \ln p_{\sigma,PR}(T) - \frac{\Delta H_{fus}}{R}\left(\frac1T - \frac1{T_t}\right)

(the heat-capacity difference between liquid and solid is neglected). It matters only for Xe below 161 K and
n-butane below 135 K in the validity ranges of the shipped materials. For the non-polar gases the Peng–Robinson
line is within 1.5 % of the reference equations near the normal boiling points and within 2 % (CH4) to 5 % (N2)
at the triple points; far below the boiling point it degrades (n-butane at 135 K: 0.92 Pa against 0.67 Pa of
Bücker & Wagner 2006).
Ethanol (polar, hydrogen bonded, ω = 0.649) is the weakest case. The PR line lies 0.6 % low at 295 K
(6.575 against 6.615 kPa) and 1.2 % high at 310 K (15.48 against 15.30 kPa) against the reference equation of
H. E. Dillon, S. G. Penoncello, Int. J. Thermophys. 25, 321 (2004) (as tabulated in R. H. Perry, D. W. Green
(eds.), *Perry's Chemical Engineers' Handbook*, 8th ed., McGraw-Hill (2008), Table 2-214); 0.9 % high at
298.15 K (7.94 against 7.87 kPa, [crc2016] "Vapor pressure of fluids"); 2.3 % high at the normal boiling point
351.44 K. An ethanol isotherm measured up to p/p_σ ≈ 0.95 at 298 K (the DUT-8 gate opens near p/p_σ = 0.8)
stays below the limit with that margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import constants as sc

from twin.errors import MaterialError
from twin.thermo.eos import (
    co2_sublimation_pressure_Pa,
    co2_vapour_pressure_Pa,
    ice_sublimation_pressure_Pa,
    peng_robinson_saturation_pressure_Pa,
    water_saturation_pressure_Pa,
)

__all__ = ["Gas", "GASES", "GAS_ALIASES", "gas", "gas_name", "Saturation", "saturation", "saturation_pressure_Pa", "check_below_saturation"]


@dataclass(frozen=True)
class Gas:
    """Pure-gas constants.

    Attributes:
        name: formula or name as used in material files.
        critical_temperature_K, critical_pressure_Pa, acentric_factor: T_c [K], p_c [Pa], ω [1].
        molar_mass_g_per_mol: M [g/mol].
        triple_temperature_K: T_t [K]; below it the condensed phase is a solid.
        fusion_enthalpy_kj_mol: ΔH_fus [kJ/mol], used below T_t for the gases without a sublimation equation of
            their own; ``None`` for CO2 and H2O, which have one.
        source: keys of the module docstring's references.
    """

    name: str
    critical_temperature_K: float
    critical_pressure_Pa: float
    acentric_factor: float
    molar_mass_g_per_mol: float
    triple_temperature_K: float
    fusion_enthalpy_kj_mol: float | None
    source: str


GASES: dict[str, Gas] = {
    "CO2": Gas("CO2", 304.1282, 7.3773e6, 0.225, 44.009, 216.592, None, "span1996; ω poling2001"),
    "H2O": Gas("H2O", 647.096, 22.064e6, 0.345, 18.015, 273.16, None, "iapws95; ω poling2001"),
    "CH4": Gas("CH4", 190.56, 4.599e6, 0.011, 16.043, 90.6941, 0.94, "poling2001; setzmann1991; crc2016"),
    "N2": Gas("N2", 126.20, 3.398e6, 0.037, 28.014, 63.151, 0.71, "poling2001; span2000; crc2016"),
    "Xe": Gas("Xe", 289.73, 5.840e6, 0.008, 131.293, 161.405, 2.27, "poling2001; lemmon2006; crc2016"),
    "n-butane": Gas("n-butane", 425.12, 3.796e6, 0.200, 58.122, 134.895, 4.66, "poling2001; buecker2006; crc2016"),
    "ethanol": Gas("ethanol", 513.92, 6.148e6, 0.649, 46.069, 159.0, 4.931, "poling2001; crc2016"),
}


#: other names and formulas of the gases, as instruments and pyGAPS/AIF files write them (``_exptl_adsorptive
#: C2H5OH``, ``"adsorbate": "carbon dioxide"``); compared case-insensitively, ignoring spaces, hyphens and
#: underscores
GAS_ALIASES: dict[str, tuple[str, ...]] = {
    "CO2": ("carbon dioxide", "R744"),
    "H2O": ("water", "water vapour", "water vapor", "steam", "R718"),
    "CH4": ("methane", "R50"),
    "N2": ("nitrogen", "dinitrogen", "R728"),
    "Xe": ("xenon", "129Xe"),
    "n-butane": ("butane", "C4H10", "n-C4H10", "CH3CH2CH2CH3", "R600"),
    "ethanol": ("EtOH", "C2H5OH", "C2H6O", "CH3CH2OH", "ethyl alcohol"),
}


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch not in " -_")


_BY_KEY: dict[str, str] = {_key(alias): name for name, aliases in GAS_ALIASES.items() for alias in (name, *aliases)}


def gas_name(text: str, *, where: str = "guest") -> str:
    """The package's name of a gas from a name, formula or alias: ``"C2H5OH"``, ``"EtOH"`` → ``"ethanol"``,
    ``"carbon dioxide"`` → ``"CO2"``; raises :class:`MaterialError` naming the known gases and their aliases."""
    name = _BY_KEY.get(_key(str(text)))
    if name is None:
        known = "; ".join(f"{n} ({', '.join(GAS_ALIASES[n])})" for n in GASES)
        raise MaterialError(f"{where}: unknown gas {text!r}; known gases (and the other names accepted): {known}")
    return name


def gas(name: str, *, where: str = "guest") -> Gas:
    """Constants of one gas, by name, formula or alias (:func:`gas_name`); raises :class:`MaterialError`
    naming the known gases."""
    return GASES[name] if name in GASES else GASES[gas_name(name, where=where)]


@dataclass(frozen=True)
class Saturation:
    """The condensation limit of a gas at one temperature.

    Attributes:
        pressure_Pa: saturation or sublimation pressure [Pa]; ``inf`` at or above T_c.
        line: ``"supercritical"``, ``"vapour pressure"`` or ``"sublimation line"``.
        source: the equation used (see the module docstring).
    """

    pressure_Pa: float
    line: str
    source: str


def _pr_saturation(g: Gas, temperature_K: float) -> float:
    return peng_robinson_saturation_pressure_Pa(temperature_K, g.critical_temperature_K, g.critical_pressure_Pa, g.acentric_factor)


def saturation(name: str, temperature_K: float) -> Saturation:
    """Saturation (T ≥ T_t) or sublimation (T < T_t) pressure of gas ``name`` at T (module docstring)."""
    g = gas(name)
    name, t = g.name, float(temperature_K)
    if t >= g.critical_temperature_K:
        return Saturation(math.inf, "supercritical", "T ≥ T_c")
    if name == "CO2":
        if t >= g.triple_temperature_K:
            return Saturation(co2_vapour_pressure_Pa(t), "vapour pressure", "Span & Wagner 1996, eq. 3.13")
        return Saturation(co2_sublimation_pressure_Pa(t), "sublimation line", "Span & Wagner 1996, eq. 3.12")
    if name == "H2O":
        if t >= g.triple_temperature_K:
            return Saturation(float(water_saturation_pressure_Pa(t)), "vapour pressure", "Wagner & Pruß 2002, eq. 2.5")
        return Saturation(ice_sublimation_pressure_Pa(t), "sublimation line", "IAPWS 2011 (Wagner et al. 2011)")
    if t >= g.triple_temperature_K:
        return Saturation(_pr_saturation(g, t), "vapour pressure", "Peng-Robinson equal fugacity")
    correction = -g.fusion_enthalpy_kj_mol / (sc.R / 1000.0) * (1.0 / t - 1.0 / g.triple_temperature_K)
    return Saturation(_pr_saturation(g, t) * math.exp(correction), "sublimation line",
                      "Peng-Robinson liquid line with the enthalpy of fusion")


def saturation_pressure_Pa(name: str, temperature_K: float) -> float:
    """Saturation or sublimation pressure [Pa] of gas ``name`` at T; ``inf`` at or above T_c."""
    return saturation(name, temperature_K).pressure_Pa


def check_below_saturation(name: str, temperature_K: float, pressure_max_Pa: float, *, where: str = "pressure") -> None:
    """Raise :class:`MaterialError` if ``pressure_max_Pa`` lies above the gas's condensation limit at T.

    The message names the place, the gas, the temperature, the limit with its equation and the requested
    maximum, e.g. ``--pressure: CO2 at 204 K deposits as a solid above 2.106 bar (sublimation line, Span &
    Wagner 1996, eq. 3.12); the requested range goes up to 40 bar``.
    """
    sat = saturation(name, temperature_K)
    if pressure_max_Pa <= sat.pressure_Pa:
        return
    what = "deposits as a solid" if sat.line == "sublimation line" else "condenses"
    raise MaterialError(
        f"{where}: {name} at {float(temperature_K):g} K {what} above {sat.pressure_Pa / 1e5:.4g} bar "
        f"({sat.line}, {sat.source}); the requested range goes up to {pressure_max_Pa / 1e5:.4g} bar: "
        f"lower the maximum pressure below {sat.pressure_Pa / 1e5:.4g} bar or raise the temperature"
    )
