"""``twin datasets``: the data sets the package knows (catalogue in ``datasets/catalogue.toml``)."""

from __future__ import annotations

import argparse
import tomllib

from twin.commands._common import print_json
from twin.datasets import dataset_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list the catalogued data sets (DOI/URL, licence, checksum, description)",
        description="List the data sets in the package catalogue.",
    )
    parser.add_argument("action", nargs="?", default="list", choices=["list"], help="what to do (default: list)")
    parser.add_argument("--json", action="store_true", help="print the catalogue as one JSON object")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    path = dataset_path("catalogue.toml")
    catalogue = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"datasets": []}
    entries = catalogue.get("datasets", [])
    if args.json:
        print_json({"datasets": entries})
        return 0
    for entry in entries:
        print(f"{entry.get('name', '?'):28s} {entry.get('licence', '?'):12s} {entry.get('description', '')}")
    return 0
