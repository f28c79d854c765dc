"""JCAMP-DX, AIF, XRDML, Bruker NMR, TIFF/MRC, HDF5 and folder series on files the tests write."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from instruments.io import read_measurement
from instruments.io.jcamp import decode_asdf_line
from instruments.measurement import Measurement, MeasurementSeries
from twin.errors import DataFormatError

# ---------------------------------------------------------------------------------------- JCAMP --
_SQZ_POS = "@ABCDEFGHI"
_SQZ_NEG = "@abcdefghi"
_DIF_POS = "%JKLMNOPQR"
_DIF_NEG = "%jklmnopqr"


def _sqz(v: int) -> str:
    s = str(abs(v))
    return (_SQZ_POS if v >= 0 else _SQZ_NEG)[int(s[0])] + s[1:]


def _dif(v: int) -> str:
    s = str(abs(v))
    return (_DIF_POS if v >= 0 else _DIF_NEG)[int(s[0])] + s[1:]


def _jcamp_difdup(y: list[int], firstx: float, deltax: float, per_line: int = 8, title: str = "test") -> str:
    """Encode integers in DIF form with a Y check value at the start of each following line (spec §5)."""
    lines = []
    i = 0
    while i < len(y):
        chunk = y[i : i + per_line + 1] if i + per_line < len(y) else y[i:]
        body = _sqz(chunk[0]) + "".join(_dif(b - a) for a, b in zip(chunk[:-1], chunk[1:]))
        lines.append(f"{firstx + i * deltax:g} {body}")
        i += per_line
    return (
        f"##TITLE= {title}\n##JCAMP-DX= 4.24\n##DATA TYPE= INFRARED SPECTRUM\n##XUNITS= 1/CM\n##YUNITS= ABSORBANCE\n"
        f"##XFACTOR= 1\n##YFACTOR= 0.001\n##FIRSTX= {firstx}\n##LASTX= {firstx + (len(y) - 1) * deltax}\n"
        f"##NPOINTS= {len(y)}\n##XYDATA= (X++(Y..Y))\n" + "\n".join(lines) + "\n##END=\n"
    )


def test_asdf_decoding_examples_from_the_standard() -> None:
    # DIF then DUP: %T = difference 0 written once more (DUP count 2 = the value occurs twice)
    assert decode_asdf_line("0 A000B000", Path("x"), "l")[0] == [0, 1000, 2000]
    values, dif = decode_asdf_line("0 A000J000JJJ%T", Path("x"), "l")
    assert values == [0, 1000, 2000, 2001, 2002, 2003, 2003, 2003] and dif is True
    assert decode_asdf_line("0 1000 -2000", Path("x"), "l")[0] == [0, 1000, -2000]
    with pytest.raises(DataFormatError, match="x, l: DUP count 'T' with no value"):
        decode_asdf_line("T", Path("x"), "l")


def test_jcamp_difdup_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.integers(-50, 50, size=101)).tolist()
    p = tmp_path / "ir.jdx"
    p.write_text(_jcamp_difdup(y, 400.0, 2.0))
    m = read_measurement(p)
    assert isinstance(m, Measurement) and m.technique == "ir"
    assert (m.axis.name, m.axis.unit) == ("wavenumber", "cm-1")
    np.testing.assert_allclose(m.values, np.array(y) * 0.001, rtol=1e-12)
    np.testing.assert_allclose(m.axis.values, 400.0 + 2.0 * np.arange(101))


def test_jcamp_multiblock_and_nmr_ppm(tmp_path: Path) -> None:
    block = lambda t, x0: _jcamp_difdup([1, 2, 3, 4], x0, 1.0, title=t)  # noqa: E731
    text = "##TITLE= link\n##JCAMP-DX= 5.01\n##BLOCKS= 2\n" + block("a", 100.0) + block("b", 200.0) + "##END=\n"
    p = tmp_path / "multi.jdx"
    p.write_text(text)
    s = read_measurement(p)
    assert isinstance(s, MeasurementSeries) and s.labels == ("a", "b")
    nmr = (
        "##TITLE= xe\n##JCAMP-DX= 4.24\n##DATA TYPE= NMR SPECTRUM\n##.OBSERVE FREQUENCY= 110.7\n##XUNITS= HZ\n"
        "##YUNITS= ARBITRARY UNITS\n##PEAK TABLE= (XY..XY)\n0,1; 11070,5; 22140,2\n##END=\n"
    )
    (tmp_path / "xe.jdx").write_text(nmr)
    m = read_measurement(tmp_path / "xe.jdx")
    assert (m.axis.name, m.axis.unit, m.technique) == ("shift", "ppm", "nmr")
    np.testing.assert_allclose(m.axis.values, [0.0, 100.0, 200.0])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("##TITLE= t\n##XYDATA= (X++(Y..Y))\n1 2 3\n", r"t\.jdx, line 1: missing required label|line 3: file ends before"),
        ("##TITLE= t\n##FIRSTX= 0\n##LASTX= 2\n##NPOINTS= 3\n##XYDATA= (X++(Y..Y))\n0 1 2\n##END=\n", r"t\.jdx, line 6: 2 ordinates but ##NPOINTS=3"),
        ("##TITLE= t\n##FIRSTX= 0\n##LASTX= 2\n##NPOINTS= 3\n##XYDATA= (X++(Y..Y))\n0 1 2 ~\n##END=\n", r"t\.jdx, line 6: character '~'"),
        ("hello\n", r"t\.jdx, line 1: expected a JCAMP-DX label"),
        ("##TITLE= t\n##END=\n", r"t\.jdx: no ##XYDATA="),
    ],
)
def test_jcamp_errors(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "t.jdx"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=match):
        read_measurement(p)


def _link(n_declared: int | None, n_blocks: int, outer_end: bool = True) -> str:
    block = lambda t, x0: _jcamp_difdup([1, 2, 3, 4], x0, 1.0, title=t)  # noqa: E731
    blocks = f"##BLOCKS= {n_declared}\n" if n_declared is not None else ""
    return ("##TITLE= link\n##JCAMP-DX= 5.01\n" + blocks + "".join(block(f"b{k}", 100.0 * (k + 1)) for k in range(n_blocks))
            + ("##END=\n" if outer_end else ""))


def test_jcamp_blocks_count_must_match(tmp_path: Path) -> None:
    p = tmp_path / "m.jdx"
    p.write_text(_link(2, 2))
    assert read_measurement(p).labels == ("b0", "b1")
    text = _link(99, 2)
    p.write_text(text)
    end_line = len(text.splitlines())
    with pytest.raises(DataFormatError, match=rf"m\.jdx, line {end_line}: ##BLOCKS= 99 on line 3 but the link block opened on "
                                              r"line 1 holds 2 blocks before this ##END=$"):
        read_measurement(p)
    p.write_text(_link(3, 2).replace("##BLOCKS= 3", "##BLOCKS= two"))
    with pytest.raises(DataFormatError, match=r"m\.jdx, line 3: expected a number of blocks for ##BLOCKS=, got 'two'"):
        read_measurement(p)


def test_jcamp_link_block_without_end_is_truncated(tmp_path: Path) -> None:
    p = tmp_path / "m.jdx"
    text = _link(2, 2, outer_end=False)
    p.write_text(text)
    last = len(text.splitlines())
    with pytest.raises(DataFormatError, match=rf"m\.jdx, line {last}: file ends before '##END=' of the block opened by "
                                              r"##TITLE= on line 1 \(truncated\)"):
        read_measurement(p)
    p.write_text(_link(None, 1) + "##END=\n")
    with pytest.raises(DataFormatError, match=r"m\.jdx, line \d+: ##END= closes no block"):
        read_measurement(p)


# ------------------------------------------------------------------------------------------ AIF --
def test_aif_written(tmp_path: Path) -> None:
    text = (
        "data_test\n_exptl_temperature 30\n_units_temperature C\n_units_pressure bar\n_units_loading 'mmol g-1'\n"
        "_exptl_adsorptive CO2\nloop_\n_adsorp_pressure\n_adsorp_amount\n0.1 1.0\n1.0 2.0\n"
    )
    p = tmp_path / "a.aif"
    p.write_text(text)
    s = read_measurement(p)
    assert s.labels == ("adsorption",)
    assert s[0].conditions["temperature_K"] == pytest.approx(303.15)
    assert s[0].unit == "mmol g-1" and s[0].axis.values.tolist() == [0.1, 1.0]
    p.write_text(text + "2.0\n")
    with pytest.raises(DataFormatError, match=r"a\.aif, line 12: loop_ of 2 items holds 5 values"):
        read_measurement(p)
    p.write_text(text.replace("_units_pressure bar", "_units_pressure furlong"))
    with pytest.raises(DataFormatError, match=r"a\.aif, line 4: _units_pressure must be one of"):
        read_measurement(p)


# ---------------------------------------------------------------------------------------- XRDML --
_XRDML = """<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">
 <sample><id>S1</id></sample>
 <xrdMeasurement measurementType="Scan" sampleMode="Reflection">
  <usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">1.5405980</kAlpha1><kAlpha2 unit="Angstrom">1.5444260</kAlpha2>
   <ratioKAlpha2KAlpha1>0.5</ratioKAlpha2KAlpha1></usedWavelength>
  <scan scanAxis="Gonio" mode="Continuous"><dataPoints>
   <positions axis="2Theta" unit="deg"><startPosition>10</startPosition><endPosition>11</endPosition></positions>
   <commonCountingTime unit="seconds">2.0</commonCountingTime>
   <intensities unit="counts/s">{values}</intensities>
  </dataPoints></scan>
 </xrdMeasurement>
</xrdMeasurements>
"""


def test_xrdml_counts_per_second_sigma(tmp_path: Path) -> None:
    p = tmp_path / "s.xrdml"
    p.write_text(_XRDML.format(values="50 8 0"))
    m = read_measurement(p)
    assert m.axis.values.tolist() == [10.0, 10.5, 11.0]
    # N = I·t: 100 and 16 counts → σ = √N / t
    assert m.uncertainties[:2] == pytest.approx([5.0, 2.0])
    assert m.metadata["sample_id"] == "S1"
    assert m.to_q().axis.values[0] == pytest.approx(4 * np.pi * np.sin(np.radians(5.0)) / 1.540598, rel=1e-6)
    p.write_text(_XRDML.format(values="50 x 0"))
    with pytest.raises(DataFormatError, match=r"s\.xrdml, <xrdMeasurement> 1, <scan> 1 <intensities>, value 2: expected an intensity, got 'x'"):
        read_measurement(p)
    p.write_text(_XRDML.format(values="50 8 0")[:400])
    with pytest.raises(DataFormatError, match=r"s\.xrdml, line \d+, column \d+: malformed XML"):
        read_measurement(p)


# ---------------------------------------------------------------------------------------- zip --
def test_other_xml_names_its_root(tmp_path: Path) -> None:
    from instruments.io import FORMATS, detect_format

    p = tmp_path / "o.xml"
    p.write_text("<?xml version='1.0'?>\n<spectrum><x>1</x></spectrum>\n")
    assert detect_format(p) == "xml" and "xml" in FORMATS
    for fmt in (None, "xml"):
        with pytest.raises(DataFormatError, match=r"o\.xml, root element: XML with root <spectrum> is not a known measurement format"):
            read_measurement(p, format=fmt)
    q = tmp_path / "s.xml"
    q.write_text(_XRDML.format(values="1 2 3"))
    assert read_measurement(q).n_points == 3  # XRDML content under another extension


def test_zip_bomb_guard_and_missing_member(tmp_path: Path) -> None:
    p = tmp_path / "b.brml"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Experiment0/RawData0.xml", b"<" + b" " * (3 * 1024**2) + b"/>")
    with pytest.raises(DataFormatError, match=r"b\.brml, member Experiment0/RawData0\.xml: declares \d+ bytes uncompressed; refused"):
        read_measurement(p)
    q = tmp_path / "e.rasx"
    with zipfile.ZipFile(q, "w") as z:
        z.writestr("root.xml", b"<a/>")
    with pytest.raises(DataFormatError, match=r"e\.rasx: no Data\*/Profile\*\.txt member"):
        read_measurement(q)


# ----------------------------------------------------------------------------------- Bruker NMR --
def _jcamp_params(values: dict[str, object]) -> str:
    return "##TITLE= Parameter file\n" + "".join(f"##${k}= {v}\n" for k, v in values.items()) + "##END=\n"


def _bruker_pdata(tmp_path: Path, n: int = 256, offset: float = 12.0, sw_p: float = 4000.0, sf: float = 400.13) -> Path:
    """A TopSpin experiment folder written by hand: acqus, pdata/1/procs and a little-endian int32 1r."""
    exp = tmp_path / "1"
    pdir = exp / "pdata" / "1"
    pdir.mkdir(parents=True)
    data = np.zeros(n, dtype="<i4")
    data[64] = 1000
    (pdir / "1r").write_bytes(data.tobytes())
    (pdir / "procs").write_text(_jcamp_params({"SI": n, "OFFSET": offset, "SW_p": sw_p, "SF": sf, "NC_proc": 0,
                                               "BYTORDP": 0, "DTYPP": 0, "FT_mod": 6}))
    (exp / "acqus").write_text(_jcamp_params({"NUC1": "<129Xe>", "TE": 298.0, "NS": 16, "BYTORDA": 0, "DTYPA": 0}))
    return exp


def test_bruker_processed_ppm_axis(tmp_path: Path) -> None:
    exp = _bruker_pdata(tmp_path)
    m = read_measurement(exp)
    assert m.format == "bruker-nmr-processed" and (m.axis.name, m.axis.unit) == ("shift", "ppm")
    # δ_i = OFFSET − (SW_p/SF)·i/SI; the peak sits at i = 64
    expected = 12.0 - (4000.0 / 400.13) * 64 / 256
    assert m.axis.values[int(np.argmax(m.values))] == pytest.approx(expected, abs=1e-9)
    assert m.axis.values[-1] == pytest.approx(12.0)
    assert m.conditions["temperature_K"] == 298.0


def test_bruker_fid_axis(tmp_path: Path) -> None:
    """A hand-written FID (float64, DQD) with one line 1000 Hz from the carrier, O1 = 200 Hz."""
    n, sw, sfo1, o1, f = 512, 5000.0, 110.7, 200.0, 1000.0
    t = np.arange(n) / sw
    fid = np.exp(2j * np.pi * f * t) * np.exp(-t * 50.0)
    exp = tmp_path / "2"
    exp.mkdir()
    inter = np.empty(2 * n, dtype="<f8")
    inter[0::2], inter[1::2] = fid.real, fid.imag
    (exp / "fid").write_bytes(inter.tobytes())
    (exp / "acqus").write_text(_jcamp_params({"TD": 2 * n, "SW_h": sw, "SFO1": sfo1, "BF1": sfo1 - o1 * 1e-6, "O1": o1,
                                              "DTYPA": 2, "BYTORDA": 0, "AQ_mod": 3, "DECIM": 1, "GRPDLY": 0,
                                              "NUC1": "<129Xe>", "NS": 8}))
    m = read_measurement(exp)
    assert m.format == "bruker-nmr-fid" and m.metadata["spectrum"].startswith("magnitude")
    peak = m.axis.values[int(np.argmax(m.values))]
    # nmrglue convention: fftshift(fft) index k ↔ ν = O1 + SW/2 − k·SW/n, so exp(+2πi f t) lies at (O1 − f)/SFO1
    assert peak == pytest.approx((o1 - f) / sfo1, abs=sw / n / sfo1)
    assert np.all(np.diff(m.axis.values) > 0)
    (exp / "fid").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"2, fid: the FID holds fewer than 2 points|2: cannot read the FID"):
        read_measurement(exp)


def test_bruker_bad_procs(tmp_path: Path) -> None:
    exp = _bruker_pdata(tmp_path)
    procs = exp / "pdata" / "1" / "procs"
    procs.write_text(procs.read_text().replace("##$SF= 400.13", "##$SF= -1"))
    with pytest.raises(DataFormatError, match=r"1/procs: SF \(-1\.0\) and SW_p \(4000\.0\) must be > 0"):
        read_measurement(exp)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("##$NUC1= <129Xe\n", r"1, acqus, line 2: the string value of ##\$NUC1= opened with '<' is never closed with '>'"),
        ("##$P= (0..63)\n1 2 3\n", r"1, acqus, line 2: ##\$P= declares 64 values but the file ends after 3"),
    ],
)
def test_bruker_parameter_text_that_nmrglue_cannot_finish(tmp_path: Path, line: str, match: str) -> None:
    """nmrglue would read past the end of these acqus files forever; they are refused with the line."""
    exp = _bruker_pdata(tmp_path)
    (exp / "acqus").write_text("##TITLE= Parameter file\n" + line)
    with pytest.raises(DataFormatError, match=match):
        read_measurement(exp)


# --------------------------------------------------------------------------------------- images --
def test_tiff_pixel_size_from_imagej(tmp_path: Path) -> None:
    import tifffile

    img = np.arange(12, dtype=np.uint16).reshape(3, 4)
    p = tmp_path / "a.tif"
    tifffile.imwrite(p, img, imagej=True, resolution=(1 / 0.25, 1 / 0.5), metadata={"unit": "nm"})
    m = read_measurement(p)
    assert m.is_image and m.values.shape == (3, 4)
    assert m.axis.values[1] == pytest.approx(2.5) and m.second_axis.values[1] == pytest.approx(5.0)
    plain = tmp_path / "b.tif"
    tifffile.imwrite(plain, img)
    assert read_measurement(plain).axis.unit == "px"
    (tmp_path / "c.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(DataFormatError, match=r"c\.tif: not a readable TIFF"):
        read_measurement(tmp_path / "c.tif")


def test_mrc_voxel_size_and_stack(tmp_path: Path) -> None:
    import mrcfile

    p = tmp_path / "s.mrc"
    with mrcfile.new(p) as mrc:
        mrc.set_data(np.ones((2, 3, 4), dtype=np.float32))
        mrc.voxel_size = 1.5
    s = read_measurement(p)
    assert isinstance(s, MeasurementSeries) and len(s) == 2
    assert s[0].axis.values[-1] == pytest.approx(4.5) and s[0].axis.unit == "Å"
    (tmp_path / "t.mrc").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFormatError, match=r"t\.mrc: not a valid MRC file"):
        read_measurement(tmp_path / "t.mrc")


# --------------------------------------------------------------------------------------- series --
def test_folder_series_joined_with_log(tmp_path: Path) -> None:
    x = np.linspace(5, 10, 6)
    for k in (1, 2, 10):
        np.savetxt(tmp_path / f"frame_{k}.xy", np.column_stack([x, x * k]), fmt="%.6f")
    (tmp_path / "conditions_log.csv").write_text("file,time_s,temperature_C,pressure_kPa\nframe_1.xy,0,25,10\nframe_2.xy,60,30,20\nframe_10.xy,120,35,30\n")
    s = read_measurement(tmp_path)
    assert s.labels == ("frame_1.xy", "frame_2.xy", "frame_10.xy")
    table = s.conditions_table()
    np.testing.assert_allclose(table["temperature_K"], [298.15, 303.15, 308.15])
    np.testing.assert_allclose(table["pressure_Pa"], [1e4, 2e4, 3e4])
    axis, values, _ = s.stack()
    assert values.shape == (3, 6)
    (tmp_path / "conditions_log.csv").write_text("file,temperature_K\nframe_1.xy,300\n")
    with pytest.raises(DataFormatError, match=r"conditions_log\.csv: no row for frame file 'frame_2\.xy'"):
        read_measurement(tmp_path)


def test_nexus_series_with_conditions(tmp_path: Path) -> None:
    import h5py

    p = tmp_path / "insitu.nxs"
    with h5py.File(p, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        d = entry.create_group("data")
        d.attrs["NX_class"] = "NXdata"
        d.attrs["signal"] = "intensity"
        d.attrs["axes"] = [".", "two_theta"]
        d.create_dataset("intensity", data=np.ones((4, 5)))
        tt = d.create_dataset("two_theta", data=np.linspace(5, 9, 5))
        tt.attrs["units"] = "deg"
        log = entry.create_group("sample").create_group("temperature")
        log.attrs["NX_class"] = "NXlog"
        v = log.create_dataset("value", data=[300.0, 310.0, 320.0, 330.0])
        v.attrs["units"] = "K"
        pr = entry["sample"].create_dataset("pressure", data=[1.0, 2.0, 3.0, 4.0])
        pr.attrs["units"] = "bar"
        entry.create_dataset("instrument/wavelength", data=0.7293)
    s = read_measurement(p)
    assert isinstance(s, MeasurementSeries) and len(s) == 4 and s.format == "nexus"
    np.testing.assert_allclose(s.conditions_table()["temperature_K"], [300, 310, 320, 330])
    np.testing.assert_allclose(s.conditions_table()["pressure_Pa"], [1e5, 2e5, 3e5, 4e5])
    assert s[0].wavelength_ang == pytest.approx(0.7293)
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(DataFormatError, match=r"bad\.h5: not a readable HDF5 file"):
        read_measurement(tmp_path / "bad.h5")


def _plain_h5(path: Path, **datasets: object) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("intensity", data=datasets.pop("intensity", np.ones((3, 4))))
        f.create_dataset("two_theta", data=np.linspace(5.0, 8.0, 4))
        for name, value in datasets.items():
            units = None
            if isinstance(value, tuple):
                value, units = value
            ds = f.create_dataset(name, data=value)
            if units is not None:
                ds.attrs["units"] = units
    return path


@pytest.mark.parametrize(
    ("datasets", "match"),
    [
        ({"wavelength": "abc"}, r"dataset /wavelength: expected numbers for the wavelength, got text$"),
        ({"wavelength": np.nan}, r"dataset /wavelength: wavelength nan Å is not a positive finite number"),
        ({"wavelength": (0.07, "furlong")}, r"dataset /wavelength: wavelength units 'furlong' are not a length unit"),
        ({"temperature": np.array([b"a", b"b", b"c"])}, r"dataset /temperature: expected numbers for the condition temperature_K, got text$"),
        ({"temperature": ([300.0, np.nan, 320.0], "K")}, r"dataset /temperature\[1\]: the condition temperature_K is nan \(not a finite number\)"),
        ({"temperature": ([300.0, 310.0, 320.0], "parsec")}, r"dataset /temperature: temperature units 'parsec' are not K, °C or °F"),
        ({"intensity": np.array([[1.0, 1.0, 1.0, 1.0], [1.0, np.inf, 1.0, 1.0], [1.0] * 4])},
         r"dataset /intensity\[1, 1\]: a signal value is inf \(not a finite number\)"),
        ({"errors": -np.ones((3, 4))}, r"dataset /errors\[0, 0\]: negative uncertainty -1$"),
        ({"errors": np.full((3, 4), np.nan)}, r"dataset /errors\[0, 0\]: an uncertainty is nan"),
        ({"intensity": np.array([[b"x"] * 4] * 3)}, r"dataset /intensity: expected numbers for the signal, got text$"),
    ],
)
def test_hdf5_bad_values_name_file_and_dataset(tmp_path: Path, datasets: dict[str, object], match: str) -> None:
    path = _plain_h5(tmp_path / "bad.h5", **datasets)
    with pytest.raises(DataFormatError, match=r"bad\.h5, " + match):
        read_measurement(path)


def test_hdf5_counts_must_not_be_negative_and_units_convert(tmp_path: Path) -> None:
    import h5py

    path = _plain_h5(tmp_path / "c.h5", wavelength=(0.07293, "nm"), errors=np.full((3, 4), 0.5))
    s = read_measurement(path)
    assert s[0].wavelength_ang == pytest.approx(0.7293) and s[0].uncertainty_kind == "file"
    with h5py.File(path, "a") as f:
        f["intensity"][1, 2] = -3.0
    assert read_measurement(path)[1].values[2] == -3.0  # background-subtracted data may be negative
    with h5py.File(path, "a") as f:
        f["intensity"].attrs["units"] = "counts"
    with pytest.raises(DataFormatError, match=r"c\.h5, dataset /intensity\[1, 2\]: negative count -3 \(@units = 'counts'\)"):
        read_measurement(path)


def test_folder_skips_licence_readme_and_notes(tmp_path: Path) -> None:
    x = np.linspace(5, 10, 6)
    for k in (1, 2):
        np.savetxt(tmp_path / f"frame_{k}.xy", np.column_stack([x, x * k]), fmt="%.6f")
    (tmp_path / "LICENSE-CC-BY-4.0.txt").write_text("Attribution 4.0 International\n\nSection 1 -- Definitions.\n")
    (tmp_path / "README_upstream.md").write_text("# data\n")
    (tmp_path / "notes.txt").write_text("sample was wet\n")
    (tmp_path / "Readme.txt").write_text("see paper\n")
    s = read_measurement(tmp_path)
    assert s.labels == ("frame_1.xy", "frame_2.xy")
    assert list(s.metadata["skipped"]) == ["LICENSE-CC-BY-4.0.txt", "notes.txt", "Readme.txt", "README_upstream.md"]
    assert read_measurement(tmp_path, pattern="*_2.xy").labels == ("frame_2.xy",)
    with pytest.raises(DataFormatError, match=r"no measurement files matching '\*\.dat' in the folder$"):
        read_measurement(tmp_path, pattern="*.dat")
    (tmp_path / "frame_1.xy").unlink()
    (tmp_path / "frame_2.xy").unlink()
    with pytest.raises(DataFormatError, match=r"no measurement files matching '\*' in the folder \(skipped as not measurements: "):
        read_measurement(tmp_path)


def test_dm_needs_optional_extra(tmp_path: Path) -> None:
    from twin.errors import NotAvailableError, TwinError

    p = tmp_path / "x.dm4"
    p.write_bytes(b"\x00\x00\x00\x04" + b"\x00" * 40)
    try:
        import rsciio  # noqa: F401
    except ImportError:
        try:
            import ncempy  # noqa: F401
        except ImportError:
            with pytest.raises(NotAvailableError, match=r"x\.dm4: DM3/DM4 files need rosettasciio or ncempy"):
                read_measurement(p)
            return
    with pytest.raises(TwinError):
        read_measurement(p)
