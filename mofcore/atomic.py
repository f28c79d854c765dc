"""Atomic file writes: a result file is either the previous complete one or the new complete one, never half.

:func:`atomic_path` hands out a temporary file in the target's folder (same file system, so the final
``os.replace`` is an atomic rename on POSIX and Windows) and renames it over the target only when the block
that writes it finishes, after an fsync of the temporary file (so that a crash after the rename cannot leave an
empty file); on any error, the interrupt included, the temporary file is removed and an earlier file at the
target is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path(p) as tmp:`` write ``tmp`` (any writer: h5py, pandas, open); it becomes ``p`` at the end."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    # mkstemp creates the file 0600; give it the mode a plain open() would (the umask's) or the replaced file's
    try:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
    except OSError:
        pass
    try:
        yield tmp
        _flush_to_disk(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _flush_to_disk(path: Path) -> None:
    """fsync the finished temporary file, so that after a crash the renamed file is never an empty one."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return Path(path)
