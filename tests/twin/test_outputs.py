"""Nothing lost, nothing mixed up: what the commands do with the places they write to (docs/limits.md).

1. ``twin demo`` deletes and replaces only what it wrote (its marker lists it) and refuses a directory it did
   not make; 3. results already in OUT are replaced only with ``--overwrite``; 4. the data-set registry is
   valid TOML for any file name and written atomically; 5. observing again keeps the measured frames a fit
   stored; 6. a fit's files are one set with one run id, the reader checks it, and a fit failing at its
   sample-level step keeps its per-frame table; 7. OUT/report is complete at every instant of a rebuild;
   8. a bad output location is refused before any work starts, by every command that writes.
(2., the lock, is in test_concurrency.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from instruments.series_io import read_observable
from mofcore.outputs import (
    OutputError,
    check_output_dir,
    check_output_file,
    check_run_set,
    output_set,
    read_run_id,
)
from twin import cli
from twin.errors import FitError, TwinError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))

from synthetic_run import make_run  # noqa: E402
from small_runs import co2_ramp_scenario  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
INSTRUMENT = REPO / "datasets" / "instruments" / "lab_cuka.toml"

# 8 × 8 × 8 sites of MIL-53(Al), CO2 ramp through the switch, 7 frames
SCENARIO = co2_ramp_scenario("outputs-test", seed=5)


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch):
    monkeypatch.setenv("TWIN_NO_COMPILATION_CACHE", "1")


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _no_work(monkeypatch) -> None:
    """Any simulation, fit, report or demo stage started fails the test (exit 1 instead of 2)."""
    from twin.engine import run as engine_run

    def started(*args, **kwargs):
        raise AssertionError("work started before the output location was checked")

    monkeypatch.setattr(engine_run, "run_scenario", started)
    monkeypatch.setattr("twin.fit.workflow.run_isotherm_fit", started)
    monkeypatch.setattr("twin.observe.observe", started)
    monkeypatch.setattr("reports.build_report", started)
    monkeypatch.setattr("twin.commands.isotherm.compute_isotherm", started)


# ------------------------------------------------------------------------------- 1. the demo's directory
def test_demo_refuses_a_directory_it_did_not_make_and_deletes_nothing(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    out = tmp_path / "D"
    (out / "measured").mkdir(parents=True)
    (out / "measured" / "mine.xye").write_text("x\n", encoding="utf-8")
    (out / "fit.toml").write_text("# mine\n", encoding="utf-8")
    assert cli.main(["demo", "-o", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"{out}: not empty and not made by `twin demo` (no .twin-demo.json)" in err
    assert (out / "measured" / "mine.xye").read_text(encoding="utf-8") == "x\n"
    assert (out / "fit.toml").read_text(encoding="utf-8") == "# mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["fit.toml", "measured"]  # no lock, no marker left


def _fake_demo(out: Path) -> None:
    """A directory as an earlier demo leaves it, marker included (the stages are not run)."""
    from twin.demo import _Ledger

    (out / "measured").mkdir(parents=True)
    for rel in ("scenario.toml", "instrument.toml", "fit.toml", "trajectory.h5", "measured/frame_0000.xye",
                "measured/conditions_log.csv", "observables/xrd.h5"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(f"demo {rel}\n", encoding="utf-8")
    _Ledger(out, set()).record()


def test_demo_overwrite_replaces_only_its_own_unchanged_files(tmp_path, monkeypatch, capsys):
    from twin.demo import MARKER, demo_files, prepare_demo_dir

    _no_work(monkeypatch)
    out = tmp_path / "D"
    _fake_demo(out)
    assert "measured/frame_0000.xye" in demo_files(out)
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")

    assert cli.main(["demo", "-o", str(out), "--quiet"]) == 2  # an earlier demo: only with --overwrite
    assert "holds an earlier demo; give --overwrite to replace it" in _one_line(capsys.readouterr().err)

    (out / "measured" / "mine.xye").write_text("x\n", encoding="utf-8")  # would join the synthetic series
    with pytest.raises(OutputError, match=r"measured/mine\.xye: not written by `twin demo`; move it out of measured/"):
        prepare_demo_dir(out, overwrite=True)
    (out / "measured" / "mine.xye").unlink()

    (out / "fit.toml").write_text("# edited by the user\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"fit\.toml: changed since `twin demo` wrote it"):
        prepare_demo_dir(out, overwrite=True)
    assert (out / "fit.toml").read_text(encoding="utf-8") == "# edited by the user\n"
    (out / "fit.toml").unlink()

    assert prepare_demo_dir(out, overwrite=True) == {"notes.txt"}
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == [MARKER, "notes.txt"]  # the earlier demo's files and its emptied folders are gone


# ---------------------------------------------------------------------------------- 3. --overwrite
@pytest.mark.parametrize("command", ["run", "fit", "demo"])
def test_overwrite_has_real_help(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--overwrite replace" in out and "refused" in out


def test_run_into_a_directory_holding_a_run_is_refused_without_overwrite(tmp_path, monkeypatch, capsys):
    from twin.engine import run as engine_run

    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "trajectory.h5").write_bytes(b"the earlier run")
    (out / "fit_result.json").write_text("{}", encoding="utf-8")
    calls = []
    monkeypatch.setattr(engine_run, "run_scenario", lambda sc, o, **kw: calls.append(kw) or Path(o) / "trajectory.h5")

    assert cli.main(["run", str(scenario), "-o", str(out)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"{out}: already holds a run (trajectory.h5); give --overwrite to replace it, --resume" in err
    assert (out / "trajectory.h5").read_bytes() == b"the earlier run" and calls == []

    assert cli.main(["run", str(scenario), "-o", str(out), "--resume", "--overwrite"]) == 2
    assert "give one of them" in capsys.readouterr().err

    assert cli.main(["run", str(scenario), "-o", str(out), "--overwrite", "--quiet"]) == 0
    assert len(calls) == 1 and calls[0]["resume"] is False
    err = capsys.readouterr().err
    assert "note: " in err and "fit_result.json came from the run being replaced" in err
    assert cli.main(["run", str(scenario), "-o", str(out), "--resume", "--quiet"]) == 0  # resume stays allowed
    assert calls[-1]["resume"] is True


def test_fit_into_a_directory_holding_a_fit_is_refused_without_overwrite(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fit_result.json").write_text('{"the": "earlier fit"}', encoding="utf-8")
    isotherm = tmp_path / "iso.csv"
    isotherm.write_text("p,n\n1,1\n", encoding="utf-8")
    runs = []

    def fake_fit(*args, **kwargs):
        runs.append(args)
        return {"path": str(out / "fit_result.json"), "parameters": {}, "figures_of_merit": {}, "warnings": []}

    monkeypatch.setattr("twin.fit.workflow.run_isotherm_fit", fake_fit)
    argv = ["fit", "--isotherm", str(isotherm), "--material", "mil53-al", "--guest", "CO2", "--temperature",
            "303 K", "-o", str(out)]
    assert cli.main(argv) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"{out}: already holds a fit result (fit_result.json); give --overwrite to replace it" in err
    assert runs == [] and json.loads((out / "fit_result.json").read_text(encoding="utf-8")) == {"the": "earlier fit"}
    assert cli.main(argv + ["--overwrite"]) == 0 and len(runs) == 1


# ------------------------------------------------------------------------------- 4. the data-set registry
NAMES = ["🧪.xy", 'quo"te.xy', "back\\slash.xy", "ctl\x01\x7f.xy", "tab\tand\nnewline.xy", "ümlaut é.xy"]


def test_registry_is_valid_toml_for_any_file_name(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    for k, name in enumerate(NAMES):
        (folder / name).write_text(f"{k}\n", encoding="utf-8")
    cache = tmp_path / "cache"
    assert cli.main(["datasets", "register", "mine 🧪 \"x\"", str(folder), "--cache", str(cache)]) == 0
    capsys.readouterr()
    registry = tomllib.loads((cache / "registry.toml").read_text(encoding="utf-8"))
    entry = registry["folders"]["mine 🧪 \"x\""]
    assert entry["folder"] == str(folder.resolve()) and sorted(entry["files"]) == sorted(NAMES)
    assert cli.main(["datasets", "list", "--cache", str(cache)]) == 0
    assert cli.main(["datasets", "path", "mine 🧪 \"x\"", "--cache", str(cache)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(folder.resolve())
    assert cli.main(["datasets", "verify", "mine 🧪 \"x\"", "--cache", str(cache)]) == 0
    assert f"{len(NAMES)}/{len(NAMES)} files match" in capsys.readouterr().out


def test_registry_refuses_a_name_toml_cannot_hold_and_is_written_atomically(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.xy").write_text("1\n", encoding="utf-8")
    assert cli.main(["datasets", "register", "good", str(good), "--cache", str(cache)]) == 0
    before = (cache / "registry.toml").read_bytes()

    bad = tmp_path / "bad"
    bad.mkdir()
    try:
        (bad / os.fsdecode(b"not-utf8-\xff.xy")).write_text("1\n", encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 names only")
    capsys.readouterr()
    assert cli.main(["datasets", "register", "bad", str(bad), "--cache", str(cache)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "is not valid UTF-8, so it cannot be recorded in the registry; rename it" in err
    assert (cache / "registry.toml").read_bytes() == before

    def interrupted(*args):
        raise KeyboardInterrupt

    (bad / os.fsdecode(b"not-utf8-\xff.xy")).unlink()
    (bad / "b.xy").write_text("2\n", encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(os, "replace", interrupted)  # Ctrl-C while the new registry is written
        assert cli.main(["datasets", "register", "bad", str(bad), "--cache", str(cache)]) == 130
    assert (cache / "registry.toml").read_bytes() == before
    assert sorted(p.name for p in cache.iterdir()) == ["registry.toml"]


# ------------------------------------------------------------------------------- 5. observe again
@pytest.fixture(scope="module")
def observed_run(tmp_path_factory) -> Path:
    """A run with its XRD series, and measured frames stored beside it as `twin fit` stores them."""
    from instruments.observable import Observable
    from twin.engine.run import run_scenario
    from twin.observe import attach_measured, observe
    from twin.scenario import parse_scenario

    out = tmp_path_factory.mktemp("observed") / "run"
    run_scenario(parse_scenario(SCENARIO), out, show_progress=False)
    path = observe(out, "xrd", INSTRUMENT)
    sim = read_observable(path)
    picks = [1, sim.n_frames - 1]
    measured = Observable(axis=sim.axis, values=100.0 * np.asarray(sim.values)[picks] + 3.0,
                          sigma=np.full((2, len(sim.axis)), 2.0),
                          conditions={k: np.asarray(v)[picks] for k, v in sim.conditions.items()},
                          technique="xrd", quantity="intensity", unit="counts", attrs=sim.attrs,
                          labels=("m1.xye", "m2.xye"), source="measured")
    assert attach_measured(path, measured, strict=True) == path
    return out


def test_observing_again_keeps_the_measured_frames(observed_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(observed_run, out)
    before = read_observable(out / "observables" / "xrd.h5")
    assert cli.main(["observe", str(out), "--xrd", str(INSTRUMENT)]) == 0
    assert "dropped" not in capsys.readouterr().err
    after = read_observable(out / "observables" / "xrd.h5")
    assert after.measured is not None
    np.testing.assert_array_equal(after.measured.values, before.measured.values)
    np.testing.assert_array_equal(after.measured_frame_index, before.measured_frame_index)
    assert after.measured.labels == ("m1.xye", "m2.xye")


def test_observing_on_another_grid_says_the_measured_frames_were_dropped(observed_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(observed_run, out)
    other = tmp_path / "narrow.toml"
    narrow = INSTRUMENT.read_text(encoding="utf-8").replace('two_theta = "5..30 deg"', 'two_theta = "5..20 deg"')
    other.write_text(narrow, encoding="utf-8")
    assert cli.main(["observe", str(out), "--xrd", str(other)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (f"twin observe: note: {out / 'observables' / 'xrd.h5'}: the 2 measured frames stored there were dropped: "
            "their two_theta grid (1251 points, 5..30 deg) differs from the new simulated one (751 points, "
            "5..20 deg)") in err
    assert read_observable(out / "observables" / "xrd.h5").measured is None


# ------------------------------------------------------------------------------- 6. a fit's set of files
def _canned_fit(n: int = 4):
    """What twin.fit.xrd_series.fit_xrd_series returns, for a series of ``n`` frames (no refinement run)."""
    frames = list(range(n))
    series = {"frame": [f"f{k}" for k in frames], "time_s": [10.0 * k for k in frames],
              "pressure_bar": [1.0, 8.0, 8.0, 1.0][:n], "temperature_K": [303.0] * n,
              "weight_fraction": {"np": [0.9, 0.2, 0.1, 0.8][:n], "lp": [0.1, 0.8, 0.9, 0.2][:n]},
              "weight_fraction_esd": {"np": [0.01] * n, "lp": [0.01] * n},
              "refined": {"lp.a": {"value": [6.6] * n, "esd": [0.001] * n, "unit": "Å"}},
              "Rwp": [0.05] * n, "Rexp": [0.05] * n, "chi2_reduced": [1.0] * n}
    result = {"parameters": {"switching_pressure_adsorption": {"value": 4.0, "stderr": 0.5,
                                                               "interval_90": [3.2, 4.8], "unit": "bar"}},
              "figures_of_merit": {"Rwp": 0.05, "chi2_reduced": 1.0},
              "correlations": {"names": ["switching_pressure_adsorption"], "matrix": [[1.0]]},
              "posterior_predictive": [], "series": series, "convergence": {"pattern_level": {}},
              "warnings": [], "model": {"kind": "xrd-series-refinement", "branches": [1, 1, -1, -1][:n]}}
    return result, series


def _xrd_fit(tmp_path: Path, monkeypatch, *, fail: bool = False) -> Path:
    """run_xrd_series_fit into tmp_path/out with the refinement replaced by :func:`_canned_fit`."""
    from twin.fit import xrd_series
    from twin.fit.workflow import run_xrd_series_fit

    result, series = _canned_fit()

    def fit(*args, **kwargs):
        if fail:
            error = FitError("measured: the refined series shows no switching and no single-phase frame to report")
            error.series = series
            raise error
        return json.loads(json.dumps(result)), None

    monkeypatch.setattr(xrd_series, "load_xrd_series", lambda *a, **k: "data")
    monkeypatch.setattr(xrd_series, "fit_xrd_series", fit)
    measured = tmp_path / "measured"
    measured.mkdir(exist_ok=True)
    (measured / "f0.xye").write_text("1 2\n", encoding="utf-8")
    out = tmp_path / "out"
    run_xrd_series_fit(measured, "mil53-al", INSTRUMENT, out)
    return out


SET = ("fit_result.json", "fit_series.csv", "fit_xrd_series.png")


def test_every_file_of_a_fit_carries_one_run_id(tmp_path, monkeypatch):
    out = _xrd_fit(tmp_path, monkeypatch)
    doc = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))
    assert doc["outputs"] == ["fit_series.csv", "fit_xrd_series.png"]
    assert {read_run_id(out / name) for name in SET} == {doc["run_id"]}
    assert (out / "fit_series.csv").read_text(encoding="utf-8").startswith(f"# run_id={doc['run_id']}\n")
    table = pd.read_csv(out / "fit_series.csv", comment="#")
    assert list(table["frame"]) == ["f0", "f1", "f2", "f3"] and "weight_fraction_lp" in table
    check_run_set(out / "fit_result.json", rerun="twin fit")
    assert sorted(p.name for p in out.iterdir()) == sorted(SET)  # no staging directory left


def test_a_fit_interrupted_while_writing_leaves_the_earlier_set(tmp_path, monkeypatch):
    from twin.fit import workflow

    out = _xrd_fit(tmp_path, monkeypatch)
    before = {name: (out / name).read_bytes() for name in SET}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "_plot_series", killed)  # the figure is the last file of the set written
    with pytest.raises(KeyboardInterrupt):
        _xrd_fit(tmp_path, monkeypatch)
    assert {name: (out / name).read_bytes() for name in SET} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(SET)


def test_a_set_mixed_by_an_interrupted_move_is_refused_by_the_reader(tmp_path, monkeypatch):
    from reports import build_report

    out = _xrd_fit(tmp_path, monkeypatch)
    replace, calls = os.replace, []

    def killed_after_the_first_move(src, dst):
        calls.append(dst)
        if ".twin-set-" in str(src) and len([c for c in calls if Path(c).parent == out]) > 1:
            raise KeyboardInterrupt
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_after_the_first_move)
    with pytest.raises(KeyboardInterrupt):
        _xrd_fit(tmp_path, monkeypatch)
    monkeypatch.setattr(os, "replace", replace)
    old_id = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))["run_id"]
    assert read_run_id(out / "fit_series.csv") != old_id  # the new table moved in beside the old result
    with pytest.raises(OutputError, match=r"fit_series\.csv: from run .* but fit_result\.json is from run "
                                          rf"{old_id}: the files were mixed by an interrupted write; run `twin fit"):
        check_run_set(out / "fit_result.json", rerun="twin fit")
    with pytest.raises(FitError, match="mixed by an interrupted write"):
        build_report(out)


def test_a_fit_failing_at_the_sample_level_keeps_the_per_frame_results(tmp_path, monkeypatch):
    with pytest.raises(FitError, match=r"no switching and no single-phase frame to report; the per-frame refinement "
                                       r"is in .*out/fit_series\.csv"):
        _xrd_fit(tmp_path, monkeypatch, fail=True)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["fit_series.csv"]
    table = pd.read_csv(out / "fit_series.csv", comment="#")
    assert list(table["weight_fraction_lp"]) == [0.1, 0.8, 0.9, 0.2]


def test_output_set_moves_nothing_when_the_block_fails(tmp_path):
    (tmp_path / "a.txt").write_text("old a", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with output_set(tmp_path) as staged:
            staged.path("a.txt").write_text("new a", encoding="utf-8")
            raise RuntimeError("half way")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "old a"


# ------------------------------------------------------------------------------- 7. the report swap
def test_the_report_is_complete_at_every_instant_of_a_rebuild(tmp_path, monkeypatch):
    from reports import build_report

    out = make_run(tmp_path, xrd=False, fit=False)
    build_report(out)
    first = (out / "report" / "index.html").read_bytes()
    summary = (out / "report" / "summary.json").read_bytes()
    # an earlier version's report/ is a real directory: the first rebuild turns it into the link atomically
    shutil.copytree(out / "report", tmp_path / "real", symlinks=False)
    os.unlink(out / "report")
    os.rename(tmp_path / "real", out / "report")

    build_report(out)
    assert (out / "report").is_symlink()
    assert json.loads((out / "report" / "summary.json").read_bytes())["title"] == json.loads(summary)["title"]
    renames = []
    with monkeypatch.context() as m:
        for name in ("replace", "rename"):
            m.setattr(os, name, lambda *a, _real=getattr(os, name), _name=name: renames.append(_name) or _real(*a))
        build_report(out)
    n_calls = len(renames)
    assert n_calls >= 2

    for k in range(n_calls):  # the interrupt at each rename of a rebuild in turn, the first one included
        calls = []

        def interrupt_at_k(*args, _real=None, _k=k):
            calls.append(args)
            if len(calls) - 1 == _k:
                raise KeyboardInterrupt
            return _real(*args)

        with monkeypatch.context() as m:
            for name in ("replace", "rename"):
                m.setattr(os, name, lambda *a, _real=getattr(os, name): interrupt_at_k(*a, _real=_real))
            with pytest.raises(KeyboardInterrupt):
                build_report(out)
        page = (out / "report" / "index.html").read_bytes()
        assert page.startswith(first[:200]) and (out / "report" / "summary.json").is_file()
        assert not any(p.name.startswith(".report-") for p in out.iterdir())
    build_report(out)
    assert (out / "report" / "index.html").is_file()
    assert len(list((out / ".twin-reports").iterdir())) == 1  # earlier builds and interrupted ones cleaned up


def test_the_report_survives_an_interrupt_after_the_first_replace(tmp_path, monkeypatch):
    """What the review found: the old report moved aside by one os.replace, the new one moved in by a second,
    and an interrupt between the two left no report/."""
    from reports import build_report

    out = make_run(tmp_path, xrd=False, fit=False)
    build_report(out)
    replace, calls = os.replace, []

    def second_call_raises(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return replace(*args)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", second_call_raises)
        try:
            build_report(out)
        except KeyboardInterrupt:
            pass
    assert (out / "report" / "index.html").is_file() and (out / "report" / "summary.json").is_file()


# ------------------------------------------------------------------------------- 8. bad output locations
def _read_only_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):  # root writes anywhere chmod allows nothing: /sys is read-only
        try:
            probe = candidate / ".probe"
            probe.write_text("x", encoding="utf-8")
            probe.unlink()
        except OSError:
            return candidate
    pytest.skip("no directory here refuses writing (running as root on a writable /sys?)")


COMMANDS = {
    "run": lambda out: ["run", "SCENARIO", "-o", str(out)],
    "observe": lambda out: ["observe", str(out), "--xrd", str(INSTRUMENT)],
    "fit": lambda out: ["fit", "FIT.toml", "-o", str(out)],
    "report": lambda out: ["report", str(out)],
    "demo": lambda out: ["demo", "-o", str(out), "--quiet"],
    "isotherm": lambda out: ["isotherm", "--material", "mil53-al", "--guest", "CO2", "--temperature", "303 K",
                             "-o", str(out)],
}
#: commands whose OUT must exist already (the run they read)
EXISTING = {"observe", "report"}


def _bad(kind: str, command: str, tmp_path: Path) -> tuple[Path, str]:
    """(the -o/OUT path, what the message must say) for a bad location of one kind."""
    existing_file = tmp_path / "a-file"
    existing_file.write_text("x", encoding="utf-8")
    if kind == "existing file":
        if command == "isotherm":
            return tmp_path, "is a directory; -o names a file"
        return existing_file, "exists and is not a directory"
    if kind == "read-only":
        ro = _read_only_dir(tmp_path)
        if command in EXISTING:
            return ro, "cannot write in this directory"
        if command == "isotherm":
            return ro / "out.csv", f"cannot write in {ro}"
        return ro / "out", f"cannot create it in {ro}"
    if kind == "name too long":
        return tmp_path / ("n" * 300), "longer than the file system allows (255)"
    if kind == "under a file":
        if command in EXISTING:
            return existing_file / "out", "not found" if command == "report" else "no trajectory.h5 here"
        return existing_file / ("out.csv" if command == "isotherm" else "out"), "is a file"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["existing file", "read-only", "name too long", "under a file"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_output_location_is_refused_before_any_work(command, kind, tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out, says = _bad(kind, command, tmp_path)
    argv = [str(scenario) if a == "SCENARIO" else a for a in COMMANDS[command](out)]
    assert cli.main(argv) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith(f"twin {command}: error: {out}") or err.startswith(f"twin {command}: error: {out.parent}")
    assert says in err


def test_the_shared_checks_directly(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(OutputError, match="run directory not found"):
        check_output_dir(tmp_path / "missing", must_exist=True, missing="run directory not found")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(OutputError, match="a symbolic link to a missing"):
        check_output_dir(tmp_path / "dangling")
    with pytest.raises(OutputError, match="is a directory; -o names a file such as out.csv"):
        check_output_file(str(tmp_path) + os.sep)
    (tmp_path / "p.png").mkdir()
    with pytest.raises(OutputError, match=r"p\.png: is a directory"):
        check_output_file(tmp_path / "p.csv", beside=(".png",))
    assert issubclass(OutputError, TwinError)



def test_the_lock_is_written_whole_and_released_on_an_exit_that_skips_with_blocks(tmp_path, monkeypatch):
    """The lock appears complete (a record linked in one step: a reader never sees it empty); the console's Ctrl-C
    exit (os._exit, no __exit__ runs) releases what this process holds; without hard links, O_EXCL creation."""
    import errno

    from mofcore import outputs
    from mofcore.outputs import LOCK_NAME, OutputLock, read_lock, release_held_locks

    lock = OutputLock(tmp_path, "twin test").acquire()
    assert read_lock(tmp_path / LOCK_NAME).token == lock.owner.token
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]  # the private record is gone
    release_held_locks()
    assert not (tmp_path / LOCK_NAME).exists() and lock.owner is None

    def no_links(src, dst):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(outputs.os, "link", no_links)
    with OutputLock(tmp_path, "twin test") as fallback:
        assert read_lock(tmp_path / LOCK_NAME).token == fallback.owner.token
    assert not (tmp_path / LOCK_NAME).exists()
