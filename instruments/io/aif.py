"""Adsorption Information Files (AIF): measured isotherms with both branches.

Format: J. D. Evans, V. Bon, I. Senkovska, S. Kaskel, Langmuir 37, 4222 (2021),
doi:10.1021/acs.langmuir.1c00122 — a CIF dialect (``data_`` block, ``_key value`` items,
``loop_`` tables) with the dictionary of the AIF working group: ``_exptl_temperature``,
``_exptl_adsorptive``, ``_adsnt_sample_mass``, ``_units_pressure``/``_units_loading``/
``_units_temperature``, and the loops ``_adsorp_pressure _adsorp_p0 _adsorp_amount`` and
``_desorp_*``.

Library: pyGAPS reads AIF but brings a plotting and analysis stack and ``gemmi`` reads CIF syntax
without AIF semantics; this module is a small CIF tokenizer (quoted strings, ``;`` text fields,
loops) that reports errors by line, plus the AIF item names above.

Result: a :class:`MeasurementSeries` with the adsorption and desorption branches (pressure axis in
bar; uptake in the file's loading unit), ``temperature_K`` in the conditions; per point relative
pressures p/p0 are in ``metadata['relative_pressure']``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_finite, decode_text, fail, parse_float
from instruments.io._quantities import PRESSURE_PA, to_kelvin
from instruments.measurement import Measurement, MeasurementSeries
from instruments.observable import Axis

__all__ = ["read_aif", "parse_cif_like"]

_TOKEN = re.compile(r"'(?:[^']|'(?!\s|$))*'(?=\s|$)|\"(?:[^\"]|\"(?!\s|$))*\"(?=\s|$)|\S+")


def _tokens(path: Path, text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        if line.startswith(";"):
            buf = [line[1:]]
            i += 1
            while i < len(lines) and not lines[i].startswith(";"):
                buf.append(lines[i])
                i += 1
            if i >= len(lines):
                raise fail(path, f"line {lineno}", "text field opened with ';' is never closed")
            out.append(("\n".join(buf).strip(), lineno))
            i += 1
            continue
        body = line.split("#", 1)[0] if not ("'" in line or '"' in line) else line
        for m in _TOKEN.finditer(body):
            tok = m.group(0)
            if tok.startswith("#"):
                break
            if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "'\"":
                tok = "\x00" + tok[1:-1]  # mark quoted: never a keyword
            elif tok[0] in "'\"":
                raise fail(path, f"line {lineno}", f"unterminated quoted string {tok[:30]!r}")
            out.append((tok, lineno))
        i += 1
    return out


def parse_cif_like(path: Path, text: str) -> tuple[dict[str, tuple[str, int]], list[tuple[list[str], list[list[tuple[str, int]]], int]]]:
    """Items (name → (value, line)) and loops (names, rows of (value, line), line of ``loop_``)."""
    tokens = _tokens(path, text)
    items: dict[str, tuple[str, int]] = {}
    loops: list[tuple[list[str], list[list[tuple[str, int]]], int]] = []
    i = 0
    seen_data = False
    while i < len(tokens):
        tok, line = tokens[i]
        low = tok.lower()
        if low.startswith("data_"):
            seen_data = True
            i += 1
            continue
        if not seen_data:
            raise fail(path, f"line {line}", f"expected a 'data_' block header first, got {tok[:30]!r}")
        if low == "loop_":
            names: list[str] = []
            i += 1
            while i < len(tokens) and tokens[i][0].startswith("_"):
                names.append(tokens[i][0].lower())
                i += 1
            if not names:
                raise fail(path, f"line {line}", "loop_ without item names")
            values: list[tuple[str, int]] = []
            while i < len(tokens):
                t, _ = tokens[i]
                if t.startswith("_") or t.lower() == "loop_" or t.lower().startswith("data_"):
                    break
                values.append((t.lstrip("\x00"), tokens[i][1]))
                i += 1
            if len(values) % len(names):
                raise _ragged(path, names, values, line)
            rows = [values[k:k + len(names)] for k in range(0, len(values), len(names))]
            loops.append((names, rows, line))
            continue
        if tok.startswith("_"):
            if i + 1 >= len(tokens):
                raise fail(path, f"line {line}", f"item {tok} has no value (file ends)")
            value, vline = tokens[i + 1]
            if value.startswith("_") or value.lower() == "loop_":
                raise fail(path, f"line {line}", f"item {tok} has no value")
            items[tok.lower()] = (value.lstrip("\x00"), vline)
            i += 2
            continue
        raise fail(path, f"line {line}", f"expected an item name '_...' or 'loop_', got {tok.lstrip(chr(0))[:30]!r}")
    if not seen_data:
        raise fail(path, "line 1", "no 'data_' block")
    return items, loops


def _ragged(path: Path, names: list[str], values: list[tuple[str, int]], loop_line: int) -> Exception:
    """The error for a loop whose value count is not a multiple of its item count, naming the ragged row's line.

    AIF writers put one row per line; the first line that holds another number of values than the loop has items
    is the ragged row. A loop that spreads its rows over lines otherwise (CIF allows it) is named by its last line.
    """
    per_line: dict[int, int] = {}
    for _, lineno in values:
        per_line[lineno] = per_line.get(lineno, 0) + 1
    n = len(names)
    odd = [lineno for lineno, count in per_line.items() if count != n]
    if len(odd) < len(per_line):  # most lines hold one row each: the first odd line is the ragged row
        lineno = odd[0]
        k = per_line[lineno]
        return fail(path, f"line {lineno}", f"loop_ of {n} items holds {len(values)} values (not a multiple): this "
                                            f"row has {k} value{'s' if k != 1 else ''} where the loop_ on line "
                                            f"{loop_line} names {n} ({' '.join(names)})")
    last = values[-1][1] if values else loop_line
    return fail(path, f"line {last}", f"loop_ of {n} items holds {len(values)} values (not a multiple)")


def read_aif(path: Path, data: bytes) -> MeasurementSeries:
    """Read an AIF isotherm (adsorption and desorption branches)."""
    text = decode_text(path, data)
    items, loops = parse_cif_like(path, text)

    def item(name: str) -> str | None:
        return items[name][0] if name in items else None

    p_unit = (item("_units_pressure") or "").strip()
    if p_unit.lower() not in PRESSURE_PA:
        line = items.get("_units_pressure", ("", 1))[1]
        raise fail(path, f"line {line}", f"_units_pressure must be one of {sorted(PRESSURE_PA)}, got {p_unit!r}")
    to_bar = PRESSURE_PA[p_unit.lower()] / 1e5
    loading_unit = item("_units_loading") or "arb."
    conditions: dict[str, float] = {}
    if "_exptl_temperature" in items:
        value, line = items["_exptl_temperature"]
        t = parse_float(value, path, f"line {line}", "a temperature")
        k = to_kelvin(t, item("_units_temperature") or "K")
        if k is None or k <= 0:
            raise fail(path, f"line {line}", f"temperature {value} {item('_units_temperature')} is not a temperature above 0 K")
        conditions["temperature_K"] = k
    meta: dict[str, Any] = {
        key.lstrip("_"): v for key, (v, _) in items.items()
        if key.startswith(("_exptl_", "_adsnt_", "_units_", "_audit_", "_sample_"))
    }
    series: list[Measurement] = []
    labels: list[str] = []
    for prefix, label in (("_adsorp_", "adsorption"), ("_desorp_", "desorption")):
        loop = next((lp for lp in loops if any(n.startswith(prefix) for n in lp[0])), None)
        if loop is None:
            continue
        names, rows, loop_line = loop
        try:
            pi = names.index(f"{prefix}pressure")
            ai = names.index(f"{prefix}amount")
        except ValueError:
            raise fail(path, f"line {loop_line}", f"loop of {label} needs {prefix}pressure and {prefix}amount, has {names}") from None
        p0i = names.index(f"{prefix}p0") if f"{prefix}p0" in names else None
        if not rows:
            raise fail(path, f"line {loop_line}", f"{label} loop holds no points")
        p = np.array([parse_float(r[pi][0], path, f"line {r[pi][1]}", "a pressure") for r in rows]) * to_bar
        a = np.array([parse_float(r[ai][0], path, f"line {r[ai][1]}", "an amount") for r in rows])
        where = lambda k, rows=rows, pi=pi: f"line {rows[k][pi][1]}"  # noqa: E731
        check_finite(path, p, "a pressure", where)
        neg = np.flatnonzero(p < 0)
        if neg.size:
            raise fail(path, where(int(neg[0])), f"negative pressure {rows[int(neg[0])][pi][0]}")
        m: dict[str, Any] = {**meta, "branch": label}
        if p0i is not None:
            p0 = np.array([parse_float(r[p0i][0], path, f"line {r[p0i][1]}", "a saturation pressure") for r in rows]) * to_bar
            if np.all(p0 > 0):
                m["p0_bar"] = float(np.median(p0))
                m["relative_pressure"] = (p / p0).tolist()
        series.append(
            Measurement(
                axis=Axis(p, "pressure", "bar"), values=a, quantity="uptake", unit=loading_unit, technique="isotherm",
                conditions=conditions, metadata=m, source=str(path), source_line=rows[0][pi][1], format="aif",
            )
        )
        labels.append(label)
    if not series:
        raise fail(path, None, "no _adsorp_ or _desorp_ loop: not an isotherm AIF")
    return MeasurementSeries(tuple(series), tuple(labels), format="aif", source=str(path), metadata=meta)
