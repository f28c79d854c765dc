"""The run loop: same seed → same trajectory, interrupted + resumed → bit-identical, dry run, 8 devices == 1.

One tiny scenario (16 × 8 × 8 sites of MIL-53(Al), 5 % point defects, thermal noise, a CO2 ramp through the
np → lp switch, 9 frames with fields every frame) is run once per module as the reference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from twin import cli
from twin.engine.run import CHECKPOINT_NAME, TRAJECTORY_NAME, Prepared, run_scenario
from twin.scenario import load_scenario
from twin.trajectory import Trajectory, partial_path

SCENARIO = """\
name = "tiny-ramp"
material = "mil53-al"
seed = 5

[crystal]
shape = "cuboid"
size_cells = [16, 8, 8]

[heterogeneity]
defect_concentration = 0.05

[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "0.2 bar"

[[protocol.segments]]
type = "ramp"
pressure = "16 bar"
duration = "40 s"

[numerics]
frame_interval = "5 s"
checkpoint_interval = "10 s"

[outputs]
fields = ["eta", "loading", "domain"]
field_stride = 1
"""
N_FRAMES = 9


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(scenario_path, tmp_path_factory) -> Path:
    """The uninterrupted single-device run."""
    path = run_scenario(load_scenario(scenario_path), tmp_path_factory.mktemp("reference"), show_progress=False)
    assert path.name == TRAJECTORY_NAME
    return path


def _contents(path: Path, n_frames: int = N_FRAMES) -> dict[str, np.ndarray]:
    """Every per-frame series, summary and stored field of a finished trajectory."""
    out: dict[str, np.ndarray] = {}
    with Trajectory(path) as traj:
        assert traj.complete and traj.n_frames == n_frames
        out["time_s"] = traj.time_s
        out["temperature_K"] = traj.temperature_K
        out["partial_pressure_Pa"] = traj.partial_pressure_Pa
        for name in traj.summary_names:
            out[f"summary/{name}"] = traj.summary(name)
        for name in traj.field_names:
            out[f"field/{name}"] = np.stack([traj.field(name, int(f)) for f in traj.field_frames])
    return out


def _assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        # NaN marks a phase absent from a frame (per-phase means); it must sit in the same places
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name


def test_reference_run_switches_and_stores_every_frame(reference):
    data = _contents(reference)
    assert data["field/eta"].shape == (N_FRAMES, 16, 8, 8)
    open_fraction = data["summary/phase_fraction"][:, -1]
    assert open_fraction[0] == 0.0 and open_fraction[-1] > 0.9  # the ramp crosses the np → lp switch


def test_same_seed_gives_a_bit_identical_trajectory(scenario_path, reference, tmp_path):
    again = run_scenario(load_scenario(scenario_path), tmp_path, show_progress=False)
    _assert_bit_identical(_contents(reference), _contents(again))


def test_the_seed_changes_the_noise(scenario_path):
    """Guard for the test above: the trajectory does depend on the seed (same compiled chunk, two keys)."""
    prep = Prepared(load_scenario(scenario_path))
    a = prep.engine.run_chunk(prep.engine.init(5), prep.steps_per_frame)
    b = prep.engine.run_chunk(prep.engine.init(6), prep.steps_per_frame)
    assert not np.array_equal(np.asarray(a.eta), np.asarray(b.eta))


def test_interrupted_and_resumed_run_is_bit_identical(scenario_path, reference, tmp_path):
    """Stop after 3 frames (a wall-time limit), resume to frame 5 and crash there, roll back to the
    frame-3 checkpoint (frames 3–4 of the partial file are then stale) and resume to the end."""
    sc = load_scenario(scenario_path)
    stopped = run_scenario(sc, tmp_path, show_progress=False, stop_after_frames=3)
    ckpt = tmp_path / CHECKPOINT_NAME
    assert stopped == partial_path(tmp_path / TRAJECTORY_NAME) and stopped.is_file() and ckpt.is_file()
    assert not (tmp_path / TRAJECTORY_NAME).exists()
    shutil.copy(ckpt, tmp_path / "frame3.h5")

    run_scenario(sc, tmp_path, resume=True, show_progress=False, stop_after_frames=5)
    with Trajectory(stopped, allow_incomplete=True) as traj:
        assert traj.n_frames == 5
    shutil.copy(tmp_path / "frame3.h5", ckpt)  # the run died after frame 4 was written, before its checkpoint

    final = run_scenario(sc, tmp_path, resume=True, show_progress=False)
    assert final == tmp_path / TRAJECTORY_NAME and not ckpt.exists() and not stopped.exists()
    _assert_bit_identical(_contents(reference), _contents(final))


def test_dry_run_reports_sites_memory_and_time(scenario_path, capsys):
    assert cli.main(["run", str(scenario_path), "--dry-run", "--json"]) == 0
    est = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert est["site_shape"] == [16, 8, 8] and est["sites"] == 16 * 8 * 8 == est["crystal_sites"]
    assert est["bytes_per_site"] > 9.0  # at least η in and out and the link byte
    assert est["memory_bytes"] == int(est["bytes_per_site"] * est["sites"])
    prep = Prepared(load_scenario(scenario_path))
    assert est["n_frames"] == N_FRAMES == prep.n_frames
    assert est["n_steps"] == (N_FRAMES - 1) * prep.steps_per_frame
    assert est["dt_s"] == pytest.approx(prep.dt_s) and est["dt_s"] <= est["dt_limit_s"]
    assert est["site_updates_per_s"] > 0.0
    assert est["estimated_time_s"] == pytest.approx(est["n_steps"] * est["sites"] / est["site_updates_per_s"])
    # the largest cube fits 90 % of the device memory and one more site per edge does not
    edge, per_site, memory = est["largest_cube_sites"], est["bytes_per_site"], est["device_memory_bytes"]
    assert edge >= 1 and edge**3 * per_site <= 0.9 * memory < (edge + 1) ** 3 * per_site * 1.001
    assert len(est["largest_cube_um"]) == 3 and min(est["largest_cube_um"]) > 0.0

    assert cli.main(["run", str(scenario_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = {line.split()[0] for line in lines if line.strip()}
    assert {"sites", "bytes_per_site", "memory_bytes", "estimated_time_s", "largest_cube_sites",
            "largest_cube_um"} <= keys


_SHARDED = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    import numpy as np
    from twin.engine.run import Prepared, run_scenario
    from twin.engine.sharding import can_shard, lattice_mesh, shard_state
    from twin.scenario import load_scenario

    sc = load_scenario(sys.argv[1])
    run_scenario(sc, sys.argv[2], show_progress=False)
    prep = Prepared(sc)  # the chunk run_scenario compiled, on a state sharded the same way
    state = prep.engine.run_chunk(shard_state(prep.engine.init(sc.seed), lattice_mesh()), prep.steps_per_frame)
    print(json.dumps({"devices": jax.device_count(), "shards": len(state.eta.sharding.device_set),
                      "can_shard": can_shard(prep.geometry.site_shape, jax.device_count())}))
    """
)


def _short_scenario(tmp_path: Path) -> Path:
    """6 s of the ramp in 3 frames: each sharded step costs milliseconds of collective overhead on 2 cores."""
    path = tmp_path / "short.toml"
    text = SCENARIO.replace('duration = "40 s"', 'duration = "6 s"').replace('frame_interval = "5 s"', 'frame_interval = "3 s"')
    path.write_text(text, encoding="utf-8")
    return path


def _assert_same_as_one_device(one: dict[str, np.ndarray], many: dict[str, np.ndarray]) -> None:
    """Fields and integer summaries bit for bit; float summaries (sums over slabs) to float32 rounding."""
    assert one.keys() == many.keys()
    for name, a in one.items():
        b = many[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if name.startswith("summary/") and a.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=0.0, equal_nan=True, err_msg=name)
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


# about 25 s on two cores (a subprocess with 8 devices compiles the chunk and summaries again): in the default suite
def test_sharded_run_on_8_devices_matches_one_device(tmp_path):
    """A 6 s version of the scenario (3 frames) on 8 forced CPU devices (x-slabs of 2 planes) against one.

    The fields are bit-identical: the stencil reads neighbours from padded halo copies
    (:func:`twin.engine.model.halo`), so GSPMD only adds the exchange of the pad and the arithmetic
    compiles to the same fused loop; the noise hashes the global site index. Summaries that are float sums
    over the crystal (means, loading, volume) are reduced in another order across the 8 slabs and agree to
    1e-5 relative (float32 sums of 1024 sites; observed ≤ 4e-6); integer summaries agree exactly. Each
    sharded step costs milliseconds of collective overhead on 2 cores, hence the short protocol.
    """
    if jax.device_count() != 1:
        pytest.skip("the reference must run on one device (XLA_FLAGS forces several here)")
    path = _short_scenario(tmp_path)
    single = run_scenario(load_scenario(path), tmp_path / "one", show_progress=False)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", _SHARDED, str(path), str(tmp_path / "eight")], env=env,
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info == {"devices": 8, "shards": 8, "can_shard": True}
    one, eight = _contents(single, 3), _contents(tmp_path / "eight" / TRAJECTORY_NAME, 3)
    assert float(np.max(one["field/eta"][-1])) > 0.5  # the switch has started inside the sharded run
    _assert_same_as_one_device(one, eight)


@pytest.mark.slow  # ~1 min: two processes start, connect and compile
def test_two_process_distributed_run_matches_one_device(tmp_path):
    """`twin run --distributed` in two processes of 4 CPU devices each (gloo collectives): one lattice over
    8 devices of 2 "hosts"; process 0 writes the trajectory, which equals the 1-device one as above."""
    if jax.device_count() != 1:
        pytest.skip("the reference must run on one device (XLA_FLAGS forces several here)")
    import socket

    path = _short_scenario(tmp_path)
    single = run_scenario(load_scenario(path), tmp_path / "one", show_progress=False)
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, "-m", "twin.cli", "run", str(path), "-o", str(tmp_path / "two"),
                               "--quiet", "--distributed", "--coordinator", f"localhost:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    assert "trajectory written to" in outputs[0][0] and "trajectory written to" not in outputs[1][0]
    _assert_same_as_one_device(_contents(single, 3), _contents(tmp_path / "two" / TRAJECTORY_NAME, 3))
