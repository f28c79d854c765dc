"""Timing shared by the benchmarks: wall time of a JAX call after its compilation, with the spread of repeats."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["timed", "choose_tier"]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, tuple[float, float], float, list[float]]:
    """``(median, (min, max), first, times)``: the wall times [s] of ``repeats`` calls of ``fn`` after one untimed
    call (``first``: compilation plus the first run), each waited for with :func:`jax.block_until_ready`."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (min(times), max(times)), first, times


def choose_tier(description: str, tiers: dict[str, dict[str, Any]], argv: list[str] | None = None
                ) -> tuple[str, dict[str, Any]]:
    """``(name, configuration)`` of the tier chosen on the command line: one ``--NAME`` flag per tier, ``quick`` by
    default."""
    parser = argparse.ArgumentParser(description=description)
    tier = parser.add_mutually_exclusive_group()
    for name in tiers:
        tier.add_argument(f"--{name}", dest="tier", action="store_const", const=name)
    name = parser.parse_args(argv).tier or "quick"
    return name, tiers[name]
