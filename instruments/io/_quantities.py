"""Units that readers meet in column headers and comments, converted to the package's internal units.

The unit tables are those of :mod:`mofcore.units` (the one table of the package), looked up without regard to
case as headers write them (``pressure_kPa``, ``time_min``); this module adds only what a reader needs on top:
recognising axes and conditions in header text.
"""

from __future__ import annotations

import re

from scipy import constants as sc

from mofcore.units import DIMENSIONS

__all__ = ["PRESSURE_PA", "TIME_S", "axis_from_label", "condition_from_text", "to_kelvin"]

#: pressure unit (lower case) → Pa
PRESSURE_PA: dict[str, float] = {unit.lower(): f for unit, f in DIMENSIONS["pressure"].factors.items()}
#: time unit (lower case, with the spellings headers use) → s
TIME_S: dict[str, float] = {unit.lower(): f for unit, f in DIMENSIONS["time"].factors.items()} | {"sec": 1.0, "hr": 3600.0}


def to_kelvin(value: float, unit: str) -> float | None:
    """Temperature in K from a value in K, °C/degC/C or °F; ``None`` for an unknown unit."""
    u = unit.strip().lower().replace("°", "").replace("deg", "")
    spelling = {"k": "K", "kelvin": "K", "c": "degC", "celsius": "degC", "f": "degF", "fahrenheit": "degF"}.get(u)
    if spelling is None:
        return None
    dim = DIMENSIONS["temperature"]
    return value * dim.factors[spelling] + (dim.offsets or {}).get(spelling, 0.0)


# (pattern on the lower-cased header, axis name, unit, factor to the canonical unit)
_AXIS_PATTERNS: list[tuple[str, str, str, float]] = [
    (r"2\s*-?\s*th|two[\s_-]*theta|2θ|tth", "two_theta", "deg", 1.0),
    (r"wave\s*number|cm\^?-1|cm⁻¹|1/cm", "wavenumber", "cm-1", 1.0),
    (r"\bppm\b|chemical\s*shift|\bshift\b|δ", "shift", "ppm", 1.0),
    (r"\bkhz\b", "frequency", "kHz", 1.0),
    (r"\bmhz\b", "frequency", "kHz", 1e3),
    (r"\bhz\b|frequency", "frequency", "kHz", 1e-3),
    (r"nm\^?-1|1/nm|nm⁻¹", "q", "1/Å", 0.1),
    (r"^q\b|^q[_\s(\[]|\bq\s*\(|scattering\s*vector", "q", "1/Å", 1.0),
    (r"^d\b|^d[_\s(\[]|d[-_\s]?spacing", "d", "Å", 1.0),
    (r"^r\b|^r[_\s(\[]", "r", "Å", 1.0),
    (r"^theta\b|^θ", "theta", "deg", 1.0),
]


def axis_from_label(label: str) -> tuple[str, str, float] | None:
    """(axis name, canonical unit, factor to it) for a column header such as ``"2theta (deg)"``, or ``None``.

    Pressure columns give ``("pressure", "bar", factor)`` with the factor from the stated unit
    (``pressure_kPa`` → 0.01).
    """
    low = label.strip().lower()
    if "pressure" in low or re.match(r"^p\b|^p[_\s(\[]", low):
        if "relative" in low or "p/p0" in low or "p_p0" in low:
            return ("relative_pressure", "1", 1.0)
        for unit, pa in sorted(PRESSURE_PA.items(), key=lambda kv: -len(kv[0])):
            if re.search(rf"(^|[\s_(\[/]){unit}($|[\s_)\]])", low):
                return ("pressure", "bar", pa / sc.bar)
        return ("pressure", "bar", 1.0) if "bar" in low else None
    if re.search(r"^time|time_s|\btime\b", low):
        for unit, s in TIME_S.items():
            if re.search(rf"(^|[\s_(\[/]){unit}($|[\s_)\]])", low):
                return ("time", "s", s)
        return ("time", "s", 1.0)
    for pattern, name, unit, factor in _AXIS_PATTERNS:
        if re.search(pattern, low):
            return (name, unit, factor)
    return None


_NUM = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_COND_PATTERNS = [
    ("temperature_K", re.compile(rf"(?:temperature|\btemp\b|^t\b)\s*[:=]?\s*{_NUM}\s*(°?\s*[CFK]|deg\s*[CF]|kelvin|celsius)\b", re.I)),
    ("pressure_Pa", re.compile(rf"(?:pressure|^p\b)\s*[:=]?\s*{_NUM}\s*(mbar|bar|hpa|kpa|mpa|gpa|pa|atm|torr|mmhg|psi)\b", re.I)),
    ("relative_humidity", re.compile(rf"(?:relative\s*humidity|humidity|\brh\b)\s*[:=]?\s*{_NUM}\s*(%)?", re.I)),
    ("time_s", re.compile(rf"(?:^time|elapsed(?:\s*time)?)\s*[:=]?\s*{_NUM}\s*(ms|sec|s|min|hr|h)\b", re.I)),
]


def condition_from_text(text: str) -> dict[str, float]:
    """Conditions stated in a comment line, e.g. ``"# Temperature: 30 °C"`` → ``{"temperature_K": 303.15}``."""
    out: dict[str, float] = {}
    for key, pattern in _COND_PATTERNS:
        m = pattern.search(text.strip())
        if not m:
            continue
        value = float(m.group(1))
        unit = (m.group(2) or "").strip()
        if key == "temperature_K":
            k = to_kelvin(value, unit)
            if k is not None and k >= 0.0:
                out[key] = k
        elif key == "pressure_Pa":
            out[key] = value * PRESSURE_PA[unit.lower()]
        elif key == "relative_humidity":
            frac = value / 100.0 if unit == "%" or value > 1.0 else value
            if 0.0 <= frac <= 1.0:
                out[key] = frac
        elif key == "time_s":
            out[key] = value * TIME_S[unit.lower()]
    return out
