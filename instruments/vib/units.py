"""Quantity strings of vibrational spectroscopy: wavenumbers (cm⁻¹) and short times (ps), at the edge.

The project's unit table (:mod:`mofcore.units`) has no wavenumber dimension and no femto/picoseconds; these two
parsers add them without touching it: a wavenumber is ``"5 cm-1"`` (also ``cm^-1``, ``cm⁻¹``, ``1/cm``), or an
energy or frequency converted through E = hcν̃ (``"0.62 meV"``, ``"1.5 THz"``); a time is ``"0.05 ps"``,
``"50 fs"``, or any time :func:`mofcore.units.parse_quantity` reads (``"1 ns"``). Constants from
:mod:`scipy.constants`. A wrong dimension or a bare number is a :class:`~mofcore.errors.UnitError` naming the
option and showing an example.
"""

from __future__ import annotations

import re

from scipy import constants as sc

from mofcore.errors import UnitError
from mofcore.units import parse_quantity

__all__ = ["parse_wavenumber_cm1", "parse_time_ps"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_Q = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")
_WAVENUMBER = {"cm-1": 1.0, "cm^-1": 1.0, "cm⁻¹": 1.0, "1/cm": 1.0, "/cm": 1.0,
               "meV": 1e-3 * sc.electron_volt / (sc.h * sc.c * 100.0),
               "THz": 1e12 / (sc.c * 100.0), "GHz": 1e9 / (sc.c * 100.0)}
_TIME_PS = {"ps": 1.0, "fs": 1e-3}


def _split(value: object, where: str, example: str) -> tuple[float, str]:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnitError(f"{where}: expected a quantity such as {example}, got {value!r}")
    match = _Q.match(str(value))
    if not match:
        raise UnitError(f"{where}: expected a quantity such as {example}, got {value!r}")
    return float(match.group(1)), match.group(2)


def parse_wavenumber_cm1(value: object, where: str = "value") -> float:
    """A wavenumber string → cm⁻¹ (module docstring)."""
    number, unit = _split(value, where, '"5 cm-1"')
    if unit not in _WAVENUMBER:
        raise UnitError(f"{where}: expected a wavenumber such as \"5 cm-1\" (or meV, THz, GHz), got {value!r}")
    return number * _WAVENUMBER[unit]


def parse_time_ps(value: object, where: str = "value") -> float:
    """A time string → ps (module docstring)."""
    number, unit = _split(value, where, '"0.05 ps"')
    if unit in _TIME_PS:
        return number * _TIME_PS[unit]
    try:
        return parse_quantity(value, "time", where=where) * 1e12
    except UnitError:
        raise UnitError(f"{where}: expected a time such as \"0.05 ps\" or \"50 fs\", got {value!r}") from None
