"""Series of any technique in the registry (XRD, …): heat map and waterfall of the simulated series, measured
frames over the simulated ones with difference curves and agreement indices.

:func:`technique_sections` asks the technique registry (:mod:`instruments.registry`) what exists and draws
each technique whose series the run holds through the technique's ``panel`` (by default
:func:`spectral_section`, which reads ``ctx.run.spectra[name]``, an :class:`~instruments.observable.Observable`).
No technique is named here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from instruments.observable import Observable
from instruments.registry import get, techniques
from instruments.technique import resolve
from reports import analysis
from reports.context import ReportContext, Section, fmt, table
from reports.figures import colour_by, new_figure, orient_axis
from reports.sections._shared import evenly_spaced, mark_absent

__all__ = [
    "OVERLAY_BACKGROUND",
    "MAX_TABLE_ROWS",
    "technique_sections",
    "spectral_section",
    "agreement_statistics",
]

#: Chebyshev background terms refined with the scale when a measured pattern is overlaid on a simulated one
OVERLAY_BACKGROUND = 3
#: rows of a per-frame table on the page (the summary keeps every frame)
MAX_TABLE_ROWS = 12
#: simulated frames in the waterfall, measured frames overlaid at most
MAX_WATERFALL = 10
MAX_OVERLAID = 4


def technique_sections(ctx: ReportContext) -> list[Section]:
    """One section per technique of the registry that the run holds a series of (in registry order), drawn by
    the technique's panel; an observable technique whose series is absent is listed as missing."""
    built = []
    for technique in techniques():
        if technique.name not in ctx.run.spectra:
            if technique.observable:
                built.append(mark_absent(Section(technique.name, technique.title),
                                         f"simulated {technique.title} series (observables/{technique.name}.h5, "
                                         "written by `twin observe`)", f"No observables/{technique.name}.h5 in this run."))
            continue
        panel = resolve(technique.panel) if technique.panel is not None else spectral_section
        section = panel(ctx, technique.name)
        if section is not None:
            built.append(section)
    return built


def spectral_section(ctx: ReportContext, technique: str) -> Section | None:
    """The panels of ``ctx.run.spectra[technique]``; ``None`` when the run has no such series."""
    series = ctx.run.spectra.get(technique)
    if series is None:
        return None
    sec = Section(technique, get(technique).title)
    _simulated_panels(ctx, sec, series)
    if series.measured is None:
        sec.missing.append(f"measured {get(technique).title} frames (measured/ in observables/{technique}.h5)")
        return sec
    stats = agreement_statistics(series)
    _measured_panels(ctx, sec, series, stats)
    sec.summary = _spectral_summary(series, stats)
    return sec


def _condition(ctx: ReportContext, s: Observable) -> tuple[np.ndarray, str, str]:
    """The series' condition shown beside it: values, unit and short axis label (temperature or pressure)."""
    if ctx.driving_name == "temperature":
        return s.condition("temperature_K"), "K", "T (K)"
    return s.condition("pressure_bar"), "bar", "p (bar)"


# -- simulated series ---------------------------------------------------------------------------------
def _simulated_panels(ctx: ReportContext, sec: Section, s: Observable) -> None:
    wavelength = s.meta.get("wavelength_A")
    what = f"λ = {fmt(wavelength, 5)} Å" if wavelength else s.axis.label
    sec.blocks.append(ctx.figure(_heatmap_figure(ctx, s), f"{s.technique}-heatmap", f"Simulated "
                                 f"{s.technique.upper()} series ({what}) versus time; right: the condition at each "
                                 "frame.", f"{s.technique} heat map"))
    picks = evenly_spaced(s.n_frames, MAX_WATERFALL)
    _, cond_unit, _ = _condition(ctx, s)
    sec.blocks.append(ctx.figure(_waterfall_figure(ctx, s, picks), f"{s.technique}-waterfall", f"{picks.size} frames "
                                 "of the simulated series, offset upwards in time order and coloured by "
                                 f"{'pressure' if cond_unit == 'bar' else 'temperature'}.", f"{s.technique} waterfall"))


def _heatmap_figure(ctx: ReportContext, s: Observable) -> Figure:
    """Intensity (square-root scale) over the spectral axis and time, with the condition beside it."""
    axis = np.asarray(s.axis.values)
    fig = new_figure(3.0)
    grid = fig.add_gridspec(1, 2, width_ratios=[5, 1])
    ax = fig.add_subplot(grid[0])
    side = fig.add_subplot(grid[1], sharey=ax)
    t = s.condition("time_s") / ctx.time_div
    t_edges = _cell_edges(t) if t.size > 1 else np.asarray([t[0] - 0.5, t[0] + 0.5])
    x_edges = _cell_edges(axis)
    positive = np.clip(s.values, 0, None)
    mesh = ax.pcolormesh(x_edges, t_edges, positive, shading="flat", cmap="viridis",
                         norm=PowerNorm(0.5, vmin=0, vmax=float(positive.max()) or 1.0), rasterized=True)
    orient_axis(ax, axis, s.axis.decreasing)
    ax.set_xlabel(s.axis.label)
    ax.set_ylabel(f"time ({ctx.time_unit})")
    bar = fig.colorbar(mesh, ax=ax, pad=0.01, location="top", shrink=0.6, aspect=40)
    exponent = int(np.floor(np.log10(float(positive.max())))) if float(positive.max()) > 0 else 0
    if abs(exponent) >= 4:  # ticks in units of 10^n named in the label, never a detached "1e10" offset
        bar.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v / 10.0**exponent, 3)))
        bar.set_label(f"intensity (10^{exponent} {s.unit}, square-root scale)")
    else:
        bar.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, 3)))
        bar.set_label(f"intensity ({s.unit}, square-root scale)")
    cond, _, cond_label = _condition(ctx, s)
    side.plot(cond, t, color="#333333")
    side.set_xlabel(cond_label)
    side.tick_params(labelleft=False)
    return fig


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges for ``pcolormesh``: midpoints between neighbours, the outer centres as the outer edges."""
    return np.concatenate([centres[:1], 0.5 * (centres[1:] + centres[:-1]), centres[-1:]])


def _branch_of_frames(cond: np.ndarray, rising: str, falling: str) -> list[str]:
    """Per frame, the leg of the protocol it lies on: ``rising`` where the condition was last moving up,
    ``falling`` where it was last moving down (a hold keeps the leg before it), ``""`` before any change."""
    legs, last = [], ""
    for change in np.diff(np.asarray(cond, float), prepend=float(cond[0])):
        if change > 0:
            last = rising
        elif change < 0:
            last = falling
        legs.append(last)
    return legs


def _waterfall_figure(ctx: ReportContext, s: Observable, picks: np.ndarray) -> Figure:
    """The frames ``picks`` offset upwards in time order, coloured and labelled by their condition."""
    axis, inten = np.asarray(s.axis.values), np.asarray(s.values)
    cond, cond_unit, _ = _condition(ctx, s)
    fig = new_figure(3.4)
    ax = fig.subplots()
    offset = 0.35 * (float(np.max(inten[picks])) or 1.0)
    colours = colour_by(cond[picks]) if np.ptp(cond[picks]) > 0 else ["#333333"] * picks.size
    legs = _branch_of_frames(cond, "adsorption" if cond_unit == "bar" else "heating",
                             "desorption" if cond_unit == "bar" else "cooling")
    for i, (k, colour) in enumerate(zip(picks, colours)):
        ax.plot(axis, inten[k] + i * offset, color=colour, lw=0.8)
        leg = f", {legs[k]}" if legs[k] else ""
        ax.annotate(f"{fmt(cond[k], 3)} {cond_unit}{leg}", xy=(1.0, 0), xycoords=("axes fraction", "data"),
                    xytext=(3, i * offset + float(np.median(inten[k]))), textcoords=("offset points", "data"),
                    fontsize=6.5, color=colour, va="center")
    orient_axis(ax, axis, s.axis.decreasing)
    ax.set_xlabel(s.axis.label)
    ax.set_ylabel(f"intensity + offset ({s.unit})")
    ax.set_yticks([])
    return fig


# -- measured versus simulated ------------------------------------------------------------------------
def agreement_statistics(s: Observable) -> list[dict]:
    """Agreement indices (Rwp, Rexp, Rp, χ²_ν, scale, background) of every measured frame against the simulated
    frame it matches, with a refined scale and an :data:`OVERLAY_BACKGROUND`-term background."""
    stats = []
    measured = s.measured
    for j, k in enumerate(s.measured_frame_index):
        sigma = None if measured.sigma is None else measured.sigma[j]
        stats.append(analysis.agreement_indices(measured.values[j], s.values[k], sigma,
                                                n_background=OVERLAY_BACKGROUND))
    return stats


def _measured_panels(ctx: ReportContext, sec: Section, s: Observable, stats: list[dict]) -> None:
    sec.blocks.append(ctx.figure(_overlay_figure(ctx, s, stats), f"{s.technique}-overlay", "Measured (points) and "
                                 f"simulated (line; a least-squares scale factor and a {OVERLAY_BACKGROUND}-term "
                                 "Chebyshev background, which the simulation does not know) with the difference "
                                 "curve below; Rwp and χ²_ν with weights 1/σ² (counting statistics when the file "
                                 "gives no σ), McCusker et al. (1999).", f"measured versus simulated {s.technique}"))
    n_meas = len(stats)
    listed = evenly_spaced(n_meas, MAX_TABLE_ROWS)
    rows = [_agreement_row(ctx, int(s.measured_frame_index[j]), stats[j]) for j in listed]
    sec.blocks.append(table(["frame", "time · condition", "Rwp (%)", "Rexp (%)", "Rp (%)", "χ²_ν", "scale"], rows))
    if listed.size < n_meas:
        sec.blocks.append(f'<p class="note">{listed.size} of {n_meas} measured frames, evenly spaced; all of them '
                          f'are in summary.json (sections.{s.technique}.agreement).</p>')


def _agreement_row(ctx: ReportContext, frame: int, st: dict) -> list:
    return [frame, ctx.frame_label(frame) if frame < ctx.time_s.size else "—", f"{100 * st['Rwp']:.2f}",
            f"{100 * st['Rexp']:.2f}", f"{100 * st['Rp']:.2f}", fmt(st["chi2"], 3), fmt(st["scale"], 4)]


def _overlay_figure(ctx: ReportContext, s: Observable, stats: list[dict]) -> Figure:
    """Up to four measured frames over the scaled simulation, each with its difference curve below."""
    axis, measured = np.asarray(s.axis.values), s.measured.values
    drawn = evenly_spaced(len(stats), MAX_OVERLAID)
    fig = new_figure(1.9 * drawn.size + 0.4)
    grid = fig.add_gridspec(2 * drawn.size, 1, height_ratios=[3, 1] * drawn.size)
    for r, j in enumerate(drawn):
        k = int(s.measured_frame_index[j])
        top = fig.add_subplot(grid[2 * r])
        bottom = fig.add_subplot(grid[2 * r + 1], sharex=top)
        scaled = stats[j]["scale"] * s.values[k] + stats[j]["background"]
        top.plot(axis, measured[j], ls="none", marker="o", ms=1.4, mec="none", color="#000000",
                 label="measured")
        top.plot(axis, scaled, color="#D55E00", lw=0.9, label="simulated")
        top.set_ylabel(f"I ({s.unit})")
        top.text(0.01, 0.9, f"frame {k} · {ctx.frame_label(k) if k < ctx.time_s.size else ''}\n"
                 f"Rwp = {100 * stats[j]['Rwp']:.2f} %, χ²_ν = {fmt(stats[j]['chi2'], 3)}",
                 transform=top.transAxes, va="top", fontsize=7,
                 bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        top.tick_params(labelbottom=False)
        if r == 0:
            top.legend(loc="upper right", ncols=2)
        bottom.plot(axis, measured[j] - scaled, color="#0072B2", lw=0.7)
        bottom.axhline(0, color="#999999", lw=0.5)
        bottom.set_ylabel("obs − calc")
        orient_axis(bottom, axis, s.axis.decreasing)
    bottom.set_xlabel(s.axis.label)
    return fig


def _spectral_summary(s: Observable, stats: list[dict]) -> dict:
    return {
        "n_frames": s.n_frames,
        "agreement": [{"frame": int(k), **{n: v for n, v in st.items() if n != "background"}}
                      for k, st in zip(s.measured_frame_index, stats)],
        "Rwp_mean": float(np.mean([st["Rwp"] for st in stats])),
    }
