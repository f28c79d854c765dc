"""Readers of measured data: one entry point, :func:`read_measurement`, for every format users bring.

``read_measurement(path, **options)`` detects the format from the content first (magic bytes, XML
root, JCAMP labels, AIF items, zip members, folder layout) and from the extension second, calls the
reader of that format and returns a :class:`~instruments.measurement.Measurement` or, for series
(several scans, isotherm branches, a folder of frames, an HDF5 stack), a
:class:`~instruments.measurement.MeasurementSeries`. Anything wrong with the file raises
:class:`twin.errors.DataFormatError` naming the file and the line, byte, element or member.

=========================  ===============================  ===========================================
format                     detected by                      reader (library)
=========================  ===============================  ===========================================
xy/xye/dat/csv/txt/int01   text with numeric columns        :mod:`.columns` (own, line-checked)
PANalytical XRDML          XML root ``xrdMeasurements``     :mod:`.xrdml` (defusedxml)
other XML                  leading ``<``                    refused, naming the root element
Bruker BRML                zip with ``RawData*.xml``        :mod:`.vendor_xrd` (defusedxml)
Rigaku RASX                zip with ``Profile*.txt``        :mod:`.vendor_xrd` (defusedxml)
Bruker RAW v4              magic ``RAW4.00``                :mod:`.vendor_xrd` (own, record walk)
JCAMP-DX (IR/Raman/NMR)    leading ``##TITLE=``             :mod:`.jcamp` (own, ASDF decoder)
Bruker TopSpin NMR         folder with acqus/fid or procs   :mod:`.nmr_bruker` (nmrglue)
TIFF                       magic ``II*``/``MM*``            :mod:`.images` (tifffile)
MRC/MRCS                   extension, MRC2014 header        :mod:`.images` (mrcfile)
DM3/DM4                    extension                        :mod:`.images` (rosettasciio/ncempy, GPL,
                                                            optional)
AIF isotherm               ``data_`` + ``_adsorp_``/_units  :mod:`.aif` (own CIF tokenizer)
HDF5/NeXus series          magic ``\\x89HDF``                :mod:`.series` (h5py)
twin observables file      HDF5 ``@format`` of the twin     :mod:`.series` (``read_observable``)
folder series              a directory of files (+ log)     :mod:`.series`
=========================  ===============================  ===========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from instruments.io._base import (
    MAX_FILE_BYTES,
    MAX_PARSED_FILE_BYTES,
    check_nonempty_file,
    check_regular_file,
    decode_text,
    fail,
    read_bytes,
)
from instruments.measurement import Measurement, MeasurementSeries

__all__ = ["read_measurement", "detect_format", "FORMATS", "on_read"]

#: format name → short description (what ``twin inspect`` can report)
FORMATS: dict[str, str] = {
    "columns": "text columns (.xy, .xye, .dat, .csv, .txt, GudrunX .int01, isotherm CSV)",
    "xrdml": "PANalytical XRDML (XML)",
    "xml": "other XML: refused, naming its root element (XRDML is the only plain-XML measurement format read)",
    "brml": "Bruker BRML (zip of XML)",
    "rasx": "Rigaku RASX (zip of text + XML)",
    "bruker-raw": "Bruker RAW v4 (binary)",
    "jcamp-dx": "JCAMP-DX spectrum (IR, Raman, NMR)",
    "bruker-nmr": "Bruker TopSpin NMR folder (nmrglue)",
    "tiff": "TIFF image (tifffile)",
    "mrc": "MRC image or stack (mrcfile)",
    "dm": "Gatan DM3/DM4 image (rosettasciio or ncempy, optional)",
    "aif": "Adsorption Information File (isotherm)",
    "hdf5": "HDF5/NeXus series (h5py), or the twin's own observables file (OUT/observables/<technique>.h5)",
    "folder": "folder of measurement files with a conditions log",
}

_READERS_OPTIONS = {
    "columns": {"x_column", "y_column", "sigma_column", "axis", "axis_unit", "technique", "wavelength_ang", "counts",
                "quantity", "unit"},
    "bruker-nmr": {"procno", "raw"},
    "hdf5": {"signal", "axis"},
    "folder": {"conditions", "join", "pattern"},
}


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The format name (a key of :data:`FORMATS`) of a file or folder, from content then extension."""
    p = Path(path)
    if p.is_dir():
        from instruments.io.nmr_bruker import is_bruker_nmr

        return "bruker-nmr" if is_bruker_nmr(p) else "folder"
    ext = p.suffix.lower()
    if head is None:
        check_regular_file(p, "a measurement file or folder")  # before opening: a FIFO would block forever
        try:
            with p.open("rb") as handle:
                head = handle.read(4096)
        except FileNotFoundError:
            raise fail(p, None, "no such file") from None
        except OSError as exc:
            raise fail(p, None, f"cannot be read ({exc.strerror})") from None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"RAW4.00") or head.startswith(b"RAW1.01") or head.startswith(b"RAW2") or ext == ".raw":
        return "bruker-raw"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"PK\x03\x04") or ext in (".brml", ".rasx"):
        if ext == ".rasx" or b"Profile" in head[:200]:
            return "rasx"
        return "brml"
    if ext in (".mrc", ".mrcs", ".map", ".rec", ".st"):
        return "mrc"
    if ext in (".dm3", ".dm4"):
        return "dm"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<") or ext == ".xrdml":
        if b"xrdMeasurements" in head or ext == ".xrdml":
            return "xrdml"
        return "xml"
    if stripped.startswith(b"##") or ext in (".jdx", ".dx", ".jcamp", ".jcm"):
        return "jcamp-dx"
    if ext == ".aif" or (stripped.lower().startswith(b"data_") and (b"_adsorp_" in head or b"_units_" in head or b"_exptl_" in head)):
        return "aif"
    if ext in (".h5", ".hdf5", ".nxs", ".nx5", ".hdf"):
        return "hdf5"
    if stripped.startswith(b"=====") and b"BELSORP" in head[:200]:
        return "unsupported:BELSORP .DAT export (convert it to AIF, e.g. with pyGAPS, or to CSV)"
    if ext == ".json" or stripped.startswith((b"{", b"[")):
        return "unsupported:JSON (pyGAPS isotherm JSON is not read; export AIF or CSV)"
    if ext in (".gsa", ".gss", ".fxye"):
        return "unsupported:GSAS powder file (export .xye or .xy)"
    return "columns"


_LISTENERS: ContextVar[tuple[Callable[[Measurement | MeasurementSeries], None], ...]] = ContextVar(
    "instruments_io_listeners", default=())
_DEPTH: ContextVar[int] = ContextVar("instruments_io_depth", default=0)


@contextmanager
def on_read(callback: Callable[[Measurement | MeasurementSeries], None]) -> Iterator[None]:
    """Within the block, ``callback(result)`` is called with what every :func:`read_measurement` returns.

    Only the outermost read is reported (a folder series once, not once per frame). The command line uses this
    to say on stderr what a reader assumed (``metadata["axis_assumed"]``) or warned about
    (``metadata["warnings"]``), wherever in the library the measured file is read.
    """
    token = _LISTENERS.set(_LISTENERS.get() + (callback,))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def read_measurement(path: str | Path, *, format: str | None = None, **options: Any) -> Measurement | MeasurementSeries:
    """Read a measured file (or folder) in any supported format.

    Args:
        path: the file or folder.
        format: force a format (a key of :data:`FORMATS`) instead of detecting it.
        **options: reader options — for text columns ``x_column``, ``y_column``, ``sigma_column``,
            ``axis``, ``axis_unit``, ``technique``, ``wavelength_ang``, ``counts``; for Bruker NMR
            ``procno``, ``raw``; for HDF5 ``signal``, ``axis``; for folders ``conditions`` (a log
            file), ``join`` (``auto``/``file``/``index``/``time``), ``pattern`` (glob) and any
            options passed on to the frame reader.

    Returns:
        A :class:`Measurement`, or a :class:`MeasurementSeries` for series.

    Raises:
        twin.errors.DataFormatError: the file is missing, malformed, truncated or inconsistent; the
            message names the file and the line/byte/element and what was expected.
    """
    depth = _DEPTH.get()
    token = _DEPTH.set(depth + 1)
    try:
        result = _read(Path(path), format, options)
    finally:
        _DEPTH.reset(token)
    if depth == 0:
        for callback in _LISTENERS.get():
            callback(result)
    return result


def _read(p: Path, format: str | None, options: dict[str, Any]) -> Measurement | MeasurementSeries:
    fmt = format or detect_format(p)
    if fmt.startswith("unsupported:"):
        raise fail(p, None, f"format not supported by this version: {fmt.split(':', 1)[1]}")
    if fmt not in FORMATS:
        raise fail(p, None, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    allowed = _READERS_OPTIONS.get(fmt, set())
    if fmt == "folder":
        allowed = allowed | _READERS_OPTIONS["columns"] | _READERS_OPTIONS["hdf5"]
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"read_measurement: options {sorted(unknown)} do not apply to the {fmt} format (allowed: {sorted(allowed)})")

    if fmt == "folder":
        from instruments.io.series import read_folder

        return read_folder(p, **options)
    if fmt == "bruker-nmr":
        from instruments.io.nmr_bruker import read_bruker_nmr

        return read_bruker_nmr(p, **options)
    if p.is_dir():
        raise fail(p, None, f"is a folder; the {fmt} format needs a file")
    if fmt == "tiff":
        from instruments.io.images import read_tiff

        check_nonempty_file(p)  # existence, kind and emptiness, without reading the file
        return read_tiff(p)
    if fmt == "mrc":
        from instruments.io.images import read_mrc

        check_nonempty_file(p)
        return read_mrc(p)
    if fmt == "dm":
        from instruments.io.images import read_dm

        check_nonempty_file(p)
        return read_dm(p)
    if fmt == "hdf5":
        from instruments.io.series import read_hdf5

        check_nonempty_file(p)
        return read_hdf5(p, **options)

    # text columns and binary RAW are read by compact parsers; the other formats build Python objects first
    data = read_bytes(p, limit=MAX_FILE_BYTES if fmt in ("columns", "bruker-raw") else MAX_PARSED_FILE_BYTES)
    if fmt == "columns":
        from instruments.io.columns import read_columns

        return read_columns(p, data, **options)
    if fmt == "xrdml":
        from instruments.io.xrdml import read_xrdml

        return read_xrdml(p, data)
    if fmt == "xml":
        from instruments.io._xml import local, parse_xml

        root = parse_xml(p, data)
        if local(root.tag) == "xrdMeasurements":
            from instruments.io.xrdml import read_xrdml

            return read_xrdml(p, data)
        raise fail(p, "root element", f"XML with root <{local(root.tag)}> is not a known measurement format "
                   "(expected XRDML, root <xrdMeasurements>; BRML and RASX are read from their zip files)")
    if fmt == "brml":
        from instruments.io.vendor_xrd import read_brml

        return read_brml(p, data)
    if fmt == "rasx":
        from instruments.io.vendor_xrd import read_rasx

        return read_rasx(p, data)
    if fmt == "bruker-raw":
        from instruments.io.vendor_xrd import read_bruker_raw

        return read_bruker_raw(p, data)
    if fmt == "jcamp-dx":
        from instruments.io.jcamp import read_jcamp

        return read_jcamp(p, data)
    if fmt == "aif":
        from instruments.io.aif import read_aif

        return read_aif(p, data)
    raise fail(p, None, f"no reader for format {fmt!r}")  # pragma: no cover - FORMATS and the branches agree


def _decode_for_sniff(path: Path, data: bytes) -> str:  # kept for readers that sniff text
    return decode_text(path, data)
