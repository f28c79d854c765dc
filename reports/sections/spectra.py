"""Spectral series (XRD, NMR, IR, Raman): heat map and waterfall of the simulated series, measured frames over
the simulated ones with difference curves and agreement indices.

:func:`spectral_section` draws any technique's series from ``ctx.run.spectra[technique]``; :func:`xrd_section`,
:func:`nmr_section` and :func:`vibrational_section` are the page's sections built on it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from reports import analysis
from reports.context import ReportContext, Section, esc, fmt, table
from reports.figures import colour_by, new_figure, orient_axis
from reports.sections._shared import evenly_spaced, mark_absent
from instruments.series_io import SpectralSeries

__all__ = [
    "TECHNIQUE_TITLES",
    "OVERLAY_BACKGROUND",
    "MAX_TABLE_ROWS",
    "spectral_section",
    "agreement_statistics",
    "xrd_section",
    "nmr_section",
    "vibrational_section",
]

TECHNIQUE_TITLES = {
    "xrd": "Powder X-ray diffraction",
    "nmr": "NMR spectra",
    "ir": "Infrared spectra",
    "raman": "Raman spectra",
}
#: Chebyshev background terms refined with the scale when a measured pattern is overlaid on a simulated one
OVERLAY_BACKGROUND = 3
#: rows of a per-frame table on the page (the summary keeps every frame)
MAX_TABLE_ROWS = 12
#: simulated frames in the waterfall, measured frames overlaid at most
MAX_WATERFALL = 10
MAX_OVERLAID = 4


def spectral_section(ctx: ReportContext, technique: str) -> Section | None:
    """The panels of ``ctx.run.spectra[technique]``; ``None`` when the run has no such series (XRD: a section
    saying it is absent)."""
    series = ctx.run.spectra.get(technique)
    sec = Section(technique, TECHNIQUE_TITLES.get(technique, technique.upper()))
    if series is None:
        if technique == "xrd":
            return mark_absent(sec, "simulated XRD series (observables/xrd.h5, written by `twin observe`)",
                               "No observables/xrd.h5 in this run.")
        return None
    _simulated_panels(ctx, sec, series)
    if series.measured_intensity is None:
        sec.missing.append(f"measured {series.technique.upper()} patterns (measured_intensity in {series.path.name})")
        return sec
    stats = agreement_statistics(series)
    _measured_panels(ctx, sec, series, stats)
    sec.summary = _spectral_summary(series, stats)
    return sec


def _condition(ctx: ReportContext, s: SpectralSeries) -> tuple[np.ndarray, str, str]:
    """The series' condition shown beside it: values, unit and short axis label (temperature or pressure)."""
    if ctx.driving_name == "temperature":
        return s.temperature_K, "K", "T (K)"
    return s.pressure_bar, "bar", "p (bar)"


# -- simulated series ---------------------------------------------------------------------------------
def _simulated_panels(ctx: ReportContext, sec: Section, s: SpectralSeries) -> None:
    what = f"λ = {fmt(s.wavelength_A, 5)} Å" if s.wavelength_A else s.axis_label
    sec.blocks.append(ctx.figure(_heatmap_figure(ctx, s), f"{s.technique}-heatmap", f"Simulated "
                                 f"{s.technique.upper()} series ({what}) versus time; right: the condition at each "
                                 "frame.", f"{s.technique} heat map"))
    picks = evenly_spaced(s.n_frames, MAX_WATERFALL)
    _, cond_unit, _ = _condition(ctx, s)
    sec.blocks.append(ctx.figure(_waterfall_figure(ctx, s, picks), f"{s.technique}-waterfall", f"{picks.size} frames "
                                 "of the simulated series, offset upwards in time order and coloured by "
                                 f"{'pressure' if cond_unit == 'bar' else 'temperature'}.", f"{s.technique} waterfall"))


def _heatmap_figure(ctx: ReportContext, s: SpectralSeries) -> Figure:
    """Intensity (square-root scale) over the spectral axis and time, with the condition beside it."""
    axis = s.axis
    fig = new_figure(3.0)
    grid = fig.add_gridspec(1, 2, width_ratios=[5, 1])
    ax = fig.add_subplot(grid[0])
    side = fig.add_subplot(grid[1], sharey=ax)
    t = s.time_s / ctx.time_div
    t_edges = _cell_edges(t) if t.size > 1 else np.asarray([t[0] - 0.5, t[0] + 0.5])
    x_edges = _cell_edges(axis)
    positive = np.clip(s.intensity, 0, None)
    mesh = ax.pcolormesh(x_edges, t_edges, positive, shading="flat", cmap="viridis",
                         norm=PowerNorm(0.5, vmin=0, vmax=float(positive.max()) or 1.0), rasterized=True)
    orient_axis(ax, axis, s.axis_decreasing)
    ax.set_xlabel(s.axis_label)
    ax.set_ylabel(f"time ({ctx.time_unit})")
    bar = fig.colorbar(mesh, ax=ax, pad=0.01, location="top", shrink=0.6, aspect=40)
    bar.set_label(f"intensity ({s.intensity_unit}, square-root scale)")
    cond, _, cond_label = _condition(ctx, s)
    side.plot(cond, t, color="#333333")
    side.set_xlabel(cond_label)
    side.tick_params(labelleft=False)
    return fig


def _cell_edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges for ``pcolormesh``: midpoints between neighbours, the outer centres as the outer edges."""
    return np.concatenate([centres[:1], 0.5 * (centres[1:] + centres[:-1]), centres[-1:]])


def _waterfall_figure(ctx: ReportContext, s: SpectralSeries, picks: np.ndarray) -> Figure:
    """The frames ``picks`` offset upwards in time order, coloured and labelled by their condition."""
    axis, inten = s.axis, s.intensity
    cond, cond_unit, _ = _condition(ctx, s)
    fig = new_figure(3.4)
    ax = fig.subplots()
    offset = 0.35 * (float(np.max(inten[picks])) or 1.0)
    colours = colour_by(cond[picks]) if np.ptp(cond[picks]) > 0 else ["#333333"] * picks.size
    for i, (k, colour) in enumerate(zip(picks, colours)):
        ax.plot(axis, inten[k] + i * offset, color=colour, lw=0.8)
        ax.annotate(f"{fmt(cond[k], 3)} {cond_unit}", xy=(1.0, 0), xycoords=("axes fraction", "data"),
                    xytext=(3, i * offset + float(np.median(inten[k]))), textcoords=("offset points", "data"),
                    fontsize=6.5, color=colour, va="center")
    orient_axis(ax, axis, s.axis_decreasing)
    ax.set_xlabel(s.axis_label)
    ax.set_ylabel(f"intensity + offset ({s.intensity_unit})")
    ax.set_yticks([])
    return fig


# -- measured versus simulated ------------------------------------------------------------------------
def agreement_statistics(s: SpectralSeries) -> list[dict]:
    """Agreement indices (Rwp, Rexp, Rp, χ²_ν, scale, background) of every measured frame against the simulated
    frame it matches, with a refined scale and an :data:`OVERLAY_BACKGROUND`-term background."""
    stats = []
    for j, k in enumerate(s.measured_frame_index):
        sigma = None if s.measured_sigma is None else s.measured_sigma[j]
        stats.append(analysis.agreement_indices(s.measured_intensity[j], s.intensity[k], sigma,
                                                n_background=OVERLAY_BACKGROUND))
    return stats


def _measured_panels(ctx: ReportContext, sec: Section, s: SpectralSeries, stats: list[dict]) -> None:
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
                          'are in summary.json (sections.xrd.agreement).</p>')


def _agreement_row(ctx: ReportContext, frame: int, st: dict) -> list:
    return [frame, ctx.frame_label(frame) if frame < ctx.time_s.size else "—", f"{100 * st['Rwp']:.2f}",
            f"{100 * st['Rexp']:.2f}", f"{100 * st['Rp']:.2f}", fmt(st["chi2"], 3), fmt(st["scale"], 4)]


def _overlay_figure(ctx: ReportContext, s: SpectralSeries, stats: list[dict]) -> Figure:
    """Up to four measured frames over the scaled simulation, each with its difference curve below."""
    axis = s.axis
    drawn = evenly_spaced(len(stats), MAX_OVERLAID)
    fig = new_figure(1.9 * drawn.size + 0.4)
    grid = fig.add_gridspec(2 * drawn.size, 1, height_ratios=[3, 1] * drawn.size)
    for r, j in enumerate(drawn):
        k = int(s.measured_frame_index[j])
        top = fig.add_subplot(grid[2 * r])
        bottom = fig.add_subplot(grid[2 * r + 1], sharex=top)
        scaled = stats[j]["scale"] * s.intensity[k] + stats[j]["background"]
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
        orient_axis(bottom, axis, s.axis_decreasing)
    bottom.set_xlabel(s.axis_label)
    return fig


def _spectral_summary(s: SpectralSeries, stats: list[dict]) -> dict:
    return {
        "n_frames": s.n_frames,
        "agreement": [{"frame": int(k), **{n: v for n, v in st.items() if n != "background"}}
                      for k, st in zip(s.measured_frame_index, stats)],
        "Rwp_mean": float(np.mean([st["Rwp"] for st in stats])),
    }


# -- the page's sections ------------------------------------------------------------------------------
def xrd_section(ctx: ReportContext) -> Section | None:
    """Powder XRD: heat map and waterfall versus condition; measured versus simulated with residuals and Rwp."""
    return spectral_section(ctx, "xrd")


def nmr_section(ctx: ReportContext) -> Section | None:
    """NMR series (chemical shift decreasing to the right), when ``observables/nmr.h5`` is present."""
    return spectral_section(ctx, "nmr")


def vibrational_section(ctx: ReportContext) -> Section | None:
    """IR and Raman series (wavenumber decreasing to the right), when present."""
    parts = [s for s in (spectral_section(ctx, "ir"), spectral_section(ctx, "raman")) if s is not None]
    if not parts:
        return None
    sec = Section("vibrational", "IR and Raman spectra")
    for p in parts:
        sec.blocks.append(f"<h3>{esc(p.title)}</h3>")
        sec.blocks.extend(p.blocks)
        sec.missing.extend(p.missing)
        sec.summary[p.id] = p.summary
    return sec
