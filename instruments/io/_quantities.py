"""Units that readers meet in column headers and comments, converted to the package's internal units.

The unit tables are those of :mod:`mofcore.units` (the one table of the package), looked up without regard to
case as headers write them (``pressure_kPa``, ``time_min``); this module adds only what a reader needs on top:
recognising axes and conditions in header text.

Axis headers (``q_inv_nm``, ``Q (1/nm)``, ``2Theta (deg)``, ``d (A)``, ``Raman shift (cm^-1)``, ``ppm``,
``frequency (Hz)``, ``energy (eV)``) are read by one parser, :func:`parse_axis_header`, driven by three tables:
:data:`AXIS_NAMES` (how headers name an axis), :data:`UNIT_TABLE` (the units, their spellings and the factor to
the internal unit of their kind, :data:`KIND_UNITS`) and :data:`AXIS_KINDS` (the kind of unit each axis takes). The
internal units are those of :data:`instruments.observable.AXIS_UNITS`: Q in Å⁻¹, d and r in Å, 2θ and θ in deg,
wavenumber in cm⁻¹, shift in ppm, frequency in kHz (and energy in eV). A unit the table does not know is an
error, never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from scipy import constants as sc

from mofcore.errors import UnitError
from mofcore.units import DIMENSIONS

__all__ = ["PRESSURE_PA", "TIME_S", "UNIT_TABLE", "AXIS_KINDS", "AXIS_NAMES", "KIND_UNITS", "HeaderAxis",
           "parse_axis_header", "axis_option", "scale", "axis_name", "find_unit", "accepted_units", "accepted_axes",
           "axis_from_label", "condition_from_text", "to_kelvin"]

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


# ---------------------------------------------------------------------------------------- axis headers --
# One table-driven parser of the axis headers people write (``q_inv_nm``, ``Q (1/nm)``, ``2Theta (deg)``,
# ``d (A)``, ``Raman shift (cm^-1)``, ``ppm``, ``frequency (Hz)``, ``energy (eV)``): a header is split into an
# axis name and a unit, each looked up in its table; the unit's factor converts the values to the axis's
# internal unit (the units of :data:`instruments.observable.AXIS_UNITS`).

#: kind of unit → the internal unit values of that kind are converted to
KIND_UNITS: dict[str, str] = {"angle": "deg", "inverse_length": "1/Å", "length": "Å", "wavenumber": "cm-1",
                              "ppm": "ppm", "frequency": "kHz", "energy": "eV"}


@dataclass(frozen=True)
class UnitRow:
    """One unit of the header table: its display name, kind, factor to the kind's internal unit, the spellings
    accepted for it, and the axis the unit alone implies (``ppm`` → chemical shift), if any."""

    display: str
    kind: str
    factor: float
    spellings: tuple[str, ...]
    implies: str | None = None


#: every unit a header or an ``axis_unit=`` may give (spellings are compared after :func:`_norm_unit`)
UNIT_TABLE: tuple[UnitRow, ...] = (
    UnitRow("deg", "angle", 1.0, ("deg", "degree", "degrees", "°")),
    UnitRow("rad", "angle", 180.0 / math.pi, ("rad", "radian", "radians")),
    UnitRow("°2θ", "angle", 1.0, ("°2θ", "°2Th", "°2Theta", "deg 2theta", "deg2th"), "two_theta"),
    UnitRow("1/Å", "inverse_length", 1.0,
            ("1/Å", "1/A", "Å^-1", "A^-1", "Å-1", "A-1", "Å⁻¹", "A⁻¹", "inv_A", "inv_Å", "inv_ang", "inv_angstrom",
             "1/angstrom", "angstrom^-1", "angstrom-1", "ang^-1", "ang-1"), "q"),
    UnitRow("1/nm", "inverse_length", 0.1, ("1/nm", "nm^-1", "nm-1", "nm⁻¹", "inv_nm"), "q"),
    UnitRow("Å", "length", 1.0, ("Å", "A", "ang", "angstrom", "angstroms")),
    UnitRow("nm", "length", 10.0, ("nm",)),
    UnitRow("pm", "length", 0.01, ("pm",)),
    UnitRow("cm-1", "wavenumber", 1.0, ("cm-1", "cm^-1", "cm⁻¹", "1/cm", "inv_cm", "cm1"), "wavenumber"),
    UnitRow("ppm", "ppm", 1.0, ("ppm",), "shift"),
    UnitRow("Hz", "frequency", 1e-3, ("Hz",), "frequency"),
    UnitRow("kHz", "frequency", 1.0, ("kHz",), "frequency"),
    UnitRow("MHz", "frequency", 1e3, ("MHz",), "frequency"),
    UnitRow("meV", "energy", 1e-3, ("meV",), "energy"),
    UnitRow("eV", "energy", 1.0, ("eV",), "energy"),
    UnitRow("keV", "energy", 1e3, ("keV",), "energy"),
)

#: axis name → (kind of unit it takes, whether a header naming the axis without a unit leaves the unit in doubt)
AXIS_KINDS: dict[str, tuple[str, bool]] = {
    "two_theta": ("angle", False),
    "theta": ("angle", False),
    "q": ("inverse_length", True),
    "d": ("length", True),
    "r": ("length", True),
    "wavenumber": ("wavenumber", False),
    "shift": ("ppm", False),
    "frequency": ("frequency", True),
    "energy": ("energy", True),
}

#: axis names as headers write them (compared after :func:`_norm_name`) → the axes they may mean, the first
#: taken when no unit decides (``shift (cm-1)`` is a Raman shift, ``shift`` alone a chemical shift)
AXIS_NAMES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("2theta", "twotheta", "2θ", "tth", "2th"), ("two_theta",)),
    **dict.fromkeys(("theta", "θ"), ("theta",)),
    **dict.fromkeys(("q", "scatteringvector", "momentumtransfer"), ("q",)),
    **dict.fromkeys(("d", "dspacing", "dvalue"), ("d",)),
    "r": ("r",),
    **dict.fromkeys(("wavenumber", "wavenumbers", "ramanshift"), ("wavenumber",)),
    **dict.fromkeys(("chemicalshift", "δ", "delta"), ("shift",)),
    "shift": ("shift", "wavenumber"),
    **dict.fromkeys(("frequency", "freq"), ("frequency", "wavenumber")),
    "energy": ("energy",),
}

# names inside longer labels (``Angle 2Theta``, ``2Theta/Omega``) when the whole name is not in the table
_LOOSE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"2\s*-?\s*th|two[\s_-]*theta|2θ"), "two_theta"),
    (re.compile(r"wave\s*numbers?"), "wavenumber"),
    (re.compile(r"chemical\s*shift"), "shift"),
    (re.compile(r"scattering\s*vector"), "q"),
    (re.compile(r"d[-_\s]?spacing"), "d"),
)
# a suffix of an ``name_unit`` header that is meant as a unit although it is not one of the table
_UNIT_LIKE = re.compile(r"^(inv|per)|/|\^|-1$|⁻|hz$|ev$|rad$|grad$|^(?:[munpkcµμ]?m)$|^(?:mm|um|µm)$")


def _norm_unit(text: str) -> str:
    t = text.strip().lower()
    for a, b in (("⁻¹", "-1"), ("⁻", "-"), ("¹", "1"), ("^", ""), ("å", "a"), ("°", "deg"), ("θ", "theta"),
                 ("μ", "µ")):
        t = t.replace(a, b)
    return re.sub(r"[\s_.]+", "", t)


def _norm_name(text: str) -> str:
    return re.sub(r"[\s_.\-]+", "", text.strip().lower())


_UNITS_BY_SPELLING: dict[str, UnitRow] = {_norm_unit(s): row for row in UNIT_TABLE for s in row.spellings}


def units_of(axis: str) -> list[UnitRow]:
    """The units an axis accepts (those of its kind), in table order."""
    kind = AXIS_KINDS[axis][0]
    return [row for row in UNIT_TABLE if row.kind == kind]


def accepted_units(axis: str) -> str:
    """The accepted spellings of an axis's units, for a message: ``1/Å (1/A, A^-1, inv_A, …), 1/nm (…)``."""
    parts = []
    for row in units_of(axis):
        others = [s for s in row.spellings if s != row.display][:5]
        parts.append(f"{row.display} ({', '.join(others)})" if others else row.display)
    return "; ".join(parts)


#: how :func:`accepted_axes` shows the spellings of each axis
_AXIS_SHOWN: dict[str, str] = {"two_theta": "2theta, 2θ, tth", "theta": "θ", "q": "Q, scattering vector",
                               "d": "d-spacing", "wavenumber": "Raman shift", "shift": "chemical shift, δ",
                               "frequency": "freq"}


def accepted_axes() -> str:
    """The axis names an ``axis=`` option accepts, with other spellings, for a message."""
    return ", ".join(f"{axis} ({_AXIS_SHOWN[axis]})" if axis in _AXIS_SHOWN else axis for axis in AXIS_KINDS)


def find_unit(text: str) -> UnitRow | None:
    """The unit row for a spelling (``"nm^-1"``, ``"inv_A"``, ``"cm-1"``), or ``None``."""
    return _UNITS_BY_SPELLING.get(_norm_unit(text))


def axis_name(text: str) -> str | None:
    """The canonical axis name for a spelling (``"2theta"`` → ``"two_theta"``), or ``None``."""
    t = text.strip()
    if t in AXIS_KINDS:
        return t
    axes = AXIS_NAMES.get(_norm_name(t))
    return axes[0] if axes else None


@dataclass(frozen=True)
class HeaderAxis:
    """What an axis header says.

    Attributes:
        axis: canonical axis name (``"q"``).
        unit: the internal unit the values are converted to (``"1/Å"``).
        factor: multiply the column by this to get ``unit`` (0.1 for a Q axis in nm⁻¹).
        unit_in_file: the unit as the header gives it (``"1/nm"``), or ``None`` when it gives none.
        unit_assumed: the header names the axis but not its unit, and the unit is in doubt (Q: Å⁻¹ or nm⁻¹?).
    """

    axis: str
    unit: str
    factor: float
    unit_in_file: str | None
    unit_assumed: bool


def _with_unit(label: str, axes: tuple[str, ...], unit_text: str, row: UnitRow | None) -> HeaderAxis:
    """``axes`` (candidates from the name) with a unit: the first axis whose kind the unit has."""
    if row is not None:
        for axis in axes:
            if AXIS_KINDS[axis][0] == row.kind:
                return HeaderAxis(axis, KIND_UNITS[row.kind], row.factor, row.display, False)
    what = f"unit {unit_text!r}" if row is None else f"{row.display} (a unit of {row.kind.replace('_', ' ')})"
    raise UnitError(f"header {label!r}: {what} is not a unit of the {axes[0]} axis; accepted: "
                    f"{accepted_units(axes[0])}")


def _name_axes(name: str) -> tuple[str, ...] | None:
    axes = AXIS_NAMES.get(_norm_name(name))
    if axes:
        return axes
    low = name.strip().lower()
    for pattern, axis in _LOOSE_NAMES:
        if pattern.search(low):
            return (axis,)
    return None


_EXPLICIT = (
    re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^()]*)\)\s*$"),  # q (1/nm)
    re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\[\]]*)\]\s*$"),  # q [1/nm]
    re.compile(r"^(?P<name>[^/]*?)\s*/\s*(?P<unit>.+)$"),  # wavenumber / cm-1
    re.compile(r"^(?P<name>.*?)\s+in\s+(?P<unit>\S+)$"),  # q in 1/nm
)


def parse_axis_header(label: str) -> HeaderAxis | None:
    """The axis and unit a column header names, or ``None`` when it names no known axis.

    Forms (any case): ``name (unit)``, ``name [unit]``, ``name / unit``, ``name in unit``, ``name_unit``
    (``q_inv_nm``, ``two_theta_deg``, ``d_nm``), the name alone (``2theta``, ``q``: the unit is the axis's
    internal one, marked ``unit_assumed`` where it is in doubt) and a unit alone that implies its axis (``ppm``,
    ``Hz``, ``cm-1``, ``1/nm``). Names and units are those of :data:`AXIS_NAMES` and :data:`UNIT_TABLE`.

    Raises:
        UnitError: the header names a known axis with a unit that is not in the table or is not a unit of that
            axis (``q (1/pm)``, ``q_nm``, ``2theta (grad)``); the message lists the accepted units.
    """
    text = label.strip()
    if not text:
        return None
    whole = find_unit(text)
    if whole is not None and whole.implies is not None and _name_axes(text) is None:
        return HeaderAxis(whole.implies, KIND_UNITS[whole.kind], whole.factor, whole.display, False)
    for pattern in _EXPLICIT:
        m = pattern.match(text)
        if m is None or not m.group("name").strip():
            continue
        name, unit_text = m.group("name"), m.group("unit").strip()
        if pattern in _EXPLICIT[2:] and _norm_name(name) not in AXIS_NAMES:
            continue  # "I/I0", "wavenumber_1/cm": not a name and a unit
        axes = _name_axes(name)
        row = find_unit(unit_text) if unit_text else None
        if axes is None:
            if row is not None and row.implies is not None:
                return HeaderAxis(row.implies, KIND_UNITS[row.kind], row.factor, row.display, False)
            return None
        if not unit_text:
            break
        return _with_unit(label, axes, unit_text, row)
    # a name alone, or name_unit with the unit after the last separators
    axes = _name_axes(text) if _norm_name(text) in AXIS_NAMES else None
    if axes is not None:
        return _bare(axes)
    tokens = [t for t in re.split(r"[_\s]+", text) if t]
    for cut in range(len(tokens) - 1, 0, -1):
        axes = AXIS_NAMES.get(_norm_name("".join(tokens[:cut])))
        if axes is None:
            continue
        suffix = "_".join(tokens[cut:])
        row = find_unit(suffix)
        if row is not None:
            return _with_unit(label, axes, suffix, row)
        if _UNIT_LIKE.search(suffix.lower()):
            raise UnitError(f"header {label!r}: unit {suffix!r} is not a unit of the {axes[0]} axis; accepted: "
                            f"{accepted_units(axes[0])}")
        return _bare(axes)  # a qualifier (2theta_obs), not a unit
    axes = _name_axes(text)
    return None if axes is None else _bare(axes)


def _bare(axes: tuple[str, ...]) -> HeaderAxis:
    axis = axes[0]
    kind, in_doubt = AXIS_KINDS[axis]
    return HeaderAxis(axis, KIND_UNITS[kind], 1.0, None, in_doubt)


def axis_option(axis: str | None, unit: str | None, *, axis_option_name: str = "axis",
                unit_option_name: str = "axis_unit", default_axis: str | None = None) -> HeaderAxis | None:
    """Check an ``axis=``/``axis_unit=`` pair given by a caller (or ``--axis``/``--axis-unit``).

    ``axis`` may be any spelling of :data:`AXIS_NAMES`; ``unit`` one of the axis's units in
    :data:`UNIT_TABLE` (``default_axis`` is the axis a unit alone applies to: the file's, or the assumed one).
    Returns ``None`` when neither is given.

    Raises:
        UnitError: an unknown axis name or unit, or a unit of another axis; the message lists the accepted ones.
    """
    if axis is None and unit is None:
        return None
    name = None
    if axis is not None:
        name = axis_name(axis)
        if name is None:
            raise UnitError(f"{axis_option_name}={axis!r}: not a known axis; accepted: {accepted_axes()}")
    target = name or default_axis
    if unit is None:
        kind = AXIS_KINDS[target][0] if target else None
        return HeaderAxis(target, KIND_UNITS[kind], 1.0, None, False) if target and kind else None
    row = find_unit(unit)
    if target is None:
        if row is None or row.implies is None:
            raise UnitError(f"{unit_option_name}={unit!r}: give the axis too ({axis_option_name}=)")
        target = row.implies
    if row is None or AXIS_KINDS[target][0] != row.kind:
        raise UnitError(f"{unit_option_name}={unit!r}: not a unit of the {target} axis; accepted: "
                        f"{accepted_units(target)}")
    return HeaderAxis(target, KIND_UNITS[row.kind], row.factor, row.display, False)


def scale(values: Any, factor: float) -> Any:
    """``values × factor``, as a division where ``factor`` is 1/n (nm⁻¹ → Å⁻¹, Hz → kHz), so that 7 nm⁻¹ gives
    exactly the double nearest 0.7 Å⁻¹."""
    if 0.0 < factor < 1.0:
        inverse = round(1.0 / factor)
        if abs(inverse * factor - 1.0) < 1e-12:
            return values / float(inverse)
    return values * factor


def axis_from_label(label: str) -> tuple[str, str, float] | None:
    """(axis name, internal unit, factor to it) for a column header such as ``"2theta (deg)"``, or ``None``.

    Pressure columns give ``("pressure", "bar", factor)`` with the factor from the stated unit
    (``pressure_kPa`` → 0.01), time columns ``("time", "s", factor)``; the spectral and diffraction axes are
    read by :func:`parse_axis_header` (and raise :class:`UnitError` for a unit it does not know).
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
    found = parse_axis_header(label)
    return None if found is None else (found.axis, found.unit, found.factor)


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
