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
* **Transitions per cycle** (:func:`transitions`, used by ``twin analyze``). Frames are grouped by
  (cycle, branch) of the total pressure; in each group the transition pressure is the first crossing of the
  open-phase fraction through ½ and the switched fraction is the change of the open fraction along the group
  (from the last frame before it to its last frame), as a magnitude.
* **Coherent-domain sizes** (:func:`domain_size_quantiles_nm`): the power-of-two histogram of domain sizes in
  sites (``domain_size_histogram``) as edge lengths (n·V_site)^(1/3) of cubes of the same volume; quantiles of
  the volume-weighted distribution (or the number distribution) with the cumulative weight interpolated
  linearly in ln n inside each bin.
* **Where a transition nucleated** (:func:`nucleation_sites`): from the per-class open fractions
  (``class_open_fraction``, ``class_site_fraction``), the share of the newly switched sites that are surface,
  defect and bulk sites at the onset of each transition (the first frames of the group in which the open
  fraction has moved by ``onset`` of its total change), and the enrichment share / site fraction
  (> 1: the transition starts there).

:func:`interrupted_run_message` is what ``twin analyze``, the report loader and ``twin run --resume`` say about a
run directory that holds an interrupted run (``trajectory.h5.partial``) instead of a trajectory.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["interrupted_run_message", "Crossing", "branches", "cycle_index", "crossings", "hysteresis_width", "choose_driving", "transitions",
           "cycle_hysteresis_widths", "domain_size_quantiles_nm", "nucleation_sites", "SITE_CLASSES",
           "BRANCH_NAMES"]

#: names of the site classes of the ``class_*`` summaries, in column order
SITE_CLASSES = ("surface", "defect", "bulk")
#: name of each branch sign of a pressure series
BRANCH_NAMES = {1: "adsorption", -1: "desorption"}


def interrupted_run_message(out_dir: str | Path, scenario_path: str | Path | None = None) -> str | None:
    """What the user can do about the interrupted run in ``out_dir``, as one sentence; ``None`` if there is none.

    A run that stopped (killed, out of time, crashed) leaves ``trajectory.h5.partial``; with a ``checkpoint.h5``
    beside it ``twin run --resume`` continues it bit for bit, without one it must be started again (the new run
    replaces the partial file). The command is given in full: the scenario is ``scenario_path`` or the path the
    run recorded in its provenance (``scenario_path``), else the placeholder ``SCENARIO.toml``.
    """
    out = Path(out_dir)
    partial = out / "trajectory.h5.partial"
    if not partial.is_file():
        return None
    scenario = str(scenario_path) if scenario_path is not None else _recorded_scenario_path(partial)
    command = f"twin run {shlex.quote(scenario or 'SCENARIO.toml')} -o {shlex.quote(str(out))}"
    if (out / "checkpoint.h5").is_file():
        return (f"the run in {out} was interrupted (trajectory.h5.partial and checkpoint.h5 are there); continue it "
                f"from its last checkpoint with `{command} --resume`")
    return (f"the run in {out} was interrupted before its first checkpoint, so it cannot be resumed and must be "
            f"started again: `{command}` (this replaces trajectory.h5.partial)")


def _recorded_scenario_path(partial: Path) -> str | None:
    """The scenario file a (partial) trajectory was run from, if its provenance can be read."""
    try:
        import h5py

        with h5py.File(partial, "r") as h5:
            value = h5["provenance"].attrs.get("scenario_path")
    except Exception:  # noqa: BLE001 - a file cut off mid-write: fall back to the placeholder
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value) if value else None


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


def _groups(pressure: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """(cycle, branch, frame indices) of every run of frames with the same cycle and branch, in time order."""
    branch = branches(pressure)
    cycle = cycle_index(branch)
    out: list[tuple[int, int, np.ndarray]] = []
    start = 0
    for k in range(1, branch.size + 1):
        if k == branch.size or branch[k] != branch[start] or cycle[k] != cycle[start]:
            out.append((int(cycle[start]), int(branch[start]), np.arange(start, k)))
            start = k
    return out


def transitions(time_s: np.ndarray, pressure_bar: np.ndarray, open_fraction: np.ndarray,
                level: float = 0.5) -> list[dict]:
    """Transition pressure and switched fraction of every (cycle, branch) of a pressure protocol.

    Args:
        time_s: frame times [s], (n_frames,).
        pressure_bar: total pressure per frame [bar], (n_frames,).
        open_fraction: fraction of the open phase per frame, (n_frames,).
        level: the crossing level (½).

    Returns:
        One dict per group in time order: ``index`` (cycle, from 0), ``branch`` (``"adsorption"`` while the
        pressure rises or is held after a rise, ``"desorption"`` otherwise), ``transition_pressure_bar`` (the
        first crossing of ``level`` in the group, ``None`` if the fraction does not cross), ``switched_fraction``
        (|Δ open fraction| along the group), ``first_frame`` and ``last_frame``.
    """
    p = np.asarray(pressure_bar, dtype=np.float64)
    f = np.asarray(open_fraction, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    found = crossings(f, p, t, level)
    rows = []
    for cyc, br, frames in _groups(p):
        first, last = int(frames[0]), int(frames[-1])
        before = max(first - 1, 0)
        hits = [c for c in found if first <= c.frame <= last]
        rows.append({
            "index": cyc,
            "branch": BRANCH_NAMES.get(br, "adsorption"),
            "transition_pressure_bar": hits[0].value if hits else None,
            "switched_fraction": float(abs(f[last] - f[before])),
            "first_frame": first,
            "last_frame": last,
        })
    return rows


def cycle_hysteresis_widths(rows: list[dict]) -> list[float | None]:
    """Per cycle: adsorption minus desorption transition pressure [bar] (``None`` where one is missing)."""
    n = max((r["index"] for r in rows), default=-1) + 1
    out: list[float | None] = []
    for c in range(n):
        up = [r["transition_pressure_bar"] for r in rows if r["index"] == c and r["branch"] == "adsorption"
              and r["transition_pressure_bar"] is not None]
        down = [r["transition_pressure_bar"] for r in rows if r["index"] == c and r["branch"] == "desorption"
                and r["transition_pressure_bar"] is not None]
        out.append(float(up[0] - down[0]) if up and down else None)
    return out


def domain_size_quantiles_nm(histogram: np.ndarray, site_volume_nm3: float, quantiles=(0.1, 0.5, 0.9),
                             weighting: str = "volume") -> list[float] | None:
    """Quantiles of the coherent-domain edge (n·V_site)^(1/3) [nm] from a power-of-two size histogram.

    Args:
        histogram: domains per bin, bin k holding sizes 2ᵏ … 2ᵏ⁺¹ − 1 sites; (n_bins,) or (n_phases, n_bins)
            (the phases are pooled).
        site_volume_nm3: volume of one lattice site (b³ site cells) [nm³].
        quantiles: probabilities in [0, 1].
        weighting: ``"volume"`` (default: the share of the crystal volume in domains up to a size, what
            diffraction weighs; single-site thermal fluctuations then do not dominate) or ``"number"``.

    Returns:
        The quantile edges [nm], or ``None`` without any domain. Bin k counts with the representative size
        2^(k+½) sites (its volume weight); inside a bin the cumulative weight is taken linear in ln n between
        2ᵏ and 2ᵏ⁺¹ − 1 sites (bin 0 holds n = 1 only).
    """
    if weighting not in ("volume", "number"):
        raise ValueError(f"weighting: expected 'volume' or 'number', got {weighting!r}")
    h = np.asarray(histogram, dtype=np.float64)
    if h.ndim > 1:
        h = h.reshape(-1, h.shape[-1]).sum(axis=0)
    k_all = np.arange(h.size)
    if weighting == "volume":
        h = h * np.where(k_all == 0, 1.0, 2.0 ** (k_all + 0.5))
    total = float(h.sum())
    if total <= 0.0:
        return None
    cum = np.concatenate([[0.0], np.cumsum(h)]) / total
    out = []
    for q in quantiles:
        k = int(np.searchsorted(cum, q, side="left"))
        k = min(max(k, 1), h.size)
        lo, hi = cum[k - 1], cum[k]
        w = 0.0 if hi <= lo else (q - lo) / (hi - lo)
        ln_lo = np.log(2.0) * (k - 1)
        ln_hi = np.log(2.0 ** k - 1.0) if k > 1 else 0.0
        n = float(np.exp(ln_lo + w * (ln_hi - ln_lo)))
        out.append(float((n * site_volume_nm3) ** (1.0 / 3.0)))
    return out


def nucleation_sites(pressure_bar: np.ndarray, open_fraction: np.ndarray, class_open_fraction: np.ndarray,
                     class_site_fraction: np.ndarray, onset: float = 0.1) -> list[dict]:
    """Where each transition started: the share of newly switched sites per site class at its onset.

    Args:
        pressure_bar: total pressure per frame (groups frames by cycle and branch), (n_frames,).
        open_fraction: open fraction of the crystal per frame, (n_frames,).
        class_open_fraction: open fraction of the surface, defect and bulk sites, (n_frames, 3).
        class_site_fraction: share of the crystal's sites in each class, (n_frames, 3).
        onset: the onset ends at the first frame where the open fraction has moved by this fraction of its total
            change along the group.

    Returns:
        One dict per group whose open fraction changes by more than 1 %: ``index``, ``branch``, ``onset_frame``,
        ``share`` (class → share of the switched sites from the group start to the onset frame) and
        ``enrichment`` (class → share / site fraction; > 1 where switching is ahead).
    """
    f = np.asarray(open_fraction, dtype=np.float64)
    co = np.nan_to_num(np.asarray(class_open_fraction, dtype=np.float64))
    cs = np.asarray(class_site_fraction, dtype=np.float64)
    open_sites = co * cs  # open sites of each class per crystal site
    out = []
    for cyc, br, frames in _groups(np.asarray(pressure_bar, dtype=np.float64)):
        start, last = max(int(frames[0]) - 1, 0), int(frames[-1])
        total = f[last] - f[start]
        if abs(total) < 0.01:
            continue
        moved = np.abs(f[frames] - f[start]) >= onset * abs(total)
        k = int(frames[int(np.argmax(moved))])
        change = open_sites[k] - open_sites[start]
        denom = float(np.sum(change))
        if denom == 0.0:
            continue
        share = change / denom
        out.append({
            "index": cyc,
            "branch": BRANCH_NAMES.get(br, "adsorption"),
            "onset_frame": k,
            "share": {name: float(v) for name, v in zip(SITE_CLASSES, share)},
            "enrichment": {name: (float(v / cs[k, j]) if cs[k, j] > 0 else None)
                           for j, (name, v) in enumerate(zip(SITE_CLASSES, share))},
        })
    return out
