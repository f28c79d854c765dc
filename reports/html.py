"""The HTML page: header with the scenario name and key numbers, table of contents, sections, print styles.

One self-contained file: CSS inline, figures embedded as base64 PNG, no scripts, no fonts or other resources
from anywhere (it opens offline and prints on A4 or Letter).
"""

from __future__ import annotations

from typing import Any

from reports.context import Section, esc

__all__ = ["render_page"]

CSS = """
:root { --ink:#1d1d1f; --muted:#5f6368; --rule:#d9d9de; --accent:#0b5394; --bg-soft:#f6f7f9; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: "Charter", "Bitstream Charter", "Source Serif Pro", "Georgia", "DejaVu Serif", serif; line-height: 1.5; }
main { max-width: 54rem; margin: 0 auto; padding: 0 1.5rem 4rem; }
header.top { background: var(--bg-soft); border-bottom: 1px solid var(--rule); }
header.top .inner { max-width: 54rem; margin: 0 auto; padding: 1.6rem 1.5rem 1.2rem; }
.kicker { font: 600 0.75rem/1.2 system-ui, "DejaVu Sans", sans-serif; letter-spacing: .08em; text-transform: uppercase;
  color: var(--accent); margin: 0 0 .35rem; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 .3rem; font-weight: 600; }
.subtitle { color: var(--muted); margin: 0 0 1rem; font-size: .95rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .6rem; margin: 0; padding: 0; }
.card { list-style: none; background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: .5rem .7rem; }
.card .k { display: block; font: 500 .68rem/1.3 system-ui, "DejaVu Sans", sans-serif; color: var(--muted);
  text-transform: uppercase; letter-spacing: .05em; }
.card .v { display: block; font: 600 1.02rem/1.3 system-ui, "DejaVu Sans", sans-serif; font-variant-numeric: tabular-nums; }
nav.toc { margin: 1.6rem 0 0; padding: .8rem 1rem; border-left: 3px solid var(--accent); background: var(--bg-soft); }
nav.toc h2 { font-size: .8rem; margin: 0 0 .3rem; text-transform: uppercase; letter-spacing: .06em; border: 0; padding: 0;
  font-family: system-ui, "DejaVu Sans", sans-serif; color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 1.3rem; columns: 2; column-gap: 2rem; }
nav.toc a { color: var(--ink); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section { margin-top: 2.2rem; }
h2 { font-size: 1.35rem; font-weight: 600; border-bottom: 1px solid var(--rule); padding-bottom: .25rem; margin: 0 0 .8rem; }
h2 .num { color: var(--accent); margin-right: .45rem; }
h3 { font: 600 .95rem/1.3 system-ui, "DejaVu Sans", sans-serif; margin: 1.2rem 0 .4rem; }
figure { margin: 1rem 0 1.4rem; break-inside: avoid; page-break-inside: avoid; }
figure img { display: block; width: 100%; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: .86rem; color: #333; margin-top: .35rem; line-height: 1.4; }
figcaption .files a { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font: .82rem/1.35 system-ui, "DejaVu Sans", sans-serif;
  font-variant-numeric: tabular-nums; break-inside: avoid; }
th { text-align: left; font-weight: 600; border-bottom: 1.5px solid var(--ink); padding: .3rem .5rem; }
td { border-bottom: 1px solid var(--rule); padding: .25rem .5rem; vertical-align: top; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; width: 1%; }
table.kv thead { display: none; }
code { font: .78rem/1.3 "DejaVu Sans Mono", "Menlo", monospace; word-break: break-all; }
pre { font: .75rem/1.35 "DejaVu Sans Mono", "Menlo", monospace; background: var(--bg-soft); padding: .7rem; overflow-x: auto;
  border: 1px solid var(--rule); border-radius: 4px; }
details summary { cursor: pointer; font: 500 .85rem system-ui, "DejaVu Sans", sans-serif; color: var(--accent); }
p.absent { color: var(--muted); font-style: italic; }
p.note { color: var(--muted); font-size: 0.9em; }
ul.missing li { color: var(--muted); }
footer { color: var(--muted); font-size: .8rem; border-top: 1px solid var(--rule); margin-top: 3rem; padding-top: .6rem; }
@media print {
  @page { size: A4; margin: 14mm 13mm; }
  html { font-size: 10.5pt; }
  header.top { background: none; border: 0; }
  header.top .inner, main { max-width: none; padding-left: 0; padding-right: 0; }
  .card { border-color: #999; }
  nav.toc { background: none; }
  figcaption .files { display: none; }
  section { break-before: auto; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def render_page(
    title: str, subtitle: str, cards: list[tuple[str, str]], sections: list[Section], missing: list[str], footer: str
) -> str:
    """The complete HTML document."""
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    if missing:
        toc += '<li><a href="#absent">Not in this report</a></li>'
    card_html = "".join(f'<li class="card"><span class="k">{esc(k)}</span><span class="v">{esc(v)}</span></li>'
                        for k, v in cards)
    body = []
    for n, s in enumerate(sections, start=1):
        body.append(f'<section id="{esc(s.id)}"><h2><span class="num">{n}</span>{esc(s.title)}</h2>'
                    + "\n".join(s.blocks) + "</section>")
    if missing:
        items = "".join(f"<li>{esc(m)}</li>" for m in missing)
        body.append(
            f'<section id="absent"><h2><span class="num">{len(sections) + 1}</span>Not in this report</h2>'
            f"<p>Inputs the run directory did not hold, and data this report does not draw:</p>"
            f'<ul class="missing">{items}</ul></section>'
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="operando-mof-twin reports">
<title>{esc(title)} — twin report</title>
<style>{CSS}</style>
</head>
<body>
<header class="top"><div class="inner">
<p class="kicker">Operando MOF twin · comparison report</p>
<h1>{esc(title)}</h1>
<p class="subtitle">{esc(subtitle)}</p>
<ul class="cards">{card_html}</ul>
</div></header>
<main>
<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>
{"".join(body)}
<footer>{esc(footer)}</footer>
</main>
</body>
</html>
"""


def key_cards(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Header cards from the section summaries: conditions, switching points, agreement, fit."""
    from reports.context import fmt

    cards = []
    scen = summary.get("scenario", {})
    if scen:
        p = scen.get("pressure_bar_range", [0, 0])
        t = scen.get("temperature_K_range", [0, 0])
        cards.append(("frames", f"{scen.get('n_frames')}"))
        cards.append(("pressure", f"{fmt(p[0], 3)}–{fmt(p[1], 3)} bar" if p[1] > p[0] else f"{fmt(p[0], 3)} bar"))
        cards.append(("temperature", f"{fmt(t[0], 4)}–{fmt(t[1], 4)} K" if t[1] > t[0] else f"{fmt(t[0], 4)} K"))
    phases = summary.get("phases", {})
    switching = phases.get("switching", [])
    for branch in ("adsorption", "desorption", "heating", "cooling", "forward", "backward"):
        hits = [s for s in switching if s["branch"] == branch]
        if hits:
            cards.append((f"switch, {branch}", f"{fmt(hits[0]['value'], 3)} {hits[0]['unit']}"))
    if phases.get("hysteresis_width") is not None:
        cards.append(("hysteresis width", f"{fmt(phases['hysteresis_width'], 3)} {phases['hysteresis_unit']}"))
    xrd = summary.get("xrd", {})
    if xrd.get("Rwp_mean") is not None:
        cards.append(("XRD Rwp (mean)", f"{100 * xrd['Rwp_mean']:.2f} %"))
    fit = summary.get("fit", {})
    if fit.get("parameters"):
        cards.append(("fitted parameters", str(len(fit["parameters"]))))
    if fit.get("truth_coverage_90") is not None:
        cards.append(("truth in 90 % interval", f"{100 * fit['truth_coverage_90']:.0f} %"))
    return cards
