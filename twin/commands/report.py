"""``twin report OUT``: build the self-contained HTML comparison report of a run."""

from __future__ import annotations

import argparse

from twin.commands._common import not_available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write OUT/report/index.html (figures embedded) and a JSON summary for a run and its fit",
        description="Build one self-contained HTML page comparing simulation and measurement for the run in OUT.",
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5 (and fit_result.json)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    raise not_available("twin report", "the report builder")
