"""Section internals: the switching-point table names both phases; the generic spectral section by technique."""

from __future__ import annotations

import re

from reports.context import ReportContext
from reports.run_data import load_run
from reports.sections.phases import transition_label
from reports.sections.spectra import spectral_section
from synthetic_run import MEASURED_FRAMES


def _table_column(page: str, header: str) -> list[str]:
    """The cells under ``header`` of the page's table that has that header."""
    tables = [t for t in re.findall(r"<table[^>]*>.*?</table>", page, flags=re.S) if f"<th>{header}</th>" in t]
    assert len(tables) == 1
    headers = re.findall(r"<th>(.*?)</th>", tables[0])
    rows = re.findall(r"<tr>(.*?)</tr>", tables[0].split("<tbody>", 1)[1])
    return [re.findall(r"<td>(.*?)</td>", row)[headers.index(header)] for row in rows]


def test_switching_table_names_both_phases(built_run):
    page = (built_run / "report" / "index.html").read_text(encoding="utf-8")
    # one pressure cycle: np opens to lp on adsorption and closes back on desorption (phases ("np", "lp"))
    assert _table_column(page, "transition") == ["np → lp", "lp → np"]


def test_transition_label_takes_the_first_and_last_phase():
    assert transition_label(["cp", "ip", "op"], True) == "cp → op"
    assert transition_label(["cp", "ip", "op"], False) == "op → cp"


def test_spectral_section_by_technique_name(built_run, tmp_path):
    run = load_run(built_run)
    try:
        ctx = ReportContext(run, tmp_path)
        xrd = spectral_section(ctx, "xrd")
        assert xrd.id == "xrd" and [a["frame"] for a in xrd.summary["agreement"]] == list(MEASURED_FRAMES)
        assert len(ctx.figure_records) == 3  # heat map, waterfall, measured over simulated
        assert spectral_section(ctx, "nmr") is None and spectral_section(ctx, "raman") is None
    finally:
        run.close()


def test_waterfall_legs_follow_the_protocol():
    from reports.sections.spectra import _branch_of_frames

    legs = _branch_of_frames([0.0, 1.0, 2.0, 2.0, 1.0, 0.5, 0.5], "adsorption", "desorption")
    assert legs == ["", "adsorption", "adsorption", "adsorption", "desorption", "desorption", "desorption"]


def test_heat_map_colour_bar_has_no_detached_offset(built_run, tmp_path):
    """Counts of ~10¹⁰ on a square-root scale: the colour bar's ticks are plain numbers in units of 10^n named
    in its label, never matplotlib's detached "1e10" offset text."""
    from dataclasses import replace

    from reports.sections.spectra import _heatmap_figure

    run = load_run(built_run)
    try:
        ctx = ReportContext(run, tmp_path)
        s = run.spectra["xrd"]
        big = replace(s, values=s.values * 3e10)
        fig = _heatmap_figure(ctx, big)
        fig.canvas.draw()
        bar_axes = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bar_axes) == 1
        axis = bar_axes[0].xaxis
        assert axis.get_offset_text().get_text() == ""
        assert re.search(r"intensity \(10\^1[0-3] counts, square-root scale\)", axis.get_label_text())
        labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
        assert labels and all("e" not in lab for lab in labels)
    finally:
        run.close()
