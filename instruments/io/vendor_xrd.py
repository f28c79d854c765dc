"""Vendor diffractometer archives and binaries: Bruker ``.brml`` and ``.raw`` (v4), Rigaku ``.rasx``.

Library choice: the only maintained Python reader of all three is ``fairmat-readers-xrd`` (0.0.x); its
RAW v4 parser reads intensities at hard-coded absolute offsets with a fixed 8-byte stride (right for
one file layout only) and its XML goes through ``xmltodict`` without entity protection. So these
readers are written here, against the structure of the formats, with :mod:`defusedxml` and bounded
archive extraction.

Bruker BRML (DIFFRAC.SUITE): a zip of XML. ``Experiment0/RawData*.xml`` holds ``<Datum>`` rows of
comma-separated numbers whose columns are declared by ``<DataViews>`` (``RawDataView Start=...``;
the scan axes by ``FieldDefinitions FieldName="TwoTheta"``, the counts by the ``RecordedRawDataView``),
plus ``<TubeMaterial>``, ``<WaveLengthAlpha1/2/Beta/Ratio Value=...>``, voltage, current, time per
step, start time.

Bruker RAW v4 (``RAW4.00`` magic; DIFFRAC.EVA): a 61-byte preamble, then a chain of records
``(uint32 kind, uint32 length)``. Kind 10 is a key/value text record (key at +12, 24 bytes; value
from +36: USER, SITE, SAMPLEID, COMMENT, CREATOR); kind 30 the X-ray source (float64 Kα average
at +72, Kα1 +80, Kα2 +88, Kβ +96, Kα2/Kα1 ratio +104; anode text at +116). Kind 0 or 160 starts a
range: a 160-byte header (scan type text at +32, float64 start at +72, float64 step at +80, uint32
number of steps at +88, uint32 datum size at +136, uint32 length of the drive records that follow
at +140), the drive records (kind 50: drive name at +12, float64 start position at +56), then
``steps`` data records of ``datum size`` bytes whose first float32 is the intensity. These offsets
were checked on the shared test file against its documented array shape and scan parameters
(facts from the GSAS-II and geddes format notes; no code taken).

Rigaku RASX (SmartLab Studio II): a zip with ``Data0/Profile0.txt`` (tab-separated 2θ, intensity,
attenuator coefficient; UTF-8 with BOM) and ``Data0/MesurementConditions0.xml`` (sic) with the
X-ray generator (target, Kα1/Kα2/Kβ, kV, mA), axes and scan speed/step.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import KALPHA, check_axis, check_finite, decode_text, fail, number, parse_float
from instruments.io._xml import find, float_of, iter_local, local, parse_xml, text_of
from instruments.measurement import Measurement, MeasurementSeries, counting_uncertainty
from instruments.observable import Axis

__all__ = ["read_brml", "read_rasx", "read_bruker_raw", "open_zip", "zip_member"]

#: largest uncompressed archive member read, and largest compression ratio accepted (zip bombs)
MAX_MEMBER_BYTES = 512 * 1024**2
MAX_RATIO = 200


def open_zip(path: Path, data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise fail(path, None, f"not a readable zip archive ({exc})") from None


def zip_member(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    """One archive member, refusing oversized or suspiciously compressed members."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise fail(path, f"member {name}", "missing from the archive") from None
    if info.file_size > MAX_MEMBER_BYTES or (info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_RATIO
                                             and info.file_size > 1024**2):
        raise fail(path, f"member {name}", f"declares {info.file_size} bytes uncompressed; refused (archive bomb guard)")
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise fail(path, f"member {name}", f"cannot be extracted ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - zlib.error and friends
        raise fail(path, f"member {name}", f"cannot be extracted ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------- BRML --
def read_brml(path: Path, data: bytes) -> Measurement | MeasurementSeries:
    """Read a Bruker ``.brml`` archive: every ``Experiment*/RawData*.xml`` is one scan."""
    archive = open_zip(path, data)
    names = sorted((n for n in archive.namelist() if re.search(r"RawData\d*\.xml$", n)),
                   key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])
    if not names:
        raise fail(path, None, "no Experiment*/RawData*.xml member: not a BRML scan archive")
    items = [_brml_scan(path, name, parse_xml(path, zip_member(path, archive, name), member=name)) for name in names]
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(names), format="brml", source=str(path))


def _value_attr(path: Path, elem: Any, where: str) -> float | None:
    if elem is None or elem.get("Value") in (None, ""):
        return None
    return parse_float(elem.get("Value"), path, where, "a number")


def _brml_scan(path: Path, member: str, root: Any) -> Measurement:
    where = f"member {member}"
    # columns of each <Datum>
    two_theta_col: int | None = None
    counts_col: int | None = None
    time_col: int | None = None
    for view in iter_local(root, "RawDataView"):
        try:
            start = int(view.get("Start", "-1"))
        except ValueError:
            raise fail(path, f"{where}, <RawDataView>", f"Start must be an integer, got {view.get('Start')!r}") from None
        vtype = view.get("{http://www.w3.org/2001/XMLSchema-instance}type", "")
        if view.get("LogicName") == "MeasuredTime":
            time_col = start
        if vtype == "RecordedRawDataView" and counts_col is None:
            counts_col = start
        for k, fd in enumerate(e for e in view.iter() if local(e.tag) == "FieldDefinitions"):
            if fd.get("FieldName") in ("TwoTheta", "2Theta") and two_theta_col is None:
                two_theta_col = start + k
    rows = [d.text or "" for d in iter_local(root, "Datum")]
    if not rows:
        raise fail(path, where, "no <Datum> rows")
    first = rows[0].split(",")
    if counts_col is None:
        counts_col = len(first) - 1
    if two_theta_col is None:
        raise fail(path, f"{where}, <DataViews>", "no TwoTheta field: cannot place the 2θ column")
    ncol = len(first)
    if max(two_theta_col, counts_col) >= ncol:
        raise fail(path, f"{where}, <Datum> 1", f"{ncol} columns but <DataViews> refers to column {max(two_theta_col, counts_col) + 1}")
    table = np.empty((len(rows), 2), dtype=np.float64)
    times = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        cells = row.split(",")
        if len(cells) != ncol:
            raise fail(path, f"{where}, <Datum> {i + 1}", f"expected {ncol} comma-separated values, got {len(cells)}")
        table[i, 0] = parse_float(cells[two_theta_col], path, f"{where}, <Datum> {i + 1}", "a 2θ value")
        table[i, 1] = parse_float(cells[counts_col], path, f"{where}, <Datum> {i + 1}", "a count")
        times[i] = parse_float(cells[time_col], path, f"{where}, <Datum> {i + 1}", "a time") if time_col is not None else np.nan
    x, y = table[:, 0], table[:, 1]
    loc = lambda i: f"{where}, <Datum> {i + 1}"  # noqa: E731
    order = check_axis(path, x, "the 2θ axis", loc)
    check_finite(path, y, "a count", loc)
    neg = np.flatnonzero(y < 0)
    if neg.size:
        raise fail(path, loc(int(neg[0])), f"negative count {number(y[neg[0]])}")
    meta: dict[str, Any] = {}
    tube = next(iter_local(root, "TubeMaterial"), None)
    if text_of(tube):
        meta["anode"] = text_of(tube)
    for tag, key in (("WaveLengthAlpha1", "kalpha1_ang"), ("WaveLengthAlpha2", "kalpha2_ang"),
                     ("WaveLengthBeta", "kbeta_ang"), ("WaveLengthRatio", "kalpha_ratio"),
                     ("WaveLengthAverage", "kalpha_average_ang")):
        v = _value_attr(path, next(iter_local(root, tag), None), f"{where}, <{tag}>")
        if v is not None:
            meta[key] = v
    for tag, key in (("Voltage", "voltage_kV"), ("Current", "current_mA")):
        el = next((e for e in iter_local(root, tag) if e.get("Unit") in ("kV", "mA")), None)
        v = _value_attr(path, el, f"{where}, <{tag}>")
        if v is not None:
            meta[key] = v
    scan = next(iter_local(root, "ScanInformation"), None)
    if scan is not None:
        meta["scan_axis"] = scan.get("ScanName")
        meta["scan_mode"] = text_of(find(scan, "ScanMode"))
        tps = float_of(path, find(scan, "TimePerStep"), "time per step", f"{where}, <TimePerStep>")
        if tps is not None:
            meta["count_time_s"] = tps
        npts = text_of(find(scan, "MeasurementPoints"))
        if npts is not None and npts.isdigit() and int(npts) != len(rows):
            raise fail(path, f"{where}, <MeasurementPoints>", f"declares {npts} points but {len(rows)} <Datum> rows follow")
    meta["start_time"] = text_of(next(iter_local(root, "TimeStampStarted"), None))
    meta["sample_id"] = None
    meta["member"] = member
    lam = meta.get("kalpha1_ang")
    return Measurement(
        axis=Axis(x[order], "two_theta", "deg"),
        values=y[order],
        uncertainties=counting_uncertainty(y[order]),
        quantity="intensity",
        unit="counts",
        technique="xrd",
        uncertainty_kind="counting",
        wavelength_ang=lam,
        metadata={k: v for k, v in meta.items() if v is not None},
        source=str(path),
        format="brml",
    )


# ---------------------------------------------------------------------------------------- RASX --
def read_rasx(path: Path, data: bytes) -> Measurement | MeasurementSeries:
    """Read a Rigaku ``.rasx`` archive: each ``Data*/Profile*.txt`` with its measurement conditions."""
    archive = open_zip(path, data)
    profiles = sorted(n for n in archive.namelist() if re.search(r"Profile\d*\.txt$", n))
    if not profiles:
        raise fail(path, None, "no Data*/Profile*.txt member: not a RASX scan archive")
    items = []
    for name in profiles:
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        index = re.search(r"Profile(\d*)\.txt$", name).group(1)
        cond_name = next((n for n in archive.namelist()
                          if n.startswith(folder) and re.search(rf"Mea?surementConditions{index}\.xml$", n)), None)
        meta: dict[str, Any] = {"member": name}
        if cond_name is not None:
            meta.update(_rasx_conditions(path, cond_name, parse_xml(path, zip_member(path, archive, cond_name), member=cond_name)))
        items.append(_rasx_profile(path, name, zip_member(path, archive, name), meta))
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(profiles), format="rasx", source=str(path))


def _rasx_conditions(path: Path, member: str, root: Any) -> dict[str, Any]:
    where = f"member {member}"
    meta: dict[str, Any] = {}
    gen = next(iter_local(root, "XrayGenerator"), None)
    if gen is not None:
        meta["anode"] = text_of(find(gen, "TargetName"))
        for tag, key in (("WavelengthKalpha1", "kalpha1_ang"), ("WavelengthKalpha2", "kalpha2_ang"),
                         ("WavelengthKbeta", "kbeta_ang"), ("Voltage", "voltage_kV"), ("Current", "current_mA")):
            v = float_of(path, find(gen, tag), tag, f"{where}, <{tag}>")
            if v is not None:
                meta[key] = v
        meta["wave_type"] = text_of(find(gen, "WaveType"))
    scan = next(iter_local(root, "ScanInformation"), None)
    if scan is not None:
        meta["scan_axis"] = text_of(find(scan, "AxisName"))
        meta["scan_mode"] = text_of(find(scan, "Mode"))
        for tag, key in (("Step", "step_deg"), ("Start", "start_deg"), ("Stop", "stop_deg"), ("Speed", "speed")):
            v = float_of(path, find(scan, tag), tag, f"{where}, <{tag}>")
            if v is not None:
                meta[key] = v
    info = next(iter_local(root, "GeneralInformation"), None)
    if info is not None:
        meta["sample_id"] = text_of(find(info, "SampleName"))
        meta["instrument"] = text_of(find(info, "SystemName"))
    return {k: v for k, v in meta.items() if v is not None}


def _rasx_profile(path: Path, member: str, raw: bytes, meta: dict[str, Any]) -> Measurement:
    text = decode_text(path, raw)
    xs, ys, att = [], [], []
    first_line = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", "*")):
            continue
        cells = line.split("\t") if "\t" in line else line.split()
        if len(cells) < 2:
            raise fail(path, f"member {member}, line {lineno}", f"expected 2θ and intensity, got {line[:40]!r}")
        where = f"member {member}, line {lineno}"
        xs.append(parse_float(cells[0], path, where, "a 2θ value"))
        ys.append(parse_float(cells[1], path, where, "an intensity"))
        att.append(parse_float(cells[2], path, where, "an attenuator coefficient") if len(cells) > 2 else 1.0)
        first_line = first_line or lineno
    if not xs:
        raise fail(path, f"member {member}", "no data lines")
    x, y, a = np.array(xs), np.array(ys), np.array(att)
    order = check_axis(path, x, "the 2θ axis", lambda i: f"member {member}, data line {i + 1}")
    # Profile intensities are counts per second (SmartLab) times the attenuator coefficient; with the
    # scan speed v [deg/min] and step s [deg] the time per step is t = 60 s/v, so N = I·t/a.
    sigma = None
    kind = "unknown"
    unit = "counts/s"
    speed, step = meta.get("speed"), meta.get("step_deg")
    if speed and step and speed > 0:
        t = 60.0 * step / speed
        meta["count_time_s"] = t
        n = np.maximum(y * t / a, 0.0)
        sigma = counting_uncertainty(n, a) / t
        kind = "counting"
    lam = meta.get("kalpha1_ang")
    return Measurement(
        axis=Axis(x[order], "two_theta", "deg"),
        values=y[order],
        uncertainties=None if sigma is None else sigma[order],
        quantity="intensity",
        unit=unit,
        technique="xrd",
        uncertainty_kind=kind,
        wavelength_ang=lam,
        metadata=meta,
        source=str(path),
        source_line=first_line,
        format="rasx",
    )


# ----------------------------------------------------------------------------------- RAW v4 --
def _cstr(blob: bytes) -> str:
    return blob.split(b"\x00", 1)[0].decode("latin-1").strip()


def read_bruker_raw(path: Path, data: bytes) -> Measurement | MeasurementSeries:
    """Read a Bruker ``.raw`` file of version 4 (``RAW4.00``); one range → Measurement, several → series."""
    if not data.startswith(b"RAW4.00"):
        magic = data[:7]
        raise fail(path, "byte 0", f"expected the Bruker RAW v4 magic 'RAW4.00', got {magic!r} (RAW v1–v3 are not supported)")
    size = len(data)
    if size < 61:
        raise fail(path, f"byte {size}", "file ends inside the 61-byte RAW4 preamble")
    meta: dict[str, Any] = {"date": _cstr(data[12:24]), "time": _cstr(data[24:36])}
    items: list[Measurement] = []
    off = 61
    records = 0
    while off < size:
        if off + 8 > size:
            raise fail(path, f"byte {off}", f"truncated record header ({size - off} bytes left, 8 needed)")
        kind, length = struct.unpack_from("<II", data, off)
        records += 1
        if records > 100000:
            raise fail(path, f"byte {off}", "more than 100000 records: not a RAW4 file")
        if kind in (0, 160):
            off = _raw_range(path, data, off, meta, items)
            continue
        if length < 8 or off + length > size:
            raise fail(path, f"byte {off}", f"record of kind {kind} declares {length} bytes; {size - off} remain")
        if kind == 10 and length >= 36:
            key = _cstr(data[off + 12: off + 36])
            value = _cstr(data[off + 36: off + length])
            if key:
                meta[key.lower()] = value
        elif kind == 30 and length >= 112:
            avg, k1, k2, kb, ratio = struct.unpack_from("<5d", data, off + 72)
            anode = _cstr(data[off + 116: off + 120]) if length >= 120 else ""
            # stored as float64 but written from single precision: keep 7 significant digits
            r7 = lambda v: float(f"{v:.7g}")  # noqa: E731
            meta.update({"kalpha_average_ang": r7(avg), "kalpha1_ang": r7(k1), "kbeta_ang": r7(kb)})
            if k2 > 0:
                meta["kalpha2_ang"] = r7(k2)
                meta["kalpha_ratio"] = r7(ratio)
            if anode:
                meta["anode"] = anode
                if k2 <= 0 and anode in KALPHA:
                    # the file states no Kα2 (Kα1 only, or stripped); give the anode's tabulated doublet
                    meta["kalpha2_ang"] = KALPHA[anode][1]
                    meta["kalpha_ratio"] = 0.5
                    meta["kalpha2_source"] = "table for the anode (the file states 0)"
        off += length
    if not items:
        raise fail(path, f"byte {size}", "no measurement range found in the RAW4 record chain")
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(f"range {i + 1}" for i in range(len(items))), format="bruker-raw4", source=str(path))


def _raw_range(path: Path, data: bytes, off: int, meta: dict[str, Any], items: list[Measurement]) -> int:
    size = len(data)
    if off + 160 > size:
        raise fail(path, f"byte {off}", f"truncated range header ({size - off} bytes left, 160 needed)")
    scan_type = _cstr(data[off + 32: off + 56])
    start, step = struct.unpack_from("<dd", data, off + 72)
    (steps,) = struct.unpack_from("<I", data, off + 88)
    datum, drives_len = struct.unpack_from("<II", data, off + 136)
    if not (np.isfinite(start) and np.isfinite(step)) or step == 0.0:
        raise fail(path, f"byte {off + 72}", f"range start {start!r} / step {step!r} are not a usable scan")
    if datum < 4 or datum > 4096:
        raise fail(path, f"byte {off + 136}", f"data record size {datum} bytes is not plausible (4..4096)")
    if steps == 0:
        raise fail(path, f"byte {off + 88}", "range declares 0 steps")
    drives: dict[str, float] = {}
    pos = off + 160
    end = pos + drives_len
    if end > size:
        raise fail(path, f"byte {off + 140}", f"drive records declare {drives_len} bytes; {size - pos} remain")
    while pos < end:
        if pos + 8 > end:
            raise fail(path, f"byte {pos}", "truncated drive record")
        kind, length = struct.unpack_from("<II", data, pos)
        if length < 8 or pos + length > end:
            raise fail(path, f"byte {pos}", f"drive record declares {length} bytes; {end - pos} remain in the range header")
        if kind == 50 and length >= 64:
            name = _cstr(data[pos + 12: pos + 36])
            (value,) = struct.unpack_from("<d", data, pos + 56)
            if name and name not in drives and np.isfinite(value):
                drives[name] = value
        pos += length
    need = steps * datum
    if end + need > size:
        raise fail(path, f"byte {end}", f"range declares {steps} steps of {datum} bytes ({need}); only {size - end} bytes remain")
    block = np.frombuffer(data, dtype="<f4", count=need // 4, offset=end).reshape(steps, datum // 4)
    y = block[:, 0].astype(np.float64)
    check_finite(path, y, "an intensity", lambda i: f"byte {end + i * datum}")
    x = start + step * np.arange(steps, dtype=np.float64)
    # the scan start may be given for θ (half 2θ) on θ-coupled scans; the drive records say which
    two_theta_start = drives.get("2Theta")
    axis_name = "two_theta"
    if two_theta_start is not None and abs(two_theta_start - start) > 1e-9 and "Theta" in drives and abs(drives["Theta"] - start) < 1e-9:
        x = 2.0 * x
    order = check_axis(path, x, "the 2θ axis", lambda i: f"byte {end + i * datum}")
    m = dict(meta)
    m.update({"scan_type": scan_type, "start_deg": start, "step_deg": step, "datum_bytes": datum,
              "drives": drives, "scan_axis": "Theta" if "Theta" in drives else scan_type})
    lam = m.get("kalpha1_ang")
    sample = m.pop("sampleid", None)
    if sample:
        m["sample_id"] = sample
    # RAW4 intensities are counts per step, but DIFFRAC.EVA also saves processed scans (background subtracted,
    # scaled, "scrambled" like the shared test file) in the same format, so a negative value is not a broken
    # file: it is read, σ = √N is not claimed, and a warning is recorded (``metadata["warnings"]``; the command
    # line prints it on stderr).
    counts_ok = bool(np.all(y >= 0))
    if not counts_ok:
        neg = np.flatnonzero(y < 0)
        first = int(neg[0])
        m["negative_intensities"] = int(neg.size)
        m["warnings"] = [
            f"{neg.size} of {y.size} intensities are negative (the first, {y[first]:.6g}, at byte "
            f"{end + first * datum}; the lowest {y.min():.6g}): raw counts cannot be negative, so these are "
            "processed values (background-subtracted or scaled?); no counting uncertainties are given"
        ]
    items.append(
        Measurement(
            axis=Axis(x[order], axis_name, "deg"),
            values=y[order],
            uncertainties=counting_uncertainty(y[order]) if counts_ok else None,
            quantity="intensity",
            unit="counts",
            technique="xrd",
            uncertainty_kind="counting" if counts_ok else "unknown",
            wavelength_ang=float(lam) if lam else None,
            metadata={k: v for k, v in m.items() if v not in (None, "")},
            source=str(path),
            format="bruker-raw4",
        )
    )
    return end + need
