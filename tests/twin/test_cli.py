"""The twin command: help on every subcommand, exit codes 0 / 2 (user error, one line) / 1 (bug)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from twin import cli
from twin.commands import COMMANDS


def _names():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_required_subcommand_exists():
    assert {"run", "observe", "fit", "report", "demo", "materials", "datasets"} <= set(_names())


@pytest.mark.parametrize("name", _names())
def test_every_subcommand_has_real_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: twin {name}") and len(out.splitlines()) >= 4


def test_user_error_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('material = "mil53-al"\n[crystal]\nsize = "30 K"\n', encoding="utf-8")
    code = cli.main(["run", str(bad), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "crystal.size: expected a length" in err


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run"])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_internal_error_exit_1(monkeypatch, capsys):
    from twin.commands import materials

    def boom(args):
        raise RuntimeError("a bug")

    parser_builder = cli.build_parser

    def patched():
        parser = parser_builder()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["materials"].set_defaults(handler=boom)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)
    assert cli.main(["materials"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err
    assert materials in COMMANDS


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "twin.cli", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("twin ")


def test_output_into_a_closed_pipe_ends_quietly():
    """`twin xrd ... --peaks | head -1`: the reader closes the pipe after one line; twin ends with 141 (128 + SIGPIPE)
    and says nothing (no traceback, no "internal error"). ~100 kB of peaks: more than a pipe buffer holds."""
    from pathlib import Path

    cif = Path(__file__).resolve().parents[2] / "datasets" / "structures" / "mil53al_lp.cif"
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "xrd", str(cif), "--peaks", "--two-theta", "3..60",
                             "--wavelength", "0.5 A"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert first.startswith(b"#")
    assert err == ""


def test_pattern_figure_names_the_radiation():
    from twin.commands.xrd import radiation_text

    assert radiation_text([1.5405929, 1.5444274], [1.0, 0.5]) == (
        "Cu Kα1/Kα2 doublet, λ1 = 1.54059 Å, λ2 = 1.54443 Å, I(Kα2)/I(Kα1) = 0.5")
    assert radiation_text([0.7093], [1.0]) == "λ = 0.70930 Å"


def test_shipped_instruments_are_listed_and_shown(capsys):
    import json

    assert cli.main(["instruments", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["instruments"]
    names = {r["name"]: r for r in rows}
    assert {"lab_cuka", "mil53_al_2h"} <= set(names)
    assert names["lab_cuka"]["description"].startswith("A laboratory Bragg–Brentano diffractometer")
    assert cli.main(["instruments", "lab_cuka"]) == 0
    assert 'wavelength = "CuKa"' in capsys.readouterr().out
    assert cli.main(["instruments", "lab-cuka"]) == 2
    assert "no shipped instrument 'lab-cuka'; shipped: lab_cuka" in capsys.readouterr().err
