"""What a reader assumed or warns about reaches the user: negative counts in a Bruker RAW file, the metadata the
readers record, and the one stderr line per read that the command line prints (issue 16)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from instruments.io import on_read, read_measurement
from twin.commands._common import read_notices, read_notices_on_stderr


def _raw4(intensities: list[float], start: float = 10.0, step: float = 0.02) -> bytes:
    """A minimal Bruker RAW v4 file as :mod:`instruments.io.vendor_xrd` documents it: the 61-byte preamble, then
    one range (kind 160: a 160-byte header with start, step, steps and datum size, no drive records) whose data
    records are one float32 each."""
    preamble = b"RAW4.00".ljust(12, b"\x00") + b"01/02/2024".ljust(12, b"\x00") + b"12:00:00".ljust(12, b"\x00")
    preamble = preamble.ljust(61, b"\x00")
    header = bytearray(160)
    struct.pack_into("<II", header, 0, 160, 160)
    header[32:36] = b"line"
    struct.pack_into("<dd", header, 72, start, step)
    struct.pack_into("<I", header, 88, len(intensities))
    struct.pack_into("<II", header, 136, 4, 0)
    return preamble + bytes(header) + np.asarray(intensities, dtype="<f4").tobytes()


def test_raw_with_non_negative_counts_has_no_warning(tmp_path: Path) -> None:
    p = tmp_path / "ok.raw"
    p.write_bytes(_raw4([5.0, 9.0, 4.0]))
    m = read_measurement(p)
    assert m.axis.values.tolist() == pytest.approx([10.0, 10.02, 10.04]) and m.values.tolist() == [5.0, 9.0, 4.0]
    assert m.uncertainty_kind == "counting" and "warnings" not in m.metadata
    assert read_notices(m) == []


def test_raw_negative_count_is_read_with_a_warning(tmp_path: Path) -> None:
    # RAW4 also holds processed (background-subtracted) scans, so the file is read, but never silently
    p = tmp_path / "bgsub.raw"
    p.write_bytes(_raw4([5.0, -3.0, 4.0, -7.5]))
    m = read_measurement(p)
    assert m.values.tolist() == [5.0, -3.0, 4.0, -7.5]
    assert m.uncertainties is None and m.uncertainty_kind == "unknown"  # no √N for values that are not counts
    assert m.metadata["negative_intensities"] == 2
    (warning,) = m.metadata["warnings"]
    assert warning.startswith("2 of 4 intensities are negative (the first, -3, at byte 225; the lowest -7.5)")
    assert read_notices(m) == [f"{p}: warning: {warning}"]


def test_shared_raw_file_warns_about_its_negative_intensities(shared_data: Path) -> None:
    m = read_measurement(shared_data / "instrument-files" / "TwoTheta_scan_scrambled.raw")
    assert m.metadata["negative_intensities"] == int(np.count_nonzero(np.asarray(m.values) < 0)) > 0
    assert "raw counts cannot be negative" in m.metadata["warnings"][0]


def test_assumed_axis_notice_and_listener_sees_only_the_outer_read(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        (folder / f"f{k}.xy").write_text(f"5 {k + 1}\n6 {k + 2}\n")
    seen = []
    with on_read(seen.append):
        series = read_measurement(folder)
    assert seen == [series]  # the folder once, not once per frame
    assert read_notices(series) == [
        f"{folder}: 3 of 3 frames: no header names the axis; read as 2θ (deg), an assumption (a header such as "
        '"2theta (deg)" or "q (1/nm)" in the file states it)'
    ]
    read_measurement(folder)  # outside the block: nobody is told
    assert len(seen) == 1


def test_notice_reaches_stderr_through_library_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # twin observe/fit read measured files deep inside the library (a technique's align); the notice still comes
    from instruments.xrd.technique import align_xrd

    folder = tmp_path / "series"
    folder.mkdir()
    for k in range(2):
        (folder / f"scan_{k}.xy").write_text(f"10 {k + 1}\n10.5 {k + 3}\n11 {k + 2}\n")
    with read_notices_on_stderr("observe"):
        align_xrd(folder, wavelength_A=1.5406)
        align_xrd(folder, wavelength_A=1.5406)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2  # every time, one line per read
    assert err[0].startswith(f"twin observe: note: {folder}: 2 of 2 frames: no header names the axis; read as 2θ (deg)")


def test_unit_assumed_notice(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text("q,I\n0.1,1\n0.2,2\n")
    (line,) = read_notices(read_measurement(p), hint="give --axis-unit")
    assert line == f"{p}: the header names the q axis but not its unit; 1/Å assumed (give --axis-unit)"
