"""Helpers shared by the subcommands: honest "not available yet" exits, JSON output, progress bars, the
output directory's lock and the ``--overwrite`` option."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mofcore.outputs import OutputLock, lock_output
from twin.errors import NotAvailableError

__all__ = ["not_available", "print_json", "progress", "LineProgress", "StageProgress", "ProgressBar", "command_line", "locked", "add_overwrite",
           "note", "read_notices", "print_read_notices", "read_notices_on_stderr"]


def not_available(what: str, issue: str) -> NotAvailableError:
    """The error a subcommand raises for a capability this version does not have yet (exit status 2)."""
    return NotAvailableError(f"{what} is not available in this version yet ({issue})")


def print_json(obj: Any) -> None:
    """Print one JSON object on one line of stdout (the machine-readable form of ``--json``)."""
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def progress(total: float, desc: str, unit: str = "it", disable: bool | None = None) -> "tqdm | LineProgress":
    """Progress on stderr: a tqdm bar with rate and ETA on a terminal; when stderr is not a terminal (a log file,
    a batch job), a :class:`LineProgress` that prints a line every :data:`LINE_STEP` of the work instead of
    nothing. ``disable=True`` (``--quiet``) shows neither."""
    if disable is None and not _stderr_is_terminal():
        return LineProgress(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True, leave=False)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


#: a :class:`LineProgress` prints when another tenth of the work is done
LINE_STEP = 0.1


class LineProgress:
    """Progress for a stderr that is not a terminal: one line per tenth of the work and one at the end,
    ``twin run demo: 40 % (40/100 frame), 12 s elapsed, about 18 s left`` (the part of tqdm's interface the
    commands use: ``update``, ``n``, ``total``, ``close``, a context manager)."""

    def __init__(self, total: float, desc: str, unit: str = "it"):
        self.total, self.desc, self.unit, self.n = float(total), desc, unit, 0.0
        self._start = time.monotonic()
        self._next = LINE_STEP
        self._closed = False

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.total > 0 and self.n / self.total >= self._next - 1e-12 and self.n < self.total:
            self._line()
            done = self.n / self.total
            self._next = (math.floor(done / LINE_STEP + 1e-9) + 1) * LINE_STEP

    def _line(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self._start
        done = self.n / self.total if self.total > 0 else 1.0
        left = "" if final or done <= 0 else f", about {_duration(elapsed * (1.0 - done) / done)} left"
        count = f"{self.n:g}/{self.total:g} {self.unit}"
        print(f"{self.desc}: {100 * done:.0f} % ({count}), {_duration(elapsed)} elapsed{left}", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if not self._closed and self.n > 0:
            self._line(final=True)
        self._closed = True

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class StageProgress:
    """Progress of a job made of named stages, some with a measured fraction (a sampler inside one compiled
    call reports its steps through :mod:`twin.fit.progress`). On a terminal each stage is announced when it
    starts and a measured one gets a tqdm bar with its ETA; otherwise (a log file, a batch job) each stage is
    written as one line when it ends, with its duration, and a measured one as a line per tenth — so that a
    command refused at its first stage still prints only its one-line error. ``disable=True`` shows nothing.
    Call it as ``progress(stage, done, total)``."""

    def __init__(self, command: str, disable: bool | None = None):
        self.command, self.disable = command, disable
        self._terminal = _stderr_is_terminal()
        self._stage: str | None = None
        self._started = 0.0
        self._bar: Any = None

    def __call__(self, stage: str, done: float = 0.0, total: float = 0.0) -> None:
        if self.disable:
            return
        if stage != self._stage:
            self._finish_stage()
            self._stage, self._started = stage, time.monotonic()
            if self._terminal:
                print(f"twin {self.command}: {stage}", file=sys.stderr, flush=True)
        if total > 0:
            if self._bar is None:
                self._bar = progress(total, f"twin {self.command}: {stage}", unit="step", disable=self.disable)
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._finish_stage()

    def _finish_stage(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._stage is not None and not self._terminal:
            took = _duration(time.monotonic() - self._started)
            print(f"twin {self.command}: {self._stage} ({took})", file=sys.stderr, flush=True)
        self._stage = None

    def close(self) -> None:
        self._finish_stage()

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        if isinstance(self._bar, LineProgress):  # failed: say nothing more than the error
            self._bar._closed = True
        elif self._bar is not None:
            self._bar.close()
        self._bar, self._stage = None, None


class ProgressBar:
    """A :func:`progress` bar behind a plain callable, for library loops that report ``(done, total, ...)``.

    ``bar(done, total, *extra)`` creates the bar on the first call (when ``total`` is known) and moves it to
    ``done``; the engine's ``run_scenario(on_progress=...)`` takes it. Close it (or use it as a context manager)
    when the loop ends.
    """

    def __init__(self, desc: str, unit: str = "it", disable: bool | None = None):
        self.desc, self.unit, self.disable = desc, unit, disable
        self._bar: tqdm | None = None

    def __call__(self, done: float, total: float, *_: Any) -> None:
        if self._bar is None:
            self._bar = progress(total, self.desc, unit=self.unit, disable=self.disable)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def command_line(args: argparse.Namespace) -> str:
    """The command as the user typed it (for the lock file), or ``twin NAME`` when run from Python."""
    if Path(sys.argv[0]).name in ("twin", "cli.py", "__main__.py"):
        return shlex.join(["twin", *sys.argv[1:]])
    return f"twin {args.command}"


@contextmanager
def locked(out: Path, args: argparse.Namespace, *, create: bool = True) -> Iterator[OutputLock]:
    """Hold ``OUT/.twin.lock`` while the command writes there (released on success, error and Ctrl-C)."""
    with lock_output(out, command_line(args), create=create) as lock:
        yield lock


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: replace results already in the output directory (refused without it)."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} already in the output directory; without it such a directory is refused "
                             "(exit 2) and nothing is written")


def note(command: str, message: str) -> None:
    """One line on stderr that the user should read (``twin observe: note: …``)."""
    print(f"twin {command}: note: {message}", file=sys.stderr, flush=True)


#: how a user states an axis in a file, for notices of commands that have no --axis option
_HEADER_HINT = 'a header such as "2theta (deg)" or "q (1/nm)" in the file states it'


def read_notices(result: Any, hint: str = _HEADER_HINT) -> list[str]:
    """The one-line notices a read measurement calls for, from its metadata: an axis the reader assumed
    (``axis_assumed``), a unit it assumed (``axis_unit_assumed``), and its ``warnings``. A series gives one line
    per kind, counting its frames, not one line per frame."""
    items = list(getattr(result, "items", None) or [result])
    n = len(items)
    source = getattr(result, "source", "") or getattr(items[0], "source", "")
    of = (lambda k: f"{k} of {n} frames: ") if hasattr(result, "items") else (lambda k: "")  # noqa: E731
    lines = []
    assumed = [m for m in items if m.metadata.get("axis_assumed")]
    if assumed:
        lines.append(f"{source}: {of(len(assumed))}no header names the axis; read as {assumed[0].axis.label}, an "
                     f"assumption ({hint})")
    no_unit = [m for m in items if m.metadata.get("axis_unit_assumed")]
    if no_unit:
        m = no_unit[0]
        lines.append(f"{source}: {of(len(no_unit))}the header names the {m.axis.name} axis but not its unit; "
                     f"{m.axis.unit} assumed ({hint})")
    warned = [(m, str(w)) for m in items for w in m.metadata.get("warnings", ())]
    warned += [(None, str(w)) for w in getattr(result, "metadata", {}).get("warnings", ())] if hasattr(result, "items") else []
    for m, warning in warned[:3]:
        where = m.source if m is not None and m.source and m.source != source else source
        lines.append(f"{where}: warning: {warning}")
    if len(warned) > 3:
        lines.append(f"{source}: warning: {len(warned) - 3} more warnings (see `twin inspect {source}`)")
    return lines


def print_read_notices(command: str, result: Any, hint: str = _HEADER_HINT) -> None:
    """Print :func:`read_notices` of a read measurement on stderr, one line each (``twin inspect: note: …``)."""
    for line in read_notices(result, hint):
        note(command, line)


@contextmanager
def read_notices_on_stderr(command: str, hint: str = _HEADER_HINT) -> Iterator[None]:
    """Within the block, every measured file read (through :func:`instruments.io.read_measurement`, wherever in
    the library) has its :func:`read_notices` printed on stderr: ``with read_notices_on_stderr("fit"): ...``."""
    from instruments.io import on_read

    with on_read(lambda result: print_read_notices(command, result, hint)):
        yield
