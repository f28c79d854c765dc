"""Helpers shared by the subcommands: honest "not available yet" exits, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

from tqdm import tqdm

from twin.errors import NotAvailableError

__all__ = ["not_available", "print_json", "progress", "ProgressBar"]


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
