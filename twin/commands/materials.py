"""``twin materials``: list the shipped material parameter sets, or show one."""

from __future__ import annotations

import argparse

from twin.commands._common import print_json
from twin.datasets import load_material_toml, material_names, material_path
from twin.material import load_material


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "materials",
        help="list the material parameter sets shipped with the package, or show one",
        description="Without NAME, list the materials; with NAME, print its parameter file (TOML, with citations).",
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="material to show, e.g. mil53-al")
    parser.add_argument("--json", action="store_true", help="print as one JSON object")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if args.name is None:
        names = material_names()
        if args.json:
            print_json({"materials": [{"name": n, "title": load_material_toml(n).get("title", n)} for n in names]})
        else:
            width = max(len(n) for n in names)
            for name in names:
                print(f"{name:{width}s}  {load_material_toml(name).get('title', '')}")
        return 0
    path = material_path(args.name)
    if args.json:  # a variant (``extends``) as the merged parameter set, naming its base
        own = load_material_toml(args.name)
        merged = load_material(args.name).raw
        print_json({"extends": own["extends"], **merged} if "extends" in own else merged)
    else:
        print(path.read_text(encoding="utf-8"), end="")
    return 0
