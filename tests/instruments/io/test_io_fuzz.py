"""Robustness: damaged and hostile inputs end in DataFormatError naming the file and the place, never another exception.

For every text reader (columns, isotherm CSV, JCAMP-DX single and multi-block, AIF, XRDML, RASX profile, BRML,
the conditions log of a folder series), the Bruker NMR parameter files and the binary RAW v4 reader,
hypothesis damages a valid file (truncation, flipped bytes, NaN/Inf/huge numbers, swapped or duplicated
lines, UTF-16, NUL bytes, empty) or feeds random bytes. The reader must either return a measurement whose
axis is finite (strictly ascending except for isotherms), whose values, uncertainties and conditions are
finite (the damage was harmless), or raise DataFormatError whose message starts with the file path followed
by the position — ``line N``, ``byte N``, ``member M``, an XML element or an HDF5 dataset — unless the
problem belongs to the whole file (empty, no data block, not this format), which the message then says.
Round trips: conditions logs, isotherm CSV branch spellings and multi-block JCAMP-DX files built from drawn
numbers read back to those numbers. XML entity bombs must be refused outright.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    bruker_param_texts,
    column_files,
    conditions_logs,
    damaged,
    isotherm_csvs,
    jcamp_link_files,
    junk_bytes,
    xml_bombs,
)

from instruments.io import read_measurement
from instruments.io.series import read_conditions_log
from instruments.measurement import Measurement, MeasurementSeries
from twin.errors import DataFormatError

# modest example counts and a per-example deadline (generous: the CI machines are shared) keep the file quick
_EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=max(10, _EXAMPLES // 2), deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])

XY = b"# two theta scan\n5.00 120\n5.02 131\n5.04 150\n5.06 0\n5.08 99\n"
JDX = (
    b"##TITLE= t\n##JCAMP-DX= 4.24\n##DATA TYPE= INFRARED SPECTRUM\n##XUNITS= 1/CM\n##YUNITS= ABSORBANCE\n"
    b"##FIRSTX= 400\n##LASTX= 406\n##NPOINTS= 7\n##YFACTOR= 0.01\n##XYDATA= (X++(Y..Y))\n400 A0J0J0J0\n403 D0J0J0J0\n##END=\n"
)
AIF = (
    b"data_t\n_exptl_temperature 298\n_units_temperature K\n_units_pressure kPa\n_units_loading 'mmol g-1'\n"
    b"loop_\n_adsorp_pressure\n_adsorp_p0\n_adsorp_amount\n0.1 7.7 1.0\n1.0 7.7 2.0\n5.0 7.7 3.0\n"
    b"loop_\n_desorp_pressure\n_desorp_p0\n_desorp_amount\n4.0 7.7 3.0\n0.5 7.7 2.5\n"
)
XRDML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">\n'
    b'<xrdMeasurement measurementType="Scan"><usedWavelength><kAlpha1 unit="Angstrom">1.5406</kAlpha1></usedWavelength>\n'
    b'<scan scanAxis="Gonio"><dataPoints><positions axis="2Theta" unit="deg"><startPosition>10</startPosition>\n'
    b"<endPosition>12</endPosition></positions><commonCountingTime>1.0</commonCountingTime>\n"
    b'<intensities unit="counts">10 20 30 40 50</intensities></dataPoints></scan></xrdMeasurement></xrdMeasurements>\n'
)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def _brml(datum_rows: bytes) -> bytes:
    xml = (
        b'<?xml version="1.0"?>\n<RawData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><DataRoutes><DataRoute>'
        b"<ScanInformation><MeasurementPoints>3</MeasurementPoints><TimePerStep>1</TimePerStep></ScanInformation>"
        + datum_rows
        + b'<DataViews><RawDataView xsi:type="FixedRawDataView" Start="0" Length="1" LogicName="MeasuredTime"/>'
        b'<RawDataView xsi:type="VaryingRawDataView" Start="1" Length="1"><Varying><FieldDefinitions FieldName="TwoTheta"/>'
        b'</Varying></RawDataView><RawDataView xsi:type="RecordedRawDataView" Start="2" Length="1"/></DataViews>'
        b"</DataRoute></DataRoutes></RawData>\n"
    )
    return _zip({"Experiment0/RawData0.xml": xml})


BRML_ROWS = b"<Datum>1,10,5</Datum><Datum>1,10.5,6</Datum><Datum>1,11,7</Datum>"
RASX_PROFILE = b"\xef\xbb\xbf10.00\t100\t1\r\n10.04\t120\t1\r\n10.08\t90\t1\r\n"


#: where a message may point after the file: a text line, a byte offset, an archive member, an XML element,
#: an HDF5 dataset or group, a Bruker parameter or data file
_POSITION = re.compile(r"(line \d+|byte \d+|member \S+|<\w+>|(root )?element|dataset \S+|group \S+|(\d+/)?(procs|acqus|fid|1r)\b|pdata/\d+)")
#: problems of the whole file, which have no one position
_WHOLE_FILE = re.compile(
    r"the file is empty|no such file|format not supported|unknown format|is larger than|no ##XYDATA=|"
    r"no _adsorp_ or _desorp_ loop|not a readable zip archive|no Experiment\*/RawData\*\.xml member|"
    r"no Data\*/Profile\*\.txt member|not a readable HDF5 file|XML declares|document type declaration|external resource|"
    r"malformed XML declaration|malformed XML \(|"
    # binary images: tifffile/mrcfile report no offset
    r"not a readable TIFF|not a valid MRC file|expected a 2-D image"
)


def assert_names_file_and_position(exc: DataFormatError, path: Path, position: bool = True) -> None:
    """The message starts with the file; then the position, or (``position``) it states a whole-file problem."""
    msg = str(exc)
    assert msg.startswith(str(path)), msg
    rest = msg[len(str(path)):]
    if rest.startswith(", "):
        assert _POSITION.match(rest[2:]), f"unknown position in {msg!r}"
    else:
        assert rest.startswith(": "), msg
        if position:
            assert _WHOLE_FILE.search(rest), f"no line/byte/member/element in {msg!r}"
    assert "np.float64" not in msg and "np.int64" not in msg, msg


def _check(path: Path, position: bool = True) -> None:
    try:
        result = read_measurement(path)
    except DataFormatError as exc:
        assert_names_file_and_position(exc, path, position)
        return
    items = list(result) if isinstance(result, MeasurementSeries) else [result]
    assert items
    for m in items:
        assert isinstance(m, Measurement)
        x = np.asarray(m.axis.values, dtype=np.float64)
        y = np.asarray(m.values, dtype=np.float64)
        assert np.all(np.isfinite(y))
        assert np.all(np.isfinite(x))
        if m.technique != "isotherm":
            assert np.all(np.diff(x) > 0)
        if m.uncertainties is not None:
            assert np.all(np.asarray(m.uncertainties) >= 0)
        assert all(np.isfinite(v) for v in m.conditions.values()), m.conditions
        if m.axis.name == "two_theta" and m.format not in ("xrdml", "brml", "rasx", "bruker-raw"):
            assert np.all((x > 0) & (x < 180))


@pytest.mark.parametrize(("name", "original"), [("f.xy", XY), ("f.jdx", JDX), ("f.aif", AIF), ("f.xrdml", XRDML)])
@FUZZ
@given(data=st.data())
def test_damaged_text_files(tmp_path: Path, name: str, original: bytes, data: st.DataObject) -> None:
    path = tmp_path / name
    _check_written(path, original)  # the undamaged file reads
    path.write_bytes(data.draw(damaged(original)))
    _check(path)


def _check_written(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    read_measurement(path)


@FUZZ
@given(rows=damaged(BRML_ROWS), profile=damaged(RASX_PROFILE))
def test_damaged_archives(tmp_path: Path, rows: bytes, profile: bytes) -> None:
    brml = tmp_path / "a.brml"
    brml.write_bytes(_brml(rows))
    _check(brml)
    rasx = tmp_path / "a.rasx"
    rasx.write_bytes(_zip({"Data0/Profile0.txt": profile}))
    _check(rasx)
    raw_zip = tmp_path / "b.brml"
    raw_zip.write_bytes(_brml(BRML_ROWS)[: len(_brml(BRML_ROWS)) // 2])
    _check(raw_zip)


@FUZZ
@given(data=st.data())
def test_damaged_bruker_raw(tmp_path: Path, shared_data: Path, data: st.DataObject) -> None:
    original = (shared_data / "instrument-files" / "TwoTheta_scan_scrambled.raw").read_bytes()[:4000]
    cut = data.draw(st.integers(0, len(original)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, 3999), st.integers(0, 255)), max_size=6))
    blob = bytearray(original[:cut])
    for i, b in flips:
        if i < len(blob):
            blob[i] = b
    path = tmp_path / "d.raw"
    path.write_bytes(bytes(blob))
    _check(path)


@FUZZ
@given(blob=junk_bytes, ext=st.sampled_from([".xy", ".csv", ".jdx", ".aif", ".xrdml", ".brml", ".rasx", ".raw", ".int01"]))
def test_random_bytes(tmp_path: Path, blob: bytes, ext: str) -> None:
    path = tmp_path / f"r{ext}"
    path.write_bytes(blob)
    _check(path)


@FUZZ
@given(content=column_files(3))
def test_column_round_trip(tmp_path: Path, content: tuple[str, list[list[float]]]) -> None:
    text, cols = content
    path = tmp_path / "rt.xye"
    path.write_text(text)
    m = read_measurement(path)
    np.testing.assert_array_equal(m.axis.values, cols[0])
    np.testing.assert_array_equal(m.values, cols[1])
    np.testing.assert_array_equal(m.uncertainties, cols[2])


@pytest.mark.parametrize("ext", [".xrdml", ".brml"])
@given(bomb=xml_bombs())
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_xml_entity_bombs_refused(tmp_path: Path, ext: str, bomb: bytes) -> None:
    path = tmp_path / f"bomb{ext}"
    path.write_bytes(bomb if ext == ".xrdml" else _zip({"Experiment0/RawData0.xml": bomb}))
    with pytest.raises(DataFormatError, match=r"bomb\.(xrdml|brml).*(DTD|entities|external)"):
        read_measurement(path)


# ------------------------------------------------------------------------------- new readers --
ISO_CSV = b"branch,pressure_kPa,uptake_mmol_per_g\nads,10,1.0\nADS,20,2.5\nads,40,3.0\ndes,30,2.9\nDesorption,5,1.2\n"
JDX_LINK = (
    b"##TITLE= link\n##JCAMP-DX= 5.01\n##BLOCKS= 2\n"
    b"##TITLE= a\n##JCAMP-DX= 4.24\n##XUNITS= 1/CM\n##PEAK TABLE= (XY..XY)\n400,1; 401,2; 402,3\n##END=\n"
    b"##TITLE= b\n##JCAMP-DX= 4.24\n##XUNITS= 1/CM\n##FIRSTX= 400\n##LASTX= 406\n##NPOINTS= 7\n##YFACTOR= 0.01\n"
    b"##XYDATA= (X++(Y..Y))\n400 A0J0J0J0\n403 D0J0J0J0\n##END=\n##END=\n"
)
LOG = b"file,time_s,temperature_C,pressure_kPa,rh_pct\nf_1.xy,0,25,10,5\nf_2.xy,60,30,20,10\nf_3.xy,120,35,30,15\n"


@pytest.mark.parametrize(("name", "original"), [("iso.csv", ISO_CSV), ("link.jdx", JDX_LINK)])
@FUZZ
@given(data=st.data())
def test_damaged_isotherm_csv_and_multiblock_jcamp(tmp_path: Path, name: str, original: bytes, data: st.DataObject) -> None:
    path = tmp_path / name
    good = (path.write_bytes(original), read_measurement(path))[1]
    assert isinstance(good, MeasurementSeries) and len(good) == 2
    path.write_bytes(data.draw(damaged(original)))
    _check(path)


@FUZZ
@given(log=damaged(LOG))
def test_damaged_conditions_log(tmp_path: Path, log: bytes) -> None:
    """Alone and as the log of a folder series: nothing but DataFormatError, naming the log and its line."""
    path = tmp_path / "conditions_log.csv"
    path.write_bytes(log)
    try:
        files, rows = read_conditions_log(path)
    except DataFormatError as exc:
        assert_names_file_and_position(exc, path)
    else:
        assert all(np.isfinite(v) for r in rows for v in r.values())
        assert all(0.0 <= r.get("relative_humidity", 0.0) <= 1.0 and r.get("temperature_K", 1.0) > 0 for r in rows)
        assert files is None or len(files) == len(rows)
    x = np.linspace(5.0, 8.0, 4)
    for k in (1, 2, 3):
        np.savetxt(tmp_path / f"f_{k}.xy", np.column_stack([x, x * k]), fmt="%.3f")
    try:
        s = read_measurement(tmp_path)
    except DataFormatError as exc:
        # joining is a property of the whole log ("no row for frame file", "3 condition rows for 2 frames")
        assert str(exc).startswith(str(path)), str(exc)
        assert "np.float64" not in str(exc)
    else:
        assert len(s) == 3 and all(np.isfinite(v) for m in s for v in m.conditions.values())


@FUZZ
@given(procs=bruker_param_texts({"SI": 16, "OFFSET": 12.0, "SW_p": 4000.0, "SF": 400.13, "NC_proc": 0, "BYTORDP": 0, "DTYPP": 0}),
       acqus=bruker_param_texts({"NUC1": "<129Xe>", "TE": 298.0, "NS": 16, "BYTORDA": 0, "DTYPA": 0}))
def test_damaged_bruker_parameter_text(tmp_path: Path, procs: bytes, acqus: bytes) -> None:
    """acqus/procs are parsed by nmrglue (this package has no parser of its own for them): damaged parameter text
    ends in DataFormatError naming the experiment folder (and the parameter file where our checks find the fault)."""
    exp = tmp_path / "1"
    pdir = exp / "pdata" / "1"
    pdir.mkdir(parents=True, exist_ok=True)
    data = np.zeros(16, dtype="<i4")
    data[4] = 1000
    (pdir / "1r").write_bytes(data.tobytes())
    (pdir / "procs").write_bytes(procs)
    (exp / "acqus").write_bytes(acqus)
    _check(exp, position=False)


@ROUND_TRIP
@given(log=conditions_logs())
def test_conditions_log_round_trip(tmp_path: Path, log: tuple[str, list[str], list[dict[str, float]]]) -> None:
    text, files, rows = log
    path = tmp_path / "log.tsv"
    path.write_text(text)
    got_files, got_rows = read_conditions_log(path)
    assert got_files == files
    assert len(got_rows) == len(rows)
    for got, want in zip(got_rows, rows, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key


@ROUND_TRIP
@given(content=isotherm_csvs())
def test_isotherm_csv_branch_spellings_round_trip(tmp_path: Path, content: tuple[str, dict[str, tuple[list[float], list[float]]]]) -> None:
    text, branches = content
    path = tmp_path / "iso.csv"
    path.write_text(text)
    s = read_measurement(path)
    assert isinstance(s, MeasurementSeries)
    assert set(s.labels) == set(branches) <= {"adsorption", "desorption"}
    for label, m in zip(s.labels, s, strict=True):
        p_bar, uptake = branches[label]
        np.testing.assert_allclose(m.axis.values, p_bar, rtol=1e-12)
        np.testing.assert_array_equal(m.values, uptake)
        assert m.axis.unit == "bar" and m.metadata["branch"] == label


@ROUND_TRIP
@given(content=jcamp_link_files())
def test_multiblock_jcamp_blocks_and_end(tmp_path: Path, content: tuple[str, int, int | None, bool]) -> None:
    """Read iff the link block is closed and ##BLOCKS= (when given) counts the blocks; else refused with the line."""
    text, n, declared, outer_end = content
    path = tmp_path / "link.jdx"
    path.write_text(text)
    if outer_end and declared in (None, n):
        result = read_measurement(path)
        items = list(result) if isinstance(result, MeasurementSeries) else [result]
        assert len(items) == n and all(m.axis.name == "wavenumber" for m in items)
        return
    with pytest.raises(DataFormatError) as info:
        read_measurement(path)
    assert_names_file_and_position(info.value, path)
    last = len(text.splitlines())
    if not outer_end:
        assert f"line {last}: file ends before '##END=' of the block opened by ##TITLE= on line 1" in str(info.value)
    else:
        assert f"line {last}: ##BLOCKS= {declared} on line 3 but the link block opened on line 1 holds {n} blocks" in str(info.value)
