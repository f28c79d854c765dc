"""Text column files: ``.xy``, ``.xye``, ``.dat``, ``.csv``, ``.txt``, GudrunX ``.int01``, tidy isotherm CSV.

No library: NumPy's ``loadtxt``/``genfromtxt`` and pandas' ``read_csv`` either stop at the first
oddity with a message that names no line, or silently turn bad cells into NaN; a measurement reader
must refuse a bad line by number. The files are small (10⁴ lines), so a per-line pass costs
milliseconds.

Sniffing
    * comment lines start with ``#``, ``!``, ``;``, ``%``, ``//`` or ``*``; those that state
      ``wavelength``/``lambda``, temperature, pressure, humidity or time become metadata/conditions;
    * the first non-comment line with a non-numeric cell before any data is the header (column
      names, optionally with units: ``2theta (deg)``, ``wavenumber / cm-1``, ``pressure_kPa``);
    * the delimiter is ``,``, ``;`` or tab when the header or first data line has one, else blanks;
    * columns whose first data cell is not a number are text columns (``branch``, ``kind``).

Column choice (options override): the axis is the first numeric column (or the one whose header
names a known axis), the values the next, a third numeric column is taken as standard uncertainties
in ``.xye``/``.int01`` files or when its header says ``sigma``/``esd``/``err``/``uncertainty``.
The axis name and unit come from the header, else from the extension (``.int01``, ``.fq``, ``.sq`` →
Q in Å⁻¹; others → 2θ in deg, marked ``axis_assumed`` in the metadata), else from ``axis=``.

Isotherms: a header with a pressure column and an ``uptake``/``amount``/``loading``/``adsorbed``
column gives an isotherm on a pressure axis in bar; a ``branch`` column splits it into a
:class:`~instruments.measurement.MeasurementSeries` in order of appearance. Branch labels ``adsorption``/
``ads`` and ``desorption``/``des`` (any case) become the items ``adsorption`` and ``desorption``; any
other label is refused with its line.

A 2θ axis (named by the header or assumed) must lie inside (0, 180) deg; a value outside is refused
with its line (a first column that is not 2θ needs ``axis=``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_axis, check_finite, decode_text, fail, number, parse_float
from instruments.io._quantities import axis_from_label, condition_from_text
from instruments.measurement import Measurement, MeasurementSeries, counting_uncertainty
from instruments.observable import AXIS_TECHNIQUE, AXIS_UNITS, Axis

__all__ = ["read_columns", "COLUMN_EXTENSIONS"]

COLUMN_EXTENSIONS = (".xy", ".xye", ".dat", ".csv", ".txt", ".tsv", ".int01", ".fq", ".sq", ".asc", ".chi")
_COMMENT = ("#", "!", ";", "%", "//", "*")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$")
_WAVELENGTH = re.compile(r"(?:wavelength|lambda|λ)\s*[:=]?\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(Å|A|angstrom|nm)?", re.I)
_SIGMA_NAME = re.compile(r"sigma|esd|err|uncert|\bsd\b|\bstd\b|\bdy\b|\bdi\b", re.I)
_UPTAKE_NAME = re.compile(r"uptake|amount|loading|adsorbed|n_ads|quantity", re.I)
#: isotherm branch labels (lower case) → the label of the series item
_BRANCHES = {"adsorption": "adsorption", "ads": "adsorption", "desorption": "desorption", "des": "desorption"}


def _is_number(token: str) -> bool:
    return bool(_NUMBER.match(token.strip()))


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [c.strip().strip('"') for c in line.split(delimiter)]


def _choose_delimiter(line: str) -> str | None:
    for d in ("\t", ",", ";"):
        if d in line:
            return d
    return None


def _column_index(path: Path, names: list[str] | None, chosen: Any, option: str, n_columns: int) -> int:
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        if not -n_columns <= chosen < n_columns:
            raise fail(path, None, f"{option}={chosen}: the file has {n_columns} columns")
        return chosen % n_columns
    if isinstance(chosen, str):
        if names is None:
            raise fail(path, None, f"{option}={chosen!r}: the file has no header row to name columns")
        lowered = [n.lower() for n in names]
        if chosen.lower() in lowered:
            return lowered.index(chosen.lower())
        raise fail(path, None, f"{option}={chosen!r}: no such column; columns are {names}")
    raise fail(path, None, f"{option} must be a column number or name, got {chosen!r}")


def read_columns(
    path: Path,
    data: bytes,
    *,
    x_column: int | str | None = None,
    y_column: int | str | None = None,
    sigma_column: int | str | None = None,
    axis: str | None = None,
    axis_unit: str | None = None,
    technique: str | None = None,
    wavelength_ang: float | None = None,
    counts: bool | None = None,
    quantity: str | None = None,
    unit: str | None = None,
) -> Measurement | MeasurementSeries:
    """Read a text column file (see the module docstring for the sniffing rules).

    Args:
        path: the file (named in errors).
        data: its bytes.
        x_column, y_column, sigma_column: column number (0-based) or header name to use.
        axis, axis_unit: axis name (``two_theta``, ``q``, ``wavenumber``, ``shift``, ...) and unit when
            the header does not say.
        technique: a technique name as in the registry (``"xrd"``, ``"total-scattering"``, ``"isotherm"``) or a
            kind of spectrum (``"ir"``, ``"raman"``, ``"nmr"``); guessed from the axis when not given.
        wavelength_ang: λ [Å] when the file does not state it.
        counts: the values are raw detector counts (σ = √N); default: guessed from the header
            (``counts``) or from all values being non-negative integers on a 2θ axis.
        quantity, unit: what the values are and their unit.

    Returns:
        A :class:`Measurement`, or a :class:`MeasurementSeries` for an isotherm with branches.
    """
    text = decode_text(path, data)
    lines = text.splitlines()
    comments: list[str] = []
    header: list[str] | None = None
    header_line = 0
    delimiter: str | None = None
    rows: list[list[str]] = []
    row_lines: list[int] = []
    text_columns: set[int] = set()
    n_cols = 0

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_COMMENT):
            if rows:
                continue  # trailing comments
            comments.append(line.lstrip("#!;%/* \t"))
            continue
        if not rows and header is None:
            delimiter = _choose_delimiter(line)
            cells = _split(line, delimiter)
            if not all(_is_number(c) for c in cells):
                # a header row: at least one cell is not a number and no data has started
                if not any(c and not _is_number(c) for c in cells):
                    raise fail(path, f"line {lineno}", f"expected a header or numbers, got {line[:60]!r}")
                header = cells
                header_line = lineno
                continue
        if not rows:
            if delimiter is None:
                delimiter = _choose_delimiter(line)
            cells = _split(line, delimiter)
            n_cols = len(cells)
            if header is not None and len(header) != n_cols:
                raise fail(
                    path, f"line {lineno}",
                    f"{n_cols} cells but the header on line {header_line} names {len(header)} columns",
                )
            for i, c in enumerate(cells):
                if not _is_number(c):
                    if header is None:
                        raise fail(path, f"line {lineno}", f"expected numbers, got {c[:40]!r} in column {i + 1}")
                    text_columns.add(i)
        else:
            cells = _split(line, delimiter)
            if len(cells) != n_cols:
                raise fail(path, f"line {lineno}", f"expected {n_cols} columns like line {row_lines[0]}, got {len(cells)}")
        rows.append(cells)
        row_lines.append(lineno)

    if not rows:
        raise fail(path, f"line {len(lines)}", "no data rows (the file holds only comments or a header)")
    numeric = [i for i in range(n_cols) if i not in text_columns]
    if len(numeric) < 2:
        raise fail(path, f"line {row_lines[0]}", f"expected at least 2 numeric columns (axis and values), found {len(numeric)}")

    # parse every numeric cell with its line number
    table = np.empty((len(rows), n_cols), dtype=np.float64)
    for r, (cells, lineno) in enumerate(zip(rows, row_lines, strict=True)):
        for i in numeric:
            table[r, i] = parse_float(cells[i], path, f"line {lineno}", f"a number in column {i + 1}")

    metadata: dict[str, Any] = {}
    conditions: dict[str, float] = {}
    for c in comments:
        conditions.update(condition_from_text(c))
        m = _WAVELENGTH.search(c)
        if m and wavelength_ang is None:
            lam = float(m.group(1)) * (10.0 if (m.group(2) or "").lower() == "nm" else 1.0)
            if 0.01 < lam < 100.0:
                wavelength_ang = lam
    if comments:
        metadata["comments"] = comments[:20]
    if header is not None:
        metadata["columns"] = header

    # -- isotherm? -----------------------------------------------------------------------------
    names = header
    if names is not None and technique in (None, "isotherm"):
        p_idx = next((i for i in numeric if (a := axis_from_label(names[i])) and a[0] == "pressure"), None)
        u_idx = next((i for i in numeric if _UPTAKE_NAME.search(names[i])), None)
        if p_idx is not None and u_idx is not None and x_column is None:
            return _isotherm(path, names, rows, row_lines, table, p_idx, u_idx, y_column, text_columns, metadata, conditions)

    xi = _column_index(path, names, x_column, "x_column", n_cols) if x_column is not None else None
    if xi is None and names is not None:
        xi = next((i for i in numeric if axis_from_label(names[i]) is not None), None)
    if xi is None:
        xi = numeric[0]
    if xi in text_columns:
        raise fail(path, f"line {row_lines[0]}", f"the axis column {xi + 1} holds text, not numbers")
    rest = [i for i in numeric if i != xi]
    yi = _column_index(path, names, y_column, "y_column", n_cols) if y_column is not None else rest[0]
    if yi in text_columns:
        raise fail(path, f"line {row_lines[0]}", f"the value column {yi + 1} holds text, not numbers")
    si: int | None
    if sigma_column is not None:
        si = _column_index(path, names, sigma_column, "sigma_column", n_cols)
    else:
        others = [i for i in rest if i != yi]
        ext = path.suffix.lower()
        si = None
        if others:
            if names is not None and _SIGMA_NAME.search(names[others[0]]):
                si = others[0]
            elif names is None and ext in (".xye", ".int01") and len(numeric) == 3:
                si = others[0]

    # -- axis name and unit ----------------------------------------------------------------------
    factor = 1.0
    if axis is not None:
        axis_name = axis
        axis_u = axis_unit or AXIS_UNITS.get(axis, "1")
        metadata["axis_from"] = "option"
    elif names is not None and (found := axis_from_label(names[xi])) is not None:
        axis_name, axis_u, factor = found
        metadata["axis_from"] = f"header {names[xi]!r}"
    elif path.suffix.lower() in (".int01", ".fq", ".sq"):
        axis_name, axis_u = "q", "1/Å"
        metadata["axis_from"] = f"extension {path.suffix}"
    else:
        axis_name, axis_u = "two_theta", "deg"
        metadata["axis_from"] = "assumed (no header names the axis; pass axis= to set it)"
        metadata["axis_assumed"] = True

    x = table[:, xi] * factor
    y = table[:, yi]
    where = lambda i: f"line {row_lines[i]}"  # noqa: E731
    order = check_axis(path, x, f"the {axis_name} axis (column {xi + 1})", where)
    if axis_name == "two_theta":
        outside = np.flatnonzero(~((x > 0.0) & (x < 180.0)))
        if outside.size:
            k = int(outside[0])
            hint = "; pass axis= if the first column is not 2θ" if metadata.get("axis_assumed") else ""
            raise fail(path, where(k), f"2θ value {number(x[k])} deg in column {xi + 1} is outside (0, 180) deg{hint}")
    check_finite(path, y, f"the value in column {yi + 1}", where)
    sigma = None
    kind = "unknown"
    if si is not None:
        sigma = table[:, si]
        neg = np.flatnonzero(sigma < 0)
        if neg.size:
            raise fail(path, where(int(neg[0])), f"negative uncertainty {number(sigma[neg[0]])} in column {si + 1}")
        kind = "file"
    y_name = names[yi] if names is not None else ""
    if technique is None:
        total_scattering = axis_name == "q" and path.suffix.lower() in (".int01", ".fq", ".sq")
        technique = "total-scattering" if total_scattering else AXIS_TECHNIQUE.get(axis_name, "")
    if sigma is None:
        is_counts = counts
        if is_counts is None:
            integral = bool(np.all(y >= 0) and np.all(y == np.round(y)))
            is_counts = "count" in y_name.lower() or (integral and technique == "xrd" and "cps" not in y_name.lower())
        if is_counts:
            if np.any(y < 0):
                bad = int(np.flatnonzero(y < 0)[0])
                raise fail(path, where(bad), f"negative count {number(y[bad])} (counts=True)")
            sigma = counting_uncertainty(y)
            kind = "counting"
            unit = unit or "counts"
    if technique == "total-scattering" and axis_name == "q" and quantity is None:
        quantity = "F(Q)"
    return Measurement(
        axis=Axis(x[order], axis_name, axis_u),
        values=y[order],
        uncertainties=None if sigma is None else np.asarray(sigma)[order],
        quantity=quantity or (y_name if y_name else "intensity"),
        unit=unit or "arb.",
        technique=technique,
        uncertainty_kind=kind,
        conditions=conditions,
        wavelength_ang=wavelength_ang,
        metadata=metadata,
        source=str(path),
        source_line=row_lines[0],
        format="csv" if delimiter in (",", ";", "\t") else (path.suffix.lower().lstrip(".") or "columns"),
    )


def _isotherm(
    path: Path,
    names: list[str],
    rows: list[list[str]],
    row_lines: list[int],
    table: np.ndarray,
    p_idx: int,
    u_idx: int,
    y_column: int | str | None,
    text_columns: set[int],
    metadata: dict[str, Any],
    conditions: dict[str, float],
) -> Measurement | MeasurementSeries:
    """An isotherm table: pressure axis in bar, uptake values, split by a ``branch`` column when present."""
    if y_column is not None:
        u_idx = _column_index(path, names, y_column, "y_column", len(names))
    _, _, factor = axis_from_label(names[p_idx]) or ("pressure", "bar", 1.0)
    p = table[:, p_idx] * factor
    u = table[:, u_idx]
    where = lambda i: f"line {row_lines[i]}"  # noqa: E731
    check_finite(path, p, f"the pressure (column {p_idx + 1})", where)
    check_finite(path, u, f"the uptake (column {u_idx + 1})", where)
    neg = np.flatnonzero(p < 0)
    if neg.size:
        raise fail(path, where(int(neg[0])), f"negative pressure {number(p[neg[0]])} bar")
    unit_match = re.search(r"(mmol|mol|ml|cm3|cc|wt|g|molecules|molec)[\w/]*", names[u_idx], re.I)
    unit = names[u_idx][unit_match.start():] if unit_match else "arb."
    branch_idx = next((i for i in sorted(text_columns) if names[i].lower() == "branch"), None)
    meta = {**metadata, "pressure_column": names[p_idx], "uptake_column": names[u_idx]}
    if branch_idx is None:
        return Measurement(
            axis=Axis(p, "pressure", "bar"), values=u, quantity="uptake", unit=unit, technique="isotherm",
            conditions=conditions, metadata=meta, source=str(path), source_line=row_lines[0], format="isotherm-csv",
        )
    branches = []
    for cells, lineno in zip(rows, row_lines, strict=True):
        label = _BRANCHES.get(cells[branch_idx].strip().lower())
        if label is None:
            shown = cells[branch_idx][:30]
            raise fail(path, f"line {lineno}", f"branch {shown!r} in column {branch_idx + 1} is not an isotherm branch "
                       "(expected adsorption/ads or desorption/des, any case)")
        branches.append(label)
    labels = list(dict.fromkeys(branches))
    items = []
    for label in labels:
        sel = np.array([b == label for b in branches])
        first = int(np.flatnonzero(sel)[0])
        items.append(
            Measurement(
                axis=Axis(p[sel], "pressure", "bar"), values=u[sel], quantity="uptake", unit=unit,
                technique="isotherm", conditions=conditions, metadata={**meta, "branch": label},
                source=str(path), source_line=row_lines[first], format="isotherm-csv",
            )
        )
    return MeasurementSeries(tuple(items), tuple(labels), format="isotherm-csv", source=str(path), metadata=meta)
