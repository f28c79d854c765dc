"""Text column files: ``.xy``, ``.xye``, ``.dat``, ``.csv``, ``.txt``, GudrunX ``.int01``, tidy isotherm CSV.

Parsing: the comments, the header and the first data row are sniffed line by line; the numbers are then read
by NumPy's C ``loadtxt`` from a generator of the remaining lines, so that memory stays near the size of the
file (the bytes, the decoded text and the float64 table: about 3× a 100 MB file at the peak, where a Python list
of lines and cells took 24×). ``loadtxt`` names no line when it stops, and reads NaN, ``inf`` and overflow
without complaint; whenever it stops, a value is not finite, or a column holds text (isotherm branches), a
streaming per-line pass (one row at a time into a compact ``array``) reads the file instead and refuses the
first bad line by number, as a measurement reader must.

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
The axis name and unit come from ``axis=``/``axis_unit=``, else from the header of the axis column (one table:
:func:`~instruments.io._quantities.parse_axis_header` reads ``q_inv_nm``, ``Q (1/nm)``, ``2Theta (deg)``,
``d (A)``, ``Raman shift (cm^-1)``, ``ppm``, ``frequency (Hz)`` …, and the values are converted to the axis's
internal unit: Q in Å⁻¹, d in Å, frequency in kHz; a header naming a known axis with a unit not in the table is
refused with the file, line, column and the accepted units; a name without a unit where the unit is in doubt, such
as ``q``, is marked ``axis_unit_assumed``), else from the extension (``.int01``, ``.fq``, ``.sq`` → Q in Å⁻¹),
else 2θ in deg, marked ``axis_assumed`` in the metadata. A value column header ``name (unit)`` gives the quantity
and its unit.

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
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_axis, check_finite, decode_text, fail, number, parse_float
from instruments.io._quantities import (
    AXIS_KINDS,
    HeaderAxis,
    accepted_axes,
    axis_from_label,
    axis_name as canonical_axis,
    axis_option,
    condition_from_text,
    find_unit,
    parse_axis_header,
    scale,
)
from instruments.measurement import Measurement, MeasurementSeries, counting_uncertainty
from instruments.observable import AXIS_TECHNIQUE, AXIS_UNITS, Axis
from mofcore.errors import UnitError

__all__ = ["read_columns", "check_axis_options", "COLUMN_EXTENSIONS"]

COLUMN_EXTENSIONS = (".xy", ".xye", ".dat", ".csv", ".txt", ".tsv", ".int01", ".fq", ".sq", ".asc", ".chi")
_COMMENT = ("#", "!", ";", "%", "//", "*")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$")
_WAVELENGTH = re.compile(r"(?:wavelength|lambda|λ)\s*[:=]?\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(Å|A|angstrom|nm)?", re.I)
_SIGMA_NAME = re.compile(r"sigma|esd|err|uncert|\bsd\b|\bstd\b|\bdy\b|\bdi\b", re.I)
_UPTAKE_NAME = re.compile(r"uptake|amount|loading|adsorbed|n_ads|quantity", re.I)
#: a value column header with its unit: ``intensity (counts)``, ``absorbance [a.u.]``
_VALUE_UNIT = re.compile(r"^(.*?\S)\s+[(\[]([^()\[\]]+)[)\]]\s*$")
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


def _group_units(cells: list[str]) -> list[str]:
    """Header cells split at blanks, with units joined to their names again: ``["2theta", "(deg)", "I"]`` →
    ``["2theta (deg)", "I"]``; also ``[unit]`` and ``/ unit``."""
    out: list[str] = []
    open_unit = False
    glue_next = False
    for c in cells:
        if out and (open_unit or glue_next or c.startswith(("(", "[")) or c == "/"):
            out[-1] = f"{out[-1]} {c}"
            open_unit = (open_unit or c.startswith(("(", "["))) and not c.endswith((")", "]"))
            glue_next = c == "/"
        else:
            out.append(c)
    return out


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


#: the characters ``str.splitlines`` breaks lines at (``\r\n`` counts as one break)
_LINE_BODY = re.compile("[^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def _lines(text: str, start: int = 0, lineno: int = 1) -> Iterator[tuple[int, int, str]]:
    """(line number, offset, line) from ``start``: ``enumerate(text.splitlines(), 1)`` without the list."""
    pos, end_of_text = start, len(text)
    while pos < end_of_text:
        end = _LINE_BODY.match(text, pos).end()  # type: ignore[union-attr]
        yield lineno, pos, text[pos:end]
        pos = end + (2 if text.startswith("\r\n", end) else 1)
        lineno += 1


def _data_lines(text: str, first: tuple[int, int]) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of every data row from the first one on (blank and comment lines skipped)."""
    lineno, offset = first
    for n, _, raw in _lines(text, offset, lineno):
        line = raw.strip()
        if line and not line.startswith(_COMMENT):
            yield n, line


class _RowLines:
    """The line number of data row ``i``, found by scanning the text again (only an error message needs one)."""

    def __init__(self, text: str, first: tuple[int, int]):
        self.text, self.first = text, first

    def __call__(self, i: int) -> int:
        for r, (lineno, _) in enumerate(_data_lines(self.text, self.first)):
            if r == i:
                return lineno
        raise IndexError(i)  # pragma: no cover - rows and lines come from the same text


def _fast_table(text: str, first: tuple[int, int], delimiter: str | None, n_cols: int) -> np.ndarray | None:
    """Every row as float64 by NumPy's C reader, or ``None`` when it stops or a value is not finite (then the
    line-by-line reader finds the line and says what is wrong with it)."""
    try:
        table = np.loadtxt((line for _, line in _data_lines(text, first)), dtype=np.float64, delimiter=delimiter,
                           comments=None, quotechar='"' if delimiter is not None else None, ndmin=2)
    except (ValueError, TypeError, IndexError):
        return None
    if table.shape[1] != n_cols or not np.isfinite(table).all():
        return None
    return table


def _checked_table(
    path: Path, text: str, first: tuple[int, int], delimiter: str | None, n_cols: int, numeric: list[int],
    text_columns: set[int],
) -> tuple[np.ndarray, array, dict[int, list[str]]]:
    """The numeric cells row by row (a compact ``array``, not a list of lines), the line of every row and the
    cells of the text columns; the first bad line raises :class:`DataFormatError` naming it."""
    values = array("d")
    lines = array("q")
    labels: dict[int, list[str]] = {i: [] for i in sorted(text_columns)}
    for lineno, line in _data_lines(text, first):
        cells = _split(line, delimiter)
        if len(cells) != n_cols:
            raise fail(path, f"line {lineno}", f"expected {n_cols} columns like line {first[0]}, got {len(cells)}")
        for i in numeric:
            values.append(parse_float(cells[i], path, f"line {lineno}", f"a number in column {i + 1}"))
        for i, column in labels.items():
            column.append(cells[i])
        lines.append(lineno)
    table = np.full((len(lines), n_cols), np.nan)
    table[:, numeric] = np.frombuffer(values, dtype=np.float64).reshape(len(lines), len(numeric))
    return table, lines, labels


def _header_axis(path: Path, header_line: int, column: int, label: str) -> HeaderAxis | None:
    """What the header of ``column`` says about the axis, or ``None``; an unknown unit raises, naming the file,
    the header line, the column and the accepted units."""
    try:
        found = axis_from_label(label)
    except UnitError as exc:
        raise fail(path, f"line {header_line}, column {column + 1}", str(exc)) from None
    if found is None:
        return None
    if found[0] in AXIS_KINDS:
        return parse_axis_header(label)
    return HeaderAxis(found[0], found[1], found[2], None, False)


def _axis_quietly(label: str) -> tuple[str, str, float] | None:
    """:func:`axis_from_label`, with a header whose unit is unknown counted as naming no axis."""
    try:
        return axis_from_label(label)
    except UnitError:
        return None


def _names_pressure(label: str) -> bool:
    """Whether a header names a pressure (an isotherm's axis); other headers are judged as axes later."""
    found = _axis_quietly(label)
    return found is not None and found[0] == "pressure"


def check_axis_options(axis: str | None, axis_unit: str | None, *, options: tuple[str, str] = ("axis=", "axis_unit="),
                       ) -> None:
    """Refuse an ``axis=`` or ``axis_unit=`` the header parser does not know, before a file is read.

    ``options`` are the option names as the message shows them (``("--axis ", "--axis-unit ")`` on the command
    line). Axis names are those of :data:`~instruments.io._quantities.AXIS_NAMES` (``2theta``, ``q``, ``d``,
    ``wavenumber``, ...) or the single-unit axes of :data:`~instruments.observable.AXIS_UNITS` (``pressure``,
    ``time``, ``index``); units those of :data:`~instruments.io._quantities.UNIT_TABLE`.

    Raises:
        UnitError: an unknown axis or unit, or a unit of another axis; the message lists the accepted ones.
    """
    a_opt, u_opt = options
    if axis is not None and canonical_axis(axis) is None and axis not in AXIS_UNITS:
        raise UnitError(f"{a_opt}{axis!r}: not a known axis; accepted: {accepted_axes()}")
    if axis_unit is None:
        return
    if axis is not None and canonical_axis(axis) is None:  # pressure, time, index: one unit each
        if axis_unit != AXIS_UNITS[axis]:
            raise UnitError(f"{u_opt}{axis_unit!r}: the {axis} axis is read in {AXIS_UNITS[axis]} only")
        return
    target = canonical_axis(axis) if axis is not None else None
    if find_unit(axis_unit) is None:
        of = f" of the {target} axis" if target else ""
        raise UnitError(f"{u_opt}{axis_unit!r}: not a known unit{of}; accepted: {_units_text(target)}")
    if target is not None:
        try:
            axis_option(target, axis_unit)
        except UnitError:
            raise UnitError(f"{u_opt}{axis_unit!r}: not a unit of the {target} axis; accepted: "
                            f"{_units_text(target)}") from None


def _units_text(target: str | None) -> str:
    from instruments.io._quantities import UNIT_TABLE, accepted_units

    if target is not None:
        return accepted_units(target)
    return ", ".join(dict.fromkeys(row.display for row in UNIT_TABLE))


def _with_unit_option(found: HeaderAxis, axis_unit: str) -> HeaderAxis:
    """The axis a header (or the extension, or the default) gave, in the unit ``axis_unit=`` states."""
    if found.axis not in AXIS_KINDS:
        if axis_unit != found.unit:
            raise UnitError(f"axis_unit={axis_unit!r}: the {found.axis} axis is read in {found.unit} only")
        return found
    chosen = axis_option(found.axis, axis_unit)
    assert chosen is not None
    return chosen


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
        axis, axis_unit: axis name (``two_theta``/``2theta``, ``q``, ``d``, ``wavenumber``, ``shift``,
            ``frequency``, ``energy``; or ``pressure``, ``time``, ``index``) and the unit of the axis column in the
            file (``1/nm``, ``inv_A``, ``deg``, ``nm``, ``Hz``, ...), over what the header says or what would be
            assumed; values are converted to the axis's internal unit. ``axis_unit`` alone applies to the
            header's axis, or implies one (``1/nm`` → ``q``).
        technique: a technique name as in the registry (``"xrd"``, ``"total-scattering"``, ``"isotherm"``) or a
            kind of spectrum (``"ir"``, ``"raman"``, ``"nmr"``); guessed from the axis when not given.
        wavelength_ang: λ [Å] when the file does not state it.
        counts: the values are raw detector counts (σ = √N); default: guessed from the header
            (``counts``) or from all values being non-negative integers on a 2θ axis.
        quantity, unit: what the values are and their unit.

    Returns:
        A :class:`Measurement`, or a :class:`MeasurementSeries` for an isotherm with branches.

    Raises:
        UnitError: ``axis``/``axis_unit`` not in the header table (the message lists the accepted ones).
        DataFormatError: anything wrong with the file, including a header unit the table does not know.
    """
    check_axis_options(axis, axis_unit)
    text = decode_text(path, data)
    comments: list[str] = []
    header: list[str] | None = None
    header_line = 0
    delimiter: str | None = None
    first: tuple[int, int] | None = None  # (line number, offset) of the first data row
    text_columns: set[int] = set()
    n_cols = 0
    last_line = 0
    last_comment: tuple[int, str] | None = None

    for lineno, offset, raw in _lines(text):
        last_line = lineno
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_COMMENT):
            comments.append(line.lstrip("#!;%/* \t"))
            last_comment = (lineno, comments[-1])
            continue
        if header is None:
            delimiter = _choose_delimiter(line)
            cells = _split(line, delimiter)
            if not all(_is_number(c) for c in cells):
                # a header row: at least one cell is not a number and no data has started
                if not any(c and not _is_number(c) for c in cells):
                    raise fail(path, f"line {lineno}", f"expected a header or numbers, got {line[:60]!r}")
                header = cells
                header_line = lineno
                continue
        if delimiter is None:
            delimiter = _choose_delimiter(line)
        cells = _split(line, delimiter)
        n_cols = len(cells)
        if header is not None and len(header) != n_cols and delimiter is None:
            header = _group_units(header)  # "2theta (deg) intensity (counts)": units after a blank
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
        first = (lineno, offset)
        break

    if first is None:
        raise fail(path, f"line {last_line}", "no data rows (the file holds only comments or a header)")
    if header is None and last_comment is not None and not text_columns:
        # a header commented out ("# 2theta intensity", "# q_inv_nm intensity_counts") on the comment line that
        # closes the comments: taken as the header when it has one cell per column and its first names an axis
        cells = _split(last_comment[1], delimiter)
        if delimiter is None and len(cells) != n_cols:
            cells = _group_units(cells)
        if len(cells) == n_cols and not any(_is_number(c) for c in cells) and _axis_quietly(cells[0]) is not None:
            header, header_line = cells, last_comment[0]
    numeric = [i for i in range(n_cols) if i not in text_columns]
    if len(numeric) < 2:
        raise fail(path, f"line {first[0]}",
                   f"expected at least 2 numeric columns (axis and values), found {len(numeric)}")

    # every numeric cell, by NumPy's C reader when it can; else line by line, refusing the first bad line
    table = None if text_columns else _fast_table(text, first, delimiter, n_cols)
    text_cells: dict[int, list[str]] = {}
    if table is None:
        table, row_line_array, text_cells = _checked_table(path, text, first, delimiter, n_cols, numeric, text_columns)
        row_line: Callable[[int], int] = row_line_array.__getitem__
    else:
        row_line = _RowLines(text, first)

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
        p_idx = next((i for i in numeric if _names_pressure(names[i])), None)
        u_idx = next((i for i in numeric if _UPTAKE_NAME.search(names[i])), None)
        if p_idx is not None and u_idx is not None and x_column is None:
            return _isotherm(path, names, text_cells, row_line, table, p_idx, u_idx, y_column, text_columns, metadata,
                             conditions)

    xi = _column_index(path, names, x_column, "x_column", n_cols) if x_column is not None else None
    if xi is None and names is not None:
        if axis is not None and axis_unit is not None:  # stated by the options: a header's unit does not matter
            xi = next((i for i in numeric if _axis_quietly(names[i]) is not None), None)
        else:
            xi = next((i for i in numeric if _header_axis(path, header_line, i, names[i]) is not None), None)
    if xi is None:
        xi = numeric[0]
    if xi in text_columns:
        raise fail(path, f"line {first[0]}", f"the axis column {xi + 1} holds text, not numbers")
    rest = [i for i in numeric if i != xi]
    yi = _column_index(path, names, y_column, "y_column", n_cols) if y_column is not None else rest[0]
    if yi in text_columns:
        raise fail(path, f"line {first[0]}", f"the value column {yi + 1} holds text, not numbers")
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

    # -- axis name and unit: the options, else the header, else the extension, else assumed ---------------------
    stated = axis is not None and axis_unit is not None  # the options say everything: the header is not read
    found = _header_axis(path, header_line, xi, names[xi]) if names is not None and not stated else None
    header_text = f"header {names[xi]!r} (line {header_line}, column {xi + 1})" if found is not None else ""
    if axis is not None:
        chosen: HeaderAxis | None
        if canonical_axis(axis) is None:  # pressure, time, index: one unit each
            chosen = HeaderAxis(axis, AXIS_UNITS[axis], 1.0, None, False)
        else:
            chosen = axis_option(axis, axis_unit)
            assert chosen is not None
            if axis_unit is None and found is not None and found.axis == chosen.axis:
                chosen = found  # axis="q" on a header "q (1/nm)": the header's unit stands
                metadata["axis_from"] = f"option axis={axis!r}, unit from the {header_text}"
            elif axis_unit is None and AXIS_KINDS[chosen.axis][1]:
                chosen = HeaderAxis(chosen.axis, chosen.unit, 1.0, None, True)
        metadata.setdefault("axis_from", f"option axis={axis!r}" + (f", axis_unit={axis_unit!r}" if axis_unit else ""))
    elif found is not None:
        chosen = found if axis_unit is None else _with_unit_option(found, axis_unit)
        metadata["axis_from"] = header_text + (f", unit from option axis_unit={axis_unit!r}" if axis_unit else "")
    elif path.suffix.lower() in (".int01", ".fq", ".sq"):
        chosen = HeaderAxis("q", "1/Å", 1.0, None, False)
        if axis_unit is not None:
            chosen = _with_unit_option(chosen, axis_unit)
        metadata["axis_from"] = f"extension {path.suffix}" + (f", unit from option axis_unit={axis_unit!r}" if axis_unit else "")
    elif axis_unit is not None and (row := find_unit(axis_unit)) is not None and row.implies is not None:
        chosen = axis_option(None, axis_unit)  # axis_unit="1/nm" alone: a Q axis
        assert chosen is not None
        metadata["axis_from"] = f"option axis_unit={axis_unit!r}"
    else:
        chosen = HeaderAxis("two_theta", "deg", 1.0, None, False)
        if axis_unit is not None:
            chosen = _with_unit_option(chosen, axis_unit)
        metadata["axis_from"] = "assumed (no header names the axis; pass axis= to set it)"
        metadata["axis_assumed"] = True
    axis_name, axis_u, factor = chosen.axis, chosen.unit, chosen.factor
    if chosen.unit_in_file is not None and (chosen.unit_in_file != chosen.unit or factor != 1.0):
        metadata["axis_unit_in_file"] = chosen.unit_in_file
        metadata["axis_converted"] = f"{chosen.unit_in_file} → {chosen.unit} (×{factor:g})"
    if chosen.unit_assumed:
        metadata["axis_unit_assumed"] = True
        metadata["axis_from"] = (f"{metadata['axis_from']}: no unit given, {chosen.unit} assumed "
                                 "(pass axis_unit= to set it)")
    x = scale(table[:, xi], factor)
    y = np.ascontiguousarray(table[:, yi])
    sigma_values = None if si is None else np.ascontiguousarray(table[:, si])
    del table  # the columns are copies: the table's memory goes back before the checks allocate
    where = lambda i: f"line {row_line(i)}"  # noqa: E731
    order = check_axis(path, x, f"the {axis_name} axis (column {xi + 1})", where)
    reverse = x.size > 1 and order[0] > order[-1]  # check_axis gives the identity or the reversal: views, not copies
    ordered = (lambda a: a[::-1]) if reverse else (lambda a: a)  # noqa: E731
    if axis_name == "two_theta":
        outside = np.flatnonzero(~((x > 0.0) & (x < 180.0)))
        if outside.size:
            k = int(outside[0])
            hint = "; pass axis= if the first column is not 2θ" if metadata.get("axis_assumed") else ""
            raise fail(path, where(k), f"2θ value {number(x[k])} deg in column {xi + 1} is outside (0, 180) deg{hint}")
    check_finite(path, y, f"the value in column {yi + 1}", where)
    sigma = None
    kind = "unknown"
    if sigma_values is not None:
        sigma = sigma_values
        neg = np.flatnonzero(sigma < 0)
        if neg.size:
            raise fail(path, where(int(neg[0])), f"negative uncertainty {number(sigma[neg[0]])} in column {si + 1}")
        kind = "file"
    y_name = names[yi] if names is not None else ""
    y_unit = None
    if (m_unit := _VALUE_UNIT.match(y_name)) is not None:  # "intensity (counts)": the quantity and its unit
        y_name, y_unit = m_unit.group(1), m_unit.group(2).strip()
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
        axis=Axis(ordered(x), axis_name, axis_u),
        values=ordered(y),
        uncertainties=None if sigma is None else ordered(np.asarray(sigma)),
        quantity=quantity or (y_name if y_name else "intensity"),
        unit=unit or y_unit or "arb.",
        technique=technique,
        uncertainty_kind=kind,
        conditions=conditions,
        wavelength_ang=wavelength_ang,
        metadata=metadata,
        source=str(path),
        source_line=first[0],
        format="csv" if delimiter in (",", ";", "\t") else (path.suffix.lower().lstrip(".") or "columns"),
    )


def _isotherm(
    path: Path,
    names: list[str],
    text_cells: dict[int, list[str]],
    row_line: Callable[[int], int],
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
    where = lambda i: f"line {row_line(i)}"  # noqa: E731
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
            conditions=conditions, metadata=meta, source=str(path), source_line=row_line(0), format="isotherm-csv",
        )
    branches = []
    for r, cell in enumerate(text_cells[branch_idx]):
        label = _BRANCHES.get(cell.strip().lower())
        if label is None:
            shown = cell[:30]
            raise fail(path, f"line {row_line(r)}",
                       f"branch {shown!r} in column {branch_idx + 1} is not an isotherm branch "
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
                source=str(path), source_line=row_line(first), format="isotherm-csv",
            )
        )
    return MeasurementSeries(tuple(items), tuple(labels), format="isotherm-csv", source=str(path), metadata=meta)
