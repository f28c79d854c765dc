"""The state shared by the report sections: the run, derived per-frame series, figure numbering and output.

A section is a function ``(ReportContext) -> Section | None``; it reads what it needs from the context,
adds figures through :meth:`ReportContext.figure` (which writes PNG + SVG and returns the embedded HTML),
and records what it could not show in ``Section.missing``. :data:`reports.sections.SECTIONS` lists them in
page order; a new panel joins the report by adding one function there.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reports import analysis
from reports.figures import TEXT_WIDTH_IN, save_figure
from reports.run_data import RunData

__all__ = ["ReportContext", "Section", "esc", "fmt", "fmt_pm", "table", "time_axis"]


#: characters a page must not carry as they are: C0/C1 controls but tab, newline and carriage return (a NUL is not
#: even valid HTML), bidirectional embeddings, overrides and isolates (U+202E in a sample name reverses what
#: follows it), zero-width and invisible formatting characters, line/paragraph separators, lone surrogates
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
                        "\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def esc(text: Any) -> str:
    r"""HTML-escape ``text``; control and invisible formatting characters are shown as escapes (``\u202e``)."""
    return html.escape(_INVISIBLE.sub(_visible, str(text)), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (no trailing zeros), or the value's text."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}"
    return str(value)


def fmt_pm(value: float, stderr: float | None) -> str:
    """``value ± stderr`` with the uncertainty to two significant digits and the value to the same decimal."""
    if stderr is None or stderr <= 0 or not math.isfinite(stderr):
        return fmt(value)
    decimals = max(0, 1 - int(math.floor(math.log10(stderr))))
    if abs(value) >= 1e5 or (abs(value) < 1e-3 and value != 0):
        return f"{value:.3e} ± {stderr:.2g}"
    return f"{value:.{decimals}f} ± {stderr:.{decimals}f}"


def table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    """An HTML table (cells escaped unless they are already ``Markup``)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c.html if isinstance(c, Markup) else esc(fmt(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(frozen=True)
class Markup:
    """Pre-rendered HTML for a table cell."""

    html: str


def time_axis(time_s: np.ndarray) -> tuple[float, str]:
    """Divisor and unit for showing times: s below 10 min, min below 5 h, else h."""
    t_max = float(np.max(time_s)) if np.size(time_s) else 0.0
    if t_max >= 5 * 3600:
        return 3600.0, "h"
    if t_max >= 600:
        return 60.0, "min"
    return 1.0, "s"


@dataclass
class Section:
    """One section of the page: anchor id, title, HTML blocks, numbers for summary.json, what was absent."""

    id: str
    title: str
    blocks: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass
class ReportContext:
    """Run data plus the per-frame series every section uses, computed once."""

    run: RunData
    figures_dir: Path
    snapshot_frames: tuple[int, ...] | None = None
    figure_records: list[dict[str, str]] = field(default_factory=list)
    site_budget: int = 20_000_000

    def __post_init__(self) -> None:
        traj = self.run.trajectory
        self._n_figures = 0
        if traj is None:  # a fit-only directory: no per-frame series of a run
            self.time_s = self.time_shown = self.pressure_bar = self.temperature_K = np.zeros(0)
            self.relative_humidity = self.driving = self.branch = self.cycle = np.zeros(0)
            self.partial_pressure_bar = np.zeros((0, 0))
            self.time_div, self.time_unit = 1.0, "s"
            self.driving_name, self.driving_unit = "time", "s"
            self.phases, self.phase_fraction, self.crossings = (), None, []
            return
        self.time_s = np.asarray(traj.time_s, dtype=np.float64)
        self.time_div, self.time_unit = time_axis(self.time_s)
        self.time_shown = self.time_s / self.time_div
        pp = np.asarray(traj.partial_pressure_Pa, dtype=np.float64).reshape(self.time_s.shape[0], -1)
        self.partial_pressure_bar = pp / 1e5
        self.pressure_bar = self.partial_pressure_bar.sum(axis=1)
        self.temperature_K = np.asarray(traj.temperature_K, dtype=np.float64)
        self.relative_humidity = np.asarray(traj.relative_humidity, dtype=np.float64)
        self.driving_name, self.driving, self.driving_unit = analysis.choose_driving(
            self.time_s, self.pressure_bar, self.temperature_K, self.relative_humidity
        )
        if self.driving_name == "time":
            self.driving = self.time_shown
            self.driving_unit = self.time_unit
        self.branch = analysis.branches(self.driving)
        self.cycle = analysis.cycle_index(self.branch)
        self.phases = traj.phases
        self.phase_fraction = (
            np.asarray(traj.summary("phase_fraction"), dtype=np.float64).reshape(self.time_s.shape[0], -1)
            if "phase_fraction" in traj.summary_names
            else None
        )
        self.crossings = (
            analysis.crossings(self.phase_fraction[:, -1], self.driving, self.time_s)
            if self.phase_fraction is not None
            else []
        )
        self._n_figures = 0

    # -- labels --------------------------------------------------------------------------------
    @property
    def driving_label(self) -> str:
        names = {"pressure": "pressure", "temperature": "temperature", "humidity": "relative humidity", "time": "time"}
        label = names[self.driving_name]
        if self.driving_name == "pressure" and self.run.trajectory.guests:
            label = f"{'+'.join(self.run.trajectory.guests)} pressure"
        return f"{label} ({self.driving_unit})"

    @property
    def branch_names(self) -> dict[int, str]:
        if self.driving_name in ("pressure", "humidity"):
            return {1: "adsorption", -1: "desorption"}
        if self.driving_name == "temperature":
            return {1: "heating", -1: "cooling"}
        return {1: "forward", -1: "backward"}

    def frame_label(self, frame: int) -> str:
        """``t = 12 min · 3.2 bar`` for frame ``frame``."""
        t = f"t = {fmt(self.time_shown[frame], 3)} {self.time_unit}"
        if self.driving_name in ("pressure", "temperature", "humidity"):
            return f"{t} · {fmt(self.driving[frame], 3)} {self.driving_unit}"
        return t

    # -- figures -------------------------------------------------------------------------------
    def figure(self, fig: Figure, key: str, caption: str, alt: str) -> str:
        """Save ``fig`` as ``figures/<nn>-<key>.png|svg`` and return a numbered ``<figure>`` with it embedded."""
        self._n_figures += 1
        number = self._n_figures
        stem = self.figures_dir / f"{number:02d}-{key}"
        png = save_figure(fig, stem)
        self.figure_records.append(
            {"number": str(number), "png": f"figures/{stem.name}.png", "svg": f"figures/{stem.name}.svg", "caption": caption}
        )
        data = base64.b64encode(png).decode("ascii")
        width = min(100.0, 100.0 * fig.get_figwidth() / TEXT_WIDTH_IN)
        return (
            f'<figure id="fig-{number}"><img src="data:image/png;base64,{data}" alt="{esc(alt)}" '
            f'style="width:{width:.0f}%">'
            f"<figcaption><b>Figure {number}.</b> {esc(caption)} "
            f'<span class="files">(<a href="figures/{esc(stem.name)}.svg">SVG</a>, '
            f'<a href="figures/{esc(stem.name)}.png">PNG</a>)</span></figcaption></figure>'
        )
