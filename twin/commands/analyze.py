"""``twin analyze OUT``: transition pressures per cycle, hysteresis widths, domain sizes of a finished run."""

from __future__ import annotations

import argparse

from twin.commands._common import not_available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="transition pressure per cycle and branch, hysteresis width and domain sizes of a run",
        description="Analyse OUT/trajectory.h5; with --json print one JSON object on stdout.",
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5")
    parser.add_argument("--json", action="store_true", help="print the analysis as one JSON object")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    raise not_available("twin analyze", "the cycling analysis helpers")
