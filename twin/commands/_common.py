"""Helpers shared by the subcommands: honest "not available yet" exits, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

from tqdm import tqdm

from twin.errors import NotAvailableError

__all__ = ["not_available", "print_json", "progress"]


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
