"""``build_report(OUT)``: the comparison report of a run directory, written atomically.

Output, in ``OUT/report/``: ``index.html`` (one self-contained page), ``figures/NN-name.png`` and ``.svg``
(every figure of the page), ``summary.json`` (the numbers of every section, the figure list and what was
absent). The report is assembled in a temporary directory beside it and moved into place only when complete,
so a failed build never leaves a half-written report over a good one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reports.context import ReportContext, Section
from reports.figures import style
from reports.html import key_cards, render_page
from reports.run_data import load_run
from reports.sections import SECTIONS, SectionFn
from twin import __version__
from twin._json import jsonable

__all__ = ["build_report", "SUMMARY_FORMAT"]

SUMMARY_FORMAT = "operando-mof-twin-report-summary"


def build_report(
    out_dir: str | Path,
    *,
    snapshot_frames: Sequence[int] | None = None,
    check_measurements: bool = True,
    sections: Sequence[SectionFn] | None = None,
) -> Path:
    """Build ``OUT/report/index.html`` (+ figures and ``summary.json``) for the run in ``out_dir``.

    Args:
        out_dir: run directory holding ``trajectory.h5`` and optionally ``observables/*.h5`` and
            ``fit_result.json``.
        snapshot_frames: frame numbers for the phase-map slices (must be stored field frames); default: the
            start, the protocol's extreme, the switching points and the end (at most four).
        check_measurements: verify that the measurement files named by the fit result exist and match their
            recorded SHA-256.
        sections: section functions in page order (default :data:`reports.sections.SECTIONS`).

    Returns:
        Path of ``index.html``.

    Raises:
        DataFormatError: no trajectory in ``out_dir`` or a malformed input file (the message names it).
        FitError: a malformed ``fit_result.json``.
    """
    out_dir = Path(out_dir)
    run = load_run(out_dir, check_measurements=check_measurements)
    final = out_dir / "report"
    tmp = Path(tempfile.mkdtemp(prefix=".report-tmp-", dir=out_dir))
    try:
        figures_dir = tmp / "figures"
        figures_dir.mkdir()
        ctx = ReportContext(run, figures_dir, tuple(snapshot_frames) if snapshot_frames else None)
        built: list[Section] = []
        with style():
            for fn in sections or SECTIONS:
                section = fn(ctx)
                built.extend(section if isinstance(section, list) else [section] if section is not None else [])
        missing = [m for s in built for m in s.missing]
        summaries = {s.id: s.summary for s in built}
        prov = run.trajectory.provenance
        material = prov.get("material", run.scenario.get("material", ""))
        guests = "+".join(run.trajectory.guests)
        created = str(prov.get("created_utc", ""))[:10]
        subtitle = " · ".join(x for x in (str(material), guests, f"run of {created}" if created else "",
                                          f"twin {prov.get('package_version', __version__)}", f"seed {prov.get('seed', '—')}") if x)
        cards = key_cards(summaries)
        footer = (f"Built by operando-mof-twin {__version__} from {run.out_dir.resolve().name}/: "
                  f"{len(ctx.figure_records)} figures (PNG and SVG in figures/), numbers in summary.json.")
        page = render_page(run.scenario_name, subtitle, cards, built, missing, footer)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        summary = {
            "format": SUMMARY_FORMAT,
            "format_version": 1,
            "title": run.scenario_name,
            "package_version": __version__,
            "key_numbers": dict(cards),
            "sections": summaries,
            "figures": ctx.figure_records,
            "missing": missing,
        }
        (tmp / "summary.json").write_text(
            json.dumps(jsonable(summary, default=str), indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        os.chmod(tmp, 0o755)
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".report-old-", dir=out_dir))
            os.replace(final, old / "report")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        run.close()
    return final / "index.html"
