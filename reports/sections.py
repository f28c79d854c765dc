"""The sections of the report, in page order (:data:`SECTIONS`).

Each is a function ``(ReportContext) -> Section | None`` that depends only on what the run directory holds and
lists what it could not show. To add a panel (a new technique, a new diagnostic), write one such function and
append it to :data:`SECTIONS`.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import h5py
import matplotlib
import matplotlib.cm
import matplotlib.colors
import matplotlib.lines
import numpy as np
from matplotlib.colors import PowerNorm

from reports import analysis
from reports.context import Markup, ReportContext, Section, esc, fmt, fmt_pm, table
from reports.figures import (
    BRANCH_COLOURS,
    PHASE_COLOURS,
    add_scale_bar,
    branch_segments,
    colour_by,
    new_figure,
    orient_axis,
    plain_log_axis,
)
from instruments.series_io import SpectralSeries
from twin import __version__
from twin.datasets import file_sha256

__all__ = ["SECTIONS", "SectionFn"]

SectionFn = Callable[[ReportContext], "Section | None"]

TECHNIQUE_TITLES = {"xrd": "Powder X-ray diffraction", "nmr": "NMR spectra", "ir": "Infrared spectra", "raman": "Raman spectra"}
#: Chebyshev background terms refined with the scale when a measured pattern is overlaid on a simulated one
OVERLAY_BACKGROUND = 3
#: rows of a per-frame table on the page (the summary keeps every frame)
MAX_TABLE_ROWS = 12


# ---------------------------------------------------------------------------------------------------
def scenario_section(ctx: ReportContext) -> Section:
    """Scenario, crystal and protocol; timeline of every condition (varying ones plotted, constant ones listed)."""
    run, traj = ctx.run, ctx.run.trajectory
    sec = Section("scenario", "Scenario and conditions")
    prov = traj.provenance
    scen = run.scenario
    crystal = scen.get("crystal", {})
    protocol = scen.get("protocol", {})
    segments = protocol.get("segments", [])
    site_shape = traj.site_shape
    n_crystals = site_shape[0] if len(site_shape) == 4 else 1
    rows = [
        ["material", prov.get("material", scen.get("material", "—"))],
        ["guests", ", ".join(traj.guests) or "none"],
        ["phases (η = 0 → 1)", " → ".join(traj.phases)],
        ["crystal", ", ".join(f"{k} = {_short(v)}" for k, v in crystal.items()) or "—"],
        ["crystals × sites", f"{n_crystals} × {' × '.join(str(n) for n in site_shape[-3:])}"],
        ["site cell a, b, c (Å)", ", ".join(fmt(v, 4) for v in traj.cell_A)],
        ["protocol", " → ".join(str(s.get("type", "?")) for s in segments) or "—"],
        ["frames", f"{traj.n_frames} over {fmt(ctx.time_shown[-1], 4)} {ctx.time_unit}"],
        ["seed", prov.get("seed", scen.get("seed", "—"))],
    ]
    sec.blocks.append(table(["", ""], rows, cls="kv"))
    series = []
    for g, name in enumerate(traj.guests):
        series.append((f"p({name})", ctx.partial_pressure_bar[:, g], "bar"))
    series.append(("T", ctx.temperature_K, "K"))
    series.append(("RH", 100.0 * ctx.relative_humidity, "%"))
    varying = [s for s in series if np.ptp(s[1]) > 1e-9 * max(1.0, float(np.max(np.abs(s[1]))))]
    constant = [s for s in series if s not in varying]
    shown = varying or series[:1]
    fig = new_figure(0.9 + 1.0 * len(shown))
    axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, values, unit) in zip(axes, shown):
        if label.startswith("p(") and ctx.driving_name == "pressure":
            for sign, (xs, ys) in branch_segments(ctx.time_shown, values, ctx.branch).items():
                ax.plot(xs, ys, color=BRANCH_COLOURS[sign], label=ctx.branch_names[sign])
            ax.legend(loc="upper right", ncols=2)
        else:
            ax.plot(ctx.time_shown, values, color="#333333")
        ax.set_ylabel(f"{label} ({unit})")
    axes[-1].set_xlabel(f"time ({ctx.time_unit})")
    held = "; ".join(f"{label} = {fmt(values[0], 4)} {unit}" for label, values, unit in constant)
    caption = "Operando protocol: conditions at every recorded frame"
    caption += f"; held constant: {held}." if held else "."
    sec.blocks.append(ctx.figure(fig, "conditions", caption, "conditions versus time"))
    text = prov.get("scenario_toml")
    if isinstance(text, str) and text.strip():
        sec.blocks.append(f"<details><summary>Scenario file (verbatim)</summary><pre>{esc(text)}</pre></details>")
    else:
        sec.missing.append("scenario file text (provenance attribute scenario_toml)")
    sec.summary = {
        "material": prov.get("material"),
        "guests": list(traj.guests),
        "phases": list(traj.phases),
        "n_frames": traj.n_frames,
        "duration_s": float(ctx.time_s[-1]),
        "pressure_bar_range": [float(ctx.pressure_bar.min()), float(ctx.pressure_bar.max())],
        "temperature_K_range": [float(ctx.temperature_K.min()), float(ctx.temperature_K.max())],
        "driving_condition": ctx.driving_name,
    }
    return sec


def _short(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


# ---------------------------------------------------------------------------------------------------
def phase_section(ctx: ReportContext) -> Section:
    """Phase fractions versus time and versus the driving condition, branches coloured, switching points."""
    sec = Section("phases", "Phase fractions and hysteresis")
    if ctx.phase_fraction is None:
        sec.missing.append("phase fractions (trajectory summary 'phase_fraction')")
        sec.blocks.append('<p class="absent">The trajectory holds no phase_fraction summary.</p>')
        return sec
    frac, phases = ctx.phase_fraction, ctx.phases
    names = list(phases) if frac.shape[1] == len(phases) else [f"phase {i}" for i in range(frac.shape[1])]
    fig = new_figure(2.4)
    ax = fig.subplots()
    for k, name in enumerate(names):
        ax.plot(ctx.time_shown, frac[:, k], color=PHASE_COLOURS[k % len(PHASE_COLOURS)], label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"time ({ctx.time_unit})")
    ax.set_ylabel("phase fraction")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(names))
    if ctx.driving_name != "time":
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        right.plot(ctx.time_shown, ctx.driving, color="#777777", lw=0.8, ls="--")
        right.set_ylabel(ctx.driving_label, color="#555555")
    sec.blocks.append(
        ctx.figure(fig, "phase-fractions-time", "Volume fraction of each phase versus time; dashed: "
                   f"{ctx.driving_label}.", "phase fractions versus time")
    )
    open_name = names[-1]
    if ctx.driving_name != "time":
        fig = new_figure(3.0, 4.6)
        ax = fig.subplots()
        for sign, (xs, ys) in branch_segments(ctx.driving, frac[:, -1], ctx.branch).items():
            if np.any(np.isfinite(xs)):
                ax.plot(xs, ys, color=BRANCH_COLOURS[sign], marker="o", ms=2.2, label=ctx.branch_names[sign])
        for c in ctx.crossings:
            ax.axvline(c.value, color=BRANCH_COLOURS[c.branch], lw=0.6, ls=":")
        _direction_arrows(ax, ctx.driving, frac[:, -1], ctx.branch)
        ax.set_xlabel(ctx.driving_label)
        ax.set_ylabel(f"fraction {open_name}")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best")
        sec.blocks.append(
            ctx.figure(fig, "hysteresis", f"Fraction of {open_name} versus {ctx.driving_label}: "
                       f"{ctx.branch_names[1]} branch blue, {ctx.branch_names[-1]} branch vermilion; dotted lines mark "
                       "where the fraction crosses ½.", "hysteresis loop")
        )
    traj = ctx.run.trajectory
    extra: dict = {}
    if "crystal_phase_fraction" in traj.summary_names and ctx.driving_name != "time":
        per = np.asarray(traj.summary("crystal_phase_fraction"), dtype=np.float64)
        if per.ndim == 3 and per.shape[1] > 1:
            sizes = _crystal_sizes(ctx)
            v_site = float(np.prod(traj.cell_A)) * 1e-3
            d_nm = (6.0 * sizes * v_site / np.pi) ** (1 / 3) if sizes.size == per.shape[1] else np.arange(per.shape[1])
            order = np.argsort(d_nm)
            fig = new_figure(3.0, 5.4)
            ax = fig.subplots()
            colours = colour_by(d_nm[order], cmap="viridis")
            for c, colour in zip(order, colours):
                for sign, style_ in ((1, "-"), (-1, "--")):
                    xs, ys = branch_segments(ctx.driving, per[:, c, -1], ctx.branch)[sign]
                    ax.plot(xs, ys, ls=style_, color=colour, lw=1.0)
            ax.set_xlabel(ctx.driving_label)
            ax.set_ylabel(f"fraction {open_name} per crystal")
            ax.set_ylim(-0.02, 1.02)
            capped = matplotlib.colors.ListedColormap(matplotlib.colormaps["viridis"](np.linspace(0, 0.85, 64)))
            span = matplotlib.colors.Normalize(float(d_nm.min()), max(float(d_nm.max()), float(d_nm.min()) + 1e-9))
            sm = matplotlib.cm.ScalarMappable(norm=span, cmap=capped)
            fig.colorbar(sm, ax=ax, label="crystal size d (nm)")
            sec.blocks.append(ctx.figure(fig, "crystal-fractions", f"Fraction of {open_name} in each crystal of the "
                                         f"powder versus {ctx.driving_label}, coloured by crystal size; solid: "
                                         f"{ctx.branch_names[1]}, dashed: {ctx.branch_names[-1]}.",
                                         "per-crystal phase fractions"))
            per_crystal = [analysis.crossings(per[:, c, -1], ctx.driving, ctx.time_s) for c in range(per.shape[1])]
            extra = {
                "per_crystal": [{"crystal": c + 1, "d_nm": float(d_nm[c]),
                                 "switching": [{"branch": ctx.branch_names[x.branch], "value": x.value} for x in xs_]}
                                for c, xs_ in enumerate(per_crystal)]
            }
    if ctx.crossings:
        rows = [
            [c.cycle + 1, ctx.branch_names[c.branch], f"{fmt(c.value, 4)} {ctx.driving_unit}",
             f"{fmt(c.time_s / ctx.time_div, 4)} {ctx.time_unit}", f"{'→ ' + open_name if c.fraction_rising else open_name + ' →'}"]
            for c in ctx.crossings
        ]
        sec.blocks.append(table(["cycle", "branch", "switching at", "time", "transition"], rows))
    else:
        sec.blocks.append(f'<p>The fraction of {esc(open_name)} never crosses ½ in this run.</p>')
    width = analysis.hysteresis_width(ctx.crossings)
    sec.summary = {
        "final_phase_fraction": dict(zip(names, map(float, frac[-1]))),
        "switching": [
            {"cycle": c.cycle + 1, "branch": ctx.branch_names[c.branch], "value": c.value, "unit": ctx.driving_unit,
             "time_s": c.time_s, "to_open": c.fraction_rising}
            for c in ctx.crossings
        ],
        "hysteresis_width": width,
        "hysteresis_unit": ctx.driving_unit,
        **extra,
    }
    return sec


def _direction_arrows(ax, x: np.ndarray, y: np.ndarray, branch: np.ndarray) -> None:
    """One arrow per branch run at its middle, pointing along the protocol."""
    starts = np.nonzero(np.concatenate([[True], branch[1:] != branch[:-1]]))[0]
    ends = np.concatenate([starts[1:], [branch.size]])
    for s, e in zip(starts, ends):
        if e - s < 3:
            continue
        i = (s + e) // 2
        j = min(i + 1, e - 1)
        if x[j] == x[i] and y[j] == y[i]:
            continue
        ax.annotate("", xy=(x[j], y[j]), xytext=(x[i], y[i]),
                    arrowprops={"arrowstyle": "-|>", "color": BRANCH_COLOURS[int(branch[i])], "lw": 1.0})


# ---------------------------------------------------------------------------------------------------
def _mask_slab(ctx: ReportContext, region: tuple) -> np.ndarray:
    """A region of the lattice mask, read without loading the whole mask (documented HDF5 layout)."""
    with h5py.File(ctx.run.trajectory.path, "r") as h5:
        return h5["lattice/mask"][region].astype(bool)


def _crystal_sizes(ctx: ReportContext) -> np.ndarray:
    """Number of sites of each crystal (one entry for a single crystal), read one crystal at a time."""
    shape = ctx.run.trajectory.site_shape
    with h5py.File(ctx.run.trajectory.path, "r") as h5:
        ds = h5["lattice/mask"]
        if len(shape) == 4:
            return np.asarray([int(np.count_nonzero(ds[c])) for c in range(shape[0])])
        # one crystal: count in slabs of 64 planes (one chunk row), never the whole mask at once
        return np.asarray([sum(int(np.count_nonzero(ds[i:i + 64])) for i in range(0, shape[0], 64))])


def snapshot_frames(ctx: ReportContext, stored: np.ndarray, limit: int = 4) -> list[int]:
    """Stored field frames to show: the start, the extreme of the driving condition, switching points, the end."""
    if ctx.snapshot_frames:
        return [int(f) for f in ctx.snapshot_frames]
    stored = np.asarray(stored, dtype=np.int64)
    wanted = [0, int(np.argmax(ctx.driving)), ctx.time_s.size - 1] + [c.frame for c in ctx.crossings]
    picks = sorted({int(stored[np.argmin(np.abs(stored - w))]) for w in wanted})
    if len(picks) > limit:
        keep = np.unique(np.round(np.linspace(0, len(picks) - 1, limit)).astype(int))
        picks = [picks[i] for i in keep]
    return picks


def spatial_section(ctx: ReportContext) -> Section:
    """Phase-map slices of the largest crystal at chosen frames; coherent-domain size distribution."""
    sec = Section("spatial", "Spatial snapshots")
    traj = ctx.run.trajectory
    if "eta" not in traj.field_names or traj.field_frames.size == 0:
        sec.missing.append("per-site η field frames (trajectory fields/eta)")
        sec.blocks.append('<p class="absent">The trajectory stores no η field frames.</p>')
        return sec
    stored = np.asarray(traj.field_frames)
    frames = snapshot_frames(ctx, stored)
    bad = [f for f in frames if f not in set(stored.tolist())]
    if bad:
        from twin.errors import DataFormatError

        raise DataFormatError(
            f"{traj.path}: snapshot frame(s) {bad} hold no stored fields; stored frames: "
            f"{stored[:8].tolist()}{'…' if stored.size > 8 else ''}"
        )
    shape = traj.site_shape
    powder = len(shape) == 4
    sizes = _crystal_sizes(ctx)
    crystal = int(np.argmax(sizes))
    lead = (crystal,) if powder else ()
    cmask = _mask_slab(ctx, lead + (slice(None),) * 3)
    zs = np.nonzero(cmask.any(axis=(0, 1)))[0]
    z = int((zs.min() + zs.max()) // 2) if zs.size else shape[-1] // 2
    cell = np.asarray(traj.cell_A, dtype=np.float64)
    nx, ny = shape[-3], shape[-2]
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
    where = f"crystal {crystal + 1} of {shape[0]} (the largest)" if powder else "the crystal"
    sec.blocks.append(
        ctx.figure(fig, "phase-maps", f"Breathing order parameter η in the x–y plane through the middle of {where} "
                   f"(z = {z}, site cell {fmt(cell[0], 3)} × {fmt(cell[1], 3)} Å); grey: outside the crystal.",
                   "phase-map slices")
    )
    # coherent domains
    with_domain = "domain" in traj.field_names
    fig = new_figure(2.4)
    axes = fig.subplots(1, 2, sharey=True)
    colours = colour_by([ctx.time_s[f] for f in frames])
    rows, summary = [], []
    all_d = []
    per_frame = []
    for frame in frames:
        d = _domains_of_frame(ctx, frame, sizes, with_domain)
        per_frame.append(d)
        all_d.extend([d["closed"], d["open"]])
    concat = np.concatenate([a for a in all_d if a.size] or [np.ones(1)])
    lo, hi = max(float(concat.min()), 1e-3), float(concat.max())
    bins = np.geomspace(lo * 0.9, hi * 1.1, 16) if hi > 10 * lo else np.linspace(lo * 0.9, hi * 1.1, 16)
    for frame, colour, d in zip(frames, colours, per_frame):
        for ax, key in zip(axes, ("closed", "open")):
            if d[key].size:
                ax.hist(d[key], bins=bins, histtype="step", color=colour, lw=1.2, label=f"frame {frame}")
        volume_mean = {k: float(np.sum(v**4) / np.sum(v**3)) if v.size else None for k, v in d.items()}
        rows.append([frame, ctx.frame_label(frame), d["closed"].size, fmt(volume_mean["closed"], 3), d["open"].size,
                     fmt(volume_mean["open"], 3)])
        summary.append({"frame": frame, "n_closed": int(d["closed"].size), "n_open": int(d["open"].size),
                        "volume_weighted_d_nm": volume_mean})
    for ax, key, phase in zip(axes, ("closed", "open"), (traj.phases[0], traj.phases[-1])):
        if bins[-1] / bins[0] > 10:
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis)
        ax.set_xlabel("equivalent-sphere diameter (nm)")
        ax.set_title(f"{phase} domains")
    axes[0].set_ylabel("number of domains")
    handles = [matplotlib.lines.Line2D([], [], color=c, lw=1.2, label=f"frame {f}") for f, c in zip(frames, colours)]
    fig.legend(handles=handles, loc="outside right upper")
    rule = "the stored domain ids" if with_domain else "face-connected sites of one phase (η ≥ ½ open)"
    sec.blocks.append(
        ctx.figure(fig, "domain-sizes", f"Number-weighted size distribution of coherent domains ({rule}), "
                   "d = (6 N V_site / π)^(1/3).", "domain size distribution")
    )
    sec.blocks.append(table(["frame", "time · condition", f"{traj.phases[0]} domains", "⟨d⟩_V (nm)",
                             f"{traj.phases[-1]} domains", "⟨d⟩_V (nm)"], rows))
    # other per-frame summaries the engine wrote (one value or one column per phase/guest per frame)
    others = [n for n in traj.summary_names if n not in ("phase_fraction", "crystal_phase_fraction")]
    plottable = [n for n in others if np.ndim(traj.summary(n)) <= 2]
    skipped = [n for n in others if n not in plottable]
    if skipped:
        sec.missing.append(f"line plots of the multi-dimensional summaries {', '.join(skipped)} (they stay in the "
                           "trajectory; the domain-size distribution shown is computed from the stored fields)")
    if plottable:
        shown = plottable[:9]
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
        sec.blocks.append(ctx.figure(fig, "summaries", "Per-frame summaries written by the engine: "
                                     + ", ".join(shown) + ".", "engine summaries versus time"))
        if len(plottable) > 9:
            sec.missing.append(f"plots of summaries {', '.join(plottable[9:])} (more than nine)")
    else:
        sec.missing.append("engine summaries besides phase_fraction (eta_mean, loading, domain statistics…)")
    sec.summary = {"snapshot_frames": frames, "slice_z": z, "crystal": crystal, "domains": summary}
    return sec


_UNIT_SUFFIXES = {"_nm2": "nm²", "_A3": "Å³", "_nm": "nm", "_A": "Å", "_s": "s", "_K": "K", "_Pa": "Pa"}
_PRETTY_UNITS = {"nm2": "nm²", "A3": "Å³", "A": "Å", "1/cell": "per cell", "cells": "site cells"}


def _summary_title(name: str, unit: str) -> str:
    """``interface_area_nm2`` + ``nm2`` → ``interface area (nm²)``."""
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    unit = _PRETTY_UNITS.get(unit, unit)
    return name.replace("_", " ") + (f" ({unit})" if unit and unit != "1" else "")


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


# ---------------------------------------------------------------------------------------------------
def _spectral_section(ctx: ReportContext, technique: str) -> Section | None:
    series = ctx.run.spectra.get(technique)
    title = TECHNIQUE_TITLES.get(technique, technique.upper())
    sec = Section(technique, title)
    if series is None:
        if technique == "xrd":
            sec.missing.append("simulated XRD series (observables/xrd.h5, written by `twin observe`)")
            sec.blocks.append('<p class="absent">No observables/xrd.h5 in this run.</p>')
            return sec
        return None
    _series_panels(ctx, sec, series)
    return sec


def _series_panels(ctx: ReportContext, sec: Section, s: SpectralSeries) -> None:
    axis, inten = s.axis, s.intensity
    rev = s.axis_decreasing
    what = f"λ = {fmt(s.wavelength_A, 5)} Å" if s.wavelength_A else s.axis_label
    # heat map versus time, with the condition beside it
    fig = new_figure(3.0)
    grid = fig.add_gridspec(1, 2, width_ratios=[5, 1])
    ax = fig.add_subplot(grid[0])
    side = fig.add_subplot(grid[1], sharey=ax)
    t = s.time_s / ctx.time_div
    t_edges = np.concatenate([t[:1], 0.5 * (t[1:] + t[:-1]), t[-1:]]) if t.size > 1 else np.asarray([t[0] - 0.5, t[0] + 0.5])
    x_edges = np.concatenate([axis[:1], 0.5 * (axis[1:] + axis[:-1]), axis[-1:]])
    positive = np.clip(inten, 0, None)
    mesh = ax.pcolormesh(x_edges, t_edges, positive, shading="flat", cmap="viridis",
                         norm=PowerNorm(0.5, vmin=0, vmax=float(positive.max()) or 1.0), rasterized=True)
    orient_axis(ax, axis, rev)
    ax.set_xlabel(s.axis_label)
    ax.set_ylabel(f"time ({ctx.time_unit})")
    bar = fig.colorbar(mesh, ax=ax, pad=0.01, location="top", shrink=0.6, aspect=40)
    bar.set_label(f"intensity ({s.intensity_unit}, square-root scale)")
    side.plot(s.pressure_bar if ctx.driving_name != "temperature" else s.temperature_K, t, color="#333333")
    side.set_xlabel("p (bar)" if ctx.driving_name != "temperature" else "T (K)")
    side.tick_params(labelleft=False)
    sec.blocks.append(ctx.figure(fig, f"{s.technique}-heatmap", f"Simulated {s.technique.upper()} series ({what}) "
                                 "versus time; right: the condition at each frame.", f"{s.technique} heat map"))
    # waterfall
    n_show = min(10, s.n_frames)
    picks = np.unique(np.round(np.linspace(0, s.n_frames - 1, n_show)).astype(int))
    cond = s.pressure_bar if ctx.driving_name != "temperature" else s.temperature_K
    cond_unit = "bar" if ctx.driving_name != "temperature" else "K"
    fig = new_figure(3.4)
    ax = fig.subplots()
    peak = float(np.max(inten[picks])) or 1.0
    offset = 0.35 * peak
    colours = colour_by(cond[picks]) if np.ptp(cond[picks]) > 0 else ["#333333"] * picks.size
    for i, (k, colour) in enumerate(zip(picks, colours)):
        ax.plot(axis, inten[k] + i * offset, color=colour, lw=0.8)
        ax.annotate(f"{fmt(cond[k], 3)} {cond_unit}", xy=(1.0, 0), xycoords=("axes fraction", "data"),
                    xytext=(3, i * offset + float(np.median(inten[k]))), textcoords=("offset points", "data"),
                    fontsize=6.5, color=colour, va="center")
    orient_axis(ax, axis, rev)
    ax.set_xlabel(s.axis_label)
    ax.set_ylabel(f"intensity + offset ({s.intensity_unit})")
    ax.set_yticks([])
    sec.blocks.append(ctx.figure(fig, f"{s.technique}-waterfall", f"{picks.size} frames of the simulated series, offset "
                                 f"upwards in time order and coloured by {'pressure' if cond_unit == 'bar' else 'temperature'}.",
                                 f"{s.technique} waterfall"))
    # measured vs simulated
    if s.measured_intensity is None:
        sec.missing.append(f"measured {s.technique.upper()} patterns (measured_intensity in {s.path.name})")
        return
    stats = []
    for j, k in enumerate(s.measured_frame_index):
        sigma = None if s.measured_sigma is None else s.measured_sigma[j]
        stats.append(analysis.agreement_indices(s.measured_intensity[j], inten[k], sigma, n_background=OVERLAY_BACKGROUND))
    n_meas = len(stats)
    drawn = np.unique(np.round(np.linspace(0, n_meas - 1, min(4, n_meas))).astype(int))
    fig = new_figure(1.9 * drawn.size + 0.4)
    grid = fig.add_gridspec(2 * drawn.size, 1, height_ratios=[3, 1] * drawn.size)
    for r, j in enumerate(drawn):
        k = int(s.measured_frame_index[j])
        top = fig.add_subplot(grid[2 * r])
        bottom = fig.add_subplot(grid[2 * r + 1], sharex=top)
        scaled = stats[j]["scale"] * inten[k] + stats[j]["background"]
        top.plot(axis, s.measured_intensity[j], ls="none", marker="o", ms=1.4, mec="none", color="#000000",
                 label="measured")
        top.plot(axis, scaled, color="#D55E00", lw=0.9, label="simulated")
        top.set_ylabel(f"I ({s.intensity_unit})")
        top.text(0.01, 0.9, f"frame {k} · {ctx.frame_label(k) if k < ctx.time_s.size else ''}\n"
                 f"Rwp = {100 * stats[j]['Rwp']:.2f} %, χ²_ν = {fmt(stats[j]['chi2'], 3)}",
                 transform=top.transAxes, va="top", fontsize=7,
                 bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        top.tick_params(labelbottom=False)
        if r == 0:
            top.legend(loc="upper right", ncols=2)
        bottom.plot(axis, s.measured_intensity[j] - scaled, color="#0072B2", lw=0.7)
        bottom.axhline(0, color="#999999", lw=0.5)
        bottom.set_ylabel("obs − calc")
        orient_axis(bottom, axis, rev)
    bottom.set_xlabel(s.axis_label)
    sec.blocks.append(ctx.figure(fig, f"{s.technique}-overlay", "Measured (points) and simulated (line; a least-squares "
                                 f"scale factor and a {OVERLAY_BACKGROUND}-term Chebyshev background, which the simulation "
                                 "does not know) with the difference curve below; Rwp and χ²_ν with weights 1/σ² "
                                 "(counting statistics when the file gives no σ), McCusker et al. (1999).",
                                 f"measured versus simulated {s.technique}"))
    listed = np.unique(np.round(np.linspace(0, n_meas - 1, min(MAX_TABLE_ROWS, n_meas))).astype(int))
    rows = [[int(s.measured_frame_index[j]), ctx.frame_label(int(s.measured_frame_index[j]))
             if s.measured_frame_index[j] < ctx.time_s.size else "—", f"{100 * stats[j]['Rwp']:.2f}",
             f"{100 * stats[j]['Rexp']:.2f}", f"{100 * stats[j]['Rp']:.2f}", fmt(stats[j]["chi2"], 3),
             fmt(stats[j]["scale"], 4)] for j in listed]
    sec.blocks.append(table(["frame", "time · condition", "Rwp (%)", "Rexp (%)", "Rp (%)", "χ²_ν", "scale"], rows))
    if listed.size < n_meas:
        sec.blocks.append(f'<p class="note">{listed.size} of {n_meas} measured frames, evenly spaced; all of them '
                          'are in summary.json (sections.xrd.agreement).</p>')
    sec.summary = {
        "n_frames": s.n_frames,
        "agreement": [{"frame": int(k), **{n: v for n, v in st.items() if n != "background"}}
                      for k, st in zip(s.measured_frame_index, stats)],
        "Rwp_mean": float(np.mean([st["Rwp"] for st in stats])),
    }


def xrd_section(ctx: ReportContext) -> Section | None:
    """Powder XRD: heat map and waterfall versus condition; measured versus simulated with residuals and Rwp."""
    return _spectral_section(ctx, "xrd")


def nmr_section(ctx: ReportContext) -> Section | None:
    """NMR series (chemical shift decreasing to the right), when ``observables/nmr.h5`` is present."""
    return _spectral_section(ctx, "nmr")


def vibrational_section(ctx: ReportContext) -> Section | None:
    """IR and Raman series (wavenumber decreasing to the right), when present."""
    parts = [s for s in (_spectral_section(ctx, "ir"), _spectral_section(ctx, "raman")) if s is not None]
    if not parts:
        return None
    sec = Section("vibrational", "IR and Raman spectra")
    for p in parts:
        sec.blocks.append(f"<h3>{esc(p.title)}</h3>")
        sec.blocks.extend(p.blocks)
        sec.missing.extend(p.missing)
        sec.summary[p.id] = p.summary
    return sec


def tem_section(ctx: ReportContext) -> Section | None:
    """Simulated electron micrographs with scale bars, when ``observables/tem.h5`` is present."""
    images = ctx.run.images.get("tem")
    if images is None:
        return None
    sec = Section("tem", "Electron microscopy")
    n = min(4, images.image.shape[0])
    fig = new_figure(2.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, img, frame in zip(axes, images.image[:n], images.frame_index[:n]):
        ny, nx = img.shape
        w_nm, h_nm = nx * images.pixel_size_A / 10, ny * images.pixel_size_A / 10
        ax.imshow(img, cmap="gray", origin="upper", extent=(0, w_nm, 0, h_nm), interpolation="nearest")
        add_scale_bar(ax, w_nm)
        ax.set_title(f"frame {int(frame)}", fontsize=7.5)
    sec.blocks.append(ctx.figure(fig, "tem", f"Simulated {images.kind} images ({fmt(images.pixel_size_A, 3)} Å per pixel).",
                                 "simulated electron micrographs"))
    return sec


# ---------------------------------------------------------------------------------------------------
def fit_section(ctx: ReportContext) -> Section:
    """Inferred parameters with uncertainties (and truth when known), correlations, figures of merit, PPC."""
    sec = Section("fit", "Fit parameters and uncertainties")
    fit = ctx.run.fit
    if fit is None:
        sec.missing.append("fit result (fit_result.json, written by `twin fit`)")
        sec.blocks.append('<p class="absent">No fit_result.json in this run: nothing was fitted.</p>')
        return sec
    rows = []
    inside = []
    for p in fit.parameters:
        interval = f"[{fmt(p.interval_90[0], 4)}, {fmt(p.interval_90[1], 4)}]" if p.interval_90 else "—"
        covered = None
        if p.truth is not None and p.interval_90 is not None:
            covered = p.interval_90[0] <= p.truth <= p.interval_90[1]
            inside.append(covered)
        rows.append([p.name, fmt_pm(p.value, p.stderr), interval, p.unit, fmt(p.truth, 4),
                     "—" if covered is None else ("yes" if covered else "NO")])
    sec.blocks.append(table(["parameter", "value ± s.u.", "90 % interval", "unit", "truth", "truth in interval"], rows))
    if fit.parameters:
        fig = new_figure(0.45 * len(fit.parameters) + 0.9, 5.0)
        ax = fig.subplots()
        ys = np.arange(len(fit.parameters))[::-1]
        with_truth = any(p.truth not in (None, 0) for p in fit.parameters)
        for y, p in zip(ys, fit.parameters):
            ref = p.truth if (p.truth not in (None, 0)) else (p.value if p.value != 0 else 1.0)
            if p.interval_90:
                ax.plot([p.interval_90[0] / ref, p.interval_90[1] / ref], [y, y], color="#0072B2", lw=2.2,
                        solid_capstyle="butt")
            if p.stderr:
                ax.errorbar(p.value / ref, y, xerr=p.stderr / abs(ref), fmt="none", ecolor="#000000", capsize=2, lw=0.8)
            ax.plot(p.value / ref, y, "o", color="#000000", ms=4)
            if p.truth is not None:
                ax.plot(p.truth / ref, y, "|", color="#D55E00", ms=12, mew=2)
        ax.axvline(1.0, color="#bbbbbb", lw=0.6, zorder=0)
        ax.set_yticks(ys, [p.name + (f" ({p.unit})" if p.unit not in ("1", "") else "") for p in fit.parameters])
        ax.set_xlabel("estimate / truth" if with_truth else "relative to the estimate")
        ax.set_ylim(-0.7, len(fit.parameters) - 0.3)
        sec.blocks.append(ctx.figure(fig, "parameters", "Inferred parameters: estimate (dot), ±1 s.u. (bar), 90 % "
                                     "interval (blue) and known truth (vermilion tick), each divided by the truth (or "
                                     "by the estimate when no truth is known).", "parameter estimates"))
    if fit.correlation_matrix is not None and len(fit.correlation_names) > 1:
        m = np.asarray(fit.correlation_matrix, dtype=np.float64)
        n = m.shape[0]
        size = min(5.0, 1.2 + 0.45 * n)
        fig = new_figure(size, size + 0.9)
        ax = fig.subplots()
        im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(n), fit.correlation_names, rotation=45, ha="right")
        ax.set_yticks(range(n), fit.correlation_names)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                        color="white" if abs(m[i, j]) > 0.6 else "black")
        fig.colorbar(im, ax=ax, shrink=0.8, label="correlation coefficient")
        sec.blocks.append(ctx.figure(fig, "correlations", "Correlation matrix of the inferred parameters.",
                                     "parameter correlation matrix"))
    else:
        sec.missing.append("parameter correlations (fit_result.json correlations)")
    if fit.figures_of_merit:
        sec.blocks.append(table(["figure of merit", "value"], [[k, fmt(v, 4)] for k, v in fit.figures_of_merit.items()]))
    _ppc(ctx, sec, fit.posterior_predictive)
    if fit.measurements:
        rows = [[m["path"], Markup(f"<code>{esc(m['sha256'][:16])}…</code>" if m["sha256"] else "—"), "present, checksum matches"
                 if m["sha256"] else "present (no checksum recorded)"] for m in fit.measurements]
        sec.blocks.append("<h3>Measurements fitted</h3>" + table(["file", "sha256", "status"], rows))
    sec.summary.update({  # keeps the predictive coverage _ppc put there
        "parameters": {p.name: {"value": p.value, "stderr": p.stderr, "interval_90": p.interval_90, "unit": p.unit,
                                "truth": p.truth} for p in fit.parameters},
        "figures_of_merit": fit.figures_of_merit,
        "truth_coverage_90": (sum(inside) / len(inside)) if inside else None,
    })
    return sec


def _ppc_items(pp) -> list[dict] | None:
    """Normalise a posterior predictive block: a dict or list of dicts with an axis, observed and bands."""
    items = pp if isinstance(pp, list) else [pp]
    out = []
    for item in items:
        if not isinstance(item, dict):
            return None
        x = item.get("axis", item.get("x"))
        if isinstance(x, dict):
            name, unit, x = x.get("name", "x"), x.get("unit", ""), x.get("values")
        else:
            name, unit = item.get("axis_name", "x"), item.get("axis_unit", "")
        needed = [x, item.get("observed"), item.get("lower"), item.get("upper")]
        if any(v is None for v in needed):
            return None
        try:
            arrays = [np.asarray(v, dtype=np.float64) for v in needed]
        except (TypeError, ValueError):
            return None
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            return None
        median = item.get("median")
        out.append({"x": arrays[0], "observed": arrays[1], "lower": arrays[2], "upper": arrays[3],
                    "median": None if median is None else np.asarray(median, dtype=np.float64),
                    "name": str(name), "unit": str(unit), "level": float(item.get("level", 0.9)),
                    "label": str(item.get("label", "")), "quantity": str(item.get("quantity", "intensity"))})
    return out


def _ppc(ctx: ReportContext, sec: Section, pp) -> None:
    if pp is None:
        sec.missing.append("posterior predictive check (fit_result.json posterior_predictive)")
        return
    items = _ppc_items(pp)
    if not items:
        keys = ", ".join(pp.keys()) if isinstance(pp, dict) else type(pp).__name__
        sec.blocks.append(f'<p class="absent">posterior_predictive is present but not in a form this report draws '
                          f'(expected axis, observed, lower, upper; found {esc(keys)}).</p>')
        sec.missing.append("posterior predictive plot (unrecognised form)")
        return
    items = items[:4]
    fig = new_figure(1.8 * len(items) + 0.4)
    axes = fig.subplots(len(items), 1, squeeze=False)[:, 0]
    coverage = []
    for ax, it in zip(axes, items):
        rev = it["unit"] in ("ppm", "cm-1", "cm⁻¹")
        ax.fill_between(it["x"], it["lower"], it["upper"], color="#56B4E9", alpha=0.45, lw=0,
                        label=f"{100 * it['level']:.0f} % predictive band")
        if it["median"] is not None:
            ax.plot(it["x"], it["median"], color="#0072B2", lw=0.9, label="predictive median")
        ax.plot(it["x"], it["observed"], ls="none", marker="o", ms=1.5, color="#000000", label="observed")
        inside = float(np.mean((it["observed"] >= it["lower"]) & (it["observed"] <= it["upper"])))
        coverage.append(inside)
        ax.set_title(f"{it['label']}  observed points inside the band: {100 * inside:.1f} %".strip(), fontsize=7.5)
        ax.set_xlabel(f"{it['name']} ({it['unit']})" if it["unit"] else it["name"])
        ax.set_ylabel(it["quantity"])
        orient_axis(ax, it["x"], rev)
    axes[0].legend(loc="upper right", ncols=3)
    sec.blocks.append(ctx.figure(fig, "posterior-predictive", "Posterior predictive check: data drawn from the fitted "
                                 "posterior (band) against the observations; a calibrated model puts about the stated "
                                 "fraction of points inside.", "posterior predictive check"))
    sec.summary["posterior_predictive_coverage"] = coverage


# ---------------------------------------------------------------------------------------------------
def provenance_section(ctx: ReportContext) -> Section:
    """Versions, seed, host and the SHA-256 of every input file, so the report can be reproduced."""
    sec = Section("provenance", "Provenance")
    run = ctx.run
    prov = {k: v for k, v in run.trajectory.provenance.items() if k != "scenario_toml"}
    rows = []
    for key in sorted(prov):
        value = prov[key]
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.dumps(json.loads(value), sort_keys=True)
            except json.JSONDecodeError:
                pass
        rows.append([key, Markup(f"<code>{esc(value)}</code>")])
    sec.blocks.append("<h3>Simulation</h3>" + table(["key", "value"], rows, cls="kv"))
    files = [run.trajectory.path] + sorted((run.out_dir / "observables").glob("*.h5"))
    if run.fit is not None:
        files.append(run.fit.path)
    checksums = {}
    for f in files:
        checksums[str(f.relative_to(run.out_dir))] = file_sha256(f)
    if run.fit is not None:
        for m in run.fit.measurements:
            checksums[m["path"]] = m["sha256"] or file_sha256(Path(m["resolved"]))
    rows = [[name, Markup(f"<code>{esc(digest)}</code>")] for name, digest in checksums.items()]
    sec.blocks.append("<h3>Files (SHA-256)</h3>" + table(["file", "sha256"], rows, cls="kv"))
    built = {
        "report_builder": f"operando-mof-twin {__version__}",
        "matplotlib": matplotlib.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "python": platform.python_version(),
        "built_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    sec.blocks.append("<h3>This report</h3>" + table(["key", "value"], [[k, v] for k, v in built.items()], cls="kv"))
    sec.summary = {"simulation": prov, "files_sha256": checksums, "report": built}
    return sec


#: the report's sections in page order
SECTIONS: list[SectionFn] = [
    scenario_section,
    phase_section,
    spatial_section,
    xrd_section,
    nmr_section,
    vibrational_section,
    tem_section,
    fit_section,
    provenance_section,
]
