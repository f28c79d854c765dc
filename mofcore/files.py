"""Reading the small text files users hand the package (scenarios, fit files, material and instrument files) safely.

One path for all of them, so that every command refuses the same hostile inputs with the same one-line message:

* :func:`regular_file_problem` looks at a path with ``stat`` only (never ``open``): a FIFO would block forever,
  ``/dev/zero`` would never end, a symbolic-link loop is not "not found";
* :func:`read_text_file` refuses anything but a regular file, refuses a file above a size limit before reading it,
  and turns unreadable or non-UTF-8 files into the caller's error type;
* :func:`parse_toml` turns TOML syntax errors and nesting too deep for :mod:`tomllib` into the caller's error type;
* :func:`read_toml_file` is the two together.

Every message starts with the file: ``fit.toml: expected a fit file (TOML), got a FIFO (named pipe)``.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from mofcore.errors import TwinError

__all__ = ["MAX_TOML_BYTES", "regular_file_problem", "size_text", "read_text_file", "parse_toml", "read_toml_file"]

#: TOML files of this package (scenarios, fit, material and instrument files) are a few kB; anything above this is
#: refused before it is read.
MAX_TOML_BYTES = 10_000_000


def size_text(n_bytes: float) -> str:
    """A byte count as a message shows it: ``3.2 GB``, ``512 kB``, ``17 bytes`` (decimal units)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{int(n_bytes)} bytes"


def regular_file_problem(path: str | Path) -> str | None:
    """``None`` when ``path`` is (a link to) a regular file, else what it is, for a message: ``"no such file"``,
    ``"a FIFO (named pipe)"``, ``"a folder"``, ``"a character device"``, ``"a symbolic link loop (…)"``, ….

    Only ``stat`` is called, which never blocks: opening a FIFO would wait forever for a writer, reading a
    character device such as ``/dev/zero`` would never end. A symbolic-link loop is named as such, not as a
    missing file.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link (its target does not exist)" if os.path.islink(path) else "no such file"
    except ValueError:  # a NUL character in the name
        return "not a usable file name (it contains a NUL character)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (too many levels of symbolic links)"
        if exc.errno == errno.ENOTDIR:
            return "no such file (a part of the path is a file, not a folder)"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def read_text_file(path: str | Path, *, what: str, error: type[TwinError],
                   max_bytes: int = MAX_TOML_BYTES) -> str:
    """The UTF-8 text of ``path``, or ``error`` naming the file: missing (``"<path>: <what> not found"``), not a
    regular file (``"expected <what>, got a FIFO (named pipe)"``), larger than ``max_bytes`` (checked before
    reading), unreadable or not UTF-8.

    Args:
        what: what the file should be, for messages: ``"a fit file (TOML)"``.
    """
    path = Path(path)
    problem = regular_file_problem(path)
    if problem == "no such file":
        raise error(f"{path}: no such file (expected {what})")
    if problem is not None:
        raise error(f"{path}: expected {what}, got {problem}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: a file of {size_text(size)} is larger than the {size_text(max_bytes)} limit "
                        f"for {what}")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); expected {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None


def parse_toml(text: str, source: str, error: type[TwinError]) -> dict[str, Any]:
    """Parse TOML text; syntax errors and nesting too deep for the parser raise ``error`` naming ``source``.

    :mod:`tomllib` recurses once per nested array or inline table and runs out of Python's stack after a few
    hundred levels (``a = [[[[…]]]]``); no file of ours nests deeper than three.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise error(f"{source}: not valid TOML (arrays or inline tables nested too deeply for the parser, "
                    f"a few hundred levels; expected at most a few)") from None


def read_toml_file(path: str | Path, *, what: str, error: type[TwinError], source: str | None = None,
                   max_bytes: int = MAX_TOML_BYTES) -> dict[str, Any]:
    """:func:`read_text_file` then :func:`parse_toml`; ``source`` names the file in syntax errors (default: the
    file name)."""
    path = Path(path)
    return parse_toml(read_text_file(path, what=what, error=error, max_bytes=max_bytes),
                      source if source is not None else path.name, error)
