"""``twin run``."""

from __future__ import annotations

import argparse

from twin.commands._common import not_available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="(being written)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    raise not_available("twin run", "foundation")
