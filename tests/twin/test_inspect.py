"""`twin inspect`: --axis/--axis-unit, the value range, --plot and -o CSV, observables files and the stderr notices
(issue 16)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from instruments.io import read_measurement
from twin.cli import main


def _xy(tmp_path: Path, name: str = "scan.xy", text: str = "5 10\n6 12\n7 9\n") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_axis_and_axis_unit_override_and_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path)
    assert main(["inspect", str(p), "--json", "--axis", "q", "--axis-unit", "1/nm"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["axis"] == {"name": "q", "unit": "1/Å", "min": 0.5, "max": 0.7}
    assert captured.err == ""  # nothing was assumed


def test_nm_header_is_converted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path, "saxs.dat", "q_inv_nm intensity_counts\n1 5\n2 7\n")
    assert main(["inspect", str(p), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["axis"] == {"name": "q", "unit": "1/Å", "min": 0.1, "max": 0.2}


def test_assumed_axis_is_said_on_stderr_every_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path)
    for _ in range(2):
        assert main(["inspect", str(p)]) == 0
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"twin inspect: note: {p}: no header names the axis; read as 2θ (deg), an assumption "
                       "(give --axis and --axis-unit to state it)"]


def test_notice_in_a_subprocess(tmp_path: Path) -> None:
    p = _xy(tmp_path)
    run = subprocess.run([sys.executable, "-m", "twin.cli", "inspect", str(p), "--json"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["axis"]["name"] == "two_theta"
    assert "no header names the axis; read as 2θ (deg), an assumption" in run.stderr


@pytest.mark.parametrize(("option", "match"), [
    (["--axis-unit", "furlong"], "--axis-unit 'furlong': not a known unit; accepted: deg, rad"),
    (["--axis", "q", "--axis-unit", "deg"], "--axis-unit 'deg': not a unit of the q axis; accepted: 1/Å"),
    (["--axis", "banana"], "--axis 'banana': not a known axis; accepted: two_theta"),
])
def test_bad_axis_options_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str],
                                               match: str) -> None:
    assert main(["inspect", str(_xy(tmp_path)), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_unknown_header_unit_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path, "odd.csv", "q (1/pm),I\n1,2\n2,3\n")
    assert main(["inspect", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "odd.csv, line 1, column 1: header 'q (1/pm)': unit '1/pm'" in err[0]


def test_axis_option_on_a_format_that_states_its_axis_is_refused(shared_data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "instrument-files" / "XRD-918-16_10.xrdml"
    assert main(["inspect", str(path), "--axis", "q"]) == 2
    assert "--axis: states the axis of a text column file" in capsys.readouterr().err


def test_value_range_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path, "ir.csv", "wavenumber (cm-1),absorbance\n4000,0.25\n3999,-0.5\n3998,1.5\n")
    assert main(["inspect", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"min": -0.5, "max": 1.5, "negative": 1}
    assert main(["inspect", str(p)]) == 0
    assert "  values        absorbance [arb.]  -0.5 .. 1.5  (1 negative)" in capsys.readouterr().out


def _raw4_negative(path: Path) -> Path:
    preamble = b"RAW4.00".ljust(61, b"\x00")
    header = bytearray(160)
    struct.pack_into("<dd", header, 72, 10.0, 0.5)
    struct.pack_into("<I", header, 88, 3)
    struct.pack_into("<II", header, 136, 4, 0)
    path.write_bytes(preamble + bytes(header) + np.array([4.0, -2.0, 6.0], dtype="<f4").tobytes())
    return path


def test_negative_counts_are_said_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _raw4_negative(tmp_path / "bgsub.raw")
    assert main(["inspect", str(p), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["values"] == {"min": -2.0, "max": 6.0, "negative": 1}
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"twin inspect: note: {p}: warning: 1 of 3 intensities are negative")


def test_csv_export_round_trip_and_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path, "saxs.dat", "# wavelength: 1.5406 A\nq_inv_nm intensity_counts\n1 5\n2 7\n3 4\n")
    out = tmp_path / "export" / "saxs.csv"
    assert main(["inspect", str(p), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert "q (1/Å),intensity_counts (counts),sigma (counts)\n" in text and "# wavelength: 1.5406 A\n" in text
    again, original = read_measurement(out), read_measurement(p)
    assert (again.axis.name, again.axis.unit, again.unit) == ("q", "1/Å", "counts")
    np.testing.assert_allclose(again.axis.values, original.axis.values, rtol=1e-9)
    np.testing.assert_allclose(again.values, original.values, rtol=1e-9)
    np.testing.assert_allclose(again.uncertainties, original.uncertainties, rtol=1e-9)
    assert again.wavelength_ang == pytest.approx(1.5406)
    before = out.read_bytes()
    assert main(["inspect", str(p), "-o", str(out)]) == 2  # an existing file is refused ...
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}: exists; give --overwrite to replace it" in err[0]
    assert out.read_bytes() == before
    assert main(["inspect", str(p), "-o", str(out), "--overwrite"]) == 0  # ... unless asked


def test_plot_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _xy(tmp_path)
    png = tmp_path / "scan.png"
    assert main(["inspect", str(p), "--plot", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["written"] == [str(png)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["inspect", str(p), "--plot", str(png)]) == 2


def test_plot_labels_axes_with_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[tuple[str, str]] = []
    real_close = plt.close

    def spy(fig=None):  # noqa: ANN001 - matplotlib's signature
        if fig is not None and hasattr(fig, "axes"):
            labels.extend((ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes)
        return real_close(fig)

    monkeypatch.setattr(plt, "close", spy)
    p = _xy(tmp_path, "ir.csv", "wavenumber (cm-1),absorbance (a.u.)\n4000,0.25\n3999,0.5\n")
    assert main(["inspect", str(p), "--plot", str(tmp_path / "ir.png")]) == 0
    assert labels == [("wavenumber (cm-1)", "absorbance (a.u.)")]


def test_observables_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from instruments.observable import Axis, Observable
    from instruments.series_io import write_observable

    obs = Observable(axis=Axis(np.linspace(5.0, 30.0, 26), "two_theta", "deg"),
                     values=np.vstack([np.linspace(0.0, 1.0, 26), np.linspace(1.0, 3.0, 26)]),
                     conditions={"time_s": np.array([0.0, 60.0])}, technique="xrd", labels=("t0", "t1"))
    path = write_observable(tmp_path / "OUT" / "observables" / "xrd.h5", obs)
    csv_path = tmp_path / "xrd.csv"
    assert main(["inspect", str(path), "--json", "-o", str(csv_path), "--plot", str(tmp_path / "xrd.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "twin-observable" and out["frames"] == 2 and out["labels"] == ["t0", "t1"]
    assert out["axis"] == {"name": "two_theta", "unit": "deg", "min": 5.0, "max": 30.0}
    assert out["values"] == {"min": 0.0, "max": 3.0, "negative": 0}
    lines = csv_path.read_text().splitlines()
    assert "two_theta (deg),intensity t0 (arb.),intensity t1 (arb.)" in lines
    assert "# frame t1: time_s=60" in lines
