"""The run loop: scenario + material → engine → trajectory (HDF5), with checkpoints, resume and dry runs.

:func:`run_scenario` advances the state in jitted ``lax.scan`` chunks of one frame interval each, checks the
error bits between chunks, writes per-frame conditions and summaries (and full fields every
``outputs.field_stride``-th frame) through :class:`twin.trajectory.TrajectoryWriter`, and saves a checkpoint
every ``checkpoint_every_s`` of wall time (default 10 min), at the end of every protocol segment and every
``numerics.checkpoint_interval`` of simulated time. ``resume=True`` reloads the checkpoint, truncates the partial
trajectory to it and continues; since the state (fields, key words, step counter) is restored exactly and the
noise is a pure function of (site, step, key), the finished file is bit-for-bit the one an uninterrupted run
writes. A run interrupted before its first checkpoint cannot be resumed; :func:`twin.analysis.interrupted_run_message`
says so (and how to start it again) wherever the partial file is met. Progress goes to a callback
(``on_progress``, which ``twin run`` gives its progress bar); callers that pass none get a plain tqdm bar unless
``show_progress=False``. The engine imports nothing from the command line (:mod:`twin.commands`).

Time step: ``numerics.dt`` or, if unset, half the stability limit (:func:`twin.engine.dynamics.stability_limit_s`),
lowered so that a frame interval is a whole number of steps.

With more than one device a single lattice is split into x-slabs (:mod:`twin.engine.sharding`); under
``jax.distributed`` every process runs :func:`run_scenario`, process 0 writes the files and the others take part
in gathering the stored fields. The compiled chunk, summaries and labels are module-level ``jit`` functions with
static layouts, so a second run of the same shapes in one process compiles nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from twin.analysis import interrupted_run_message
from twin.engine import model
from twin.engine.dynamics import Engine, EngineConfig, TwinState, make_engine, stability_limit_s
from twin.engine.lattice import build_geometry, crystal_mask, size_in_sites
from twin.engine.params import block_rescale, mesoscale_from_material
from twin.engine.sharding import can_shard, lattice_mesh, shard_state
from twin.engine.summaries import frame_summaries, label_domains, summary_specs
from twin._toml_schema import did_you_mean
from twin.errors import MaterialError, NotAvailableError, ScenarioError
from twin.heterogeneity import validate_heterogeneity
from twin.protocol import compile_protocol, conditions_at
from twin.scenario import check_steps
from twin.thermo import phase_loadings
from twin.trajectory import (
    FieldSpec,
    TrajectoryWriter,
    default_provenance,
    load_checkpoint,
    partial_path,
    save_checkpoint,
)

__all__ = ["run_scenario", "dry_run", "prepare", "Prepared", "TRAJECTORY_NAME", "CHECKPOINT_NAME", "surface_depth_nm",
           "DEFAULT_CHECKPOINT_EVERY_S", "ProgressCallback"]

TRAJECTORY_NAME = "trajectory.h5"
CHECKPOINT_NAME = "checkpoint.h5"
#: wall time between checkpoints of a run unless told otherwise (GROMACS's ``mdrun -cpt`` is 15 min)
DEFAULT_CHECKPOINT_EVERY_S = 600.0

#: ``on_progress(frames_done, n_frames, time_s)``: frames written so far (including those of a resumed run),
#: frames in all, simulated time of the last frame written [s]
ProgressCallback = Callable[[int, int, float], None]

_FIELD_SPECS = {
    "eta": FieldSpec("float32", "1", "breathing order parameter (0 closed, 1 open)"),
    "loading": FieldSpec("float32", "1/cell", "total guest loading per site cell (molecules)"),
    "defect": FieldSpec("uint8", "1", "1 on defective sites"),
    "cohesion": FieldSpec("uint8", "1", "bits 0-5: intact links along +x,-x,+y,-y,+z,-z"),
    "domain": FieldSpec("int32", "1", "coherent-domain label (smallest flat site index of the domain; -1 outside)"),
}


class Prepared:
    """Everything a run needs, built once from a scenario (material, geometry, engine, schedule)."""

    def __init__(self, scenario, *, calibrate: bool = False):
        from twin.material import load_material

        self.scenario = scenario
        num = scenario.numerics
        if num.method != "langevin":
            raise NotAvailableError(
                f"numerics.method = {num.method!r}: checkerboard Metropolis is not available in this version yet "
                f"(issue 5); use method = \"langevin\""
            )
        source = _source(scenario)
        try:
            self.material = material = load_material(scenario.material)
        except MaterialError as error:
            raise MaterialError(f"{source}: material: {error}") from None
        open_phase = material.phases[-1]
        self.cell_A = (open_phase.a_A, open_phase.b_A, open_phase.c_A)
        # before anything per site is allocated: does the crystal fit at all? (the dry run measures bytes per site)
        memory, memory_what = _lattice_memory_bytes()
        _check_fits(scenario, crystal_site_shape(scenario.crystal, self.cell_A), _estimated_bytes_per_site(num),
                    memory, memory_what, self.cell_A, measured=False)
        table64 = compile_protocol(scenario.protocol)
        for t in (float(np.min(table64.temperature_K)), float(np.max(table64.temperature_K))):
            material.check_temperature(t, where=f"{scenario.source_path or 'scenario'}: protocol temperature")
        unknown = [g for g in scenario.guests if g not in material.guests]
        if unknown:
            raise ScenarioError(
                f"{source}: protocol.gases.{unknown[0]}: {unknown[0]!r} has no adsorption parameters in material "
                f"{material.name!r}{_guest_hint(unknown[0], material.guests)}; known guests: "
                f"{', '.join(material.guests)}"
            )
        if num.guest_diffusion and len(scenario.guests) != 1:
            raise NotAvailableError(
                f"numerics.guest_diffusion with {len(scenario.guests)} gases ({', '.join(scenario.guests)}): guest "
                f"transport of mixtures is not available in this version yet (issue 5); use one gas or fast adsorption"
            )
        self.table = table64
        self.meso = block_rescale(mesoscale_from_material(material), scenario.crystal.block)
        validate_heterogeneity(scenario.heterogeneity, self.cell_A,
                               Path(scenario.source_path).name if scenario.source_path else "scenario")
        self.geometry = build_geometry(scenario.crystal, scenario.heterogeneity, self.cell_A, scenario.seed)
        self.batched = self.geometry.links.ndim == 4
        dtype = jnp.dtype(num.dtype)
        if dtype == jnp.float64 and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        limit, reason = stability_limit_s(material.thermo, self.meso, self.geometry, table64.astype(dtype),
                                          num.guest_diffusion)
        self.dt_limit_s, self.dt_reason = limit, reason
        requested = num.dt_s if num.dt_s is not None else 0.5 * limit
        if math.isnan(limit) or limit <= 0.0:
            raise ScenarioError(f"{source}: protocol: the engine's stable time step is {limit!r} s at these conditions "
                                f"({reason}); the conditions lie outside what the material's parameters describe")
        duration = float(table64.time_s[-1])
        self.n_frames = int(math.floor(duration / num.frame_interval_s + 1e-9)) + 1
        # the scenario checked a given dt; the engine's own step (half its stability limit) is checked here
        self.steps_per_frame = check_steps(source, "numerics.dt" if num.dt_s is not None else "numerics",
                                           requested, num.frame_interval_s, self.n_frames,
                                           "a time step of" if num.dt_s is not None
                                           else "the engine's stable time step (half its stability limit) of")
        self.dt_s = num.frame_interval_s / self.steps_per_frame
        if num.dt_s is not None and num.dt_s > limit:
            self.dt_s = num.dt_s  # make_engine refuses it with the stated limit
        self.checkpoint_every = (
            max(1, int(round(num.checkpoint_interval_s / num.frame_interval_s))) if num.checkpoint_interval_s else None
        )
        self.segment_end_frames = _segment_end_frames(table64, num.frame_interval_s, self.n_frames)
        guest = material.guests.index(scenario.guests[0])
        self.config = EngineConfig(dt_s=self.dt_s, noise=num.noise, guest_diffusion=num.guest_diffusion,
                                   transported_guest=guest, dtype=num.dtype)
        self.engine: Engine = make_engine(material.thermo, self.meso, self.geometry, table64, self.config)
        self.guest_columns = [material.guests.index(g) for g in scenario.guests]
        self.layout = _FrameLayout(
            guests=tuple(self.engine.table.guests), guest_columns=tuple(self.guest_columns),
            transported_guest=guest if num.guest_diffusion else -1, spacing_A=tuple(self.geometry.spacing_A),
            periodic=bool(self.geometry.periodic), block=int(self.geometry.block), batched=self.batched,
            dtype=num.dtype,
        )
        self._table = replace(self.engine.table, guests=())  # guests are static (in the layout)
        self.depth_nm = surface_depth_nm(self.geometry)

    # ---------------------------------------------------------------------------------------------
    def loading_per_guest(self, state: TwinState, time_s):
        """Loading of every protocol guest per site [molecules per site cell], (n_guests, *site_shape)."""
        return _loading_jit(self.material.thermo, self._table, state, time_s, layout=self.layout)

    def frame(self, state: TwinState, time_s, initial_links, depth_nm=None):
        """Conditions (T, partial pressures, RH) and summaries of one frame, from one compiled call.

        ``depth_nm``: the distance map of :func:`surface_depth_nm` (as a device array), for
        ``phase_depth_mean_nm``; ``None`` leaves that summary NaN.
        """
        return _frame_jit(self.material.thermo, self._table, state, time_s, initial_links, depth_nm,
                          layout=self.layout)

    def fields(self, state: TwinState, time_s, names) -> dict[str, np.ndarray]:
        """Host copies of the stored fields (collective across processes when the lattice spans several)."""
        out: dict[str, np.ndarray] = {}
        for name in names:
            if name == "eta":
                value, dtype = state.eta, np.float32
            elif name == "loading":
                value, dtype = jnp.sum(self.loading_per_guest(state, time_s), axis=0), np.float32
            elif name == "defect":
                value, dtype = (state.links >> 7) & 1, np.uint8
            elif name == "cohesion":
                value, dtype = state.links & 0b0011_1111, np.uint8
            else:
                value, dtype = _labels_jit(state.eta, state.links, periodic=self.layout.periodic), np.int32
            out[name] = np.asarray(_to_host(value), dtype=dtype)
        return out

    def scenario_digest(self) -> str:
        return hashlib.sha256(self.scenario.source_text.encode("utf-8")).hexdigest()

    def scenario_file(self) -> str | None:
        """The absolute path of the scenario file this run was read from, if it is a file."""
        source = self.scenario.source_path
        if not source or not Path(source).is_file():
            return None
        return str(Path(source).resolve())


def _segment_end_frames(table, frame_interval_s: float, n_frames: int) -> frozenset[int]:
    """The frames at which each protocol segment has ended (the first frame at or after its last breakpoint),
    excluding frame 0 and the last frame (nothing to save there)."""
    times = np.asarray(table.time_s, dtype=np.float64)
    segment = np.asarray(table.segment)
    frames = set()
    for index in np.unique(segment[segment >= 0]):
        end = float(np.max(times[segment == index]))
        frame = int(math.ceil(end / frame_interval_s - 1e-9))
        if 0 < frame < n_frames - 1:
            frames.add(frame)
    return frozenset(frames)


@dataclass(frozen=True)
class _FrameLayout:
    """Static settings of the per-frame outputs (hashable: equal layouts share compiled functions)."""

    guests: tuple[str, ...]
    guest_columns: tuple[int, ...]
    transported_guest: int  # −1: fast adsorption for every guest
    spacing_A: tuple[float, ...]
    periodic: bool
    block: int
    batched: bool
    dtype: str


def _loading(thermo, table, state: TwinState, time_s, layout: _FrameLayout):
    dtype = jnp.dtype(layout.dtype)
    cond = conditions_at(replace(table, guests=layout.guests), time_s)
    n_eq = phase_loadings(thermo, cond).astype(dtype)  # (n_phases, n_guests_material)
    h = model.smoothstep(jnp.clip(state.eta, 0.0, 1.0))
    inside = model.inside(state.links, dtype)
    out = []
    for g in layout.guest_columns:
        if g == layout.transported_guest:
            out.append(state.loading)
        else:
            out.append(((1.0 - h) * n_eq[0, g] + h * n_eq[-1, g]) * inside)
    return jnp.stack(out)


def surface_depth_nm(geometry) -> np.ndarray | None:
    """Distance of every site of the initial crystal(s) from the outside [nm] (0 outside; host, SciPy).

    The Euclidean distance between site centres to the nearest site outside the crystal (the outermost layer
    lies one spacing deep), with the anisotropic site spacing; per crystal for a powder. ``None`` for periodic
    crystals, which have no surface.
    """
    if geometry.periodic:
        return None
    from scipy import ndimage

    mask = geometry.mask
    sampling = tuple(float(a) / 10.0 for a in geometry.spacing_A)

    def one(m: np.ndarray) -> np.ndarray:
        padded = np.pad(m, 1)
        return ndimage.distance_transform_edt(padded, sampling=sampling)[1:-1, 1:-1, 1:-1].astype(np.float32)

    if mask.ndim == 4:
        return np.stack([one(m) for m in mask])
    return one(mask)


def _frame(thermo, table, state: TwinState, time_s, initial_links, depth_nm, layout: _FrameLayout):
    cond = conditions_at(replace(table, guests=layout.guests), time_s)
    loads = _loading(thermo, table, state, time_s, layout)
    summaries = frame_summaries(state.eta, state.links, loads, thermo.volume_A3.astype(jnp.float32), layout.spacing_A,
                                initial_links, layout.periodic, layout.block, layout.batched, depth_nm)
    return (cond.temperature_K, cond.partial_pressure_Pa, cond.relative_humidity), summaries


_loading_jit = jax.jit(_loading, static_argnames=("layout",))
_frame_jit = jax.jit(_frame, static_argnames=("layout",))
_labels_jit = jax.jit(label_domains, static_argnames=("periodic",))


def _to_host(x) -> np.ndarray:
    """The whole array on this host; an array sharded over several processes is gathered (a collective:
    every process must call it)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def _state_arrays(state: TwinState) -> dict[str, np.ndarray]:
    arrays = {"eta": _to_host(state.eta), "links": _to_host(state.links), "key": _to_host(state.key),
              "step": _to_host(state.step), "error": _to_host(state.error)}
    if state.loading is not None:
        arrays["loading"] = _to_host(state.loading)
    return arrays


class _FollowerWriter:
    """What a process other than process 0 holds instead of the trajectory writer: it counts frames (so
    that it gathers fields on the same frames as the writer) and writes nothing."""

    def __init__(self, path: Path, n_frames: int, field_stride: int):
        self.path, self._n_frames, self.field_stride = path, n_frames, field_stride

    def wants_fields(self, frame: int | None = None) -> bool:
        return (self._n_frames if frame is None else frame) % self.field_stride == 0

    def append(self, **_: Any) -> int:
        self._n_frames += 1
        return self._n_frames - 1

    def flush(self) -> None:
        pass

    def finalize(self) -> Path:
        return self.path

    def __enter__(self) -> "_FollowerWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _state_from_arrays(arrays: dict[str, np.ndarray]) -> TwinState:
    return TwinState(eta=jnp.asarray(arrays["eta"]), links=jnp.asarray(arrays["links"]),
                     loading=jnp.asarray(arrays["loading"]) if "loading" in arrays else None,
                     key=jnp.asarray(arrays["key"]), step=jnp.asarray(arrays["step"]),
                     error=jnp.asarray(arrays["error"]))


def run_scenario(scenario, out_dir: str | Path, *, resume: bool = False,
                 on_progress: ProgressCallback | None = None, show_progress: bool = True,
                 checkpoint_every_s: float | None = DEFAULT_CHECKPOINT_EVERY_S, checkpoint_segment_ends: bool = True,
                 stop_after_frames: int | None = None) -> Path:
    """Simulate a scenario and write ``OUT/trajectory.h5``; returns its path.

    Args:
        scenario: a validated :class:`twin.scenario.Scenario`.
        out_dir: output folder (created). The trajectory is written to ``trajectory.h5.partial`` and renamed
            when complete; checkpoints go to ``checkpoint.h5`` (removed after success; a stale one is removed when
            a new run starts). Under ``jax.distributed`` every process runs this function; process 0 writes the
            files (the folder must be on a file system every process sees, for resume) and the others only take
            part in gathering the fields.
        resume: continue an interrupted run from its checkpoint (same scenario text required).
        on_progress: called on process 0 as ``on_progress(frames_done, n_frames, time_s)`` once before the
            first frame (``frames_done`` > 0 when resuming) and after every frame written (see
            :data:`ProgressCallback`); the ``twin run`` command passes its progress bar.
        show_progress: without ``on_progress``, a plain progress bar on stderr (tqdm, hidden when stderr is not a
            terminal); ignored when ``on_progress`` is given.
        checkpoint_every_s: wall time between checkpoints [s] (default 10 min; ``None`` or 0: none by wall time).
            Under ``jax.distributed`` process 0's clock decides.
        checkpoint_segment_ends: also checkpoint at the first frame at or after the end of every protocol
            segment (but the last). A scenario's ``numerics.checkpoint_interval`` (simulated time) adds its own.
        stop_after_frames: stop after this many frames are written in total, leaving the partial file and a
            checkpoint (as a wall-time limit would); returns the partial file's path.

    Raises:
        ScenarioError: resume without a checkpoint (the message says whether and how to start again), or a
            checkpoint of a different scenario.
        SimulationError: unstable time step, or NaN / η out of range during the run (with step and time).
    """
    out = Path(out_dir)
    _check_output_paths(out)  # before the simulation, not at its end when the trajectory is renamed into place
    out.mkdir(parents=True, exist_ok=True)
    prep = Prepared(scenario)
    eng, sc = prep.engine, scenario
    traj_path = out / TRAJECTORY_NAME
    ckpt_path = out / CHECKPOINT_NAME
    field_names = tuple(sc.outputs.fields)
    mat = prep.material
    initial_links = jnp.asarray(prep.geometry.links)
    depth = None if prep.depth_nm is None else jnp.asarray(prep.depth_nm)
    lead = jax.process_index() == 0
    scenario_file = prep.scenario_file()

    if resume:
        if not partial_path(traj_path).is_file():
            command = f"twin run {shlex.quote(scenario_file or 'SCENARIO.toml')} -o {shlex.quote(str(out))}"
            done = f"{TRAJECTORY_NAME} there is complete" if traj_path.is_file() else "no run was started there"
            raise ScenarioError(f"{out}: nothing to resume (no {TRAJECTORY_NAME}.partial: {done}); run it without "
                                f"--resume: `{command}`")
        if not ckpt_path.is_file():
            raise ScenarioError(f"{out}: nothing to resume: {interrupted_run_message(out, scenario_file)}")
        arrays, meta = load_checkpoint(ckpt_path)
        if meta.get("scenario_sha256") != prep.scenario_digest():
            raise ScenarioError(f"{ckpt_path}: the checkpoint belongs to a different scenario text; "
                                f"run without --resume to start over")
        state = _state_from_arrays(arrays)
        frame = int(meta["n_frames"])
        writer = (TrajectoryWriter.resume(traj_path, frame) if lead
                  else _FollowerWriter(traj_path, frame, sc.outputs.field_stride))
    elif not lead:
        state = eng.init(sc.seed)
        frame = 0
        writer = _FollowerWriter(traj_path, frame, sc.outputs.field_stride)
    else:
        state = eng.init(sc.seed)
        if ckpt_path.exists():  # a checkpoint of an earlier run would not match the new partial file
            os.remove(ckpt_path)
        provenance = default_provenance(
            scenario_toml=sc.source_text, seed=sc.seed, material=mat.name, material_sha256=mat.sha256,
            engine_dt_s=prep.dt_s, engine_steps_per_frame=prep.steps_per_frame,
            engine_dt_limit_s=prep.dt_limit_s, engine_config=asdict(prep.config),
            engine_mesoscale={k: np.asarray(v).tolist() for k, v in asdict(prep.meso).items()},
            **({"scenario_path": scenario_file} if scenario_file else {}),
        )
        writer = TrajectoryWriter.create(
            traj_path, guests=sc.guests, phases=mat.phase_names, site_shape=prep.geometry.site_shape,
            cell_A=prep.geometry.spacing_A, mask=prep.geometry.mask,
            fields={n: _FIELD_SPECS[n] for n in field_names},
            summaries=summary_specs(mat.phase_names, sc.guests, prep.geometry.links.shape[0] if prep.batched else None),
            provenance=provenance, field_stride=sc.outputs.field_stride, block=prep.geometry.block,
        )
        frame = 0

    n_dev = jax.device_count()
    if not prep.batched and can_shard(prep.geometry.site_shape, n_dev):
        state = shard_state(state, lattice_mesh())
    elif jax.process_count() > 1:
        raise ScenarioError(
            f"{sc.source_path or 'scenario'}: crystal: a lattice of {prep.geometry.site_shape} sites does not split "
            f"into x-slabs over the {n_dev} devices of {jax.process_count()} processes (a single crystal whose x edge "
            f"is a multiple of {n_dev} is needed; `twin run --dry-run` prints the site shape)"
        )

    bar = None
    if on_progress is None and show_progress:
        on_progress = bar = _TqdmProgress(f"twin run {sc.name}")
    report = on_progress if lead else None
    frame_interval_s = prep.steps_per_frame * prep.dt_s
    wall_s = checkpoint_every_s if checkpoint_every_s and checkpoint_every_s > 0 else None
    segment_ends = prep.segment_end_frames if checkpoint_segment_ends else frozenset()
    try:
        if report is not None:
            report(frame, prep.n_frames, max(frame - 1, 0) * frame_interval_s)
        last_checkpoint = time.monotonic()
        with writer:
            while frame < prep.n_frames:
                # the state is at frame `frame` (step frame * steps_per_frame): write it, then advance
                time_s = frame * prep.steps_per_frame * prep.dt_s
                _write_frame(writer, prep, state, time_s, field_names, initial_links, depth)
                frame += 1
                if report is not None:
                    report(frame, prep.n_frames, time_s)
                if frame >= prep.n_frames:
                    break
                state = _advance(prep, state, frame)
                stopping = stop_after_frames is not None and frame >= stop_after_frames
                due = (stopping or frame in segment_ends
                       or bool(prep.checkpoint_every and frame % prep.checkpoint_every == 0))
                if not due and wall_s is not None:
                    due = _agree(time.monotonic() - last_checkpoint >= wall_s)
                if due:
                    writer.flush()
                    arrays = _state_arrays(state)  # collective under jax.distributed
                    if lead:
                        save_checkpoint(ckpt_path, arrays, _ckpt_meta(prep, frame))
                    last_checkpoint = time.monotonic()
                if stopping:
                    return partial_path(traj_path)
            path = writer.finalize()
    finally:
        if bar is not None:
            bar.close()
    if lead and ckpt_path.exists():
        os.remove(ckpt_path)
    return path


def _check_output_paths(out: Path) -> None:
    """Refuse an output folder that is a file, or a trajectory/checkpoint path that is not a file (a folder, a FIFO):
    the run would fail only when it renames or rewrites it."""
    from mofcore.files import regular_file_problem

    if out.exists() and not out.is_dir():
        raise ScenarioError(f"{out}: the output folder is a file; give another -o OUT")
    traj = out / TRAJECTORY_NAME
    for path in (traj, partial_path(traj), out / CHECKPOINT_NAME):
        if not os.path.lexists(path):
            continue
        problem = regular_file_problem(path)
        if problem is not None and not problem.startswith(("no such file", "a broken")):
            raise ScenarioError(f"{path}: expected a file the run can replace, got {problem}; remove or rename it, "
                                f"or give another -o OUT")


class _TqdmProgress:
    """The stand-alone progress bar of ``show_progress=True`` (tqdm on stderr, created on the first report)."""

    def __init__(self, desc: str):
        self.desc, self._bar = desc, None

    def __call__(self, done: int, total: int, time_s: float) -> None:
        if self._bar is None:
            import sys

            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, unit="frame", file=sys.stderr, disable=None,
                             dynamic_ncols=True, leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _agree(flag: bool) -> bool:
    """Process 0's ``flag`` on every process (wall clocks differ; a checkpoint is a collective)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag, dtype=np.int32)))


def _advance(prep: Prepared, state: TwinState, next_frame: int) -> TwinState:
    """One frame interval of steps (one compiled chunk), then the host-side error check."""
    steps_before = (next_frame - 1) * prep.steps_per_frame
    state = prep.engine.run_chunk(state, prep.steps_per_frame)
    prep.engine.raise_on_error(state, steps_before)
    return state


def _ckpt_meta(prep: Prepared, n_frames: int) -> dict[str, Any]:
    return {"n_frames": n_frames, "dt_s": prep.dt_s, "steps_per_frame": prep.steps_per_frame,
            "time_s": n_frames * prep.steps_per_frame * prep.dt_s, "scenario_sha256": prep.scenario_digest()}


def _write_frame(writer: TrajectoryWriter, prep: Prepared, state: TwinState, time_s: float, field_names,
                 initial_links, depth=None) -> None:
    t = jnp.asarray(time_s, prep.engine.dtype)
    (temperature, pressure, humidity), summ = jax.device_get(prep.frame(state, t, initial_links, depth))
    fields = prep.fields(state, t, field_names) if writer.wants_fields() else None
    writer.append(
        time_s=float(time_s),
        temperature_K=float(temperature),
        partial_pressure_Pa=np.asarray(pressure, dtype=np.float64),
        relative_humidity=float(humidity),
        summaries={k: np.asarray(v) for k, v in summ.items()},
        fields=fields,
    )


# ------------------------------------------------------------------------------------------------ dry run
_SHAPE_FILL = {"cuboid": 1.0, "plate": 1.0, "needle": 1.0, "sphere": math.pi / 6, "ellipsoid": math.pi / 6}
#: bytes per site a run needs, as the dry run measures them on XLA CPU (docs/engine.md, "State and memory per
#: site": 85 B/site in float32 with fast adsorption, 77 with guest transport, 117 in float64), rounded up: what
#: the run checks before it allocates the lattice (the dry run checks its own measured figure)
_BYTES_PER_SITE = {"float32": 86.0, "float64": 118.0}
#: a crystal must fit this fraction of the memory (the dry run's largest_cube_sites uses the same)
MEMORY_FRACTION = 0.9


def _guest_hint(name: str, guests) -> str:
    """`` (did you mean 'Xe'?)`` for a guest spelt in another case or close to a known one."""
    same = [g for g in guests if g.lower() == name.lower()]
    return f" (did you mean {same[0]!r}?)" if same else did_you_mean(name, tuple(guests))


def _source(scenario) -> str:
    return Path(scenario.source_path).name if scenario.source_path else "scenario"


def _device_memory_bytes() -> tuple[int, str]:
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"]), f"{dev.device_kind} memory limit"
    from instruments.io._base import available_memory_bytes

    return available_memory_bytes(), "host RAM available now (CPU backend)"


def _lattice_memory_bytes(device_memory_bytes: int | None = None) -> tuple[int, str]:
    """The memory a lattice may take: one device's, times the devices on accelerators (a single crystal is sharded
    in x-slabs over all of them; forced CPU devices share one RAM)."""
    memory, what = ((device_memory_bytes, "memory given to the dry run") if device_memory_bytes
                    else _device_memory_bytes())
    n_dev = jax.device_count()
    if n_dev > 1 and jax.devices()[0].platform != "cpu":
        return memory * n_dev, f"{what} × {n_dev} devices"
    return memory, what


def _estimated_bytes_per_site(numerics) -> float:
    return _BYTES_PER_SITE.get(numerics.dtype, max(_BYTES_PER_SITE.values()))


def crystal_site_shape(crystal, cell_A, block: int | None = None) -> tuple[int, ...]:
    """Sites of the lattice a crystal needs (the box of every crystal, padded for powders), in Python integers.

    ``(nx, ny, nz)`` for one crystal, ``(n_crystals, nx, ny, nz)`` for a size series or powder (the box of the
    largest crystal; for a distribution that of median·aspect·e^{2σ}).
    """
    b = crystal.block if block is None else block
    if crystal.sizes_A is not None:
        boxes = [size_in_sites(s, cell_A, b) for s in crystal.sizes_A]
        return (len(boxes), *(max(box[i] for box in boxes) for i in range(3)))
    if crystal.distribution is not None:
        d = crystal.distribution
        big = [d.median_A * a * math.exp(2.0 * d.width) for a in d.aspect]
        return (d.n_crystals, *size_in_sites(big, cell_A, b))
    if crystal.size_cells is not None:
        return tuple(max(1, round(Fraction(n, b))) for n in crystal.size_cells)  # exact, as round(n / b) below 2^53
    return size_in_sites(crystal.size_A, cell_A, b)


def _largest_cube(memory: float, per_site: float) -> int:
    max_sites = int(MEMORY_FRACTION * memory / per_site) if per_site > 0 else 0
    edge = int(max_sites ** (1.0 / 3.0))
    while (edge + 1) ** 3 <= max_sites:  # float cube root can land one below
        edge += 1
    while edge > 0 and edge**3 > max_sites:
        edge -= 1
    return edge


def _bytes_text(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _check_fits(scenario, site_shape, per_site: float, memory: int, memory_what: str, cell_A, *,
                measured: bool) -> None:
    """Refuse a crystal whose lattice does not fit :data:`MEMORY_FRACTION` of the memory; name the largest that fits."""
    sites = math.prod(int(n) for n in site_shape)
    need = sites * per_site
    if need <= MEMORY_FRACTION * memory:
        return
    b = scenario.crystal.block
    edge = _largest_cube(memory, per_site)
    um = ", ".join(f"{edge * b * a / 1e4:.3g}" for a in cell_A)
    how = "measured by the dry run" if measured else "as the dry run measures it"
    raise ScenarioError(
        f"{_source(scenario)}: crystal: {sites:.3g} sites ({' × '.join(map(str, site_shape))}) need "
        f"{_bytes_text(need)} at {per_site:.0f} B/site ({how}), more than {MEMORY_FRACTION:.0%} of the "
        f"{_bytes_text(memory)} of {memory_what}; the largest cubic crystal that fits is {edge}³ sites "
        f"({um} µm along a, b, c{f' at block = {b}' if b > 1 else ''}): a smaller crystal, fewer crystals or a "
        f"larger block (crystal.block) fits"
    )


def dry_run(scenario, *, device_memory_bytes: int | None = None, probe_edge: int = 48) -> dict[str, Any]:
    """What a run would cost, without running it.

    Sites and memory come from the geometry (box of every crystal, padded for powders) and the bytes per site
    of the compiled chunk and of the per-frame summaries (XLA's memory analysis of a ``probe_edge``³ probe,
    arguments + outputs + temporaries, per site; the larger of the two is live at a time); the time estimate
    from the site-update rate of that probe on this device.

    Returns:
        A JSON-ready dict: ``site_shape``, ``sites`` (box), ``crystal_sites`` (estimate), ``bytes_per_site``
        (= max of ``bytes_per_site_step`` and ``bytes_per_site_frame``), ``memory_bytes``, ``dt_s``,
        ``dt_limit_s``, ``n_steps``, ``n_frames``, ``site_updates_per_s``, ``estimated_time_s``,
        ``device_memory_bytes``, ``largest_cube_sites`` / ``largest_cube_um``: the edge of the largest cubic
        crystal that fits 90 % of one device's memory, and ``largest_cube_sites_all_devices``: the same for a
        lattice sharded over every device (accelerators; forced CPU devices share one RAM).
    """
    from twin.material import load_material

    crystal = scenario.crystal
    b = crystal.block
    mem_total, mem_what = ((device_memory_bytes, "memory given to the dry run") if device_memory_bytes
                           else _device_memory_bytes())
    pooled_total, pooled_what = _lattice_memory_bytes(device_memory_bytes)
    # before the probe is built and compiled: refuse a crystal that cannot fit even at the estimated bytes per site
    try:
        material = load_material(scenario.material)
    except MaterialError as error:
        raise MaterialError(f"{_source(scenario)}: material: {error}") from None
    open_phase = material.phases[-1]
    cell_A = (open_phase.a_A, open_phase.b_A, open_phase.c_A)
    site_shape = crystal_site_shape(crystal, cell_A)
    _check_fits(scenario, site_shape, _estimated_bytes_per_site(scenario.numerics), pooled_total, pooled_what, cell_A,
                measured=False)
    # the schedule and stability limit from a tiny stand-in crystal (the limit does not depend on size)
    small = replace(scenario, crystal=replace(crystal, size_A=None, size_cells=(probe_edge,) * 3, distribution=None,
                                              sizes_A=None, periodic=True, shape="cuboid"),
                    heterogeneity=scenario.heterogeneity)
    prep = Prepared(small)
    sites = math.prod(site_shape)
    fill = _SHAPE_FILL.get(crystal.shape, 1.0)
    if crystal.shape == "truncated":
        fill = float(crystal_mask("truncated", (32, 32, 32), truncation=crystal.truncation).mean())

    eng = prep.engine
    state = eng.init(0)
    probe_sites = int(np.prod(state.eta.shape))
    n_probe = 20
    compiled = eng.compile_chunk(state, n_probe)
    mem = compiled.memory_analysis()
    depth = None if prep.depth_nm is None else jnp.asarray(prep.depth_nm)
    summ = _frame_jit.lower(prep.material.thermo, prep._table, state, jnp.asarray(0.0, eng.dtype), state.links,
                            depth, layout=prep.layout).compile().memory_analysis()
    per_site = step_per_site = frame_per_site = 0.0
    if mem is not None:
        chunk_bytes = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
        summ_bytes = (summ.temp_size_in_bytes + summ.argument_size_in_bytes) if summ is not None else 0
        step_per_site, frame_per_site = chunk_bytes / probe_sites, summ_bytes / probe_sites
        per_site = max(step_per_site, frame_per_site)
    args = eng.chunk_arguments()
    state = compiled(*args, state)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    state = compiled(*args, state)
    jax.block_until_ready(state)
    elapsed = time.perf_counter() - t0
    rate = probe_sites * n_probe / elapsed
    n_steps = (prep.n_frames - 1) * prep.steps_per_frame
    if per_site > 0:  # the measured figure decides (the estimate above only refuses what cannot fit at all)
        _check_fits(scenario, site_shape, round(per_site, 2), pooled_total, pooled_what, prep.cell_A, measured=True)
    edge = _largest_cube(mem_total, per_site)
    n_dev = jax.device_count()
    # a lattice sharded in x-slabs over every device (twin.engine.sharding); forced CPU devices share one RAM
    pooled = mem_total * (n_dev if jax.devices()[0].platform != "cpu" else 1)
    edge_all = int((MEMORY_FRACTION * pooled / per_site) ** (1.0 / 3.0)) if per_site > 0 else 0
    edge_all -= edge_all % n_dev  # x must split evenly
    return {
        "scenario": scenario.name,
        "material": prep.material.name,
        "site_shape": list(site_shape),
        "block": b,
        "sites": sites,
        "crystal_sites": int(round(sites * fill)),
        "bytes_per_site": round(per_site, 2),
        "bytes_per_site_step": round(step_per_site, 2),
        "bytes_per_site_frame": round(frame_per_site, 2),
        "memory_bytes": int(round(per_site, 2) * sites),  # from the rounded bytes_per_site it is shown with
        "dt_s": prep.dt_s,
        "dt_limit_s": prep.dt_limit_s,
        "dt_limit": prep.dt_reason,
        "n_frames": prep.n_frames,
        "n_steps": n_steps,
        "site_updates_per_s": rate,
        "estimated_time_s": n_steps * sites / rate,
        "device": str(jax.devices()[0].device_kind),
        "n_devices": jax.device_count(),
        "device_memory_bytes": mem_total,
        "device_memory_source": mem_what,
        "largest_cube_sites": edge,
        "largest_cube_um": [round(edge * b * a / 1e4, 3) for a in prep.cell_A],
        "largest_cube_sites_all_devices": edge_all,
    }
