"""Axis headers → (axis, unit): the one table-driven parser, the column reader's output, and the ``axis=`` /
``axis_unit=`` options (issue 16: a ``q_inv_nm`` header was read as Q in Å⁻¹, 10× too large)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from instruments.io import read_measurement
from instruments.io._quantities import UNIT_TABLE, parse_axis_header
from twin.errors import DataFormatError, TwinError, UnitError

# header → (axis, internal unit, unit the header states or None, factor from the file's unit to the internal one)
HEADERS: list[tuple[str, tuple[str, str, str | None, float]]] = [
    ("q_inv_nm", ("q", "1/Å", "1/nm", 0.1)),
    ("Q (1/nm)", ("q", "1/Å", "1/nm", 0.1)),
    ("q_nm-1", ("q", "1/Å", "1/nm", 0.1)),
    ("q (nm^-1)", ("q", "1/Å", "1/nm", 0.1)),
    ("Q (nm⁻¹)", ("q", "1/Å", "1/nm", 0.1)),
    ("Q [1/nm]", ("q", "1/Å", "1/nm", 0.1)),
    ("Q (1/A)", ("q", "1/Å", "1/Å", 1.0)),
    ("q_inv_A", ("q", "1/Å", "1/Å", 1.0)),
    ("q_inv_ang", ("q", "1/Å", "1/Å", 1.0)),
    ("Q [Å⁻¹]", ("q", "1/Å", "1/Å", 1.0)),
    ("q (A^-1)", ("q", "1/Å", "1/Å", 1.0)),
    ("1/nm", ("q", "1/Å", "1/nm", 0.1)),
    ("q", ("q", "1/Å", None, 1.0)),
    ("2theta", ("two_theta", "deg", None, 1.0)),
    ("2Theta (deg)", ("two_theta", "deg", "deg", 1.0)),
    ("two_theta_deg", ("two_theta", "deg", "deg", 1.0)),
    ("2θ (°)", ("two_theta", "deg", "deg", 1.0)),
    ("tth", ("two_theta", "deg", None, 1.0)),
    ("Pos. [°2Th.]", ("two_theta", "deg", "°2θ", 1.0)),
    ("Angle 2Theta", ("two_theta", "deg", None, 1.0)),
    ("d (A)", ("d", "Å", "Å", 1.0)),
    ("d_nm", ("d", "Å", "nm", 10.0)),
    ("d_ang", ("d", "Å", "Å", 1.0)),
    ("d-spacing (nm)", ("d", "Å", "nm", 10.0)),
    ("wavenumber (cm-1)", ("wavenumber", "cm-1", "cm-1", 1.0)),
    ("wavenumber / cm-1", ("wavenumber", "cm-1", "cm-1", 1.0)),
    ("wavenumber_cm1", ("wavenumber", "cm-1", "cm-1", 1.0)),
    ("Raman shift (cm^-1)", ("wavenumber", "cm-1", "cm-1", 1.0)),
    ("shift (cm-1)", ("wavenumber", "cm-1", "cm-1", 1.0)),
    ("ppm", ("shift", "ppm", "ppm", 1.0)),
    ("chemical shift (ppm)", ("shift", "ppm", "ppm", 1.0)),
    ("δ (ppm)", ("shift", "ppm", "ppm", 1.0)),
    ("Hz", ("frequency", "kHz", "Hz", 1e-3)),
    ("kHz", ("frequency", "kHz", "kHz", 1.0)),
    ("frequency (Hz)", ("frequency", "kHz", "Hz", 1e-3)),
    ("frequency_kHz", ("frequency", "kHz", "kHz", 1.0)),
    ("frequency (MHz)", ("frequency", "kHz", "MHz", 1e3)),
    ("energy (eV)", ("energy", "eV", "eV", 1.0)),
    ("energy (keV)", ("energy", "eV", "keV", 1e3)),
]


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=[h for h, _ in HEADERS])
def test_header_table(header: str, expected: tuple[str, str, str | None, float]) -> None:
    found = parse_axis_header(header)
    assert found is not None
    axis, unit, in_file, factor = expected
    assert (found.axis, found.unit, found.unit_in_file) == (axis, unit, in_file)
    assert found.factor == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize("header", ["intensity_counts", "I_a", "F(Q)", "I/I0", "counts", "intensity (a.u.)", "Angle"])
def test_headers_that_name_no_axis(header: str) -> None:
    assert parse_axis_header(header) is None


def test_unit_assumed_only_where_in_doubt() -> None:
    assert parse_axis_header("q").unit_assumed and parse_axis_header("d").unit_assumed  # Å⁻¹ or nm⁻¹? Å or nm?
    assert not parse_axis_header("2theta").unit_assumed and not parse_axis_header("wavenumber").unit_assumed


def test_every_unit_spelling_is_read_back() -> None:
    for row in UNIT_TABLE:
        axis = row.implies or {"angle": "2theta", "length": "d"}[row.kind]
        for spelling in row.spellings:
            found = parse_axis_header(f"{axis} ({spelling})")
            assert found is not None and found.unit_in_file == row.display and found.factor == row.factor, spelling


@pytest.mark.parametrize("header", ["q (1/pm)", "q_nm", "2theta (grad)", "q_inv_foo", "d (bohr)", "frequency (cm)"])
def test_unknown_or_wrong_unit_is_refused(header: str) -> None:
    with pytest.raises(UnitError, match=rf"header '{header.replace('(', '.').replace(')', '.')}': .* accepted: "):
        parse_axis_header(header)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_nm_header_gives_q_in_inverse_angstrom(tmp_path: Path) -> None:
    p = _write(tmp_path, "saxs.dat", "q_inv_nm intensity_counts\n1.0 10\n2.0 20\n5.0 7\n")
    m = read_measurement(p)
    assert (m.axis.name, m.axis.unit) == ("q", "1/Å")
    np.testing.assert_allclose(m.axis.values, [0.1, 0.2, 0.5], rtol=1e-15)  # was [1, 2, 5]: 10× too large
    assert m.metadata["axis_unit_in_file"] == "1/nm" and not m.metadata.get("axis_assumed")
    assert m.unit == "counts" and m.uncertainty_kind == "counting"
    same = read_measurement(_write(tmp_path, "saxs.csv", "Q (1/A),I\n0.1,10\n0.2,20\n0.5,7\n"))
    np.testing.assert_allclose(same.axis.values, m.axis.values, rtol=1e-15)


def test_q_without_unit_is_marked_assumed(tmp_path: Path) -> None:
    m = read_measurement(_write(tmp_path, "q.csv", "q,I\n0.1,1\n0.2,2\n"))
    assert m.axis.unit == "1/Å" and m.metadata["axis_unit_assumed"] is True
    assert "no unit given, 1/Å assumed" in m.metadata["axis_from"]


def test_unknown_unit_in_header_names_file_column_and_forms(tmp_path: Path) -> None:
    p = _write(tmp_path, "odd.csv", "I,q (1/pm)\n1,0.1\n2,0.2\n")
    with pytest.raises(DataFormatError, match=r"odd\.csv, line 1, column 2: header 'q \(1/pm\)': unit '1/pm' is not a "
                                              r"unit of the q axis; accepted: 1/Å \(1/A, .*\); 1/nm \(nm\^-1, .*inv_nm"):
        read_measurement(p)


def test_axis_unit_option_converts_and_is_validated(tmp_path: Path) -> None:
    p = _write(tmp_path, "plain.xy", "1 5\n2 6\n3 7\n")
    m = read_measurement(p, axis="q", axis_unit="nm^-1")
    assert (m.axis.name, m.axis.unit) == ("q", "1/Å") and m.axis.values.tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert "axis_assumed" not in m.metadata
    assert read_measurement(p, axis_unit="1/nm").axis.name == "q"  # the unit alone implies the axis
    assert read_measurement(p, axis="2theta").axis.name == "two_theta"
    with pytest.raises(UnitError, match=r"axis_unit='furlong': not a known unit of the q axis; accepted: 1/Å .*1/nm"):
        read_measurement(p, axis="q", axis_unit="furlong")
    with pytest.raises(UnitError, match=r"axis_unit='nm': not a unit of the q axis; accepted: 1/Å"):
        read_measurement(p, axis="q", axis_unit="nm")
    with pytest.raises(UnitError, match=r"axis='qq': not a known axis; accepted: two_theta \(2theta"):
        read_measurement(p, axis="qq")
    with pytest.raises(UnitError, match=r"axis_unit='parsec': not a known unit; accepted: deg, rad"):
        read_measurement(p, axis_unit="parsec")


def test_axis_unit_option_overrides_the_header_unit(tmp_path: Path) -> None:
    p = _write(tmp_path, "q.csv", "q (1/A),I\n1,1\n2,2\n")
    assert read_measurement(p, axis_unit="1/nm").axis.values.tolist() == pytest.approx([0.1, 0.2])
    # --axis q alone on a header that states the unit keeps the header's unit
    p2 = _write(tmp_path, "q2.csv", "q_inv_nm,I\n1,1\n2,2\n")
    assert read_measurement(p2, axis="q").axis.values.tolist() == pytest.approx([0.1, 0.2])


def test_hdf5_axis_units_use_the_same_table(tmp_path: Path) -> None:
    p = tmp_path / "series.h5"
    with h5py.File(p, "w") as h5:
        h5["intensity"] = np.ones((2, 3))
        h5["q"] = np.array([1.0, 2.0, 3.0])
        h5["q"].attrs["units"] = "nm^-1"
    s = read_measurement(p)
    assert s.items[0].axis.values.tolist() == pytest.approx([0.1, 0.2, 0.3]) and s.items[0].axis.unit == "1/Å"
    with h5py.File(p, "a") as h5:
        h5["q"].attrs["units"] = "1/pm"
    with pytest.raises(DataFormatError, match=r"series\.h5, dataset /q: @units: header 'q \(1/pm\)': unit '1/pm'"):
        read_measurement(p)


def test_twin_observables_file_is_read(tmp_path: Path) -> None:
    from instruments.observable import Axis, Observable
    from instruments.series_io import write_observable

    obs = Observable(axis=Axis(np.linspace(5.0, 30.0, 6), "two_theta", "deg"), values=np.arange(12.0).reshape(2, 6),
                     conditions={"time_s": np.array([0.0, 60.0]), "pressure_bar": np.array([1.0, 5.0])},
                     technique="xrd", attrs=(("wavelength_A", 1.5406),), labels=("t0", "t1"))
    path = write_observable(tmp_path / "observables" / "xrd.h5", obs)
    s = read_measurement(path)
    assert s.format == "twin-observable" and s.labels == ("t0", "t1")
    assert s.items[1].values.tolist() == list(range(6, 12)) and s.items[1].wavelength_ang == pytest.approx(1.5406)
    assert s.items[1].conditions["pressure_Pa"] == pytest.approx(5e5) and s.items[1].conditions["time_s"] == 60.0
    assert isinstance(s.metadata["measured_frames"], int)


def test_unit_errors_are_twin_errors() -> None:
    assert issubclass(UnitError, TwinError)  # the command line prints them as one line and exits 2


def test_options_stating_axis_and_unit_read_past_an_unknown_header_unit(tmp_path: Path) -> None:
    p = _write(tmp_path, "odd.csv", "q (1/pm),I\n1,2\n2,3\n")
    with pytest.raises(DataFormatError, match=r"odd\.csv, line 1, column 1: header 'q \(1/pm\)'"):
        read_measurement(p, axis="q")  # the unit would still come from the header
    m = read_measurement(p, axis="q", axis_unit="1/nm")
    assert m.axis.values.tolist() == pytest.approx([0.1, 0.2]) and m.metadata["axis_from"] == (
        "option axis='q', axis_unit='1/nm'")


def test_headers_split_at_blanks_keep_their_units(tmp_path: Path) -> None:
    m = read_measurement(_write(tmp_path, "a.xy", "2theta (deg) intensity (counts)\n10 5\n11 6\n"))
    assert (m.axis.name, m.quantity, m.unit) == ("two_theta", "intensity", "counts")
    m = read_measurement(_write(tmp_path, "b.dat", "q [1 / nm] I\n1 5\n2 6\n"))
    assert m.axis.values.tolist() == pytest.approx([0.1, 0.2])


def test_commented_header_is_read(tmp_path: Path) -> None:
    # the file with its header commented out: read as Q from nm⁻¹, not assumed to be 2θ
    m = read_measurement(_write(tmp_path, "saxs.dat", "# SAXS run 3\n# q_inv_nm intensity_counts\n1 10\n2 20\n"))
    assert (m.axis.name, m.axis.unit) == ("q", "1/Å") and m.axis.values.tolist() == pytest.approx([0.1, 0.2])
    assert "axis_assumed" not in m.metadata and m.metadata["axis_from"].startswith("header 'q_inv_nm' (line 2")
    plain = read_measurement(_write(tmp_path, "plain.xy", "# sample MIL-53\n5 10\n6 12\n"))
    assert plain.metadata["axis_assumed"] is True  # a comment that is not a header changes nothing


# ------------------------------------------------------------------------------------------ hypothesis --
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from instruments.io._quantities import AXIS_KINDS, UnitRow  # noqa: E402

_FORMS = ("{n} ({u})", "{n} [{u}]", "{n} / {u}", "{n}_{u}", "{N} ({u})", "{n}  (  {u} )")
_NAME_OF_AXIS = {"two_theta": "2theta", "theta": "theta", "q": "q", "d": "d", "r": "r", "wavenumber": "wavenumber",
                 "shift": "chemical shift", "frequency": "frequency", "energy": "energy"}


@st.composite
def header_with_unit(draw: st.DrawFn) -> tuple[str, str, UnitRow]:
    axis = draw(st.sampled_from(sorted(AXIS_KINDS)))
    row = draw(st.sampled_from([r for r in UNIT_TABLE if r.kind == AXIS_KINDS[axis][0]]))
    spelling = draw(st.sampled_from(row.spellings))
    form = draw(st.sampled_from(_FORMS))
    name = _NAME_OF_AXIS[axis]
    if "_" in form:
        name, spelling = name.replace(" ", "_"), spelling.replace(" ", "_")
    return form.format(n=name, N=name.upper(), u=spelling), axis, row


@settings(max_examples=300, deadline=None)
@given(header_with_unit())
def test_every_form_of_every_unit_round_trips(case: tuple[str, str, UnitRow]) -> None:
    header, axis, row = case
    found = parse_axis_header(header)
    assert found is not None, header
    assert found.axis in (axis, "wavenumber") and found.unit_in_file == row.display and found.factor == row.factor


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_any_header_text_gives_an_axis_none_or_a_unit_error(text: str) -> None:
    try:
        found = parse_axis_header(text)
    except UnitError as exc:
        assert "accepted: " in str(exc)
    else:
        assert found is None or found.axis in AXIS_KINDS
