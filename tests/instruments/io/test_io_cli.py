"""`twin inspect` and `twin datasets` through the command line entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_inspect_zif4_folder_and_pattern(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "scattering" / "zif4_xray_fq_gaillac2017"
    assert main(["inspect", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "folder" and out["frames"] == 20 and out["axis"]["name"] == "q"
    assert out["metadata"]["skipped"] == ["LICENSE-CC-BY-4.0.txt", "README_upstream.md"]
    assert main(["inspect", str(folder), "--pattern", "ZIF4glassa_5*.int01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 15 and out["labels"][0] == "ZIF4glassa_505.int01"
    assert main(["inspect", str(folder), "--pattern", "*.xye"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zif4_xray_fq_gaillac2017: no measurement files matching '*.xye' in the folder" in err[0]
    assert main(["inspect", str(folder / "ZIF4glassa_31.int01"), "--pattern", "*"]) == 2
    assert "--pattern selects files in a folder series" in capsys.readouterr().err


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
    captured = capsys.readouterr()
    assert "a.xy (sha256 differs)" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "mine: 1 of 1 files do not match the catalogue: a.xy (sha256 differs)" in err[0]
    assert main(["datasets", "fetch", "no-such-set"]) == 2


def test_catalogue_checksums_match_shared_data(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWIN_DATA_CACHE", str(tmp_path))
    monkeypatch.setenv("TWIN_SHARED_DATA", str(shared_data))
    for name in ("zif4-xray-fq", "instrument-files", "pygaps-dut-isotherms"):
        assert main(["datasets", "verify", name]) == 0


def _serve(folder: Path) -> tuple[Any, str]:
    """A local HTTP server on 127.0.0.1 serving ``folder`` (no network leaves the machine)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _catalogue_with(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str) -> None:
    from twin.commands import datasets_cmd

    entry = {"name": "local-set", "licence": "CC0-1.0", "description": "test", "files": [{"path": "a.xy", "sha256": sha256, "url": url}]}
    monkeypatch.setattr(datasets_cmd, "load_catalogue", lambda: [entry])
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_datasets_fetch_checksum_and_offline_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import socket

    served = tmp_path / "served"
    served.mkdir()
    (served / "a.xy").write_bytes(b"1 2\n2 3\n")
    good = hashlib.sha256(b"1 2\n2 3\n").hexdigest()
    monkeypatch.setenv("TWIN_DATA_CACHE", str(tmp_path / "cache"))
    server, base = _serve(served)
    try:
        _catalogue_with(monkeypatch, f"{base}/a.xy", "0" * 64)
        assert main(["datasets", "fetch", "local-set"]) == 2
        captured = capfd.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1, captured.err
        assert "local-set: a.xy: checksum mismatch" in err[0] and "Downloading" not in captured.err + captured.out
        assert not (tmp_path / "cache" / "local-set" / "a.xy").exists()  # a file that fails its checksum is not kept
        _catalogue_with(monkeypatch, f"{base}/a.xy", good)
        assert main(["datasets", "fetch", "local-set"]) == 0
        captured = capfd.readouterr()
        assert captured.err == "" and "local-set: 1 files checked (sha256)" in captured.out
        assert main(["datasets", "verify", "local-set"]) == 0
        capfd.readouterr()
    finally:
        server.shutdown()
        server.server_close()
    # offline: nothing listens on the port any more (connection refused, no network needed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    _catalogue_with(monkeypatch, f"http://127.0.0.1:{free_port}/a.xy", good)
    monkeypatch.setenv("TWIN_DATA_CACHE", str(tmp_path / "cache2"))
    assert main(["datasets", "fetch", "local-set"]) == 2
    captured = capfd.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert "local-set: cannot download a.xy (ConnectionError); is there a network?" in err[0]
    assert "Downloading" not in captured.err + captured.out
