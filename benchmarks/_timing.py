"""Timing shared by the benchmarks: wall time of a JAX call after its compilation, with the spread of repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["timed"]


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
