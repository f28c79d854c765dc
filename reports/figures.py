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
