"""Quantity strings with units, converted once at the edge into the internal units.

Internal units (the one table the whole package uses):

============  ===================  ==========================================
dimension     internal unit        accepted spellings (case-sensitive)
============  ===================  ==========================================
temperature   K                    K, degC, °C, C, degF, °F
pressure      Pa                   Pa, hPa, kPa, MPa, GPa, bar, mbar, atm, Torr, mmHg, psi
length        Å                    A, Å, angstrom, pm, nm, um, µm, micron, mm, cm, m
time          s                    s, ms, us, µs, ns, min, h, d
fraction      1 (0–1)              %, or a bare number
energy        kJ/mol               kJ/mol, J/mol, kcal/mol, eV, meV, K (k_B·T)
angle         deg                  deg, °, rad
area_energy   J/m²                 J/m2, mJ/m2, J/m^2, mJ/m^2
diffusivity   m²/s                 m2/s, cm2/s, nm2/s, A2/s, um2/s
rate          1/s                  1/s, Hz, kHz, MHz, 1/min, 1/h
============  ===================  ==========================================

Why a small parser of our own rather than pint: scenario files need a dozen dimensions and a few dozen
spellings; the parser must name the key path and show an example of the expected form in every message
(``protocol.segments[2].pressure: expected a pressure such as "5 bar", got "30 K"``), must accept nothing
ambiguous (a bare number where a unit is required is an error), and must import in microseconds. pint
would add a registry of thousands of units whose error messages know nothing of our key paths.

Conversions use CODATA constants from :mod:`scipy.constants`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from scipy import constants as sc

from mofcore.errors import UnitError

__all__ = ["DIMENSIONS", "parse_quantity", "parse_range", "format_quantity"]

_AVOGADRO = sc.N_A
_EV_KJ_MOL = sc.electron_volt * _AVOGADRO / 1000.0
_KB_KJ_MOL = sc.k * _AVOGADRO / 1000.0


@dataclass(frozen=True)
class _Dimension:
    name: str
    internal: str
    example: str
    factors: dict[str, float]
    offsets: dict[str, float] | None = None
    allow_bare: bool = False


DIMENSIONS: dict[str, _Dimension] = {
    "temperature": _Dimension(
        "temperature",
        "K",
        '"303 K"',
        {"K": 1.0, "degC": 1.0, "°C": 1.0, "C": 1.0, "degF": 5.0 / 9.0, "°F": 5.0 / 9.0},
        offsets={"degC": 273.15, "°C": 273.15, "C": 273.15, "degF": 459.67 * 5.0 / 9.0, "°F": 459.67 * 5.0 / 9.0},
    ),
    "pressure": _Dimension(
        "pressure",
        "Pa",
        '"5 bar"',
        {
            "Pa": 1.0,
            "hPa": 1e2,
            "kPa": 1e3,
            "MPa": 1e6,
            "GPa": 1e9,
            "bar": sc.bar,
            "mbar": 1e-3 * sc.bar,
            "atm": sc.atm,
            "Torr": sc.torr,
            "mmHg": sc.mmHg,
            "psi": sc.psi,
        },
    ),
    "length": _Dimension(
        "length",
        "Å",
        '"2 um"',
        {
            "A": 1.0,
            "Å": 1.0,
            "angstrom": 1.0,
            "pm": 1e-2,
            "nm": 10.0,
            "um": 1e4,
            "µm": 1e4,
            "μm": 1e4,
            "micron": 1e4,
            "mm": 1e7,
            "cm": 1e8,
            "m": 1e10,
        },
    ),
    "time": _Dimension(
        "time",
        "s",
        '"10 min"',
        {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15, "min": 60.0,
         "h": 3600.0, "d": 86400.0},
    ),
    "fraction": _Dimension("fraction", "1", '"40 %"', {"%": 0.01, "": 1.0}, allow_bare=True),
    "energy": _Dimension(
        "energy",
        "kJ/mol",
        '"5 kJ/mol"',
        {
            "kJ/mol": 1.0,
            "J/mol": 1e-3,
            "kcal/mol": sc.calorie,
            "eV": _EV_KJ_MOL,
            "meV": 1e-3 * _EV_KJ_MOL,
            "K": _KB_KJ_MOL,
        },
    ),
    "angle": _Dimension("angle", "deg", '"10 deg"',
                        {"deg": 1.0, "°": 1.0, "rad": 180.0 / math.pi, "mrad": 0.18 / math.pi}),
    "voltage": _Dimension("voltage", "V", '"300 kV"', {"V": 1.0, "kV": 1e3, "MV": 1e6}),
    "area_energy": _Dimension(
        "area_energy",
        "J/m²",
        '"0.05 J/m2"',
        {"J/m2": 1.0, "J/m^2": 1.0, "J/m²": 1.0, "mJ/m2": 1e-3, "mJ/m^2": 1e-3, "mJ/m²": 1e-3},
    ),
    "diffusivity": _Dimension(
        "diffusivity",
        "m²/s",
        '"1e-9 m2/s"',
        {"m2/s": 1.0, "cm2/s": 1e-4, "nm2/s": 1e-18, "A2/s": 1e-20, "um2/s": 1e-12},
    ),
    # spectroscopic wavenumber ν̃ = 1/λ; a frequency or an energy of a vibration through E = hcν̃
    "wavenumber": _Dimension(
        "wavenumber",
        "cm-1",
        '"5 cm-1"',
        {"cm-1": 1.0, "cm^-1": 1.0, "cm⁻¹": 1.0, "1/cm": 1.0, "/cm": 1.0,
         "meV": 1e-3 * sc.electron_volt / (sc.h * sc.c * 100.0),
         "THz": 1e12 / (sc.c * 100.0), "GHz": 1e9 / (sc.c * 100.0)},
    ),
    "rate": _Dimension(
        "rate",
        "1/s",
        '"1e6 1/s"',
        {"1/s": 1.0, "/s": 1.0, "s-1": 1.0, "s^-1": 1.0, "Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "1/min": 1.0 / 60.0,
         "/min": 1.0 / 60.0, "1/h": 1.0 / 3600.0, "/h": 1.0 / 3600.0},
    ),
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return f"{value} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value} (a number without unit)"
    return f"{value!r} (a {type(value).__name__})"


def _guess_dimension(unit: str) -> str | None:
    for dim in DIMENSIONS.values():
        if unit and unit in dim.factors:
            return dim.name
    return None


def parse_quantity(value: object, dimension: str, *, where: str = "value") -> float:
    """Convert a quantity such as ``"5 bar"`` to the internal unit of ``dimension``.

    Args:
        value: a string ``"<number> <unit>"``; for ``fraction`` also a bare number in [0, 1] scale.
        dimension: one of :data:`DIMENSIONS`.
        where: the key path used in error messages (``"protocol.segments[2].pressure"``).

    Returns:
        The value in the internal unit (K, Pa, Å, s, 1, kJ/mol, deg, V, J/m², m²/s, cm⁻¹, 1/s).

    Raises:
        UnitError: unparsable text, unknown unit, wrong dimension, or a number that is not finite as written or
            after conversion into the internal unit (``"1e308 d"`` overflows to infinite seconds). Ranges (a
            positive duration, a pressure below some bound) are the caller's to check, on the returned value.
    """
    dim = DIMENSIONS[dimension]
    expected = f"{where}: expected a {dim.name.replace('_', ' ')} such as {dim.example}, got {_describe(value)}"
    if isinstance(value, bool):
        raise UnitError(expected)
    if isinstance(value, (int, float)):
        if dim.allow_bare and math.isfinite(value):
            return float(value)
        if dim.allow_bare:
            raise UnitError(f"{expected}, not a finite number")
        raise UnitError(expected)
    if not isinstance(value, str):
        raise UnitError(expected)
    match = _QUANTITY.match(value)
    if match is None:
        raise UnitError(expected)
    number = float(match.group(1))
    unit = match.group(2)
    if not math.isfinite(number):
        raise UnitError(f"{expected}, a number beyond the floating-point range (about ±1.8e308)")
    if unit not in dim.factors:
        other = _guess_dimension(unit)
        if other is not None and other != dimension:
            raise UnitError(f"{expected} (that is a {other.replace('_', ' ')})")
        known = ", ".join(u for u in dim.factors if u)
        raise UnitError(f"{expected}; known units: {known}")
    offset = (dim.offsets or {}).get(unit, 0.0)
    converted = number * dim.factors[unit] + offset
    if not math.isfinite(converted):
        # "1e308 d" is a finite number of days but no finite number of seconds
        raise UnitError(f"{expected}, which is not finite in {dim.internal} (the largest representable value is about "
                        f"1.8e308 {dim.internal})")
    return converted


def parse_range(value: object, dimension: str, *, where: str = "value") -> tuple[float, float]:
    """Parse a range ``"0.01..40 bar"`` (unit once, after the upper bound) or ``"1 bar..40 bar"``.

    Returns (low, high) in internal units; raises :class:`UnitError` when low ≥ high.
    """
    dim = DIMENSIONS[dimension]
    if not isinstance(value, str) or ".." not in value:
        raise UnitError(
            f"{where}: expected a {dim.name} range such as \"0.01..40 {dim.example.strip(chr(34)).split()[-1]}\", "
            f"got {_describe(value)}"
        )
    low_text, high_text = (part.strip() for part in value.split("..", 1))
    high = parse_quantity(high_text, dimension, where=where)
    if re.fullmatch(_NUMBER, low_text):
        unit = _QUANTITY.match(high_text).group(2)  # type: ignore[union-attr]
        low_text = f"{low_text} {unit}"
    low = parse_quantity(low_text, dimension, where=where)
    if not low < high:
        raise UnitError(f"{where}: the lower bound of {value!r} must be below the upper bound")
    return low, high


def format_quantity(value: float, dimension: str, unit: str) -> str:
    """Inverse of :func:`parse_quantity` for display: internal value → ``"<number> <unit>"``."""
    dim = DIMENSIONS[dimension]
    offset = (dim.offsets or {}).get(unit, 0.0)
    return f"{(value - offset) / dim.factors[unit]:.6g} {unit}".strip()
