"""``twin observe OUT --technique NAME INSTRUMENT.toml`` (``--xrd INSTRUMENT.toml`` for short): what the
instruments would record at every frame of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from mofcore.outputs import check_output_dir
from twin.commands._common import locked, note, read_notices_on_stderr
from twin.errors import TwinError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "observe",
        help="compute instrument observables (powder XRD, …) for every frame of a run",
        description=(
            "Read OUT/trajectory.h5 and write what an instrument would record at every frame, with the frame "
            "conditions, to OUT/observables/NAME.h5 (one jitted, batched evaluation over frames), plus "
            "OUT/observables/NAME_first.csv and NAME_last.csv. The techniques come from the registry "
            "(`twin observe --list` names them); for powder XRD, phase amounts, lattice parameters, η spread "
            "(microstrain) and the coherent-domain size distribution of each phase come from the trajectory. "
            "Observing again replaces NAME.h5 and keeps the measured frames stored there (by `twin fit` or "
            "--measured) when the new axis is the same, else says on stderr that they were dropped. "
            "OUT/.twin.lock keeps other twin commands out of OUT meanwhile."
        ),
        epilog="Instrument file format of XRD: docs/xrd.md; a laboratory Cu Kα diffractometer ships as the "
               "instrument lab_cuka (`--xrd lab_cuka`; `twin demo` copies its file into its output). "
               "Adding a technique: docs/adding-a-technique.md.",
    )
    parser.add_argument("out", metavar="OUT", nargs="?", help="run directory holding trajectory.h5")
    parser.add_argument("--technique", nargs=2, action="append", metavar=("NAME", "INSTRUMENT.toml"), default=[],
                        help="a technique of the registry and its instrument: a file, or the name of a shipped one "
                             "(lab_cuka; `--list` names them) (repeat for several)")
    parser.add_argument("--xrd", metavar="INSTRUMENT.toml", help="short for --technique xrd INSTRUMENT.toml (e.g. --xrd lab_cuka)")
    parser.add_argument("--list", action="store_true", help="list the techniques and exit")
    parser.add_argument("--measured", metavar="PATH",
                        help="a measured in situ series (a folder of files in any format `twin inspect` reads, with "
                             "a conditions log that has a time column, or one HDF5/NeXus file) of the one technique "
                             "given: the series is simulated on its points and the measured frames are stored "
                             "beside the simulated ones, matched by time, for the report's overlay")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from instruments.registry import techniques

    if args.list:
        from twin.observe import shipped_instruments

        for t in techniques():
            state = "observe" if t.observable else "fit only"
            print(f"{t.name:18s} {t.axis_name} ({t.axis_unit}), {state}: {t.summary}")
        print("shipped instruments (give the name in place of a file): " + ", ".join(shipped_instruments()))
        return 0
    requests = [tuple(pair) for pair in args.technique] + ([("xrd", args.xrd)] if args.xrd else [])
    if not args.out:
        raise TwinError("OUT: the run directory is required (twin observe OUT --technique NAME INSTRUMENT.toml)")
    if not requests:
        raise TwinError("--technique NAME INSTRUMENT.toml (or --xrd INSTRUMENT.toml) is required; "
                        "`twin observe --list` names the techniques")
    if args.measured and len(requests) != 1:
        raise TwinError("--measured belongs to one technique; give one --technique with it")
    out = Path(args.out)
    no_run = f"no trajectory.h5 here (run `twin run SCENARIO.toml -o {out}` first)"
    check_output_dir(out, option="OUT", must_exist=True, missing=no_run)
    check_output_dir(out / "observables", option="OUT")
    if not (out / "trajectory.h5").is_file():
        raise TwinError(f"{out}: {no_run}")
    from twin.observe import observe, resolve_instrument, write_first_last_csv

    requests = [(name, resolve_instrument(ref, where=f"--technique {name}")) for name, ref in requests]

    with locked(out, args, create=False), read_notices_on_stderr("observe"):
        for name, instrument in requests:
            path = observe(out, name, instrument, args.measured, say=lambda message: note("observe", message))
            csvs = write_first_last_csv(path)
            print(f"{name} series written to {path} (and {', '.join(str(c) for c in csvs)})")
    return 0
