"""Checkpoints by default and what an interrupted run says.

A run is checkpointed every 10 min of wall time and at the end of every protocol segment unless told
otherwise; killed after a checkpoint it resumes bit for bit, killed before its first one `twin run --resume`,
`twin analyze` and the report loader all say the same thing: it was interrupted before its first checkpoint and
must be started again, with the command. Progress reaches the caller through a plain callback.

One tiny scenario (8 × 8 × 8 sites of MIL-53(Al), noise, three segments: hold, ramp through the switch, hold;
12 frames, segments ending at frames 3 and 8), run once per module as the reference.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from twin import cli
from twin.analysis import interrupted_run_message
from twin.commands.analyze import analyze_trajectory
from twin.engine.run import CHECKPOINT_NAME, DEFAULT_CHECKPOINT_EVERY_S, TRAJECTORY_NAME, Prepared, run_scenario
from twin.errors import DataFormatError, ScenarioError
from twin.scenario import load_scenario
from twin.trajectory import Trajectory, load_checkpoint, partial_path

SCENARIO = """\
name = "tiny-segments"
material = "mil53-al"
seed = 11

[crystal]
shape = "cuboid"
size_cells = [8, 8, 8]

[heterogeneity]
defect_concentration = 0.05

[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "0.2 bar"

[[protocol.segments]]
type = "hold"
duration = "30 s"

[[protocol.segments]]
type = "ramp"
pressure = "16 bar"
duration = "50 s"

[[protocol.segments]]
type = "hold"
duration = "30 s"

[numerics]
frame_interval = "10 s"

[outputs]
fields = ["eta", "loading"]
field_stride = 1
"""
N_FRAMES = 12
SEGMENT_ENDS = {3, 8}  # t = 30 s and 80 s; the last segment ends with the run
NOT_RESUMABLE = "interrupted before its first checkpoint, so it cannot be resumed and must be started again"


class Interrupt(Exception):
    """Stands for a kill: raised from the progress callback inside the run loop."""


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch):
    """`twin.cli.main` would point JAX's persistent cache at the user's folder."""
    monkeypatch.setenv("TWIN_NO_COMPILATION_CACHE", "1")


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "segments.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(scenario_path, tmp_path_factory) -> Path:
    return run_scenario(load_scenario(scenario_path), tmp_path_factory.mktemp("reference"), show_progress=False)


def _contents(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with Trajectory(path) as traj:
        assert traj.complete and traj.n_frames == N_FRAMES
        out["time_s"] = traj.time_s
        out["partial_pressure_Pa"] = traj.partial_pressure_Pa
        for name in traj.summary_names:
            out[f"summary/{name}"] = traj.summary(name)
        for name in traj.field_names:
            out[f"field/{name}"] = np.stack([traj.field(name, int(f)) for f in traj.field_frames])
    return out


def _assert_bit_identical(a: Path, b: Path) -> None:
    ca, cb = _contents(a), _contents(b)
    assert ca.keys() == cb.keys()
    for name in ca:
        assert ca[name].dtype == cb[name].dtype and ca[name].shape == cb[name].shape, name
        assert np.array_equal(ca[name], cb[name], equal_nan=ca[name].dtype.kind == "f"), name


def _interrupt_at(frames_done: int, calls: list | None = None):
    """A progress callback that records its calls and 'kills' the run once ``frames_done`` frames are written."""

    def on_progress(done, total, time_s):
        if calls is not None:
            calls.append((done, total, time_s))
        if done == frames_done:
            raise Interrupt

    return on_progress


def test_segment_ends_are_checkpoint_frames(scenario_path):
    prep = Prepared(load_scenario(scenario_path))
    assert prep.n_frames == N_FRAMES and prep.segment_end_frames == SEGMENT_ENDS
    assert DEFAULT_CHECKPOINT_EVERY_S == 600.0


def test_progress_callback_sees_every_frame(scenario_path, reference, tmp_path):
    calls = []
    run_scenario(load_scenario(scenario_path), tmp_path, on_progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(range(N_FRAMES + 1))
    assert {c[1] for c in calls} == {N_FRAMES}
    assert calls[-1][2] == pytest.approx(110.0) and calls[1][2] == 0.0
    assert not (tmp_path / CHECKPOINT_NAME).exists()  # removed once the run is complete


def test_default_run_killed_after_a_segment_end_resumes_bit_for_bit(scenario_path, reference, tmp_path):
    sc = load_scenario(scenario_path)
    with pytest.raises(Interrupt):  # killed with frames 0..5 written; the last checkpoint is the frame-3 one
        run_scenario(sc, tmp_path, on_progress=_interrupt_at(6))
    _, meta = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert meta["n_frames"] == 3 and meta["time_s"] == pytest.approx(30.0)
    assert partial_path(tmp_path / TRAJECTORY_NAME).is_file() and not (tmp_path / TRAJECTORY_NAME).exists()

    message = interrupted_run_message(tmp_path)
    assert f"twin run {scenario_path.resolve()} -o {tmp_path} --resume" in message
    with pytest.raises(DataFormatError, match=re.escape(message)):
        analyze_trajectory(tmp_path)

    calls = []
    final = run_scenario(sc, tmp_path, resume=True, on_progress=lambda *a: calls.append(a))
    assert calls[0][0] == 3 and calls[-1][0] == N_FRAMES  # a resumed run starts its progress at the checkpoint
    assert final == tmp_path / TRAJECTORY_NAME and not (tmp_path / CHECKPOINT_NAME).exists()
    _assert_bit_identical(reference, final)


def test_wall_time_checkpoints(scenario_path, tmp_path):
    """A wall-time interval shorter than a frame checkpoints every frame, segment ends or not."""
    with pytest.raises(Interrupt):
        run_scenario(load_scenario(scenario_path), tmp_path, on_progress=_interrupt_at(3),
                     checkpoint_every_s=1e-9, checkpoint_segment_ends=False)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)[1]["n_frames"] == 2


def test_without_a_checkpoint_every_message_says_start_again(scenario_path, tmp_path, capsys):
    sc = load_scenario(scenario_path)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"stale")  # an earlier run's: removed when the new run starts
    with pytest.raises(Interrupt):
        run_scenario(sc, tmp_path, on_progress=_interrupt_at(6), checkpoint_every_s=None,
                     checkpoint_segment_ends=False)
    assert partial_path(tmp_path / TRAJECTORY_NAME).is_file() and not (tmp_path / CHECKPOINT_NAME).exists()

    command = f"`twin run {scenario_path.resolve()} -o {tmp_path}`"
    message = interrupted_run_message(tmp_path)
    assert NOT_RESUMABLE in message and command in message and "--resume" not in message
    pinned = re.escape(f"{NOT_RESUMABLE}: {command}")
    with pytest.raises(ScenarioError, match=pinned):
        run_scenario(sc, tmp_path, resume=True, show_progress=False)
    with pytest.raises(DataFormatError, match=pinned):
        analyze_trajectory(tmp_path)
    from reports.run_data import load_run  # the report loader says it too

    with pytest.raises(DataFormatError, match=pinned):
        load_run(tmp_path)

    # the command line says the same, as one line with exit status 2
    assert cli.main(["run", str(scenario_path), "-o", str(tmp_path), "--resume", "--quiet"]) == 2
    run_err = capsys.readouterr().err
    assert cli.main(["analyze", str(tmp_path)]) == 2
    analyze_err = capsys.readouterr().err
    for err in (run_err, analyze_err):
        assert err.count("\n") == 1 and f"{NOT_RESUMABLE}: {command}" in err
    assert run_err.split(": nothing to resume: ")[1] == analyze_err.split(": no finished trajectory to analyse: ")[1]

    # and the command it gives works
    assert cli.main(["run", str(scenario_path), "-o", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / TRAJECTORY_NAME).is_file() and not partial_path(tmp_path / TRAJECTORY_NAME).exists()


def test_resume_with_nothing_there_says_so(scenario_path, tmp_path):
    with pytest.raises(ScenarioError, match=r"nothing to resume \(no trajectory.h5.partial: no run was started "
                                            r"there\); run it without --resume: `twin run "):
        run_scenario(load_scenario(scenario_path), tmp_path, resume=True, show_progress=False)


def test_cli_checkpoint_option(scenario_path, tmp_path, monkeypatch):
    from twin.engine import run as engine_run

    seen = []
    monkeypatch.setattr(engine_run, "run_scenario", lambda sc, out, **kw: seen.append(kw) or out / TRAJECTORY_NAME)
    for extra in ([], ["--checkpoint-every", "2.5"], ["--checkpoint-every", "off"], ["--checkpoint-every", "0"]):
        assert cli.main(["run", str(scenario_path), "-o", str(tmp_path), "--quiet", *extra]) == 0
    assert [(kw["checkpoint_every_s"], kw["checkpoint_segment_ends"]) for kw in seen] == [
        (600.0, True), (150.0, True), (None, False), (None, False)]
    assert all(callable(kw["on_progress"]) for kw in seen)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(scenario_path), "--checkpoint-every", "-1"])
    assert info.value.code == 2


def test_engine_imports_nothing_from_the_command_line():
    code = "import sys, twin.engine.run; print(sorted(m for m in sys.modules if m.startswith('twin.commands')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


_KILLED_CHILD = """\
import pathlib, sys, time
from twin.commands import _common

marker = pathlib.Path(sys.argv[3])
draw = _common.ProgressBar.__call__

def stall(self, done, total, *rest):  # after frame 5 is written (the frame-3 checkpoint is on disk): wait for the kill
    draw(self, done, total, *rest)
    if done == 6:
        marker.write_text("6")
        time.sleep(600)

_common.ProgressBar.__call__ = stall
from twin.cli import main

sys.exit(main(["run", sys.argv[1], "-o", sys.argv[2], "--quiet"]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_twin_run_killed_with_sigkill_resumes_bit_for_bit(scenario_path, reference, tmp_path):
    out, marker = tmp_path / "out", tmp_path / "stalled"
    env = {**os.environ, "TWIN_NO_COMPILATION_CACHE": "1"}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(scenario_path), str(out), str(marker)],
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the child never reached frame 6"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert (out / CHECKPOINT_NAME).is_file() and partial_path(out / TRAJECTORY_NAME).is_file()
    with pytest.raises(DataFormatError, match=re.escape(f"`twin run {scenario_path.resolve()} -o {out} --resume`")):
        analyze_trajectory(out)

    assert cli.main(["run", str(scenario_path), "-o", str(out), "--resume", "--quiet"]) == 0
    _assert_bit_identical(reference, out / TRAJECTORY_NAME)



def test_ctrl_c_says_whether_the_run_can_be_resumed(scenario_path, tmp_path, monkeypatch, capsys):
    from twin.engine import run as engine_run

    def interrupted(sc, out, **kw):
        partial_path(out / TRAJECTORY_NAME).write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_run, "run_scenario", interrupted)
    assert cli.main(["run", str(scenario_path), "-o", str(tmp_path), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert f"twin run: the run in {tmp_path} was {NOT_RESUMABLE}: `twin run {scenario_path.resolve()} -o {tmp_path}`" in err
    assert err.endswith("twin run: interrupted\n")
