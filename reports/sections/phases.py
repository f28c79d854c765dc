"""Phase fractions and hysteresis: fractions versus time and versus the driving condition, per crystal, and
the table of switching points."""

from __future__ import annotations

import matplotlib
import matplotlib.cm
import matplotlib.colors
import numpy as np
from matplotlib.figure import Figure

from reports import analysis
from reports.context import ReportContext, Section, esc, fmt, table
from reports.figures import BRANCH_COLOURS, PHASE_COLOURS, branch_segments, colour_by, new_figure
from reports.sections._shared import crystal_sizes, mark_absent

__all__ = ["phase_section", "transition_label"]


def phase_section(ctx: ReportContext) -> Section:
    """Phase fractions versus time and versus the driving condition, branches coloured, switching points."""
    sec = Section("phases", "Phase fractions and hysteresis")
    if ctx.phase_fraction is None:
        return mark_absent(sec, "phase fractions (trajectory summary 'phase_fraction')",
                           "The trajectory holds no phase_fraction summary.")
    names = _phase_names(ctx)
    open_name = names[-1]
    sec.blocks.append(ctx.figure(_fractions_time_figure(ctx, names), "phase-fractions-time", "Volume fraction of each "
                                 f"phase versus time; dashed: {ctx.driving_label}.", "phase fractions versus time"))
    if ctx.driving_name != "time":
        sec.blocks.append(
            ctx.figure(_hysteresis_figure(ctx, open_name), "hysteresis", f"Fraction of {open_name} versus "
                       f"{ctx.driving_label}: {ctx.branch_names[1]} branch blue, {ctx.branch_names[-1]} branch "
                       "vermilion; dotted lines mark where the fraction crosses ½.", "hysteresis loop")
        )
    extra: dict = {}
    per = _per_crystal_fractions(ctx)
    if per is not None:
        d_nm = _crystal_diameters_nm(ctx, per.shape[1])
        sec.blocks.append(ctx.figure(_crystal_fractions_figure(ctx, per, d_nm, open_name), "crystal-fractions",
                                     f"Fraction of {open_name} in each crystal of the powder versus "
                                     f"{ctx.driving_label}, coloured by crystal size; solid: {ctx.branch_names[1]}, "
                                     f"dashed: {ctx.branch_names[-1]}.", "per-crystal phase fractions"))
        extra = {"per_crystal": _per_crystal_switching(ctx, per, d_nm)}
    sec.blocks.append(_switching_table(ctx, names))
    sec.summary = {**_phase_summary(ctx, names), **extra}
    return sec


def _phase_names(ctx: ReportContext) -> list[str]:
    """The run's phase names, one per phase-fraction column (generic names when they do not match)."""
    n = ctx.phase_fraction.shape[1]
    return list(ctx.phases) if n == len(ctx.phases) else [f"phase {i}" for i in range(n)]


def _fractions_time_figure(ctx: ReportContext, names: list[str]) -> Figure:
    frac = ctx.phase_fraction
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
    return fig


def _hysteresis_figure(ctx: ReportContext, open_name: str) -> Figure:
    """Fraction of the open phase versus the driving condition, one polyline per branch, crossings dotted."""
    opened = ctx.phase_fraction[:, -1]
    fig = new_figure(3.0, 4.6)
    ax = fig.subplots()
    for sign, (xs, ys) in branch_segments(ctx.driving, opened, ctx.branch).items():
        if np.any(np.isfinite(xs)):
            ax.plot(xs, ys, color=BRANCH_COLOURS[sign], marker="o", ms=2.2, label=ctx.branch_names[sign])
    for c in ctx.crossings:
        ax.axvline(c.value, color=BRANCH_COLOURS[c.branch], lw=0.6, ls=":")
    _direction_arrows(ax, ctx.driving, opened, ctx.branch)
    ax.set_xlabel(ctx.driving_label)
    ax.set_ylabel(f"fraction {open_name}")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best")
    return fig


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


def _per_crystal_fractions(ctx: ReportContext) -> np.ndarray | None:
    """Phase fractions of each crystal (n_frames, n_crystals, n_phases) of a powder, or ``None``."""
    traj = ctx.run.trajectory
    if "crystal_phase_fraction" not in traj.summary_names or ctx.driving_name == "time":
        return None
    per = np.asarray(traj.summary("crystal_phase_fraction"), dtype=np.float64)
    return per if per.ndim == 3 and per.shape[1] > 1 else None


def _crystal_diameters_nm(ctx: ReportContext, n_crystals: int) -> np.ndarray:
    """Equivalent-sphere diameter of each crystal (its index when the mask does not give one per crystal)."""
    sizes = crystal_sizes(ctx)
    v_site = float(np.prod(ctx.run.trajectory.cell_A)) * 1e-3
    return (6.0 * sizes * v_site / np.pi) ** (1 / 3) if sizes.size == n_crystals else np.arange(n_crystals)


def _crystal_fractions_figure(ctx: ReportContext, per: np.ndarray, d_nm: np.ndarray, open_name: str) -> Figure:
    """Open fraction of each crystal versus the driving condition, coloured by size, branches solid/dashed."""
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
    return fig


def _per_crystal_switching(ctx: ReportContext, per: np.ndarray, d_nm: np.ndarray) -> list[dict]:
    """Where the open fraction of each crystal crosses ½, for summary.json."""
    out = []
    for c in range(per.shape[1]):
        found = analysis.crossings(per[:, c, -1], ctx.driving, ctx.time_s)
        out.append({"crystal": c + 1, "d_nm": float(d_nm[c]),
                    "switching": [{"branch": ctx.branch_names[x.branch], "value": x.value} for x in found]})
    return out


def transition_label(names: list[str], rising: bool) -> str:
    """``"np → lp"`` when the fraction of the last phase rises through ½, ``"lp → np"`` when it falls."""
    closed, opened = names[0], names[-1]
    return f"{closed} → {opened}" if rising else f"{opened} → {closed}"


def _switching_table(ctx: ReportContext, names: list[str]) -> str:
    """The switching points (cycle, branch, value, time, transition), or a line saying there are none."""
    if not ctx.crossings:
        return f'<p>The fraction of {esc(names[-1])} never crosses ½ in this run.</p>'
    rows = [
        [c.cycle + 1, ctx.branch_names[c.branch], f"{fmt(c.value, 4)} {ctx.driving_unit}",
         f"{fmt(c.time_s / ctx.time_div, 4)} {ctx.time_unit}", transition_label(names, c.fraction_rising)]
        for c in ctx.crossings
    ]
    return table(["cycle", "branch", "switching at", "time", "transition"], rows)


def _phase_summary(ctx: ReportContext, names: list[str]) -> dict:
    return {
        "final_phase_fraction": dict(zip(names, map(float, ctx.phase_fraction[-1]))),
        "switching": [
            {"cycle": c.cycle + 1, "branch": ctx.branch_names[c.branch], "value": c.value, "unit": ctx.driving_unit,
             "time_s": c.time_s, "to_open": c.fraction_rising}
            for c in ctx.crossings
        ],
        "hysteresis_width": analysis.hysteresis_width(ctx.crossings),
        "hysteresis_unit": ctx.driving_unit,
    }
