"""Helpers shared by the readers: errors with file and position, safe decoding, checked numbers.

Every reader turns anything wrong with a file into :class:`twin.errors.DataFormatError` whose message
starts with the file, then the line (text) or byte offset (binary) or member/element (archives, XML),
then what was expected and what was found, e.g.
``run3.xy, line 41: expected 2 numbers per line, got 'abc'``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mofcore.constants import XRAY_LINES_A
from mofcore.errors import DataFormatError
from mofcore.files import regular_file_problem, size_text

__all__ = [
    "fail",
    "read_bytes",
    "decode_text",
    "parse_float",
    "check_finite",
    "check_axis",
    "guard",
    "number",
    "MAX_FILE_BYTES",
    "MAX_PARSED_FILE_BYTES",
    "MAX_DECLARED_BYTES",
    "KALPHA",
    "regular_file_problem",
    "check_regular_file",
    "check_nonempty_file",
    "check_declared_size",
    "available_memory_bytes",
    "size_text",
]

#: Readers refuse files larger than this (a measured pattern, spectrum or isotherm is far smaller: 10⁴ lines,
#: a few hundred kB). Text columns are parsed by NumPy's C reader with about 3× the file size at the peak (the
#: bytes, the decoded text, the table), so the limit keeps a text reader under ~3.5 GB.
MAX_FILE_BYTES = 1_000_000_000
#: Formats parsed into Python objects before their numbers are taken (XML trees, JCAMP-DX, AIF, conditions logs)
#: need tens of times the file size; they are refused above this size (a real one is below 10 MB).
MAX_PARSED_FILE_BYTES = 100_000_000
#: Datasets and images whose declared size (as float64, what the readers convert to) exceeds this, or half the
#: memory available, are refused before anything is read: a compressed 0.8 MB HDF5 file can declare 3.2 GB.
MAX_DECLARED_BYTES = 2_000_000_000

#: Kα1, Kα2, Kβ wavelengths [Å] of the common anodes, for formats that name only the anode (one table for the
#: package: :data:`mofcore.constants.XRAY_LINES_A`, with its sources).
KALPHA = XRAY_LINES_A

T = TypeVar("T")


def fail(path: str | Path, where: str | None, message: str) -> DataFormatError:
    """The error for a malformed file: ``"<path>, <where>: <message>"`` (``where`` may be ``None``)."""
    place = f"{path}, {where}" if where else f"{path}"
    return DataFormatError(f"{place}: {message}")


def check_regular_file(path: Path, what: str = "a regular file") -> None:
    """Raise :class:`DataFormatError` unless ``path`` is (a link to) a regular file (see :func:`regular_file_problem`):
    ``"<path>: no such file"``, or ``"<path>: expected a regular file, got a FIFO (named pipe)"``."""
    problem = regular_file_problem(path)
    if problem is None:
        return
    if problem.startswith(("no such file", "cannot be read", "not a usable")):
        raise fail(path, None, problem)
    raise fail(path, None, f"expected {what}, got {problem}")


def available_memory_bytes() -> int:
    """Memory available to a new allocation on this host: ``MemAvailable`` of ``/proc/meminfo`` (Linux), else
    the free pages (``os.sysconf``), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return int(os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            continue
    return MAX_DECLARED_BYTES * 2


def check_declared_size(path: Path, where: str | None, need_bytes: int, what: str) -> None:
    """Refuse, before reading, data whose declared size does not fit the reading limit.

    The limit is :data:`MAX_DECLARED_BYTES` or half the memory available now, whichever is smaller. ``what``
    describes the data (``"a (4000, 100000) signal as float64"``); the message says what it needs and the limit.
    """
    available = available_memory_bytes()
    limit = min(MAX_DECLARED_BYTES, available // 2)
    if need_bytes > limit:
        why = (f"the {size_text(MAX_DECLARED_BYTES)} limit for a measurement read into memory"
               if limit == MAX_DECLARED_BYTES else f"half of the {size_text(available)} of memory available now")
        raise fail(path, where, f"{what} needs {size_text(need_bytes)}, limit {size_text(limit)} ({why}); "
                                f"nothing was read")


def check_nonempty_file(path: Path) -> None:
    """What :func:`read_bytes` checks (a regular file, not empty) for formats whose library opens the file itself."""
    check_regular_file(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    if size == 0:
        raise fail(path, "byte 0", "the file is empty")


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The whole file, or a :class:`DataFormatError` if it is missing, not a regular file (a FIFO, a device, a
    folder, a link loop), unreadable, empty or larger than ``limit``."""
    check_regular_file(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    if size > limit:
        raise fail(path, None, f"file of {size_text(size)} ({size} bytes) is larger than the {size_text(limit)} limit "
                               f"for a measurement file of this format")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data or data.isspace():  # (not data.strip(): that copies the whole file)
        raise fail(path, "byte 0", "the file is empty")
    return data


def decode_text(path: Path, data: bytes) -> str:
    """Decode a text format: UTF-8 (BOM stripped), UTF-16 when a BOM says so, else Windows-1252.

    NUL bytes (binary content) or undefined Windows-1252 bytes raise :class:`DataFormatError` with the
    byte offset. Vendor text exports are UTF-8 or Windows-1252 (the ° in headers); anything else
    is not a text measurement.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise fail(path, f"byte {exc.start}", "invalid UTF-16 text") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        raise fail(path, f"byte {nul}", "binary content (NUL byte) in a text format")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise fail(path, f"byte {exc.start}", "text is neither UTF-8 nor Windows-1252") from None


_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$")


def parse_float(token: str, path: Path, where: str, what: str = "a number") -> float:
    """A finite float from ``token`` (Fortran ``D`` exponents accepted); NaN, Inf and overflow refused."""
    t = token.strip()
    if not _FLOAT_RE.match(t):
        shown = t if len(t) <= 40 else t[:37] + "..."
        raise fail(path, where, f"expected {what}, got {shown!r}")
    value = float(t.replace("d", "e").replace("D", "e"))
    if not math.isfinite(value):
        raise fail(path, where, f"{what} {t!r} is out of the floating-point range")
    return value


def check_finite(path: Path, values: np.ndarray, what: str, where: Callable[[int], str]) -> None:
    """Refuse NaN/Inf: the message names the first bad element through ``where(index)``."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise fail(path, where(i), f"{what} is {number(values.flat[i])} (not a finite number)")


def check_axis(path: Path, axis: np.ndarray, what: str, where: Callable[[int], str]) -> np.ndarray:
    """A finite, strictly monotonic axis; a descending one is returned as an index order to reverse.

    Returns the permutation that makes the axis ascending (identity or reversal). Non-monotonic
    axes (a step back, a repeated value) raise with the position of the first offending point.
    """
    check_finite(path, axis, what, where)
    if axis.size < 2:
        if axis.size == 0:
            raise fail(path, None, f"no data points ({what} is empty)")
        return np.arange(axis.size)
    d = np.diff(axis)
    if np.all(d > 0):
        return np.arange(axis.size)
    if np.all(d < 0):
        return np.arange(axis.size)[::-1]
    nonzero = np.flatnonzero(d)
    sign = 1.0 if nonzero.size == 0 or d[nonzero[0]] > 0 else -1.0
    bad = int(np.flatnonzero(~(sign * d > 0))[0]) + 1
    if axis[bad] == axis[bad - 1]:
        raise fail(path, where(bad), f"{what} has a duplicate axis value {number(axis[bad])} (the same as the point before it)")
    raise fail(
        path,
        where(bad),
        f"{what} is not monotonic: {number(axis[bad])} follows {number(axis[bad - 1])} "
        f"(expected strictly {'increasing' if sign > 0 else 'decreasing'} values)",
    )


def number(value: Any) -> str:
    """A number as a message shows it: ``2``, ``12.02``, ``1e-05``, ``nan`` (never ``np.float64(2.0)``)."""
    try:
        return f"{float(value):.12g}"
    except (TypeError, ValueError):
        return str(value)


def guard(path: Path, fn: Callable[[], T], what: str, errors: Sequence[type[BaseException]] = ()) -> T:
    """Run a library call; turn its exceptions (``errors``, or any non-project ``Exception``) into DataFormatError.

    Used around third-party parsers (nmrglue, tifffile, mrcfile, zipfile) whose exceptions name no
    file or position. The library's own message is kept after the file name.
    """
    try:
        return fn()
    except DataFormatError:
        raise
    except MemoryError:
        raise fail(path, None, f"{what}: the file declares more data than fits in memory") from None
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise anything
        if errors and not isinstance(exc, tuple(errors)):
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(path, None, f"{what}: {text[:200]}") from None


def as_float_array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)
