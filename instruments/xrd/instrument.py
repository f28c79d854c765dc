"""Diffractometer settings from a TOML instrument file, validated once at the edge.

Example (every table and key optional except ``source.wavelength`` and ``scan.two_theta``)::

    [source]
    wavelength = "CuKa"          # "CuKa" (Kα1+Kα2 doublet), "CuKa1" (Kα1), Mo/Co/Cr/Fe/Ag likewise, or "0.4577 A"
    ka2_ratio = 0.5              # I(Kα2)/I(Kα1), doublet only
    polarisation_fraction = 0.5  # 0.5 unpolarised lab tube; ≈ 1 synchrotron, vertical scattering plane
    monochromator_two_theta = "26.57 deg"   # graphite (002) for Cu Kα; "0 deg" = none

    [scan]
    two_theta = "3..50 deg"
    step = "0.01 deg"

    [profile]                    # U, V, W in deg², X, Y in deg (bare numbers or "0.01 deg")
    caglioti_u = 0.004
    caglioti_v = -0.002
    caglioti_w = 0.003
    tch_x = 0.0
    tch_y = 0.01

    [geometry]
    zero_shift = "0.02 deg"
    sample_displacement = "50 um"
    goniometer_radius = "240 mm"

    [background]
    chebyshev = [120.0, -30.0, 5.0]
    scale = 1.0

Errors are :class:`twin.errors.DataFormatError` naming the file, the key, the expected form and the value
found. This module imports nothing from ``twin`` but the shared exceptions.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from instruments.xrd.pattern import Instrument, make_instrument
from mofcore.constants import XRAY_LINES_A
from mofcore.errors import DataFormatError, UnitError
from mofcore.files import parse_toml, read_text_file
from mofcore.units import parse_quantity

__all__ = ["parse_setting", "parse_wavelength", "parse_two_theta_range", "parse_instrument", "load_instrument", "instrument_from_toml"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_KNOWN = {
    "source": {"wavelength", "ka2_ratio", "polarisation_fraction", "monochromator_two_theta"},
    "scan": {"two_theta", "step"},
    "profile": {"caglioti_u", "caglioti_v", "caglioti_w", "tch_x", "tch_y"},
    "geometry": {"zero_shift", "sample_displacement", "goniometer_radius"},
    "background": {"chebyshev", "scale"},
}


def parse_setting(value: Any, dimension: str, example: str, where: str, *, bare_ok: bool = False) -> float:
    """A length [Å] or angle [deg] through :func:`mofcore.units.parse_quantity` (the package's one parser);
    with ``bare_ok`` a plain number is taken in the internal unit. Errors are the file's :class:`DataFormatError`."""
    if bare_ok and not isinstance(value, bool):
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and re.fullmatch(rf"\s*{_NUM}\s*", value):
            return float(value)
    try:
        return parse_quantity(value, dimension, where=where)
    except UnitError as error:
        raise DataFormatError(f"{error} (e.g. {example})") from None


def parse_wavelength(value: Any, where: str = "wavelength") -> float | str:
    """A named source (``"CuKa"``, ``"MoKa1"`` …: an anode of :data:`mofcore.constants.XRAY_LINES_A`, ``Ka`` for the
    Kα1/Kα2 doublet, ``Ka1`` for Kα1 alone; returned as is) or a length → λ [Å] > 0."""
    if isinstance(value, str):
        named = re.fullmatch(r"\s*([A-Za-z]{1,2})\s*K(?:a|α)(1?)\s*", value)
        if named is not None:
            anode = named.group(1).capitalize()
            if anode not in XRAY_LINES_A:
                raise DataFormatError(f"{where}: unknown X-ray source {value!r}; named sources: "
                                      f"{', '.join(a + 'Ka' for a in XRAY_LINES_A)} (Kα1 + Kα2), or with 1 for Kα1 "
                                      "alone (CuKa1), or a wavelength such as \"1.5406 A\"")
            return f"{anode}Ka{named.group(2)}"
    lam = parse_setting(value, "length", '"1.5406 A" or "CuKa"', where)
    if not math.isfinite(lam) or lam <= 0:
        raise DataFormatError(f"{where}: the wavelength must be positive, got {value!r}")
    return lam


def parse_two_theta_range(value: Any, where: str = "two_theta") -> tuple[float, float]:
    """``"3..50 deg"`` (or ``"3..50"``, degrees) → (lo, hi) with 0 < lo < hi < 180."""
    if not isinstance(value, str) or ".." not in value:
        raise DataFormatError(f'{where}: expected a 2θ range such as "3..50 deg", got {value!r}')
    lo_s, hi_s = value.split("..", 1)
    hi_m = re.fullmatch(rf"\s*({_NUM})\s*(\S*)\s*", hi_s)
    unit = hi_m.group(2) if hi_m else ""
    lo = parse_setting(lo_s.strip() + (" " + unit if unit and not re.search(r"[a-zA-Z°]", lo_s) else ""),
                   "angle", '"3..50 deg"', where, bare_ok=True)
    hi = parse_setting(hi_s, "angle", '"3..50 deg"', where, bare_ok=True)
    if not (0.0 < lo < hi < 180.0):
        raise DataFormatError(
            f"{where}: the 2θ range must satisfy 0 < start < end < 180 deg, got {value!r}"
        )
    return lo, hi


def parse_instrument(data: dict[str, Any], where: str = "instrument") -> tuple[Instrument, np.ndarray]:
    """Validate a parsed TOML document → (:class:`Instrument`, 2θ grid [deg] (n_points,))."""
    for table, content in data.items():
        if table not in _KNOWN:
            raise DataFormatError(f"{where}: unknown table [{table}]; expected one of {sorted(_KNOWN)}")
        if not isinstance(content, dict):
            raise DataFormatError(f"{where}: {table} must be a table such as [{table}], got {content!r}")
        for key in content:
            if key not in _KNOWN[table]:
                raise DataFormatError(f"{where}: unknown key {table}.{key}; expected one of {sorted(_KNOWN[table])}")
    src, scan = data.get("source", {}), data.get("scan", {})
    prof, geo, bg = data.get("profile", {}), data.get("geometry", {}), data.get("background", {})
    if "wavelength" not in src:
        raise DataFormatError(f'{where}: source.wavelength is required, e.g. wavelength = "CuKa" or "0.45 A"')
    if "two_theta" not in scan:
        raise DataFormatError(f'{where}: scan.two_theta is required, e.g. two_theta = "3..50 deg"')
    lam = parse_wavelength(src["wavelength"], f"{where}: source.wavelength")
    lo, hi = parse_two_theta_range(scan["two_theta"], f"{where}: scan.two_theta")
    step = parse_setting(scan.get("step", "0.01 deg"), "angle", '"0.01 deg"', f"{where}: scan.step", bare_ok=True)
    if not step > 0:
        raise DataFormatError(f"{where}: scan.step must be positive, got {scan.get('step')!r}")
    n = int(round((hi - lo) / step)) + 1
    if n < 2 or n > 2_000_000:
        raise DataFormatError(f"{where}: scan.step gives {n} points; expected 2 to 2,000,000")

    def num(table: dict[str, Any], key: str, default: float, lo_ok: float = -math.inf) -> float:
        val = table.get(key, default)
        out = parse_setting(val, "angle", "0.004", f"{where}: {key}", bare_ok=True)
        if out < lo_ok:
            raise DataFormatError(f"{where}: {key} must be ≥ {lo_ok}, got {val!r}")
        return out

    pol = src.get("polarisation_fraction", 0.5)
    if isinstance(pol, bool) or not isinstance(pol, int | float) or not 0.0 <= pol <= 1.0:
        raise DataFormatError(f"{where}: source.polarisation_fraction must be a number in [0, 1], got {pol!r}")
    ka2 = src.get("ka2_ratio", 0.5)
    if isinstance(ka2, bool) or not isinstance(ka2, int | float) or ka2 < 0:
        raise DataFormatError(f"{where}: source.ka2_ratio must be a number ≥ 0, got {ka2!r}")
    mono = parse_setting(src.get("monochromator_two_theta", "0 deg"), "angle", '"26.57 deg"',
                     f"{where}: source.monochromator_two_theta")
    if not 0.0 <= mono < 180.0:
        raise DataFormatError(f"{where}: source.monochromator_two_theta must be in [0, 180) deg, got {mono}")
    disp_A = parse_setting(geo.get("sample_displacement", "0 um"), "length", '"50 um"', f"{where}: geometry.sample_displacement")
    radius_A = parse_setting(geo.get("goniometer_radius", "240 mm"), "length", '"240 mm"', f"{where}: geometry.goniometer_radius")
    if radius_A <= 0:
        raise DataFormatError(f"{where}: geometry.goniometer_radius must be positive, got {geo.get('goniometer_radius')!r}")
    cheb = bg.get("chebyshev", [])
    if not isinstance(cheb, list) or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in cheb):
        raise DataFormatError(f"{where}: background.chebyshev must be a list of numbers such as [100.0, -20.0], got {cheb!r}")
    scale = bg.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
        raise DataFormatError(f"{where}: background.scale must be a positive number, got {scale!r}")
    inst = make_instrument(
        lam,
        caglioti_u=num(prof, "caglioti_u", 0.004),
        caglioti_v=num(prof, "caglioti_v", -0.002),
        caglioti_w=num(prof, "caglioti_w", 0.003),
        tch_x=num(prof, "tch_x", 0.0, 0.0),
        tch_y=num(prof, "tch_y", 0.01, 0.0),
        zero_shift_deg=parse_setting(geo.get("zero_shift", "0 deg"), "angle", '"0.02 deg"', f"{where}: geometry.zero_shift"),
        displacement_um=disp_A / 1e4,
        goniometer_radius_mm=radius_A / 1e7,
        monochromator_two_theta_deg=mono,
        polarisation_fraction=float(pol),
        background=[float(c) for c in cheb],
        scale=float(scale),
        ka2_ratio=float(ka2),
    )
    return inst, np.linspace(lo, hi, n)


def instrument_from_toml(text: str, where: str = "instrument") -> tuple[Instrument, np.ndarray]:
    """Parse TOML text; a syntax error (or nesting too deep for the parser) becomes a :class:`DataFormatError`
    naming ``where``."""
    return parse_instrument(parse_toml(text, where, DataFormatError), where)


def load_instrument(path: str | Path) -> tuple[Instrument, np.ndarray]:
    """Read an instrument TOML file → (:class:`Instrument`, 2θ grid [deg]); a FIFO, a folder or an oversized file
    is refused before it is opened (:func:`mofcore.files.read_text_file`)."""
    path = Path(path)
    text = read_text_file(path, what="an instrument file (TOML)", error=DataFormatError)
    return instrument_from_toml(text, str(path))
