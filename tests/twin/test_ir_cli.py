"""``twin ir kubo`` and ``twin ir bands`` on the command line: JSON output, files, one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest

from twin.cli import main


def test_kubo_json(capsys):
    assert main(["ir", "kubo", "--amplitude", "5 cm-1", "--correlation-time", "0.05 ps", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # κ = Δτ_c = 0.047: fast; FWHM = 2(2πc)Δ̃²τ_c = 0.4709 cm⁻¹
    assert out["regime"] == "fast"
    assert out["fwhm_cm1"] == pytest.approx(0.4709, rel=0.005)


def test_kubo_slow_and_intermediate(capsys, tmp_path):
    assert main(["ir", "kubo", "--amplitude", "5 cm-1", "--correlation-time", "200 ps", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["regime"] == "slow"
    line = tmp_path / "line.csv"
    assert main(["ir", "kubo", "--amplitude", "5 cm-1", "--correlation-time", "1000 fs", "--json",
                 "-o", str(line)]) == 0
    assert json.loads(capsys.readouterr().out)["regime"] == "intermediate"
    assert line.read_text().startswith("offset_cm1,intensity")


@pytest.mark.parametrize("args,message", [
    (["--amplitude", "5 K", "--correlation-time", "1 ps"], "expected a wavenumber"),
    (["--amplitude", "5 cm-1", "--correlation-time", "1 bar"], "expected a time"),
    (["--amplitude", "-5 cm-1", "--correlation-time", "1 ps"], "expected a positive, finite amplitude"),
])
def test_kubo_bad_input_exits_2(capsys, args, message):
    assert main(["ir", "kubo", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bands_bad_inputs_exit_2(capsys, tmp_path, shared_data):
    not_carbon = tmp_path / "flat.csv"
    not_carbon.write_text("Raman shift(cm-1),Intensity(a.u.)\n" + "".join(f"{900 + i},{1.0}\n" for i in range(1200)))
    assert main(["ir", "bands", str(not_carbon), "-o", str(tmp_path / "o1")]) == 2
    assert "no D (1300-1400 cm-1) and G" in capsys.readouterr().err
    go = shared_data / "moisture" / "go_water_futamura2024" / "raman_go.csv"
    assert main(["ir", "bands", str(go), "-o", str(tmp_path / "o2"), "--laser", "5 K"]) == 2
    assert "--laser" in capsys.readouterr().err
