"""Critical constants and molar masses of the guest gases (the Peng–Robinson inputs).

Values typed in from:

* [poling2001] B. E. Poling, J. M. Prausnitz, J. P. O'Connell, *The Properties of Gases and Liquids*,
  5th ed., McGraw-Hill (2001), Appendix A (T_c, p_c, ω).
* [span1996] R. Span, W. Wagner, J. Phys. Chem. Ref. Data 25, 1509 (1996) — CO2 critical point.
* [iapws95] W. Wagner, A. Pruß, J. Phys. Chem. Ref. Data 31, 387 (2002) — H2O critical point.
* Molar masses from the IUPAC 2013 standard atomic weights (conventional values).
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.errors import MaterialError

__all__ = ["Gas", "GASES", "gas"]


@dataclass(frozen=True)
class Gas:
    """Pure-gas constants: T_c [K], p_c [Pa], acentric factor ω [1], molar mass [g/mol]."""

    name: str
    critical_temperature_K: float
    critical_pressure_Pa: float
    acentric_factor: float
    molar_mass_g_per_mol: float
    source: str


GASES: dict[str, Gas] = {
    "CO2": Gas("CO2", 304.1282, 7.3773e6, 0.225, 44.009, "span1996; ω poling2001"),
    "H2O": Gas("H2O", 647.096, 22.064e6, 0.345, 18.015, "iapws95; ω poling2001"),
    "CH4": Gas("CH4", 190.56, 4.599e6, 0.011, 16.043, "poling2001"),
    "N2": Gas("N2", 126.20, 3.398e6, 0.037, 28.014, "poling2001"),
    "Xe": Gas("Xe", 289.73, 5.840e6, 0.008, 131.293, "poling2001"),
    "n-butane": Gas("n-butane", 425.12, 3.796e6, 0.200, 58.122, "poling2001"),
}


def gas(name: str, *, where: str = "guest") -> Gas:
    """Constants of one gas; raises :class:`MaterialError` naming the known gases."""
    if name not in GASES:
        raise MaterialError(f"{where}: unknown gas {name!r}; known gases: {', '.join(GASES)}")
    return GASES[name]
