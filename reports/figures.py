"""Matplotlib figures of the report (object-oriented API on the Agg canvas; pyplot and its global state are
never touched, so building a report inside another program changes none of its settings).

Conventions: 2θ increases to the right; NMR chemical shift (ppm) and IR/Raman wavenumber (cm⁻¹) decrease to
the right; images carry a scale bar instead of pixel ticks; every axis is labelled with its unit. Colours are
from colour-blind-safe palettes (Okabe & Ito, "Color Universal Design", 2008; viridis/cividis maps) and
the adsorption (rising) branch is blue, the desorption (falling) branch vermilion throughout.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

__all__ = [
    "STYLE",
    "BRANCH_COLOURS",
    "PHASE_COLOURS",
    "style",
    "new_figure",
    "save_figure",
    "nice_length",
    "add_scale_bar",
    "orient_axis",
    "layered_frames_figure",
    "layered_parameters_figure",
]

#: Okabe–Ito palette (colour-blind safe): black, orange, sky blue, bluish green, yellow, blue, vermilion, purple
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
BRANCH_COLOURS = {1: "#0072B2", -1: "#D55E00"}
PHASE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9")
TEXT_WIDTH_IN = 6.7

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "axes.linewidth": 0.7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "xtick.direction": "out",
    "ytick.direction": "out",
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "lines.linewidth": 1.1,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "svg.fonttype": "none",
    "svg.hashsalt": "operando-mof-twin",
    "image.cmap": "viridis",
}


@contextmanager
def style():
    """The report's matplotlib settings, applied only inside the ``with`` block."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(height_in: float, width_in: float = TEXT_WIDTH_IN) -> Figure:
    """A figure sized for the report's text column (about A4/Letter text width)."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def save_figure(fig: Figure, stem: Path) -> bytes:
    """Write ``stem.png`` and ``stem.svg``; return the PNG bytes (embedded in the HTML page)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    png = buffer.getvalue()
    stem.with_suffix(".png").write_bytes(png)
    fig.savefig(stem.with_suffix(".svg"), format="svg", metadata={"Date": None, "Creator": None})
    return png


def nice_length(span: float, fraction: float = 0.25) -> float:
    """A round length (1, 2 or 5 × 10ⁿ) close to ``fraction`` × ``span`` for a scale bar."""
    target = max(span * fraction, 1e-12)
    exponent = math.floor(math.log10(target))
    base = target / 10**exponent
    step = 1 if base < 1.5 else 2 if base < 3.5 else 5 if base < 7.5 else 10
    return step * 10**exponent


def format_length_nm(length_nm: float) -> str:
    """``"50 nm"``, ``"2 µm"``, ``"5 Å"`` for a scale-bar label."""
    if length_nm >= 1000:
        return f"{length_nm / 1000:g} µm"
    if length_nm < 1:
        return f"{length_nm * 10:g} Å"
    return f"{length_nm:g} nm"


def add_scale_bar(ax, width_nm: float, colour: str = "black") -> float:
    """Draw a scale bar in data units of nm on an image axis (on a translucent white box, legible on any
    image); returns its length [nm]."""
    length = nice_length(width_nm)
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        format_length_nm(length),
        loc="lower right",
        pad=0.3,
        borderpad=0.4,
        sep=2,
        color=colour,
        frameon=True,
        size_vertical=width_nm * 0.012,
        fontproperties={"size": 7},
    )
    bar.patch.set_facecolor("white")
    bar.patch.set_alpha(0.8)
    bar.patch.set_edgecolor("none")
    ax.add_artist(bar)
    ax.set_xticks([])
    ax.set_yticks([])
    return length


def plain_log_axis(axis) -> None:
    """Log-scaled axis labelled with plain numbers (1, 2, 5, 10 …) and no crowded minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def orient_axis(ax, values: np.ndarray, decreasing: bool) -> None:
    """Set the spectral axis limits in the community's direction (ppm and cm⁻¹ decrease to the right)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    ax.set_xlim((hi, lo) if decreasing else (lo, hi))


def branch_segments(x: np.ndarray, y: np.ndarray, branch: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """x, y per branch with NaN breaks between separate runs, so each branch draws as its own polyline.

    The first frame of each run is repeated from the previous frame so the curve stays continuous.
    """
    out = {}
    for sign in (1, -1):
        on = branch == sign
        # include the frame just before a run starts, to connect the branches
        on_ext = on | np.concatenate([on[1:], [False]])
        xs = np.where(on_ext, x, np.nan)
        ys = np.where(on_ext, y, np.nan)
        out[sign] = (xs, ys)
    return out


def colour_by(values: Sequence[float], cmap: str = "viridis", top: float = 0.85) -> list:
    """One colour per value from ``cmap`` scaled to the values' range (capped at ``top`` so lines stay visible
    on white paper)."""
    values = np.asarray(values, dtype=np.float64)
    norm = Normalize(vmin=float(values.min()), vmax=float(values.max()) if np.ptp(values) > 0 else float(values.min()) + 1)
    cm = matplotlib.colormaps[cmap]
    return [cm(top * norm(v)) for v in values]


def _driving(series: dict) -> tuple[np.ndarray, str]:
    """The driving condition of a layered-fit series and its axis label."""
    name = series.get("driving_condition", "relative_pressure")
    label = {"relative_pressure": "P/P₀", "relative_humidity": "relative humidity"}.get(name, "pressure (bar)")
    return np.asarray(series[name], dtype=np.float64), label


def layered_frames_figure(series: dict) -> Figure:
    """Measured against model, frame by frame, on q²·I (the powder factor undone, so the 00l lines stand out),
    offset by frame and labelled with the driving condition, and the normalised residuals (obs − calc)/σ below.

    Args:
        series: the ``series`` entry of a layered fit's ``fit_result.json`` (``q_inv_nm``, ``observed``,
            ``calculated``, the driving condition).
    """
    q = np.asarray(series["q_inv_nm"], dtype=np.float64)
    obs = np.asarray(series["observed"], dtype=np.float64)
    calc = np.asarray(series["calculated"], dtype=np.float64)
    x, label = _driving(series)
    n = obs.shape[0]
    fig = new_figure(6.8)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    colours = colour_by(np.arange(n))
    step = 0.35 * float(np.nanmax(q**2 * obs))
    for i in range(n):
        top.plot(q, q**2 * obs[i] + i * step, ls="none", marker="o", ms=1.0, color=colours[i])
        top.plot(q, q**2 * calc[i] + i * step, color="#D55E00", lw=0.8, label="model" if i == 0 else None)
        top.text(q[-1], q[-1] ** 2 * calc[i, -1] + i * step, f" {label} {x[i]:.3g}", fontsize=6.5, va="center")
        bottom.plot(q, (obs[i] - calc[i]) / np.sqrt(np.maximum(obs[i], 1.0)), lw=0.5, color=colours[i])
    top.set_ylabel("q² × counts (offset per frame)")
    top.legend(loc="upper left")
    bottom.axhline(0.0, color="#999999", lw=0.5)
    bottom.set_xlabel("Q (nm⁻¹)")
    bottom.set_ylabel("(obs − calc)/σ")
    return fig


def _thickness_panel(ax, x: np.ndarray, value: np.ndarray, interval: list) -> None:
    """Coherent thickness with its 90 % profile-likelihood interval on a log axis; a frame whose interval has no
    upper end (the line breadth is the spread of interlayer distances, not the stack size) is drawn as a lower
    limit (▲ at the bound, no point estimate), not as a value with a symmetric error bar."""
    lower = np.array([lo for lo, _ in interval], float)
    upper = np.array([np.nan if hi is None else hi for _, hi in interval], float)
    bounded = np.isfinite(upper)
    ax.plot(x[bounded], value[bounded], "-", lw=0.8, color="#0072B2")
    ax.errorbar(x[bounded], value[bounded], yerr=[value[bounded] - lower[bounded], upper[bounded] - value[bounded]],
                fmt="o", ms=3, capsize=2, color="#0072B2", label="value, 90 % interval")
    if np.any(~bounded):
        ax.plot(x[~bounded], lower[~bounded], "^", ms=5, color="#D55E00", label="lower limit only (90 %)")
    ax.set_yscale("log")
    ax.legend(loc="upper center", fontsize=7)


def layered_parameters_figure(series: dict, isotherm: dict | None) -> Figure:
    """The three per-frame parameters of a layered fit (±1 s.u.) against the driving condition, beside the
    adsorption isotherm with the uptake at the frames marked.

    Args:
        series: the ``series`` entry of a layered fit's ``fit_result.json``.
        isotherm: its ``isotherm`` entry (``relative_pressure``, ``uptake``, ``uptake_name``) or ``None``.
    """
    x, label = _driving(series)
    v, e = series["values"], series["esd"]
    fig = new_figure(4.6)
    axes = fig.subplots(2, 2).ravel()
    for ax, (name, title) in zip(axes[:3], (("d001_nm", "interlayer distance d₀₀₁ (nm)"),
                                            ("coherent_thickness_nm", "coherent thickness L_V (nm)"),
                                            ("d_spread_nm", "spread of d, σ (nm)"))):
        interval = series.get("coherent_thickness_interval_90") if name == "coherent_thickness_nm" else None
        if interval is not None:
            _thickness_panel(ax, np.asarray(x, float), np.asarray(v[name], float), interval)
        else:
            ax.errorbar(x, v[name], yerr=e[name], fmt="o-", ms=3, lw=0.8, capsize=2, color="#0072B2")
        ax.set_ylabel(title)
        ax.set_xlabel(label)
    ax = axes[3]
    if isotherm is not None:
        ax.plot(isotherm["relative_pressure"], isotherm["uptake"], "o-", ms=2.5, lw=0.8, color="#009E73",
                label="adsorption branch")
        if "uptake" in series:
            ax.plot(x, series["uptake"]["values"], "x", ms=6, color="#D55E00", label="at the XRD frames")
        ax.set_ylabel(str(isotherm.get("uptake_name", "uptake")).replace("uptake_mmol_per_g", "uptake (mmol/g)"))
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no isotherm given", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(label)
    return fig

