r"""Switching analysis of a run's per-frame series: protocol branches, cycles, crossings, hysteresis.

Pure NumPy on per-frame series (host side; the series are a few thousand frames at most), shared by
``twin analyze``, the fit summaries of :mod:`twin.fit` and the report builder.

* **Branches of a protocol.** Each frame is assigned to the rising (adsorption / heating) or falling
  (desorption / cooling) branch of its driving condition by the sign of the last non-zero change; frames on
  a hold inherit the branch they were reached on. A new *cycle* starts at every falling → rising turn.
* **Switching points.** The driving value at which a phase fraction crosses ½, linearly interpolated
  between the two frames that bracket the crossing, with the branch and cycle it happened on. The
  hysteresis width is the difference between the mean rising-branch and falling-branch switching value
  (the usual definition for breathing MOFs, e.g. Boutin et al., Angew. Chem. Int. Ed. 48, 8314 (2009)).
* **Driving condition.** The condition (pressure, temperature, humidity) with the largest relative
  variation over the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Crossing", "branches", "cycle_index", "crossings", "hysteresis_width", "choose_driving"]


def branches(x: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Branch of every frame of a driving series: +1 rising, −1 falling (holds inherit the last direction).

    Args:
        x: driving condition per frame (pressure, temperature…), (n_frames,).
        rtol: changes smaller than ``rtol`` × range count as a hold.

    Returns:
        int array (n_frames,) of ±1. The frames before the first change take the first change's sign;
        a series that never changes is all +1.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.ptp(x)) if x.size else 0.0
    step = np.diff(x, prepend=x[:1])
    sign = np.where(np.abs(step) > rtol * max(span, np.finfo(float).tiny), np.sign(step), 0).astype(np.int64)
    nonzero = np.nonzero(sign)[0]
    if nonzero.size == 0:
        return np.ones_like(sign)
    # forward fill: index of the last non-zero sign at or before each frame (first one for the leading holds)
    last = np.maximum.accumulate(np.where(sign != 0, np.arange(sign.size), -1))
    last = np.where(last < 0, nonzero[0], last)
    return sign[last]


def cycle_index(branch: np.ndarray) -> np.ndarray:
    """Cycle number (0, 1, …) of every frame: increments at each falling → rising turn of ``branch``."""
    branch = np.asarray(branch)
    turns = np.concatenate([[0], (branch[1:] > 0) & (branch[:-1] < 0)]).astype(np.int64)
    return np.cumsum(turns)


@dataclass(frozen=True)
class Crossing:
    """A phase fraction crossing ½: where (driving value, time), on which branch and cycle, rising or falling."""

    value: float
    time_s: float
    frame: int
    branch: int
    cycle: int
    fraction_rising: bool


def crossings(
    fraction: np.ndarray, x: np.ndarray, time_s: np.ndarray, level: float = 0.5
) -> list[Crossing]:
    """Every crossing of ``fraction`` through ``level`` with the driving value and time interpolated linearly.

    Args:
        fraction: phase fraction per frame, (n_frames,).
        x: driving condition per frame, (n_frames,).
        time_s: frame times [s], (n_frames,).
        level: threshold (½: equal amounts of both phases).

    Returns:
        Crossings in time order; ``frame`` is the first frame at or past the level.
    """
    f = np.asarray(fraction, dtype=np.float64) - level
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    if f.size < 2:
        return []
    branch = branches(x)
    cycle = cycle_index(branch)
    above = f >= 0
    hits = np.nonzero(above[1:] != above[:-1])[0]
    f0, f1 = f[hits], f[hits + 1]
    w = np.where(f1 != f0, -f0 / np.where(f1 != f0, f1 - f0, 1.0), 0.0)
    xv = x[hits] + w * (x[hits + 1] - x[hits])
    tv = t[hits] + w * (t[hits + 1] - t[hits])
    return [
        Crossing(float(a), float(b), int(i + 1), int(branch[i + 1]), int(cycle[i + 1]), bool(f1_ > f0_))
        for a, b, i, f1_, f0_ in zip(xv, tv, hits, f1, f0)
    ]


def hysteresis_width(found: list[Crossing]) -> float | None:
    """Mean rising-branch minus mean falling-branch switching value, or ``None`` without both branches."""
    up = [c.value for c in found if c.branch > 0]
    down = [c.value for c in found if c.branch < 0]
    if not up or not down:
        return None
    return float(np.mean(up) - np.mean(down))


def choose_driving(
    time_s: np.ndarray, pressure_bar: np.ndarray, temperature_K: np.ndarray, relative_humidity: np.ndarray
) -> tuple[str, np.ndarray, str]:
    """The condition that drives the protocol: the one with the largest relative variation.

    Returns:
        ``(name, values, unit)`` with name ``"pressure"`` (bar), ``"temperature"`` (K), ``"humidity"`` (%)
        or ``"time"`` (s) when no condition changes.
    """
    candidates = [
        ("pressure", np.asarray(pressure_bar, dtype=np.float64), "bar"),
        ("temperature", np.asarray(temperature_K, dtype=np.float64), "K"),
        ("humidity", 100.0 * np.asarray(relative_humidity, dtype=np.float64), "%"),
    ]
    best, best_score = None, 0.0
    for name, values, unit in candidates:
        if values.size == 0:
            continue
        span = float(np.ptp(values))
        scale = max(float(np.max(np.abs(values))), 1e-12)
        score = span / scale
        if score > 1e-6 and score > best_score:
            best, best_score = (name, values, unit), score
    return best if best is not None else ("time", np.asarray(time_s, dtype=np.float64), "s")
