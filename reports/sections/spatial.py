"""Spatial snapshots: phase-map slices of the largest crystal, coherent-domain size distributions and every
per-frame summary the engine wrote."""

from __future__ import annotations

import h5py
import matplotlib
import matplotlib.lines
import numpy as np
from matplotlib.figure import Figure

from reports import analysis
from reports.context import ReportContext, Section, fmt, table
from reports.figures import PHASE_COLOURS, add_scale_bar, colour_by, new_figure, plain_log_axis
from reports.sections._shared import crystal_sizes, evenly_spaced, mark_absent

__all__ = ["spatial_section", "snapshot_frames"]

#: engine summaries plotted at most (the others are listed as missing)
MAX_SUMMARY_PANELS = 9
_UNIT_SUFFIXES = {"_nm2": "nm²", "_A3": "Å³", "_nm": "nm", "_A": "Å", "_s": "s", "_K": "K", "_Pa": "Pa"}
_PRETTY_UNITS = {"nm2": "nm²", "A3": "Å³", "A": "Å", "1/cell": "per cell", "cells": "site cells"}


def spatial_section(ctx: ReportContext) -> Section:
    """Phase-map slices of the largest crystal at chosen frames; coherent-domain size distribution."""
    sec = Section("spatial", "Spatial snapshots")
    traj = ctx.run.trajectory
    if "eta" not in traj.field_names or traj.field_frames.size == 0:
        return mark_absent(sec, "per-site η field frames (trajectory fields/eta)",
                           "The trajectory stores no η field frames.")
    frames = _checked_snapshot_frames(ctx)
    sizes = crystal_sizes(ctx)
    crystal = int(np.argmax(sizes))
    z = _phase_maps(ctx, sec, frames, crystal)
    summary = _domains(ctx, sec, frames, sizes)
    _engine_summaries(ctx, sec)
    sec.summary = {"snapshot_frames": frames, "slice_z": z, "crystal": crystal, "domains": summary}
    return sec


def snapshot_frames(ctx: ReportContext, stored: np.ndarray, limit: int = 4) -> list[int]:
    """Stored field frames to show: the start, the extreme of the driving condition, switching points, the end."""
    if ctx.snapshot_frames:
        return [int(f) for f in ctx.snapshot_frames]
    stored = np.asarray(stored, dtype=np.int64)
    wanted = [0, int(np.argmax(ctx.driving)), ctx.time_s.size - 1] + [c.frame for c in ctx.crossings]
    picks = sorted({int(stored[np.argmin(np.abs(stored - w))]) for w in wanted})
    if len(picks) > limit:
        picks = [picks[i] for i in evenly_spaced(len(picks), limit)]
    return picks


def _checked_snapshot_frames(ctx: ReportContext) -> list[int]:
    """:func:`snapshot_frames`, every one of them a stored field frame (``DataFormatError`` otherwise)."""
    traj = ctx.run.trajectory
    stored = np.asarray(traj.field_frames)
    frames = snapshot_frames(ctx, stored)
    bad = [f for f in frames if f not in set(stored.tolist())]
    if bad:
        from twin.errors import DataFormatError

        raise DataFormatError(
            f"{traj.path}: snapshot frame(s) {bad} hold no stored fields; stored frames: "
            f"{stored[:8].tolist()}{'…' if stored.size > 8 else ''}"
        )
    return frames


def _mask_slab(ctx: ReportContext, region: tuple) -> np.ndarray:
    """A region of the lattice mask, read without loading the whole mask (documented HDF5 layout)."""
    with h5py.File(ctx.run.trajectory.path, "r") as h5:
        return h5["lattice/mask"][region].astype(bool)


# -- phase maps ---------------------------------------------------------------------------------------
def _phase_maps(ctx: ReportContext, sec: Section, frames: list[int], crystal: int) -> int:
    """Add the η slices of ``crystal`` through its middle plane; return that plane's z."""
    shape = ctx.run.trajectory.site_shape
    powder = len(shape) == 4
    lead = (crystal,) if powder else ()
    cmask = _mask_slab(ctx, lead + (slice(None),) * 3)
    zs = np.nonzero(cmask.any(axis=(0, 1)))[0]
    z = int((zs.min() + zs.max()) // 2) if zs.size else shape[-1] // 2
    cell = np.asarray(ctx.run.trajectory.cell_A, dtype=np.float64)
    where = f"crystal {crystal + 1} of {shape[0]} (the largest)" if powder else "the crystal"
    sec.blocks.append(
        ctx.figure(_phase_maps_figure(ctx, frames, lead, cmask, z), "phase-maps", "Breathing order parameter η in "
                   f"the x–y plane through the middle of {where} (z = {z}, site cell {fmt(cell[0], 3)} × "
                   f"{fmt(cell[1], 3)} Å); grey: outside the crystal.", "phase-map slices")
    )
    return z


def _phase_maps_figure(ctx: ReportContext, frames: list[int], lead: tuple, cmask: np.ndarray, z: int) -> Figure:
    traj = ctx.run.trajectory
    cell = np.asarray(traj.cell_A, dtype=np.float64)
    nx, ny = traj.site_shape[-3], traj.site_shape[-2]
    width_nm, height_nm = nx * cell[0] / 10.0, ny * cell[1] / 10.0
    fig = new_figure(2.3 if len(frames) > 2 else 3.0)
    axes = fig.subplots(1, len(frames), squeeze=False)[0]
    cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#e8e8e8")
    image = None
    for ax, frame in zip(axes, frames):
        eta = np.asarray(traj.field("eta", frame, lead + (slice(None), slice(None), z)), dtype=np.float64)
        shown = np.ma.masked_array(eta, mask=~cmask[:, :, z])
        image = ax.imshow(shown.T, origin="lower", extent=(0, width_nm, 0, height_nm), cmap=cmap, vmin=0, vmax=1,
                          interpolation="nearest")
        add_scale_bar(ax, width_nm)
        ax.set_title(f"frame {frame}\n{ctx.frame_label(frame)}", fontsize=7.5)
        for spine in ax.spines.values():
            spine.set_visible(False)
    bar = fig.colorbar(image, ax=list(axes), shrink=0.85, pad=0.02)
    bar.set_label(f"η (0 = {traj.phases[0]}, 1 = {traj.phases[-1]})")
    return fig


# -- coherent domains ---------------------------------------------------------------------------------
def _domains(ctx: ReportContext, sec: Section, frames: list[int], sizes: np.ndarray) -> list[dict]:
    """Add the domain-size distributions and their table; return the per-frame numbers for summary.json."""
    phases = ctx.run.trajectory.phases
    with_domain = "domain" in ctx.run.trajectory.field_names
    per_frame = [_domains_of_frame(ctx, frame, sizes, with_domain) for frame in frames]
    means = [_volume_weighted_means(d) for d in per_frame]
    rule = "the stored domain ids" if with_domain else "face-connected sites of one phase (η ≥ ½ open)"
    sec.blocks.append(
        ctx.figure(_domain_figure(ctx, frames, per_frame), "domain-sizes", "Number-weighted size distribution of "
                   f"coherent domains ({rule}), d = (6 N V_site / π)^(1/3).", "domain size distribution")
    )
    rows = [[frame, ctx.frame_label(frame), d["closed"].size, fmt(m["closed"], 3), d["open"].size, fmt(m["open"], 3)]
            for frame, d, m in zip(frames, per_frame, means)]
    sec.blocks.append(table(["frame", "time · condition", f"{phases[0]} domains", "⟨d⟩_V (nm)",
                             f"{phases[-1]} domains", "⟨d⟩_V (nm)"], rows))
    return [{"frame": frame, "n_closed": int(d["closed"].size), "n_open": int(d["open"].size),
             "volume_weighted_d_nm": m} for frame, d, m in zip(frames, per_frame, means)]


def _volume_weighted_means(d: dict[str, np.ndarray]) -> dict[str, float | None]:
    """⟨d⟩_V = Σd⁴ / Σd³ of each phase's domains (``None`` without domains)."""
    return {k: float(np.sum(v**4) / np.sum(v**3)) if v.size else None for k, v in d.items()}


def _size_bins(per_frame: list[dict[str, np.ndarray]]) -> np.ndarray:
    """16 histogram edges over every diameter shown: logarithmic when they span more than a decade."""
    concat = np.concatenate([a for d in per_frame for a in (d["closed"], d["open"]) if a.size] or [np.ones(1)])
    lo, hi = max(float(concat.min()), 1e-3), float(concat.max())
    return np.geomspace(lo * 0.9, hi * 1.1, 16) if hi > 10 * lo else np.linspace(lo * 0.9, hi * 1.1, 16)


def _domain_figure(ctx: ReportContext, frames: list[int], per_frame: list[dict[str, np.ndarray]]) -> Figure:
    """Histograms of the closed and open domain diameters, one outline per frame coloured by time."""
    phases = ctx.run.trajectory.phases
    bins = _size_bins(per_frame)
    fig = new_figure(2.4)
    axes = fig.subplots(1, 2, sharey=True)
    colours = colour_by([ctx.time_s[f] for f in frames])
    for frame, colour, d in zip(frames, colours, per_frame):
        for ax, key in zip(axes, ("closed", "open")):
            if d[key].size:
                ax.hist(d[key], bins=bins, histtype="step", color=colour, lw=1.2, label=f"frame {frame}")
    for ax, phase in zip(axes, (phases[0], phases[-1])):
        if bins[-1] / bins[0] > 10:
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis)
        ax.set_xlabel("equivalent-sphere diameter (nm)")
        ax.set_title(f"{phase} domains")
    axes[0].set_ylabel("number of domains")
    handles = [matplotlib.lines.Line2D([], [], color=c, lw=1.2, label=f"frame {f}") for f, c in zip(frames, colours)]
    fig.legend(handles=handles, loc="outside right upper")
    return fig


def _domains_of_frame(ctx: ReportContext, frame: int, sizes: np.ndarray, with_domain: bool) -> dict[str, np.ndarray]:
    """Domain diameters of one frame over as many crystals (largest first) as the site budget allows."""
    traj = ctx.run.trajectory
    shape = traj.site_shape
    order = np.argsort(sizes)[::-1]
    budget = ctx.site_budget
    per_site = int(np.prod(shape[-3:]))
    out: dict[str, list[np.ndarray]] = {"closed": [], "open": []}
    crystals = order[: max(1, budget // max(per_site, 1))] if len(shape) == 4 else [None]
    for c in crystals:
        lead = (int(c),) if c is not None else ()
        region = lead + (slice(None),) * 3
        if c is None and per_site > budget:
            edge = max(8, int(round(budget ** (1 / 3))))
            region = tuple(slice(max(0, n // 2 - edge // 2), max(0, n // 2 - edge // 2) + edge) for n in shape)
        eta = traj.field("eta", frame, region)
        domain = traj.field("domain", frame, region) if with_domain else None
        d = analysis.domain_sizes_nm(eta, _mask_slab(ctx, region), traj.cell_A, domain)
        out["closed"].append(d["closed"])
        out["open"].append(d["open"])
    return {k: np.concatenate(v) for k, v in out.items()}


# -- engine summaries ---------------------------------------------------------------------------------
def _engine_summaries(ctx: ReportContext, sec: Section) -> None:
    """Plot the other per-frame summaries the engine wrote (one value or one column per phase/guest per frame)."""
    traj = ctx.run.trajectory
    others = [n for n in traj.summary_names if n not in ("phase_fraction", "crystal_phase_fraction")]
    plottable = [n for n in others if np.ndim(traj.summary(n)) <= 2]
    skipped = [n for n in others if n not in plottable]
    if skipped:
        sec.missing.append(f"line plots of the multi-dimensional summaries {', '.join(skipped)} (they stay in the "
                           "trajectory; the domain-size distribution shown is computed from the stored fields)")
    if not plottable:
        sec.missing.append("engine summaries besides phase_fraction (eta_mean, loading, domain statistics…)")
        return
    shown = plottable[:MAX_SUMMARY_PANELS]
    sec.blocks.append(ctx.figure(_summaries_figure(ctx, shown), "summaries", "Per-frame summaries written by the "
                                 "engine: " + ", ".join(shown) + ".", "engine summaries versus time"))
    if len(plottable) > MAX_SUMMARY_PANELS:
        sec.missing.append(f"plots of summaries {', '.join(plottable[MAX_SUMMARY_PANELS:])} (more than nine)")


def _summaries_figure(ctx: ReportContext, shown: list[str]) -> Figure:
    """A grid of up to three columns, one panel per summary versus time, time labelled under each column."""
    traj = ctx.run.trajectory
    ncol = 3 if len(shown) > 2 else len(shown)
    nrow = -(-len(shown) // ncol)
    fig = new_figure(1.7 * nrow + 0.3)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax, name in zip(axes.ravel(), shown):
        values = np.asarray(traj.summary(name), dtype=np.float64).reshape(ctx.time_s.size, -1)
        columns = traj.phases if values.shape[1] == len(traj.phases) else (
            traj.guests if values.shape[1] == len(traj.guests) else [None] * values.shape[1])
        for k in range(values.shape[1]):
            ax.plot(ctx.time_shown, values[:, k], color=PHASE_COLOURS[k % len(PHASE_COLOURS)], label=columns[k])
        ax.set_title(_summary_title(name, traj.unit(f"summaries/{name}")), fontsize=8)
        if values.shape[1] > 1 and any(c is not None for c in columns):  # columns without names: no legend
            ax.legend(loc="best", fontsize=6.5)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    for col in range(ncol):  # time label under the lowest panel of each column
        visible = [r for r in range(nrow) if r * ncol + col < len(shown)]
        for r in visible[:-1]:
            axes[r, col].tick_params(labelbottom=False)
        axes[visible[-1], col].set_xlabel(f"time ({ctx.time_unit})")
    return fig


def _summary_title(name: str, unit: str) -> str:
    """``interface_area_nm2`` + ``nm2`` → ``interface area (nm²)``."""
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    unit = _PRETTY_UNITS.get(unit, unit)
    return name.replace("_", " ") + (f" ({unit})" if unit and unit != "1" else "")
