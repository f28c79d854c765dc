"""`twin nmr deuterium` in-process: the CSV, the --json tensor of each regime, one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin.cli import main

BASE = ["nmr", "deuterium", "--cq", "170 kHz", "--eta-q", "0", "--orientations", "377", "--points", "512"]


def _run(capsys, *extra):
    capsys.readouterr()
    status = main([*BASE, *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_fast_pi_flip_writes_the_spectrum_and_the_averaged_tensor(tmp_path, capsys):
    csv = tmp_path / "spectrum.csv"
    status, out, _ = _run(capsys, "--motion", "pi-flip", "--angle", "60 deg", "--rate", "1e9 /s", "-o", str(csv),
                          "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary["regime"] == "fast"
    assert summary["effective_cq_kHz"] == pytest.approx(106.25)  # 5/8 · 170 kHz
    assert summary["effective_eta"] == pytest.approx(0.6, abs=1e-6)
    assert summary["horn_splitting_kHz"] == pytest.approx(31.875)  # 3/4 · 106.25 · (1 − 0.6)
    assert csv.read_text().splitlines()[0] == "frequency_Hz,intensity"
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert table.shape == (512, 2)
    assert np.sum(table[:, 1]) * (table[1, 0] - table[0, 0]) == pytest.approx(1.0, abs=0.01)


def test_regimes_and_null_tensor_in_between(capsys):
    status, out, _ = _run(capsys, "--motion", "pi-flip", "--rate", "1e5 1/s", "--json")
    summary = json.loads(out)
    assert status == 0 and summary["regime"] == "intermediate"
    assert summary["effective_cq_kHz"] is None and summary["effective_eta"] is None
    assert summary["horn_splitting_kHz"] is None and summary["echo_intensity"] < 0.5
    status, out, _ = _run(capsys, "--motion", "pi-flip", "--rate", "100 /s", "--json")
    summary = json.loads(out)
    assert summary["regime"] == "slow" and summary["horn_splitting_kHz"] == pytest.approx(127.5)


@pytest.mark.parametrize(("extra", "message"), [
    (("--rate", "-1e3 /s"), r"--rate: expected a non-negative rate"),
    (("--eta-q", "1.5"), r"--eta-q: expected the asymmetry eta_Q, a number in \[0, 1\], got '1.5'"),
    (("--frequency", "-50..50 kHz"), r"--frequency: the window -50..50 kHz is too narrow for C_q = 170 kHz"),
    (("--rate", "1e3 K"), r"--rate: expected a rate such as"),
    (("--motion", "flip"), r"--motion: expected one of rigid, pi-flip, cone, tetrahedral, free-rotation"),
    (("--temperature", "300 K"), r"--temperature: only with --from-fit"),
])
def test_bad_input_exits_2_with_one_line(capsys, extra, message):
    status, _, err = _run(capsys, *extra)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("twin nmr: error: ")
    import re

    assert re.search(message, err)
