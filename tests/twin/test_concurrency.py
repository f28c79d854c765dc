"""The output directory's lock: two commands never write into one directory at once.

``OUT/.twin.lock`` (mofcore.outputs.OutputLock) is created atomically with the owner's pid, host and command;
a second ``twin run`` into the same directory is refused (exit 2, the owner named) while the first finishes
with its own, consistent outputs; the lock goes on success, on an error and on Ctrl-C; a lock whose process
is gone is taken over.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mofcore.outputs import LOCK_NAME, OutputLock, OutputLocked, read_lock
from twin import cli
from twin.trajectory import Trajectory

# 10 × 10 × 10 sites of MIL-53(Al) through a CO2 swing, 56 frames: a few seconds of simulation after compiling
SCENARIO = """\
name = "lock-test"
material = "mil53-al"
seed = {seed}

[crystal]
shape = "cuboid"
size_cells = [10, 10, 10]

[protocol]
gases = {{ CO2 = 1.0 }}
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
frame_interval = "2 s"
"""


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch):
    monkeypatch.setenv("TWIN_NO_COMPILATION_CACHE", "1")


def _scenario(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"seed{seed}.toml"
    path.write_text(SCENARIO.format(seed=seed), encoding="utf-8")
    return path


def _twin(*args: str) -> list[str]:
    return [sys.executable, "-m", "twin.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "TWIN_NO_COMPILATION_CACHE": "1"}


def _wait_for(path: Path, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"the first run ended before taking its lock: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout_s} s"
        time.sleep(0.02)


def test_second_run_into_the_same_directory_is_refused_and_the_first_stays_intact(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(_twin("run", str(_scenario(tmp_path, 11)), "-o", str(out), "--quiet"), env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / LOCK_NAME, first)
        owner = read_lock(out / LOCK_NAME)
        assert owner is not None and owner.pid == first.pid and owner.host == socket.gethostname()
        assert owner.command.startswith("twin run ") and str(out) in owner.command
        second = subprocess.run(_twin("run", str(_scenario(tmp_path, 12)), "-o", str(out), "--quiet"), env=_env(),
                                capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first run finished before the second was refused: the test proves nothing"
        stdout, stderr = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    owner_named = f"{out}: in use by another twin command (pid {first.pid} on {socket.gethostname()}, `twin run "
    assert owner_named in second.stderr
    assert first.returncode == 0, stderr
    assert stdout.strip() == f"trajectory written to {out / 'trajectory.h5'}"
    with Trajectory(out / "trajectory.h5") as traj:  # the first run's, whole: its seed, every frame
        assert traj.complete and traj.n_frames == 56
        assert int(traj.provenance["seed"]) == 11
        assert "seed = 11" in str(traj.provenance["scenario_toml"])
    assert not (out / LOCK_NAME).exists()
    assert sorted(p.name for p in out.iterdir()) == ["trajectory.h5"]


def test_ctrl_c_releases_the_lock(tmp_path):
    out = tmp_path / "out"
    run = subprocess.Popen(_twin("run", str(_scenario(tmp_path, 3)), "-o", str(out), "--quiet"), env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / LOCK_NAME, run)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not (out / LOCK_NAME).exists()


def test_an_error_releases_the_lock(tmp_path, capsys):
    out = tmp_path / "empty-run"
    out.mkdir()
    assert cli.main(["report", str(out)]) == 2  # locked, then: no trajectory.h5
    assert "no trajectory.h5 to report on" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def _write_lock(out: Path, **fields) -> Path:
    doc = {"pid": 1, "host": socket.gethostname(), "command": "twin run s.toml -o out", "started": "then",
           "token": "feedbeef", "start_ticks": None} | fields
    path = out / LOCK_NAME
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    _write_lock(tmp_path, pid=_dead_pid())
    with OutputLock(tmp_path, "twin report out") as lock:
        owner = read_lock(tmp_path / LOCK_NAME)
        assert owner is not None and owner.pid == os.getpid() and owner.token == lock.owner.token
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_lock_whose_pid_was_reused_is_taken_over(tmp_path):
    _write_lock(tmp_path, pid=os.getpid(), start_ticks=1)  # this pid, but a process started at another time
    with OutputLock(tmp_path, "twin report out"):
        assert read_lock(tmp_path / LOCK_NAME).pid == os.getpid()


def test_a_lock_of_a_live_process_is_refused_with_its_owner(tmp_path, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "trajectory.h5").write_text("not needed: the lock comes first", encoding="utf-8")
        lock = _write_lock(tmp_path, pid=sleeper.pid, command="twin fit fit.toml -o out")
        assert cli.main(["report", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert (f"{tmp_path}: in use by another twin command (pid {sleeper.pid} on {socket.gethostname()}, "
                "`twin fit fit.toml -o out`, since then)") in err
        assert f"remove {lock}" in err
        assert lock.exists() and read_lock(lock).pid == sleeper.pid  # left alone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_lock_of_another_host_is_refused(tmp_path):
    _write_lock(tmp_path, pid=_dead_pid(), host="elsewhere.example")  # its pid cannot be checked from here
    with pytest.raises(OutputLocked, match=r"pid \d+ on elsewhere\.example.*remove .*\.twin\.lock"):
        OutputLock(tmp_path, "twin run").acquire()


def test_an_empty_lock_file_is_being_written_unless_it_is_old(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text("", encoding="utf-8")
    with pytest.raises(OutputLocked, match="is being written"):
        OutputLock(tmp_path, "twin run").acquire()
    old = time.time() - 3600
    os.utime(path, (old, old))  # left empty by a process killed while creating it
    with OutputLock(tmp_path, "twin run"):
        assert read_lock(path) is not None


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with OutputLock(tmp_path, "twin run a"):
        with pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):
            OutputLock(tmp_path, "twin run b").acquire()
    with OutputLock(tmp_path, "twin run b"):
        pass
