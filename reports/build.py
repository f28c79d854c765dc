"""``build_report(OUT)``: the comparison report of a run directory, written atomically.

Output, in ``OUT/report/``: ``index.html`` (one self-contained page), ``figures/NN-name.png`` and ``.svg``
(every figure of the page), ``summary.json`` (the numbers of every section, the figure list and what was
absent).

Every instant has a complete ``OUT/report/`` (or none before the first build): each build is assembled in
``OUT/.twin-reports/tmp-<id>/``, renamed to ``OUT/.twin-reports/<id>/`` when complete, and ``OUT/report`` is a
relative symbolic link to it, replaced by one ``os.replace`` of a new link (an atomic rename); the builds it
no longer points to are removed afterwards. A failed or interrupted build leaves the previous report as it was.
A ``report/`` that is still a real directory (built by an earlier version) is exchanged for the link with
``renameat2(RENAME_EXCHANGE)`` where Linux offers it (else moved aside first, the one non-atomic step). Where
symbolic links cannot be made (Windows without the privilege) the report is moved in by renames as before.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reports.context import ReportContext, Section
from reports.figures import style
from reports.html import key_cards, render_page
from reports.run_data import load_run
from mofcore.outputs import check_run_set, new_run_id
from reports.sections import FIT_ONLY_SECTIONS, IMAGE_ONLY_SECTIONS, SECTIONS, SectionFn
from twin import __version__
from twin._json import jsonable
from twin.errors import FitError, TwinError

__all__ = ["build_report", "SUMMARY_FORMAT", "VERSIONS_DIR"]

SUMMARY_FORMAT = "operando-mof-twin-report-summary"
#: where the builds live; ``OUT/report`` links to the current one
VERSIONS_DIR = ".twin-reports"


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
            ``fit_result.json``; or a fit-only directory (``twin fit … -o OUT`` of measured data), whose report
            has the fit's sections (:data:`reports.sections.FIT_ONLY_SECTIONS`).
        snapshot_frames: frame numbers for the phase-map slices (must be stored field frames); default: the
            start, the protocol's extreme, the switching points and the end (at most four).
        check_measurements: verify that the measurement files named by the fit result exist and match their
            recorded SHA-256.
        sections: section functions in page order (default :data:`reports.sections.SECTIONS`).

    Returns:
        Path of ``index.html``.

    Raises:
        DataFormatError: no trajectory in ``out_dir`` or a malformed input file (the message names it).
        FitError: a malformed ``fit_result.json``, or one whose set of files (``fit_series.csv``, figure) was
            mixed by an interrupted ``twin fit`` (different run ids).
    """
    out_dir = Path(out_dir)
    if (out_dir / "fit_result.json").is_file():
        try:
            check_run_set(out_dir / "fit_result.json", rerun=f"twin fit FIT.toml -o {out_dir} --overwrite")
        except TwinError as error:
            raise FitError(str(error)) from None
    run = load_run(out_dir, check_measurements=check_measurements)
    final = out_dir / "report"
    versions = out_dir / VERSIONS_DIR
    versions.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=versions))
    try:
        figures_dir = tmp / "figures"
        figures_dir.mkdir()
        ctx = ReportContext(run, figures_dir, tuple(snapshot_frames) if snapshot_frames else None)
        built: list[Section] = []
        fit_only = run.trajectory is None
        with style():
            for fn in sections or (SECTIONS if not fit_only else FIT_ONLY_SECTIONS if run.fit is not None
                                   else IMAGE_ONLY_SECTIONS):
                section = fn(ctx)
                built.extend(section if isinstance(section, list) else [section] if section is not None else [])
        missing = [m for s in built for m in s.missing]
        summaries = {s.id: s.summary for s in built}
        if fit_only:
            prov = dict(run.fit.extra.get("provenance", {})) if run.fit is not None else {}
            created = str(prov.get("created", ""))[:10]
            subtitle = " · ".join(x for x in (f"fit of measured data of {created}" if created else "fit of measured data",
                                              f"twin {prov.get('twin_version', __version__)}") if x)
        else:
            prov = run.trajectory.provenance
            material = prov.get("material", run.scenario.get("material", ""))
            guests = "+".join(run.trajectory.guests)
            created = str(prov.get("created_utc", ""))[:10]
            subtitle = " · ".join(x for x in (str(material), guests, f"run of {created}" if created else "",
                                              f"twin {prov.get('package_version', __version__)}",
                                              f"seed {prov.get('seed', '—')}") if x)
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
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        run.close()
    return final / "index.html"


def _swap_in(built: Path, final: Path) -> None:
    """Make the complete build ``built`` (in ``OUT/.twin-reports/``) the report at ``final`` (``OUT/report``)
    with ``final`` complete at every instant; then remove the builds it no longer points to."""
    versions = built.parent
    version = versions / new_run_id()
    os.rename(built, version)  # a complete build under its final name
    link = versions / f"link-{version.name}"
    try:
        os.symlink(f"{VERSIONS_DIR}/{version.name}", link, target_is_directory=True)
    except (OSError, NotImplementedError):  # no symbolic links here: move the directory in by renames
        _rename_in(version, final)
        return
    try:
        if final.is_symlink() or not final.exists():
            os.replace(link, final)  # the atomic step: the new link over the old one
        elif not _exchange(link, final):  # a real report/ directory of an earlier version
            legacy = versions / f"legacy-{version.name}"
            os.rename(final, legacy)
            os.replace(link, final)
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(version, ignore_errors=True)
        raise
    for entry in versions.iterdir():  # earlier builds, a legacy report/ exchanged out, leftovers of killed builds
        if entry.name != version.name:
            if entry.is_symlink() or entry.is_file():
                entry.unlink(missing_ok=True)
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _rename_in(version: Path, final: Path) -> None:
    """Without symbolic links: the old report moves aside, the new one in (not atomic as a pair)."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix="old-", dir=version.parent))
        os.replace(final, old / "report")
    os.replace(version, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where that is not offered."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
