"""Readers on the real measured files of the test data (tests/data, copied from the shared data folder), against the
JSON of what each must recover."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from instruments.io import detect_format, read_measurement
from instruments.measurement import Measurement, MeasurementSeries

INSTRUMENT_FILES = [
    "XRD-918-16_10.xrdml",
    "10_m84325_C_XRR_fast_processed.xrdml",
    "TwoTheta_scan_powder.rasx",
    "TwoTheta_scan_scrambled.raw",
    "23-012-AG_2thomegascan_long.brml",
]


def _manifest(shared: Path) -> dict[str, str]:
    out = {}
    for line in (shared / "MANIFEST.sha256").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sha, _size, rel = line.split(None, 2)
        out[rel] = sha
    return out


def _checked(shared: Path, rel: str) -> Path:
    path = shared / rel
    expected = _manifest(shared)[rel]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected, f"{rel} differs from MANIFEST.sha256"
    return path


@pytest.mark.parametrize("name", INSTRUMENT_FILES)
def test_vendor_file_recovers_documented_shape_and_source(shared_data: Path, name: str) -> None:
    path = _checked(shared_data, f"instrument-files/{name}")
    truth = json.loads((shared_data / "instrument-files" / f"{name}.json").read_text())
    m = read_measurement(path)
    assert isinstance(m, Measurement)
    n = ast.literal_eval(truth["2Theta"])[0]
    assert m.values.shape == (n,) == ast.literal_eval(truth["intensity"])
    assert m.axis.name == "two_theta" and m.axis.unit == "deg"
    assert np.all(np.diff(m.axis.values) > 0)
    src = truth["metadata"]["source"]
    # the RAW file stores 5-digit wavelengths (Kβ 1.39222) where its JSON quotes the anode table (1.39225)
    tol = 5e-5
    assert m.metadata["anode"] == src["anode_material"]
    assert m.metadata["kalpha1_ang"] == pytest.approx(float(src["kAlpha1"]), abs=tol)
    assert m.metadata["kalpha2_ang"] == pytest.approx(float(src["kAlpha2"]), abs=tol)
    if "kBeta" in src:
        assert m.metadata["kbeta_ang"] == pytest.approx(float(src["kBeta"]), abs=tol)
    if "voltage" in src:
        assert m.metadata["voltage_kV"] == pytest.approx(float(src["voltage"]))
        assert m.metadata["current_mA"] == pytest.approx(float(src["current"]))
    assert m.wavelength_ang == pytest.approx(float(src["kAlpha1"]), abs=tol)
    for key in ("start_time", "instrument_id", "sample_id"):
        if truth["metadata"].get(key):
            assert m.metadata[key] == truth["metadata"][key]
    if "two_theta_range_deg" in truth:
        lo, hi = truth["two_theta_range_deg"]
        assert m.axis.values[0] == pytest.approx(lo) and m.axis.values[-1] == pytest.approx(hi)
        assert np.diff(m.axis.values) == pytest.approx(truth["step_deg"], abs=1e-9)


def test_xrdml_counts_and_attenuation_give_counting_sigma(shared_data: Path) -> None:
    m = read_measurement(shared_data / "instrument-files" / "10_m84325_C_XRR_fast_processed.xrdml")
    # first points: counts 97350 with attenuation 1; point 13 onwards attenuation 188 on counts 831
    assert m.values[0] == pytest.approx(97350.0)
    assert m.uncertainties[0] == pytest.approx(np.sqrt(97350.0))
    assert m.values[12] == pytest.approx(831.0 * 188.0)
    assert m.uncertainties[12] == pytest.approx(188.0 * np.sqrt(831.0))
    assert m.metadata["count_time_s"] == pytest.approx(0.30)
    assert m.uncertainty_kind == "counting"


def test_xrdml_axis_is_equidistant_between_start_and_end(shared_data: Path) -> None:
    m = read_measurement(shared_data / "instrument-files" / "XRD-918-16_10.xrdml")
    assert m.axis.values[0] == pytest.approx(4.00656514)
    assert m.axis.values[-1] == pytest.approx(69.99936587)
    assert np.ptp(np.diff(m.axis.values)) < 1e-9
    assert m.values[:3] == pytest.approx([1305, 1310, 1345])


def test_brml_columns_from_dataviews(shared_data: Path) -> None:
    m = read_measurement(shared_data / "instrument-files" / "23-012-AG_2thomegascan_long.brml")
    # <Datum>1,1,44,18.028,...,3</Datum>: 2θ is column 3 (TwoTheta field), the count the last column
    assert m.axis.values[0] == pytest.approx(44.0) and m.axis.values[-1] == pytest.approx(48.0)
    assert m.values[:4] == pytest.approx([3, 1, 1, 2])


def test_raw4_drives_and_scan(shared_data: Path) -> None:
    m = read_measurement(shared_data / "instrument-files" / "TwoTheta_scan_scrambled.raw")
    truth = json.loads((shared_data / "instrument-files" / "TwoTheta_scan_scrambled.raw.json").read_text())
    assert m.metadata["sample_id"] == truth["metadata"]["sample_id"]
    assert m.metadata["scan_axis"] == truth["scanmotname"]
    assert m.metadata["drives"]["2Theta"] == pytest.approx(10.0)
    assert m.metadata["drives"]["Theta"] == pytest.approx(5.0)
    assert m.axis.values[0] == pytest.approx(10.0)
    # the "scrambled" file holds negative intensities: no counting uncertainty is claimed for it
    assert m.uncertainty_kind == "unknown" and m.uncertainties is None


def test_aif_and_tidy_csv_agree(shared_data: Path) -> None:
    folder = shared_data / "isotherms" / "pygaps_dut"
    aif = read_measurement(_checked(shared_data, "isotherms/pygaps_dut/DUT-8(Zn) EtOH 298K.aif"))
    csv = read_measurement(folder / "DUT-8(Zn)_EtOH_298K.csv")
    assert isinstance(aif, MeasurementSeries) and isinstance(csv, MeasurementSeries)
    assert aif.labels == ("adsorption", "desorption") == csv.labels
    for a, c in zip(aif, csv, strict=True):
        np.testing.assert_allclose(a.axis.values, c.axis.values, rtol=1e-12)
        np.testing.assert_allclose(a.values, c.values, rtol=1e-12)
    ads = aif[0]
    assert ads.conditions["temperature_K"] == pytest.approx(298.0)
    assert ads.metadata["exptl_adsorptive"] == "C2H5OH"
    # README: uptake below 10 mL/g up to 5.70 kPa, 39 mL/g at 6.10 kPa (gate opening)
    below = ads.values[ads.axis.values <= 0.0570 + 1e-9]
    assert np.all(below < 10.0)
    k = int(np.argmin(np.abs(ads.axis.values - 0.061)))
    assert ads.values[k] == pytest.approx(39.44)
    assert ads.metadata["p0_bar"] == pytest.approx(0.077)


def test_mil53_csv_isotherm_branches(shared_data: Path) -> None:
    s = read_measurement(shared_data / "isotherms" / "mil53al_boutin2010_ortiz2012" / "iso_CO2_273K.csv")
    assert isinstance(s, MeasurementSeries)
    assert s.labels[:2] == ("adsorption", "desorption")
    assert all(m.axis.name == "pressure" and m.axis.unit == "bar" for m in s)
    assert s[0].unit.startswith("wt")


def test_gudrun_int01_has_q_axis_and_file_sigma(shared_data: Path) -> None:
    path = _checked(shared_data, "scattering/zif4_xray_fq_gaillac2017/ZIF4glassa_589.int01")
    m = read_measurement(path)
    assert m.axis.name == "q" and m.axis.unit == "1/Å"
    assert m.uncertainty_kind == "file"
    assert m.axis.values[0] == pytest.approx(0.6125)
    assert m.values[0] == pytest.approx(-0.1601631)
    assert m.uncertainties[0] == pytest.approx(0.8743374e-3)
    assert m.source_line == 15


def test_detect_format_on_real_files(shared_data: Path) -> None:
    inst = shared_data / "instrument-files"
    assert detect_format(inst / "XRD-918-16_10.xrdml") == "xrdml"
    assert detect_format(inst / "TwoTheta_scan_powder.rasx") == "rasx"
    assert detect_format(inst / "23-012-AG_2thomegascan_long.brml") == "brml"
    assert detect_format(inst / "TwoTheta_scan_scrambled.raw") == "bruker-raw"
    assert detect_format(shared_data / "isotherms" / "pygaps_dut" / "DUT-8(Zn) EtOH 298K.aif") == "aif"


def test_unsupported_formats_say_so(shared_data: Path) -> None:
    from twin.errors import DataFormatError

    folder = shared_data / "isotherms" / "pygaps_dut"
    with pytest.raises(DataFormatError, match=r"la-133_dut-8_zn_isp_cp_etoh_298k\.DAT: format not supported by this version: BELSORP"):
        read_measurement(folder / "la-133_dut-8_zn_isp_cp_etoh_298k.DAT")
    with pytest.raises(DataFormatError, match=r"CO2 303K\.json: format not supported by this version: JSON"):
        read_measurement(folder / "HKUST-1(Cu) CO2 303K.json")


def test_zif4_folder_reads_as_a_series(shared_data: Path) -> None:
    """The ZIF-4 F(Q) folder: 20 frames (one per temperature, 31 to 589 °C per the data README), licence and
    upstream README skipped. The folder has no conditions log (the temperature is only in the file names)."""
    folder = shared_data / "scattering" / "zif4_xray_fq_gaillac2017"
    for p in sorted(folder.glob("*.int01")):
        _checked(shared_data, f"scattering/zif4_xray_fq_gaillac2017/{p.name}")
    s = read_measurement(folder)
    assert isinstance(s, MeasurementSeries) and s.format == "folder" and len(s) == 20
    temperatures_c = [int(label.removeprefix("ZIF4glassa_").removesuffix(".int01")) for label in s.labels]
    assert temperatures_c[0] == 31 and temperatures_c[-1] == 589 and temperatures_c == sorted(temperatures_c)
    assert list(s.metadata["skipped"]) == ["LICENSE-CC-BY-4.0.txt", "README_upstream.md"]
    assert s.metadata["conditions_log"] is None
    assert all(m.axis.name == "q" and m.n_points == 936 and m.uncertainty_kind == "file" for m in s)
    assert all(m.conditions == {} for m in s)
    assert s[-1].values[0] == pytest.approx(-0.1601631)  # the same first point as ZIF4glassa_589.int01 read alone
    hot = read_measurement(folder, pattern="ZIF4glassa_5*.int01")
    assert len(hot) == 15 and hot.labels[0] == "ZIF4glassa_505.int01"
