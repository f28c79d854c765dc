"""``twin datasets``: the data sets the package knows, fetched into a cache with checksums, and local folders.

* ``twin datasets list [--json]`` — the catalogue (``datasets/catalogue.toml``: name, DOI/URL, licence,
  description, files with sha256) plus the folders registered by the user, with where each is found.
* ``twin datasets fetch NAME [--cache DIR]`` — download every file of a catalogued data set that has
  a URL into the cache with :mod:`pooch`, which checks each file's sha256 (a mismatch is an error and
  the file is not kept). Without a network it exits 2 with one line saying so.
* ``twin datasets register NAME FOLDER`` — remember a local folder under a name (sha256 of each file
  recorded) so that ``twin datasets path NAME`` and ``verify`` find and check it later.
* ``twin datasets path NAME`` / ``verify NAME`` — where a data set lies (cache, registered folder or
  the shared data beside the checkout); whether its files still match their checksums.

The cache is ``$TWIN_DATA_CACHE`` or the user cache folder of ``operando-mof-twin`` (pooch's
``os_cache``); the registry of local folders is ``registry.toml`` in it.
"""

from __future__ import annotations

import argparse
import logging
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mofcore.atomic import write_text_atomic
from twin.commands._common import print_json
from twin.datasets import dataset_path, file_sha256
from twin.errors import DataFormatError, NotAvailableError, TwinError

__all__ = ["register", "load_catalogue", "cache_dir", "registered", "locate"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list, fetch (with checksums) and register data sets (DOI/URL, licence, checksum, description)",
        description="List the data sets in the package catalogue, fetch one into the cache, or register a local folder.",
    )
    parser.add_argument("action", nargs="?", default="list", choices=["list", "fetch", "register", "path", "verify"],
                        help="what to do (default: list)")
    parser.add_argument("name", nargs="?", help="data set name (fetch, register, path, verify)")
    parser.add_argument("folder", nargs="?", help="local folder (register)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cache", default=None, help="cache folder (default: $TWIN_DATA_CACHE or the user cache)")
    parser.set_defaults(handler=_handle)


def load_catalogue() -> list[dict[str, Any]]:
    """The catalogued data sets (``datasets/catalogue.toml``)."""
    path = dataset_path("catalogue.toml")
    if not path.is_file():
        return []
    try:
        return list(tomllib.loads(path.read_text(encoding="utf-8")).get("datasets", []))
    except tomllib.TOMLDecodeError as exc:
        raise DataFormatError(f"{path.name}: {exc}") from None


def cache_dir(override: str | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("TWIN_DATA_CACHE")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("operando-mof-twin"))


def registered(cache: Path) -> dict[str, dict[str, Any]]:
    """Local folders registered by the user: name → {folder, files: {relpath: sha256}}."""
    reg = cache / "registry.toml"
    if not reg.is_file():
        return {}
    try:
        return dict(tomllib.loads(reg.read_text(encoding="utf-8")).get("folders", {}))
    except tomllib.TOMLDecodeError as exc:
        raise DataFormatError(f"{reg}: {exc} (earlier versions wrote some file names as invalid TOML: delete the "
                              "file and register the folders again)") from None


#: TOML basic-string escapes (every other control character as \uXXXX)
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str, where: str = "registry.toml") -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped, everything else
    (any Unicode, 🧪 included) written as it is in UTF-8.

    Raises:
        DataFormatError: ``text`` holds a lone surrogate (a file name that is not valid UTF-8 on this
            system), which TOML cannot represent; ``where`` names it.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            shown = where.encode("utf-8", "backslashreplace").decode("utf-8")
            raise DataFormatError(f"{shown}: the name {text.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8, "
                                  "so it cannot be recorded in the registry; rename it")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def registry_text(folders: dict[str, dict[str, Any]]) -> str:
    """The registry file: valid TOML for any data set name, folder and file names (checked by reading it back)."""
    lines = ["# folders registered with `twin datasets register NAME FOLDER`", ""]
    for name, entry in sorted(folders.items()):
        folder = str(entry["folder"])
        lines.append(f"[folders.{toml_string(name, 'data set name')}]")
        lines.append(f"folder = {toml_string(folder, folder)}")
        lines.append("files = { " + ", ".join(f"{toml_string(k, str(Path(folder) / k))} = {toml_string(v)}"
                                             for k, v in sorted(entry["files"].items())) + " }")
        lines.append("")
    text = "\n".join(lines)
    if tomllib.loads(text).get("folders", {}) != {k: {"folder": str(v["folder"]), "files": dict(v["files"])}
                                                  for k, v in folders.items()}:
        raise RuntimeError("registry.toml: the written text does not read back as the registry (a bug)")
    return text


def _write_registry(cache: Path, folders: dict[str, dict[str, Any]]) -> None:
    text = registry_text(folders)  # before anything is written: a name TOML cannot hold is refused here
    cache.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cache / "registry.toml", text)


def _shared_root() -> Path:
    env = os.environ.get("TWIN_SHARED_DATA")
    if env:
        return Path(env)
    return dataset_path().parent.parent / "shared" / "data"


def locate(entry: dict[str, Any], cache: Path) -> Path | None:
    """Where a catalogued data set's files are: the cache (fetched) or the shared data folder."""
    fetched = cache / entry["name"]
    if fetched.is_dir() and any(fetched.iterdir()):
        return fetched
    shared = _shared_root() / entry.get("shared_folder", "")
    if entry.get("shared_folder") and shared.is_dir():
        return shared
    return None


def _find(name: str) -> dict[str, Any]:
    catalogue = load_catalogue()
    for entry in catalogue:
        if entry.get("name") == name:
            return entry
    known = ", ".join(e.get("name", "?") for e in catalogue)
    raise TwinError(f"unknown data set {name!r}; known: {known}")


def _handle(args: argparse.Namespace) -> int:
    cache = cache_dir(args.cache)
    if args.action == "list":
        return _list(args, cache)
    if not args.name:
        raise TwinError(f"twin datasets {args.action}: a data set NAME is required")
    if args.action == "fetch":
        return _fetch(args, cache)
    if args.action == "register":
        return _register(args, cache)
    if args.action == "path":
        path = _path_of(args.name, cache)
        print_json({"name": args.name, "path": str(path)}) if args.json else print(path)
        return 0
    return _verify(args, cache)


def _list(args: argparse.Namespace, cache: Path) -> int:
    entries = load_catalogue()
    folders = registered(cache)
    if args.json:
        out = []
        for e in entries:
            where = locate(e, cache)
            out.append({**{k: v for k, v in e.items() if k != "files"}, "n_files": len(e.get("files", [])),
                        "files": e.get("files", []), "available_at": str(where) if where else None})
        print_json({"datasets": out, "registered": {k: {"folder": v["folder"], "n_files": len(v.get("files", {}))}
                                                     for k, v in folders.items()}, "cache": str(cache)})
        return 0
    for e in entries:
        where = locate(e, cache)
        status = "available" if where else ("fetchable" if any("url" in f for f in e.get("files", [])) else "not here")
        print(f"{e.get('name', '?'):28s} {e.get('licence', '?'):11s} {status:10s} {e.get('description', '')}")
        ident = f"doi:{e['doi']}" if e.get("doi") else e.get("url", "")
        print(f"{'':28s} {len(e.get('files', []))} files; {ident}")
    for name, v in sorted(folders.items()):
        print(f"{name:28s} {'local':11s} {'registered':10s} {v['folder']} ({len(v.get('files', {}))} files)")
    return 0


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's own log lines ("Downloading data from ...") so that a failure is one line on stderr."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fetch(args: argparse.Namespace, cache: Path) -> int:
    import pooch

    entry = _find(args.name)
    files = [f for f in entry.get("files", []) if f.get("url")]
    if not files:
        raise NotAvailableError(f"data set {args.name!r} has no downloadable files (no url in the catalogue); use the shared folder")
    target = cache / entry["name"]
    fetched = []
    for f in files:
        rel = Path(f["path"])
        try:
            with _quiet_pooch():
                path = pooch.retrieve(url=f["url"], known_hash=f"sha256:{f['sha256']}", fname=rel.name,
                                      path=target / rel.parent, progressbar=False)
        except ValueError as exc:  # pooch: hash mismatch (the downloaded file is not kept)
            raise DataFormatError(f"{args.name}: {rel}: checksum mismatch ({str(exc).splitlines()[0]})") from None
        except Exception as exc:  # noqa: BLE001 - requests/urllib errors when offline
            raise NotAvailableError(f"{args.name}: cannot download {rel} ({type(exc).__name__}); is there a network?") from None
        fetched.append(str(path))
    if args.json:
        print_json({"name": args.name, "folder": str(target), "files": fetched})
    else:
        print(f"{args.name}: {len(fetched)} files checked (sha256) in {target}")
    return 0


def _register(args: argparse.Namespace, cache: Path) -> int:
    if not args.folder:
        raise TwinError("twin datasets register NAME FOLDER: FOLDER is required")
    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        raise TwinError(f"twin datasets register: {args.folder} is not a folder")
    if any(e.get("name") == args.name for e in load_catalogue()):
        raise TwinError(f"twin datasets register: {args.name!r} is a catalogued data set; choose another name")
    files = {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    if not files:
        raise TwinError(f"twin datasets register: {args.folder} holds no files")
    folders = registered(cache)
    folders[args.name] = {"folder": str(folder), "files": files}
    _write_registry(cache, folders)
    if args.json:
        print_json({"name": args.name, "folder": str(folder), "n_files": len(files)})
    else:
        print(f"registered {args.name}: {folder} ({len(files)} files)")
    return 0


def _path_of(name: str, cache: Path) -> Path:
    folders = registered(cache)
    if name in folders:
        return Path(folders[name]["folder"])
    entry = _find(name)
    where = locate(entry, cache)
    if where is None:
        raise NotAvailableError(f"data set {name!r} is neither fetched nor in the shared folder; run `twin datasets fetch {name}`")
    return where


def _verify(args: argparse.Namespace, cache: Path) -> int:
    folders = registered(cache)
    if args.name in folders:
        root = Path(folders[args.name]["folder"])
        expected = dict(folders[args.name]["files"])
    else:
        entry = _find(args.name)
        root = _path_of(args.name, cache)
        expected = {f["path"]: f["sha256"] for f in entry.get("files", [])}
        if root == cache / entry["name"]:
            expected = {k: v for k, v in expected.items() if any(f["path"] == k and f.get("url") for f in entry["files"])}
    bad = []
    for rel, sha in expected.items():
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif file_sha256(p) != sha:
            bad.append(f"{rel} (sha256 differs)")
    if args.json:
        print_json({"name": args.name, "folder": str(root), "checked": len(expected), "bad": bad})
    else:
        print(f"{args.name}: {len(expected) - len(bad)}/{len(expected)} files match in {root}")
        for b in bad:
            print(f"  {b}")
    if bad:
        raise DataFormatError(f"{args.name}: {len(bad)} of {len(expected)} files do not match the catalogue: {bad[0]}")
    return 0
