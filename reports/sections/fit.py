"""Fit parameters and uncertainties: estimates with intervals next to the truth, a forest plot, the correlation
matrix, figures of merit, the posterior predictive check and the measurement files fitted."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from instruments.observable import AXIS_DECREASING
from reports.context import Markup, ReportContext, Section, esc, fmt, fmt_pm, table
from reports.figures import new_figure, orient_axis
from twin.fit.result import FitParameter, FitResult, PredictiveCheck
from reports.sections._shared import mark_absent

__all__ = ["fit_section", "truth_inside"]

#: posterior predictive panels drawn at most
MAX_PPC_PANELS = 4


def fit_section(ctx: ReportContext) -> Section:
    """Inferred parameters with uncertainties (and truth when known), correlations, figures of merit, PPC."""
    sec = Section("fit", "Fit parameters and uncertainties")
    fit = ctx.run.fit
    if fit is None:
        return mark_absent(sec, "fit result (fit_result.json, written by `twin fit`)",
                           "No fit_result.json in this run: nothing was fitted.")
    sec.blocks.append(_parameter_table(fit))
    if fit.parameters:
        sec.blocks.append(ctx.figure(_forest_figure(fit), "parameters", "Inferred parameters: estimate (dot), ±1 "
                                     "s.u. (bar), 90 % interval (blue) and known truth (vermilion tick), each divided "
                                     "by the truth (or by the estimate when no truth is known).", "parameter estimates"))
    if fit.correlation_matrix is not None and len(fit.correlation_names) > 1:
        sec.blocks.append(ctx.figure(_correlation_figure(fit), "correlations", "Correlation matrix of the inferred "
                                     "parameters.", "parameter correlation matrix"))
    else:
        sec.missing.append("parameter correlations (fit_result.json correlations)")
    if fit.figures_of_merit:
        merits = [[k, fmt(v, 4)] for k, v in fit.figures_of_merit.items()]
        sec.blocks.append(table(["figure of merit", "value"], merits))
    _ppc(ctx, sec, fit.posterior_predictive)
    if fit.measurements:
        sec.blocks.append("<h3>Measurements fitted</h3>" + _measurements_table(fit))
    sec.summary.update(_fit_summary(fit))  # keeps the predictive coverage _ppc put there
    return sec


def truth_inside(p: FitParameter) -> bool | None:
    """Whether the known truth lies in the 90 % interval (``None`` without a truth or an interval)."""
    if p.truth is None or p.interval_90 is None:
        return None
    return p.interval_90[0] <= p.truth <= p.interval_90[1]


def _parameter_table(fit: FitResult) -> str:
    rows = []
    for p in fit.parameters:
        interval = f"[{fmt(p.interval_90[0], 4)}, {fmt(p.interval_90[1], 4)}]" if p.interval_90 else "—"
        covered = truth_inside(p)
        rows.append([p.name, fmt_pm(p.value, p.stderr), interval, p.unit, fmt(p.truth, 4),
                     "—" if covered is None else ("yes" if covered else "NO")])
    return table(["parameter", "value ± s.u.", "90 % interval", "unit", "truth", "truth in interval"], rows)


def _forest_figure(fit: FitResult) -> Figure:
    """Each estimate with ±1 s.u., its 90 % interval and the truth, divided by the truth (else the estimate)."""
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
    return fig


def _correlation_figure(fit: FitResult) -> Figure:
    """The correlation matrix as a diverging colour map with every coefficient written in its cell."""
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
    return fig


def _measurements_table(fit: FitResult) -> str:
    rows = [[m["path"], Markup(f"<code>{esc(m['sha256'][:16])}…</code>" if m["sha256"] else "—"),
             "present, checksum matches" if m["sha256"] else "present (no checksum recorded)"] for m in fit.measurements]
    return table(["file", "sha256", "status"], rows)


def _fit_summary(fit: FitResult) -> dict:
    inside = [c for c in map(truth_inside, fit.parameters) if c is not None]
    return {
        "parameters": {p.name: {"value": p.value, "stderr": p.stderr, "interval_90": p.interval_90, "unit": p.unit,
                                "truth": p.truth} for p in fit.parameters},
        "figures_of_merit": fit.figures_of_merit,
        "truth_coverage_90": (sum(inside) / len(inside)) if inside else None,
    }


# -- posterior predictive check -----------------------------------------------------------------------
def _ppc(ctx: ReportContext, sec: Section, checks: tuple[PredictiveCheck, ...]) -> None:
    """Add the posterior predictive check to ``sec`` (its coverage to the summary), or say that it is absent."""
    if not checks:
        sec.missing.append("posterior predictive check (fit_result.json posterior_predictive)")
        return
    items = checks[:MAX_PPC_PANELS]
    coverage = [it.coverage for it in items]
    sec.blocks.append(ctx.figure(_ppc_figure(items, coverage), "posterior-predictive", "Posterior predictive check: "
                                 "data drawn from the fitted posterior (band) against the observations; a calibrated "
                                 "model puts about the stated fraction of points inside.",
                                 "posterior predictive check"))
    sec.summary["posterior_predictive_coverage"] = coverage


def _ppc_figure(items: tuple[PredictiveCheck, ...], coverage: list[float]) -> Figure:
    """One panel per item: predictive band, median and observed points, the coverage in the title."""
    fig = new_figure(1.8 * len(items) + 0.4)
    axes = fig.subplots(len(items), 1, squeeze=False)[:, 0]
    for ax, it, inside in zip(axes, items, coverage):
        rev = it.axis_unit in ("ppm", "cm-1", "cm⁻¹") or it.axis_name in AXIS_DECREASING
        ax.fill_between(it.axis, it.lower, it.upper, color="#56B4E9", alpha=0.45, lw=0,
                        label=f"{100 * it.level:.0f} % predictive band")
        if it.median is not None:
            ax.plot(it.axis, it.median, color="#0072B2", lw=0.9, label="predictive median")
            low = float(np.nanmin(np.minimum(it.lower, it.observed)))
            span = float(np.nanmax(np.maximum(it.upper, it.observed))) - low
            base = low - 0.15 * span  # the difference curve below the data, as in a Rietveld plot
            ax.axhline(base, color="#BBBBBB", lw=0.5)
            ax.plot(it.axis, np.asarray(it.observed) - np.asarray(it.median) + base, color="#777777", lw=0.6,
                    label="observed − median (offset)")
        ax.plot(it.axis, it.observed, ls="none", marker="o", ms=1.5, color="#000000", label="observed")
        ax.set_title(f"{it.label}  observed points inside the band: {100 * inside:.1f} %".strip(), fontsize=7.5)
        ax.set_xlabel(f"{it.axis_name} ({it.axis_unit})" if it.axis_unit else it.axis_name)
        ax.set_ylabel(it.quantity)
        orient_axis(ax, it.axis, rev)
    axes[0].legend(loc="upper right", ncols=2)
    return fig
