"""``twin observe OUT``: turn a trajectory into instrument observables (XRD series, spectra, images)."""

from __future__ import annotations

import argparse

from twin.commands._common import not_available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "observe",
        help="compute instrument observables (XRD, NMR, IR/Raman, TEM) for every frame of a run",
        description=(
            "Read OUT/trajectory.h5 and write the pattern or spectrum each instrument would record at every "
            "frame, with the frame conditions, into OUT/observables/."
        ),
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5")
    parser.add_argument("--xrd", metavar="INSTRUMENT.toml", help="powder diffractometer settings")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    raise not_available("twin observe (instrument forward models over a trajectory)", "the XRD forward model")
