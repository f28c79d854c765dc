"""Helpers shared by the subcommands: honest "not available yet" exits, JSON output, progress bars, the
output directory's lock and the ``--overwrite`` option."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mofcore.outputs import OutputLock, lock_output
from twin.errors import NotAvailableError

__all__ = ["not_available", "print_json", "progress", "ProgressBar", "command_line", "locked", "add_overwrite",
           "note"]


def not_available(what: str, issue: str) -> NotAvailableError:
    """The error a subcommand raises for a capability this version does not have yet (exit status 2)."""
    return NotAvailableError(f"{what} is not available in this version yet ({issue})")


def print_json(obj: Any) -> None:
    """Print one JSON object on one line of stdout (the machine-readable form of ``--json``)."""
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def progress(total: float, desc: str, unit: str = "it", disable: bool | None = None) -> tqdm:
    """A progress bar on stderr; hidden automatically when stderr is not a terminal unless forced."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True, leave=False)


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
