"""``twin fit FIT.toml -o OUT``: fit the twin to measured data."""

from __future__ import annotations

import argparse

from twin.commands._common import not_available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="fit the twin to measured data (pattern level and twin level)",
        description=(
            "Read a fit file naming a scenario template, measurement files, free parameters with bounds or "
            "priors and the techniques; write OUT/fit_result.json with values, uncertainties and figures of merit."
        ),
    )
    parser.add_argument("fit_file", metavar="FIT.toml", nargs="?", help="fit description")
    parser.add_argument("-o", "--output", metavar="OUT", help="output directory")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    raise not_available("twin fit", "fitting the twin to measurements")
