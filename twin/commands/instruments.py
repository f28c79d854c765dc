"""``twin instruments``: list the instrument files shipped with the package, or show one.

A shipped instrument is used by name wherever an instrument file is asked for (``twin observe OUT --xrd lab_cuka``,
``--technique nmr mil53_al_2h``); this command says which exist and what each is (the first comment line of its
file), and prints a file to copy and adapt.
"""

from __future__ import annotations

import argparse

from twin.commands._common import print_json
from twin.errors import TwinError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "instruments",
        help="list the instrument files shipped with the package, or show one",
        description=("Without NAME, list the shipped instruments (name and what it is); with NAME, print its file "
                     "(TOML) to copy and adapt. A shipped name works wherever an instrument file is asked for: "
                     "`twin observe OUT --xrd lab_cuka`."),
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="instrument to show, e.g. lab_cuka")
    parser.add_argument("--json", action="store_true",
                        help='print as one JSON object: {"instruments": [{"name", "description", "path"}]}')
    parser.set_defaults(handler=_handle)


def describe(path) -> str:
    """The first comment line of an instrument file, without its ``#``."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def _handle(args: argparse.Namespace) -> int:
    from twin.observe import shipped_instruments

    shipped = shipped_instruments()
    if args.name is None:
        rows = [{"name": name, "description": describe(path), "path": str(path)} for name, path in shipped.items()]
        if args.json:
            print_json({"instruments": rows})
        else:
            width = max((len(r["name"]) for r in rows), default=0)
            for r in rows:
                print(f"{r['name']:{width}s}  {r['description']}")
        return 0
    if args.name not in shipped:
        raise TwinError(f"NAME: no shipped instrument {args.name!r}; shipped: {', '.join(shipped) or 'none'}")
    text = shipped[args.name].read_text(encoding="utf-8")
    if args.json:
        print_json({"name": args.name, "description": describe(shipped[args.name]), "path": str(shipped[args.name]),
                    "toml": text})
    else:
        print(text, end="")
    return 0
