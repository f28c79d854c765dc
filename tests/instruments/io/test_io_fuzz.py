"""Robustness: damaged and hostile inputs end in DataFormatError naming the file, never another exception.

For every text reader (columns, JCAMP-DX, AIF, XRDML, RASX profile, BRML) and the binary RAW v4 reader,
hypothesis damages a valid file (truncation, flipped bytes, NaN/Inf/huge numbers, swapped or duplicated
lines, UTF-16, NUL bytes, empty) or feeds random bytes. The reader must either return a measurement whose
axis is finite and strictly ascending and whose values are finite (the damage was harmless), or raise
DataFormatError whose message starts with the file path. XML entity bombs must be refused outright.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import column_files, damaged, junk_bytes, xml_bombs

from instruments.io import read_measurement
from instruments.measurement import Measurement, MeasurementSeries
from twin.errors import DataFormatError

FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

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


def _check(path: Path) -> None:
    try:
        result = read_measurement(path)
    except DataFormatError as exc:
        assert str(exc).startswith(str(path)), str(exc)
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
