"""Scenario and conditions: material, phases, crystals, protocol, seed; the timeline of every condition."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from reports.context import ReportContext, Section, esc, fmt, table
from reports.figures import BRANCH_COLOURS, branch_segments, new_figure

__all__ = ["scenario_section"]

#: (label, values per frame, unit) of one condition
Condition = tuple[str, np.ndarray, str]


def scenario_section(ctx: ReportContext) -> Section:
    """Scenario, crystal and protocol; timeline of every condition (varying ones plotted, constant ones listed)."""
    sec = Section("scenario", "Scenario and conditions")
    sec.blocks.append(table(["", ""], _scenario_rows(ctx), cls="kv"))
    varying, constant = _split_conditions(ctx)
    sec.blocks.append(ctx.figure(_conditions_figure(ctx, varying), "conditions", _conditions_caption(constant),
                                 "conditions versus time"))
    text = ctx.run.trajectory.provenance.get("scenario_toml")
    if isinstance(text, str) and text.strip():
        sec.blocks.append(f"<details><summary>Scenario file (verbatim)</summary><pre>{esc(text)}</pre></details>")
    else:
        sec.missing.append("scenario file text (provenance attribute scenario_toml)")
    sec.summary = _scenario_summary(ctx)
    return sec


def _scenario_rows(ctx: ReportContext) -> list[list]:
    """Key–value rows describing the run: material, guests, phases, crystal, protocol, frames, seed."""
    run, traj = ctx.run, ctx.run.trajectory
    prov = traj.provenance
    scen = run.scenario
    crystal = scen.get("crystal", {})
    segments = scen.get("protocol", {}).get("segments", [])
    site_shape = traj.site_shape
    n_crystals = site_shape[0] if len(site_shape) == 4 else 1
    return [
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


def _short(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def _split_conditions(ctx: ReportContext) -> tuple[list[Condition], list[Condition]]:
    """The conditions to plot (those that vary; the first one when none does) and those held constant."""
    series = [(f"p({name})", ctx.partial_pressure_bar[:, g], "bar") for g, name in enumerate(ctx.run.trajectory.guests)]
    series.append(("T", ctx.temperature_K, "K"))
    series.append(("RH", 100.0 * ctx.relative_humidity, "%"))
    varying = [s for s in series if np.ptp(s[1]) > 1e-9 * max(1.0, float(np.max(np.abs(s[1]))))]
    constant = [s for s in series if s not in varying]
    return varying or series[:1], constant


def _conditions_figure(ctx: ReportContext, shown: list[Condition]) -> Figure:
    """One panel per condition versus time; partial pressures coloured by branch when pressure drives."""
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
    return fig


def _conditions_caption(constant: list[Condition]) -> str:
    held = "; ".join(f"{label} = {fmt(values[0], 4)} {unit}" for label, values, unit in constant)
    caption = "Operando protocol: conditions at every recorded frame"
    return caption + (f"; held constant: {held}." if held else ".")


def _scenario_summary(ctx: ReportContext) -> dict:
    traj = ctx.run.trajectory
    return {
        "material": traj.provenance.get("material"),
        "guests": list(traj.guests),
        "phases": list(traj.phases),
        "n_frames": traj.n_frames,
        "duration_s": float(ctx.time_s[-1]),
        "pressure_bar_range": [float(ctx.pressure_bar.min()), float(ctx.pressure_bar.max())],
        "temperature_K_range": [float(ctx.temperature_K.min()), float(ctx.temperature_K.max())],
        "driving_condition": ctx.driving_name,
    }
