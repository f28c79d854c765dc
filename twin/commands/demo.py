"""``twin demo [-o OUT]``: the end-to-end demo on the embedded default scenario (:mod:`twin.demo`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mofcore.outputs import check_output_dir
from twin.commands._common import add_overwrite, locked, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run scenario → simulation → XRD → synthetic measurement → fit → report on the embedded default",
        description=(
            "Simulate the embedded default scenario (a powder of MIL-53(Al) crystals with a log-normal size "
            "distribution through a CO2 pressure swing at 303 K), compute the powder XRD series of every frame, "
            "draw a noisy 'measured' series with known truth from it, fit that series (sequential refinement, "
            "switching pressures, hysteresis, coherent-domain sizes) and write the HTML report. Every file a stage "
            "reads or writes stays in OUT, so each step can be rerun with its own command (twin run, observe, "
            "fit, report; run and fit with --overwrite). Takes about two minutes on a 2-core CPU. OUT must be "
            "new or empty, or hold an earlier demo (OUT/.twin-demo.json lists the files the demo wrote; with "
            "--overwrite only those are deleted and replaced). OUT/.twin.lock keeps other twin commands out of OUT meanwhile."
        ),
        epilog="The scenario: datasets/scenarios/demo.toml (copied to OUT/scenario.toml). Stages: twin/demo.py.",
    )
    parser.add_argument("-o", "--output", metavar="OUT", default="demo-output",
                        help="output directory (default: demo-output): new, empty, or an earlier demo's (with "
                             "--overwrite); a non-empty directory the demo did not make is refused")
    parser.add_argument("--json", action="store_true",
                        help='print {"report": path, "stages": [{"name", "seconds"}], "missing": [...]} as one line')
    parser.add_argument("--quiet", action="store_true", help="no stage messages or progress bars")
    add_overwrite(parser, "an earlier demo (only the files listed in OUT/.twin-demo.json; an input you changed "
                          "there, or a file of yours in OUT/measured/, is refused)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from twin.demo import run_demo

    out = check_output_dir(Path(args.output))
    quiet = args.quiet or args.json

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    with locked(out, args):
        result = run_demo(out, overwrite=args.overwrite, show_progress=not quiet, say=say)
    if args.json:
        print_json({"report": str(result.report), "stages": [{"name": n, "seconds": s} for n, s in result.stages],
                    "missing": result.missing})
    else:
        for item in result.missing:
            print(f"not in this version: {item}")
        print(f"report written to {result.report}")
    return 0
