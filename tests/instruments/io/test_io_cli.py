"""`twin inspect` and `twin datasets` through the command line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.cli import main


def test_inspect_json_real_xrdml(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(shared_data / "instrument-files" / "XRD-918-16_10.xrdml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "xrdml" and out["points"] == 5027
    assert out["axis"]["name"] == "two_theta" and out["axis"]["unit"] == "deg"
    assert out["axis"]["min"] == pytest.approx(4.00656514) and out["axis"]["max"] == pytest.approx(69.99936587)
    assert out["metadata"]["anode"] == "Cu" and out["wavelength_ang"] == pytest.approx(1.540598)


def test_inspect_text_series_and_broken_file(tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(shared_data / "isotherms" / "pygaps_dut" / "DUT-8(Zn) EtOH 298K.aif")]) == 0
    text = capsys.readouterr().out
    assert "frames        2" in text and "pressure [bar]" in text and "temperature_K" in text
    bad = tmp_path / "broken.xy"
    bad.write_text("1 2\n2 3\n3 oops\n")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.xy, line 3: expected a number in column 2, got 'oops'" in err[0]


def test_inspect_axis_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "raman.txt"
    p.write_text("100 1\n200 2\n300 1\n")
    assert main(["inspect", str(p), "--json", "--axis", "wavenumber"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["axis"] == {"name": "wavenumber", "unit": "cm-1", "min": 100.0, "max": 300.0}


def test_datasets_list_register_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TWIN_DATA_CACHE", str(tmp_path / "cache"))
    assert main(["datasets", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {d["name"] for d in listing["datasets"]}
    assert {"zif4-xray-fq", "pygaps-dut-isotherms", "instrument-files"} <= names
    for d in listing["datasets"]:
        assert d["licence"] and d["description"] and d["files"]
        assert all(len(f["sha256"]) == 64 for f in d["files"])
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.xy").write_text("1 2\n2 3\n")
    assert main(["datasets", "register", "mine", str(folder)]) == 0
    assert main(["datasets", "verify", "mine"]) == 0
    (folder / "a.xy").write_text("1 2\n2 4\n")
    capsys.readouterr()
    assert main(["datasets", "verify", "mine"]) == 2
    assert "a.xy (sha256 differs)" in capsys.readouterr().err
    assert main(["datasets", "fetch", "no-such-set"]) == 2


def test_catalogue_checksums_match_shared_data(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWIN_DATA_CACHE", str(tmp_path))
    monkeypatch.setenv("TWIN_SHARED_DATA", str(shared_data))
    for name in ("zif4-xray-fq", "instrument-files", "pygaps-dut-isotherms"):
        assert main(["datasets", "verify", name]) == 0
