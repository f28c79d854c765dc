r"""JCAMP-DX spectra (IR, Raman, NMR, UV/vis): single and multi-block files, AFFN and ASDF compression.

Specification: R. S. McDonald, P. A. Wilks, Appl. Spectrosc. 42, 151 (1988) (JCAMP-DX for IR);
A. N. Davies, P. Lampen, Appl. Spectrosc. 47, 1093 (1993) (NMR, ``.OBSERVE FREQUENCY``).

Library choice: the ``jcamp`` package (PyPI) decodes these files, but reports malformed input as
assorted Python exceptions (``ValueError``, ``IndexError``, ``KeyError``) without a line number, and
silently drops or misreads lines it does not understand; the decoder here follows the standard and
refuses a bad record with its line.

Read: labelled data records ``##LABEL= value``; the tabular forms ``##XYDATA=(X++(Y..Y))`` (each line
an abscissa check value then ordinates at ``x_i = FIRSTX + i·(LASTX−FIRSTX)/(NPOINTS−1)``) and
``##XYPOINTS=(XY..XY)`` / ``##PEAK TABLE=(XY..XY)``. Ordinates may be AFFN (plain numbers) or ASDF:
SQZ digits (``@ A–I a–i`` = 0, ±1..±9 leading a number), DIF (``% J–R j–r``: the number is a
difference to the previous ordinate), DUP (``S–Z s`` = repeat count 1..9). In DIF form the last
ordinate of a line is repeated as the first of the next (the Y check value) and is dropped here after
checking it agrees. Values are multiplied by ``XFACTOR``/``YFACTOR``. ``##BLOCKS`` files give one
measurement per data block (a series). ``##NTUPLES`` (multi-dimensional NMR) is refused.

Axes: ``XUNITS=1/CM`` → wavenumber [cm⁻¹]; ``MICROMETERS`` → converted to wavenumber (10⁴/λ);
``HZ`` with ``.OBSERVE FREQUENCY`` [MHz] → chemical shift δ = ν/ν₀ [ppm] (with ``.SHIFT REFERENCE``
not applied, see metadata); ``PPM`` → shift; ``DEGREES``/``2THETA`` → 2θ [deg].
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_axis, check_finite, decode_text, fail, number, parse_float
from instruments.measurement import Measurement, MeasurementSeries
from instruments.observable import Axis

__all__ = ["read_jcamp", "decode_asdf_line"]

_SQZ = {"@": 0, **{c: i + 1 for i, c in enumerate("ABCDEFGHI")}, **{c: -(i + 1) for i, c in enumerate("abcdefghi")}}
_DIF = {"%": 0, **{c: i + 1 for i, c in enumerate("JKLMNOPQR")}, **{c: -(i + 1) for i, c in enumerate("jklmnopqr")}}
_DUP = {c: i + 1 for i, c in enumerate("STUVWXYZs")}
_TOKEN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[@A-Ia-i%J-Rj-rS-Zs][0-9.]*|\?")
_MAX_POINTS = 50_000_000


def decode_asdf_line(line: str, path: Path, where: str) -> tuple[list[float], bool]:
    """Decode one ASDF/AFFN data line into numbers (abscissa first), and whether it ended in DIF form.

    Raises :class:`DataFormatError` for characters outside the JCAMP-DX alphabet, a DUP with no value
    before it, or a DIF with no value before it.
    """
    body = line.split("$$", 1)[0]
    pos = 0
    out: list[float] = []
    last_dif = False
    prev_diff: float | None = None
    compact = body.replace(",", " ").replace(";", " ")
    while pos < len(compact):
        ch = compact[pos]
        if ch.isspace():
            pos += 1
            continue
        m = _TOKEN.match(compact, pos)
        if not m or m.end() == pos:
            raise fail(path, where, f"character {ch!r} at column {pos + 1} is not JCAMP-DX ASDF/AFFN")
        tok = m.group(0)
        pos = m.end()
        head = tok[0]
        if tok == "?":
            raise fail(path, where, "missing value '?' in the data table")
        if head in _SQZ:
            value = parse_float(f"{'-' if _SQZ[head] < 0 else ''}{abs(_SQZ[head])}{tok[1:]}", path, where, "an SQZ value")
            out.append(value)
            last_dif = False
            prev_diff = None
        elif head in _DIF:
            if not out:
                raise fail(path, where, f"DIF value {tok!r} with no value before it")
            diff = parse_float(f"{'-' if _DIF[head] < 0 else ''}{abs(_DIF[head])}{tok[1:]}", path, where, "a DIF value")
            out.append(out[-1] + diff)
            last_dif = True
            prev_diff = diff
        elif head in _DUP:
            count = int(parse_float(f"{_DUP[head]}{tok[1:]}", path, where, "a DUP count"))
            if not out:
                raise fail(path, where, f"DUP count {tok!r} with no value before it")
            if count < 1 or count > _MAX_POINTS:
                raise fail(path, where, f"DUP count {count} out of range")
            for _ in range(count - 1):
                out.append(out[-1] + prev_diff if prev_diff is not None else out[-1])
        else:
            out.append(parse_float(tok, path, where, "a number"))
            last_dif = False
            prev_diff = None
    return out, last_dif


def _parse_blocks(path: Path, text: str) -> list[tuple[dict[str, tuple[str, int]], list[tuple[str, int]], str | None]]:
    """Split into blocks: (labels → (value, line), data lines with numbers, table kind).

    Every ``##TITLE=`` opens a block and every ``##END=`` closes the innermost open one. A link block
    that declares ``##BLOCKS= n`` must hold exactly n blocks before its own ``##END=``; a file that ends
    with a block still open, or an ``##END=`` with no open block, is refused with the line.
    """
    blocks = []
    labels: dict[str, tuple[str, int]] = {}
    data: list[tuple[str, int]] = []
    table: str | None = None
    # open blocks, outermost first: [line of ##TITLE=, declared ##BLOCKS= (n, line) or None, blocks inside]
    open_blocks: list[list[Any]] = []
    seen_label = False
    last_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("$$"):
            continue
        last_line = lineno
        if line.startswith("##"):
            seen_label = True
            key, sep, value = line[2:].partition("=")
            if not sep:
                raise fail(path, f"line {lineno}", f"expected '##LABEL= value', got {line[:60]!r}")
            key = re.sub(r"[\s_/-]", "", key).upper()
            value = value.split("$$", 1)[0].strip()
            table = None
            if key == "TITLE":
                if labels and "TITLE" in labels and open_blocks and "END" not in labels:
                    # a nested block starts inside a link block: close the link block's header
                    blocks.append((labels, data, None))
                    labels, data = {}, []
                if open_blocks:
                    open_blocks[-1][2] += 1
                open_blocks.append([lineno, None, 0])
            if key == "BLOCKS" and open_blocks:
                n = parse_float(value.split()[0] if value.split() else value, path, f"line {lineno}", "a number of blocks for ##BLOCKS=")
                if n != int(n) or n < 1:
                    raise fail(path, f"line {lineno}", f"##BLOCKS= must be a positive integer, got {value[:30]!r}")
                open_blocks[-1][1] = (int(n), lineno)
            if key == "END":
                if not open_blocks:
                    raise fail(path, f"line {lineno}", "##END= closes no block (no ##TITLE= opened one)")
                title_line, declared, inside = open_blocks.pop()
                if declared is not None and inside != declared[0]:
                    raise fail(path, f"line {lineno}",
                               f"##BLOCKS= {declared[0]} on line {declared[1]} but the link block opened on line "
                               f"{title_line} holds {inside} blocks before this ##END=")
                labels["END"] = ("", lineno)
                blocks.append((labels, data, labels.get("_TABLE", ("", 0))[0] or None))
                labels, data = {}, []
                continue
            if key in ("XYDATA", "XYPOINTS", "PEAKTABLE", "DATATABLE"):
                table = key
                labels["_TABLE"] = (key, lineno)
                labels[key] = (value, lineno)
                continue
            labels[key] = (value, lineno)
            continue
        if not seen_label:
            raise fail(path, f"line {lineno}", f"expected a '##TITLE=' label first, got {line[:60]!r}")
        if table is not None:
            data.append((line, lineno))
        # text continuation of a label value is ignored
    if open_blocks:
        raise fail(path, f"line {last_line}",
                   f"file ends before '##END=' of the block opened by ##TITLE= on line {open_blocks[-1][0]} (truncated)")
    if labels and data:
        raise fail(path, f"line {last_line}", "data after the last '##END=' belong to no block")
    return blocks


def _num(path: Path, labels: dict[str, tuple[str, int]], key: str, required: bool = False, where: str | None = None) -> float | None:
    if key not in labels:
        if required:
            raise fail(path, where, f"missing required label ##{key}=")
        return None
    value, line = labels[key]
    return parse_float(value.split()[0] if value.split() else value, path, f"line {line}", f"a number for ##{key}=")


def _decode_xydata(path: Path, labels: dict[str, tuple[str, int]], rows: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, int]:
    form, form_line = labels["XYDATA"]
    if not re.match(r"^\(\s*X\+\+\s*\(\s*[YRI]\.\.[YRI]\s*\)\s*\)$", form.replace(" ", "")):
        raise fail(path, f"line {form_line}", f"unsupported ##XYDATA= form {form!r}; expected (X++(Y..Y))")
    table_at = f"line {form_line}"  # a missing label is reported at the table that needs it
    firstx = _num(path, labels, "FIRSTX", True, table_at)
    lastx = _num(path, labels, "LASTX", True, table_at)
    npoints = _num(path, labels, "NPOINTS", True, table_at)
    xfactor = _num(path, labels, "XFACTOR") or 1.0
    yfactor = _num(path, labels, "YFACTOR") or 1.0
    n = int(npoints)
    if n != npoints or n < 1 or n > _MAX_POINTS:
        raise fail(path, f"line {labels['NPOINTS'][1]}", f"##NPOINTS= must be a positive integer ≤ {_MAX_POINTS}, got {npoints}")
    ys: list[float] = []
    prev_dif = False
    for line, lineno in rows:
        where = f"line {lineno}"
        values, ended_dif = decode_asdf_line(line, path, where)
        if len(values) < 2:
            raise fail(path, where, "expected an abscissa and at least one ordinate")
        ords = values[1:]
        if prev_dif and ys:
            # Y check value: the first ordinate repeats the last of the previous line
            if abs(ords[0] - ys[-1]) > 1e-6 * max(1.0, abs(ys[-1])):
                raise fail(path, where, f"Y check value {number(ords[0])} does not match the previous line's last ordinate {number(ys[-1])}")
            ords = ords[1:]
        ys.extend(ords)
        prev_dif = ended_dif
        if len(ys) > n + 1:
            raise fail(path, where, f"more ordinates than ##NPOINTS={n}")
    if len(ys) == n + 1 and prev_dif:
        ys = ys[:n]
    if len(ys) != n:
        last = rows[-1][1] if rows else labels["XYDATA"][1]
        raise fail(path, f"line {last}", f"{len(ys)} ordinates but ##NPOINTS={n}")
    x = np.linspace(firstx, lastx, n) if n > 1 else np.array([firstx])
    y = np.asarray(ys, dtype=np.float64) * yfactor
    del xfactor  # FIRSTX/LASTX are already in real units
    return x, y, rows[0][1] if rows else form_line


def _decode_pairs(path: Path, labels: dict[str, tuple[str, int]], key: str, rows: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, int]:
    form, form_line = labels[key]
    if not re.match(r"^\(\s*XY\.\.XY\s*\)$", form.replace(" ", "")) and not re.match(r"^\(XYW?\.\.XYW?\)$", form.replace(" ", "")):
        raise fail(path, f"line {form_line}", f"unsupported ##{key}= form {form!r}; expected (XY..XY)")
    xfactor = _num(path, labels, "XFACTOR") or 1.0
    yfactor = _num(path, labels, "YFACTOR") or 1.0
    width = 3 if "W" in form.upper().replace("XY..XY", "") else 2
    xs: list[float] = []
    ys: list[float] = []
    for line, lineno in rows:
        where = f"line {lineno}"
        for group in re.split(r"[;\s]+", line.split("$$", 1)[0].strip()):
            if not group:
                continue
            parts = [p for p in group.split(",") if p != ""]
            if len(parts) not in (2, width):
                raise fail(path, where, f"expected 'x,y' pairs, got {group[:40]!r}")
            xs.append(parse_float(parts[0], path, where, "an x value") * xfactor)
            ys.append(parse_float(parts[1], path, where, "a y value") * yfactor)
    if not xs:
        raise fail(path, f"line {form_line}", f"##{key}= table holds no points")
    return np.asarray(xs), np.asarray(ys), rows[0][1] if rows else form_line


def _axis(path: Path, labels: dict[str, tuple[str, int]], x: np.ndarray, data_type: str) -> tuple[np.ndarray, str, str, dict[str, Any]]:
    xunits = labels.get("XUNITS", ("", 0))[0].strip().upper()
    meta: dict[str, Any] = {"xunits": xunits} if xunits else {}
    if xunits in ("1/CM", "CM-1", "CM^-1", "WAVENUMBERS", "1/CM (WAVENUMBER)"):
        return x, "wavenumber", "cm-1", meta
    if xunits in ("MICROMETERS", "MICRONS", "UM"):
        if np.any(x <= 0):
            raise fail(path, f"line {labels['XUNITS'][1]}", "wavelengths in MICROMETERS must be > 0")
        return 1e4 / x, "wavenumber", "cm-1", meta
    if xunits == "HZ":
        obs = _num(path, labels, ".OBSERVEFREQUENCY")
        if obs is None or obs <= 0:
            return x * 1e-3, "frequency", "kHz", meta
        meta["observe_frequency_MHz"] = obs
        return x / obs, "shift", "ppm", meta
    if xunits == "PPM":
        return x, "shift", "ppm", meta
    if xunits in ("DEGREES", "2THETA", "DEGREES 2THETA", "2-THETA"):
        return x, "two_theta", "deg", meta
    if xunits in ("NANOMETERS", "NM"):
        return x, "wavelength", "nm", meta
    if "RAMAN" in data_type or "INFRARED" in data_type or "IR " in data_type + " ":
        return x, "wavenumber", "cm-1", meta
    return x, "x", xunits.lower() or "1", meta


def read_jcamp(path: Path, data: bytes) -> Measurement | MeasurementSeries:
    """Read a JCAMP-DX file; one data block → :class:`Measurement`, several (``##BLOCKS``) → a series."""
    text = decode_text(path, data)
    if not text.lstrip().startswith("##"):
        raise fail(path, "line 1", "expected a JCAMP-DX label '##TITLE=' at the start")
    blocks = _parse_blocks(path, text)
    items: list[Measurement] = []
    labels_out: list[str] = []
    for labels, rows, table in blocks:
        if "NTUPLES" in labels:
            raise fail(path, f"line {labels['NTUPLES'][1]}", "##NTUPLES= (multi-dimensional) blocks are not supported; export a 1-D spectrum")
        if table is None:
            continue
        if table == "DATATABLE":
            raise fail(path, f"line {labels['DATATABLE'][1]}", "##DATA TABLE= belongs to NTUPLES, which is not supported")
        if table == "XYDATA":
            x, y, first = _decode_xydata(path, labels, rows)
        else:
            x, y, first = _decode_pairs(path, labels, table, rows)
        data_type = labels.get("DATATYPE", ("", 0))[0].upper()
        ax, name, unit, meta = _axis(path, labels, x, data_type)
        where = lambda i, first=first: f"line {first} (point {i + 1})"  # noqa: E731
        order = check_axis(path, ax, f"the {name} axis", where)
        check_finite(path, y, "an ordinate", where)
        yunits = labels.get("YUNITS", ("", 0))[0].strip()
        technique = "raman" if "RAMAN" in data_type else "ir" if ("INFRARED" in data_type or data_type.startswith("IR")) else \
            "nmr" if "NMR" in data_type else "uv-vis" if "UV" in data_type else ""
        for key in ("TITLE", "DATATYPE", "ORIGIN", "OWNER", "DATE", "SPECTROMETER/DATASYSTEM", "SPECTROMETERDATASYSTEM",
                    ".OBSERVENUCLEUS", "SAMPLEDESCRIPTION", "JCAMPDX", "BLOCKID", "RESOLUTION", "INSTRUMENTPARAMETERS"):
            if key in labels and labels[key][0]:
                meta[key.lower().lstrip(".")] = labels[key][0]
        conditions: dict[str, float] = {}
        if "TEMPERATURE" in labels:
            t = _num(path, labels, "TEMPERATURE")
            if t is not None:
                conditions["temperature_K"] = t + 273.15  # JCAMP-DX ##TEMPERATURE= is in °C
        quantity = yunits.lower() if yunits else "intensity"
        items.append(
            Measurement(
                axis=Axis(ax[order], name, unit),
                values=y[order],
                quantity=quantity,
                unit="arb." if quantity in ("arbitrary units", "intensity", "") else yunits.lower(),
                technique=technique,
                conditions=conditions,
                metadata=meta,
                source=str(path),
                source_line=first,
                format="jcamp-dx",
            )
        )
        labels_out.append(labels.get("TITLE", (f"block {len(items)}", 0))[0] or f"block {len(items)}")
    if not items:
        raise fail(path, None, "no ##XYDATA=, ##XYPOINTS= or ##PEAK TABLE= data block")
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(labels_out), format="jcamp-dx", source=str(path))
