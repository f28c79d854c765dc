"""``twin run SCENARIO.toml -o OUT``: simulate a scenario and write ``OUT/trajectory.h5``."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from mofcore.outputs import OutputError, check_output_dir
from twin.analysis import interrupted_run_message
from twin.commands._common import ProgressBar, add_overwrite, locked, not_available, note, print_json
from twin.scenario import load_scenario

#: ``--checkpoint-every`` default [min] (the engine's DEFAULT_CHECKPOINT_EVERY_S)
CHECKPOINT_EVERY_MIN = 10.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="simulate a scenario (crystal + operando protocol) and write OUT/trajectory.h5",
        description=(
            "Validate SCENARIO.toml, build the crystal lattice and the material's free energy, and evolve it "
            "through the operando protocol. Frames (conditions and per-phase summaries every frame, per-site "
            "fields at the scenario's stride) go to OUT/trajectory.h5, written atomically. OUT/checkpoint.h5 is "
            "saved every 10 minutes of wall time (--checkpoint-every), at the end of every protocol segment and at "
            "the scenario's numerics.checkpoint_interval, so that `--resume` continues an interrupted run bit for "
            "bit; a run interrupted before its first checkpoint must be started again (the same command without "
            "--resume; it replaces OUT/trajectory.h5.partial). A directory that already holds a complete run "
            "(trajectory.h5) is refused unless --overwrite is given; while the run writes, OUT/.twin.lock keeps "
            "other twin commands out of OUT."
        ),
        epilog="Scenario reference: docs/scenario.md. Trajectory format: docs/trajectory-format.md.",
    )
    parser.add_argument("scenario", metavar="SCENARIO.toml", help="scenario file")
    parser.add_argument("-o", "--output", metavar="OUT", help="output directory (default: ./<scenario stem>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    add_overwrite(parser, "a complete run (OUT/trajectory.h5; observables, fit and report there are then out of "
                          "date and said so)")
    parser.add_argument(
        "--checkpoint-every",
        type=_minutes,
        default=CHECKPOINT_EVERY_MIN,
        metavar="MIN",
        help=f"minutes of wall time between checkpoints (default {CHECKPOINT_EVERY_MIN:g}; checkpoints also at the "
        "end of every protocol segment); 0 or 'off': no checkpoints but those of the scenario's "
        "numerics.checkpoint_interval",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print sites, memory per site, total memory, estimated time and the largest crystal "
        "that fits the device memory; simulate nothing",
    )
    parser.add_argument("--json", action="store_true", help="with --dry-run: print the estimate as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="start one process per host and call jax.distributed.initialize() first (SLURM, Open MPI and TPU "
        "clusters are detected; elsewhere give --coordinator, --num-processes and --process-id): the lattice is "
        "sharded over every device of every host and process 0 writes OUT (docs/engine.md)",
    )
    parser.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: address of process 0")
    parser.add_argument("--num-processes", type=int, metavar="N", help="with --distributed: number of processes")
    parser.add_argument("--process-id", type=int, metavar="I", help="with --distributed: this process, 0..N-1")
    parser.set_defaults(handler=_handle)


def _minutes(text: str) -> float:
    """``--checkpoint-every``: minutes ≥ 0, or ``off``/``never`` (0)."""
    if text.strip().lower() in ("off", "never", "no", "none"):
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes (a number >= 0) or 'off', got {text!r}") from None
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected minutes (a number >= 0) or 'off', got {text!r}")
    return value


def _engine_run():
    if importlib.util.find_spec("twin.engine") is None or importlib.util.find_spec("twin.engine.run") is None:
        raise not_available("simulation (twin run)", "the mesoscale engine")
    from twin.engine import run as engine_run

    return engine_run


def _readable(key: str, value) -> str:
    """A human-readable gloss for the byte and second counts of the dry-run table."""
    if key.endswith("memory_bytes") and isinstance(value, (int, float)):
        return f"  ({value / 2**30:.3g} GiB)"
    if key == "estimated_time_s" and isinstance(value, (int, float)):
        hours, rest = divmod(int(round(value)), 3600)
        return f"  ({hours} h {rest // 60:02d} min {rest % 60:02d} s)"
    if key == "largest_cube_um":
        return "  (µm along a, b, c)"
    return ""


def _handle(args: argparse.Namespace) -> int:
    if args.distributed:
        _initialize_distributed(args)
    if not args.dry_run:
        check_outputs(args)
    scenario = load_scenario(args.scenario)
    engine_run = _engine_run()
    if args.dry_run:
        estimate = engine_run.dry_run(scenario)
        if args.json:
            print_json(estimate)
        else:
            for key, value in estimate.items():
                print(f"{key:32s} {value}{_readable(key, value)}")
        return 0
    out = Path(args.output) if args.output else Path(Path(args.scenario).stem)
    lead = not args.distributed or _process_index() == 0
    every_min = args.checkpoint_every
    if not lead:  # process 0 locks and writes OUT
        _refuse_replacing(out, args, quiet=True)
        engine_run.run_scenario(scenario, out, resume=args.resume, on_progress=None, show_progress=False,
                                checkpoint_every_s=every_min * 60.0 if every_min > 0 else None,
                                checkpoint_segment_ends=every_min > 0)
        return 0
    with locked(out, args):
        _refuse_replacing(out, args)
        try:
            with ProgressBar(f"twin run {scenario.name}", unit="frame", disable=True if args.quiet else None) as bar:
                path = engine_run.run_scenario(scenario, out, resume=args.resume, on_progress=bar,
                                               checkpoint_every_s=every_min * 60.0 if every_min > 0 else None,
                                               checkpoint_segment_ends=every_min > 0)
        except KeyboardInterrupt:  # Ctrl-C: say whether the run can be resumed (twin.cli prints "interrupted")
            hint = interrupted_run_message(out, Path(args.scenario).resolve())
            if hint:
                print(f"twin run: {hint}", file=sys.stderr)
            raise
    print(f"trajectory written to {path}")
    return 0


def check_outputs(args: argparse.Namespace) -> Path:
    """The output directory of a run, checked before the scenario is even read (nothing written)."""
    if args.resume and args.overwrite:
        raise OutputError("--resume continues the run in OUT and --overwrite replaces it; give one of them")
    out = check_output_dir(Path(args.output) if args.output else Path(Path(args.scenario).stem), option="-o")
    _refuse_replacing(out, args, quiet=True)  # again under the lock
    return out


def _refuse_replacing(out: Path, args: argparse.Namespace, quiet: bool = False) -> None:
    """A complete run in OUT is replaced only with --overwrite (checked under the lock)."""
    if args.resume or not (out / "trajectory.h5").exists():
        return
    if not args.overwrite:
        raise OutputError(f"{out}: already holds a run (trajectory.h5); give --overwrite to replace it, --resume to "
                          "continue an interrupted one, or another -o")
    derived = [str(p.relative_to(out)) for p in sorted((out / "observables").glob("*.h5"))]
    derived += [name for name in ("fit_result.json", "fit_series.csv", "report") if (out / name).exists()]
    if derived and not quiet:
        note("run", f"{out}: {', '.join(derived)} came from the run being replaced; run `twin observe`, `twin fit` "
                    "and `twin report` again for the new one")


def _initialize_distributed(args: argparse.Namespace) -> None:
    import os

    import jax

    if os.environ.get("JAX_PLATFORMS", "") == "cpu":  # CPU processes exchange halos through gloo
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)


def _process_index() -> int:
    import jax

    return jax.process_index()
