"""Text column reader on files the tests write: sniffing, units, uncertainties, isotherms, errors by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instruments.io import read_measurement
from instruments.measurement import MeasurementSeries
from twin.errors import DataFormatError


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_xy_counts_comments_and_wavelength(tmp_path: Path) -> None:
    p = _write(tmp_path, "run.xy", "# sample MIL-53\n# wavelength: 1.5406 A\n# temperature: 30 °C\n5.0 100\n5.02 121\n5.04 0\n")
    m = read_measurement(p)
    assert m.axis.name == "two_theta" and m.metadata["axis_assumed"] is True
    assert m.wavelength_ang == pytest.approx(1.5406)
    assert m.conditions["temperature_K"] == pytest.approx(303.15)
    assert m.uncertainty_kind == "counting"
    assert m.uncertainties == pytest.approx([10.0, 11.0, 1.0])
    assert m.source_line == 4


def test_xye_sigma_and_descending_axis_reversed(tmp_path: Path) -> None:
    p = _write(tmp_path, "a.xye", "3 30 3\n2 20 2\n1 10 1\n")
    m = read_measurement(p)
    assert m.axis.values.tolist() == [1.0, 2.0, 3.0]
    assert m.values.tolist() == [10.0, 20.0, 30.0]
    assert m.uncertainties.tolist() == [1.0, 2.0, 3.0] and m.uncertainty_kind == "file"


def test_csv_header_units_select_axis(tmp_path: Path) -> None:
    p = _write(tmp_path, "ir.csv", "wavenumber (cm-1),absorbance\n4000,0.1\n3999,0.2\n3998,0.3\n")
    m = read_measurement(p)
    assert (m.axis.name, m.axis.unit, m.technique) == ("wavenumber", "cm-1", "ir")
    assert m.axis.values[0] == 3998.0 and m.uncertainties is None
    p2 = _write(tmp_path, "q.csv", "Q (nm-1);I\n10;1\n20;2\n")
    m2 = read_measurement(p2)
    assert m2.axis.name == "q" and m2.axis.values.tolist() == pytest.approx([1.0, 2.0])


def test_column_choice_by_name_and_number(tmp_path: Path) -> None:
    p = _write(tmp_path, "multi.dat", "tth\tI_a\tI_b\n1\t5\t7\n2\t6\t8\n")
    assert read_measurement(p, y_column="I_b").values.tolist() == [7.0, 8.0]
    assert read_measurement(p, y_column=1).values.tolist() == [5.0, 6.0]
    with pytest.raises(DataFormatError, match=r"multi\.dat: y_column='nope': no such column"):
        read_measurement(p, y_column="nope")


def test_isotherm_csv_with_branches(tmp_path: Path) -> None:
    text = "branch,pressure_kPa,uptake_mmol_per_g\nadsorption,10,1\nadsorption,20,2\ndesorption,15,2.5\n"
    s = read_measurement(_write(tmp_path, "iso.csv", text))
    assert isinstance(s, MeasurementSeries) and s.labels == ("adsorption", "desorption")
    assert s[0].axis.values.tolist() == pytest.approx([0.1, 0.2])
    assert s[1].source_line == 4


@pytest.mark.parametrize(("ads", "des"), [("ads", "des"), ("ADS", "Des"), ("Adsorption", "DESORPTION"), (" adsorption ", "desorption")])
def test_isotherm_branch_labels_normalised(tmp_path: Path, ads: str, des: str) -> None:
    text = f"branch,pressure_bar,uptake_mmol_per_g\n{ads},0.1,1\nads,0.2,2\n{des},0.15,2.5\ndesorption,0.05,1.5\n"
    s = read_measurement(_write(tmp_path, "iso.csv", text))
    assert s.labels == ("adsorption", "desorption")
    assert [m.metadata["branch"] for m in s] == ["adsorption", "desorption"]
    assert s[0].values.tolist() == [1.0, 2.0] and s[1].values.tolist() == [2.5, 1.5]


def test_isotherm_unknown_branch_refused(tmp_path: Path) -> None:
    text = "branch,pressure_bar,uptake_mmol_per_g\nads,0.1,1\nscan2,0.2,2\n"
    with pytest.raises(DataFormatError, match=r"iso\.csv, line 3: branch 'scan2' in column 1 is not an isotherm branch "
                                              r"\(expected adsorption/ads or desorption/des, any case\)"):
        read_measurement(_write(tmp_path, "iso.csv", text))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"empty\.xy, byte 0: the file is empty"),
        ("# only a comment\n", r"empty\.xy, line 1: no data rows"),
        ("1 2\n2 nan\n", r"empty\.xy, line 2: expected a number in column 2, got 'nan'"),
        ("1 2\n2 1e400\n", r"empty\.xy, line 2: a number in column 2 '1e400' is out of the floating-point range"),
        ("1 2\n3 4\n2 5\n", r"empty\.xy, line 3: the two_theta axis \(column 1\) is not monotonic: 2 follows 3 \(expected strictly increasing"),
        ("1 2\n2 2\n3\n", r"empty\.xy, line 3: expected 2 columns like line 1, got 1"),
        ("1 2 -1\n2 3 1\n", r"empty\.xy, line 1: negative uncertainty -1 in column 3$"),
        ("1 2\n1 3\n", r"empty\.xy, line 2: the two_theta axis \(column 1\) has a duplicate axis value 1 \(the same"),
        ("3 2\n2 3\n2 4\n", r"empty\.xy, line 3: the two_theta axis \(column 1\) has a duplicate axis value 2 \(the same"),
        ("1.5 2\n1.5 3\n2 4\n", r"empty\.xy, line 2: the two_theta axis \(column 1\) has a duplicate axis value 1\.5 "),
        ("170 2\n190 3\n", r"empty\.xy, line 2: 2θ value 190 deg in column 1 is outside \(0, 180\) deg; pass axis="),
        ("0 2\n10 3\n", r"empty\.xy, line 1: 2θ value 0 deg in column 1 is outside \(0, 180\) deg"),
        ("-5 2\n10 3\n", r"empty\.xy, line 1: 2θ value -5 deg"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    p = _write(tmp_path, "empty.xy", text)
    with pytest.raises(DataFormatError, match=match):
        read_measurement(p, **({"sigma_column": 2} if "-1" in text else {}))


def test_numbers_in_messages_are_plain(tmp_path: Path) -> None:
    """Messages show 2, 12.02 — never numpy reprs such as np.float64(2.0)."""
    cases = ["1 2\n3 4\n2 5\n", "1 2\n1 3\n", "1 -2\n2 3\n"]
    for k, text in enumerate(cases):
        with pytest.raises(DataFormatError) as info:
            read_measurement(_write(tmp_path, f"n{k}.xy", text), **({"counts": True} if "-2" in text else {}))
        assert "np." not in str(info.value) and "float64" not in str(info.value), str(info.value)
    with pytest.raises(DataFormatError, match=r"n9\.xy, line 1: negative count -2 \(counts=True\)$"):
        read_measurement(_write(tmp_path, "n9.xy", "1 -2\n2 3\n"), counts=True)


def test_two_theta_range_applies_to_2theta_only(tmp_path: Path) -> None:
    # a header naming 2θ is checked; a wavenumber axis beyond 180 is not 2θ and reads
    with pytest.raises(DataFormatError, match=r"h\.csv, line 3: 2θ value 181 deg in column 1 is outside \(0, 180\) deg$"):
        read_measurement(_write(tmp_path, "h.csv", "2theta (deg),intensity\n179,2\n181,3\n"))
    m = read_measurement(_write(tmp_path, "ir.csv", "wavenumber (cm-1),absorbance\n400,0.1\n4000,0.2\n"))
    assert m.axis.name == "wavenumber" and m.axis.values.tolist() == [400.0, 4000.0]
    m = read_measurement(_write(tmp_path, "raman.txt", "100 1\n2000 2\n"), axis="wavenumber")
    assert m.axis.values.tolist() == [100.0, 2000.0]


def test_binary_content_and_utf16(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"b\.xy, byte 3: binary content"):
        read_measurement(_write(tmp_path, "b.xy", b"1 2\x00\n"))
    m = read_measurement(_write(tmp_path, "u.xy", "1 2\n2 3\n".encode("utf-16")))
    assert m.values.tolist() == [2.0, 3.0]
    latin = read_measurement(_write(tmp_path, "l.csv", "2θ (°),counts\n1,2\n2,3\n".encode("cp1252", errors="replace")))
    assert latin.n_points == 2


def test_missing_file() -> None:
    with pytest.raises(DataFormatError, match=r"nowhere\.xy: no such file"):
        read_measurement(Path("nowhere.xy"))


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="do not apply"):
        read_measurement(_write(tmp_path, "a.xy", "1 2\n2 3\n"), procno=1)


def test_round_trip_written_numbers(tmp_path: Path) -> None:
    x = np.linspace(5.0, 50.0, 200)
    y = 1000.0 * np.exp(-0.5 * ((x - 20.0) / 0.1) ** 2) + 10.0
    np.savetxt(tmp_path / "rt.xy", np.column_stack([x, y]), header="2theta intensity", comments="# ")
    m = read_measurement(tmp_path / "rt.xy", counts=False)
    np.testing.assert_allclose(m.axis.values, x, rtol=1e-15)
    np.testing.assert_allclose(m.values, y, rtol=1e-15)
