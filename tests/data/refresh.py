#!/usr/bin/env python3
"""Copy the test data in again from the shared data folder and rewrite ``MANIFEST.sha256`` (standard library only).

    python tests/data/refresh.py --check                 # which listed files differ from the shared folder; copies nothing
    python tests/data/refresh.py                         # copy every file the manifest lists, rewrite the manifest
    python tests/data/refresh.py --add "isotherms/x/y.csv" --add "isotherms/x/LICENSE-MIT.txt"   # bring in new files
    python tests/data/refresh.py --remove "isotherms/x/y.csv"   # drop a file (deletes the copy)

The source is ``--from FOLDER``, else ``$TWIN_SHARED_DATA``, else ``../shared/data`` beside the checkout. Files are
copied byte for byte and keep their paths relative to that folder. Afterwards update the file table of
``tests/data/README.md`` (source, licence, citation of anything new) and run
``.venv/bin/python -m pytest -p no:xdist -q tests/test_data_manifest.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "MANIFEST.sha256"
HEADER = "# sha256  bytes  path (relative to this folder; split each line on whitespace at most twice, paths may contain spaces)"


def read_manifest(path: Path = MANIFEST) -> dict[str, tuple[str, int]]:
    """``{relative path: (sha256, size)}`` of a manifest in the format of ``../shared/data/MANIFEST.sha256``."""
    out: dict[str, tuple[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sha, size, rel = line.split(None, 2)
        out[rel] = (sha, int(size))
    return out


def digest(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def write_manifest(paths: list[str]) -> None:
    lines = [HEADER]
    for rel in sorted(paths):
        sha, size = digest(HERE / rel)
        lines.append(f"{sha}  {size:>7}  {rel}")
    MANIFEST.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("TWIN_SHARED_DATA") or str(HERE.parents[2] / "shared" / "data")
    parser.add_argument("--from", dest="source", default=default, help=f"the shared data folder (default {default})")
    parser.add_argument("--add", action="append", default=[], metavar="REL", help="a further file to copy in")
    parser.add_argument("--remove", action="append", default=[], metavar="REL", help="a file to drop")
    parser.add_argument("--check", action="store_true", help="only compare with the shared folder")
    args = parser.parse_args(argv)
    source = Path(args.source)
    if not source.is_dir():
        print(f"refresh: shared data folder not found: {source}", file=sys.stderr)
        return 2
    listed = [rel for rel in read_manifest() if rel not in args.remove]
    wanted = listed + [rel for rel in args.add if rel not in listed]
    missing = [rel for rel in wanted if not (source / rel).is_file()]
    if missing:
        print(f"refresh: not in {source}: {', '.join(missing)}", file=sys.stderr)
        return 2
    changed = [rel for rel in wanted if not (HERE / rel).is_file() or digest(source / rel) != digest(HERE / rel)]
    for rel in changed:
        print(f"{'differs' if args.check else 'copied'}: {rel}")
    if args.check:
        return 1 if changed else 0
    for rel in changed:
        (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, HERE / rel)
    for rel in args.remove:
        (HERE / rel).unlink(missing_ok=True)
    write_manifest(wanted)
    print(f"refresh: {len(wanted)} files listed in {MANIFEST.name}, {len(changed)} copied from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
