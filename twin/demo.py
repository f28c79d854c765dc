"""The end-to-end demo: scenario → simulation → XRD → synthetic measurement → fit → report.

:func:`run_demo` runs the embedded default scenario (``datasets/scenarios/demo.toml``: a powder of
MIL-53(Al) crystals with a log-normal size distribution through a CO2 pressure swing at 303 K) through every
stage the package has and writes the report. Each stage is what a user gets from a command, on files in the
output folder, so the demo can be repeated step by step (``twin run`` and ``twin fit`` with ``--overwrite``):

1. ``twin run OUT/scenario.toml -o OUT`` — the mesoscale simulation (``OUT/trajectory.h5``);
2. ``twin observe OUT --xrd OUT/instrument.toml`` — the powder XRD series of every frame;
3. the "measured" series: every 2nd simulated pattern with Poisson counts (:mod:`twin.fit.synthetic`),
   written as ``.xye`` files with a conditions log in ``OUT/measured/``, and ``OUT/fit.toml`` naming them,
   the instrument and the truth taken from the trajectory;
4. ``twin fit OUT/fit.toml -o OUT`` — sequential refinement and the sample-level summary
   (:mod:`twin.fit.xrd_series`), read back through the measurement readers;
5. ``twin report OUT`` — ``OUT/report/index.html``.

The demo deletes and replaces only what it wrote itself: ``OUT/.twin-demo.json`` (:data:`MARKER`) lists every
file it wrote (with size and modification time), updated after each stage and when it stops on an error or
Ctrl-C. It refuses (:func:`prepare_demo_dir`, before anything runs) a non-empty ``OUT`` without that marker;
an ``OUT`` of an earlier demo unless ``overwrite``; and, with ``overwrite``, a demo input the user changed since
(``scenario.toml``, ``instrument.toml``, ``fit.toml``, ``measured/*``) or a file in ``measured/`` it did not
write (it would join the synthetic series). With ``overwrite`` the files of the earlier demo are deleted before
the stages run; files the user added elsewhere in ``OUT`` stay.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mofcore.atomic import write_text_atomic
from mofcore.outputs import LOCK_NAME, OutputError
from twin.datasets import dataset_path
from twin.scenario import load_scenario

__all__ = ["DEMO_SCENARIO", "DEMO_INSTRUMENT", "MARKER", "DemoResult", "run_demo", "demo_fit_file",
           "prepare_demo_dir", "demo_files"]

DEMO_SCENARIO = ("scenarios", "demo.toml")
DEMO_INSTRUMENT = ("instruments", "lab_cuka.toml")
MEASURE_EVERY = 2
#: the file listing what the demo wrote in its output directory
MARKER = ".twin-demo.json"
MARKER_FORMAT = "operando-mof-twin-demo-files"
#: what the demo writes that a user may edit: changed since, it is not replaced (nor deleted)
_INPUTS = ("scenario.toml", "instrument.toml", "fit.toml")
#: never listed: the lock and its breaker, the marker itself
_NOT_LISTED = (LOCK_NAME, LOCK_NAME + ".break", MARKER)


def _entries(out: Path) -> dict[str, dict[str, int]]:
    """Every file and symbolic link under ``out`` (relative POSIX path → size, mtime_ns), links not followed."""
    found: dict[str, dict[str, int]] = {}
    for root, dirs, files in os.walk(out):
        base = Path(root)
        names = files + [d for d in dirs if (base / d).is_symlink()]
        for name in names:
            rel = (base / name).relative_to(out).as_posix()
            if rel in _NOT_LISTED:
                continue
            st = os.lstat(base / name)
            found[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return found


def demo_files(out_dir: str | Path) -> dict[str, dict[str, int]] | None:
    """What an earlier demo wrote in ``out_dir`` (its :data:`MARKER`), or ``None`` when it holds no marker."""
    path = Path(out_dir) / MARKER
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != MARKER_FORMAT or not isinstance(doc.get("files"), dict):
        raise OutputError(f"{path}: not a marker written by `twin demo`; remove it, or give -o a new or empty "
                          "directory")
    return doc["files"]


def _changed(entry: dict[str, int], now: dict[str, int] | None) -> bool:
    return now is None or now["size"] != entry.get("size") or now["mtime_ns"] != entry.get("mtime_ns")


def prepare_demo_dir(out_dir: str | Path, *, overwrite: bool = False) -> set[str]:
    """Check that the demo may write into ``out_dir``; with ``overwrite`` delete an earlier demo's files there.

    Returns the files in ``out_dir`` that the demo did not write (kept, never listed in its marker).

    Raises:
        OutputError: ``out_dir`` is a non-empty directory the demo did not make, holds an earlier demo and
            ``overwrite`` is not given, or (with ``overwrite``) holds a demo input changed since or a file of
            ``measured/`` that the demo did not write. Nothing is deleted then.
    """
    out = Path(out_dir)
    if not out.exists():
        return set()
    written = demo_files(out)
    if written is None:
        if any(p.name not in _NOT_LISTED for p in out.iterdir()):
            raise OutputError(f"{out}: not empty and not made by `twin demo` (no {MARKER}); give -o a new or empty "
                              "directory (the demo replaces files in it)")
        return set()
    if not overwrite:
        raise OutputError(f"{out}: holds an earlier demo; give --overwrite to replace it (files you added there are "
                          "kept), or another -o")
    present = _entries(out)
    for rel, entry in sorted(written.items()):
        if (rel in _INPUTS or rel.startswith("measured/")) and rel in present and _changed(entry, present[rel]):
            raise OutputError(f"{out / rel}: changed since `twin demo` wrote it; move it elsewhere to keep it (the "
                              "demo with --overwrite replaces only its own, unchanged files)")
    foreign = {rel for rel in present if rel not in written}
    for rel in sorted(foreign):
        if rel.startswith("measured/"):
            raise OutputError(f"{out / rel}: not written by `twin demo`; move it out of measured/ (it would join the "
                              "synthetic series the demo fits)")
    deleted = [rel for rel in written if rel in present]  # found by walking OUT (links not followed): inside it
    for rel in deleted:
        (out / rel).unlink()
    for rel in sorted({str(Path(r).parent) for r in deleted}, key=lambda r: -r.count("/")):
        folder = out / rel
        while folder != out and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    write_text_atomic(out / MARKER, _marker_text({}))
    return foreign


def _marker_text(files: dict[str, dict[str, int]]) -> str:
    return json.dumps({"format": MARKER_FORMAT, "format_version": 1,
                       "note": "files written by `twin demo` here; `twin demo --overwrite` deletes and replaces "
                               "only these", "files": files}, indent=1, sort_keys=True) + "\n"


class _Ledger:
    """Keeps :data:`MARKER` listing every file the demo wrote so far (all but the ``foreign`` ones)."""

    def __init__(self, out: Path, foreign: set[str]):
        self.out, self.foreign = out, foreign

    def record(self) -> None:
        files = {rel: entry for rel, entry in _entries(self.out).items() if rel not in self.foreign}
        write_text_atomic(self.out / MARKER, _marker_text(files))


@dataclass
class DemoResult:
    """What the demo made: the report path, the stages run with their wall times, and what is missing."""

    out_dir: Path
    report: Path | None = None
    stages: list[tuple[str, float]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _stage(result: DemoResult, name: str, action: Callable[[], object], say: Callable[[str], None]) -> object:
    say(f"[{len(result.stages) + 1}/5] {name} …")
    start = time.perf_counter()
    value = action()
    elapsed = time.perf_counter() - start
    result.stages.append((name, elapsed))
    say(f"      done in {elapsed:.1f} s")
    return value


def demo_fit_file(material: str, truth: dict[str, float], seed: int) -> str:
    """The fit file the demo writes: the xrd-series fit of ``measured/`` with the known truth."""
    lines = ["# Written by `twin demo`: fit the synthetic measured series in measured/ (known truth below).",
             "[fit]", 'technique = "xrd-series"', f'material = "{material}"', 'instrument = "instrument.toml"',
             f"seed = {seed}", "", "[[measurements]]", 'path = "measured"', "",
             "[truth]  # the twin's own values (twin.fit.synthetic.series_truth)"]
    for name, value in truth.items():
        unit = "nm" if name.startswith("coherent_size") else "bar"
        lines.append(f'{name} = "{value:.6g} {unit}"')
    return "\n".join(lines) + "\n"


def run_demo(out_dir: str | Path, *, overwrite: bool = False, show_progress: bool = True,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run every stage on the embedded default scenario into ``out_dir``; returns what was made.

    ``out_dir`` must be new, empty, or (with ``overwrite``) hold an earlier demo (:func:`prepare_demo_dir`).

    Raises:
        OutputError: ``out_dir`` refused (nothing written or deleted then).
    """
    out = Path(out_dir)
    foreign = prepare_demo_dir(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    ledger = _Ledger(out, foreign)
    ledger.record()  # the marker first: an interrupted demo's directory is still recognised as the demo's
    try:
        return _stages(out, ledger, show_progress, say)
    finally:
        ledger.record()


def _stages(out: Path, ledger: _Ledger, show_progress: bool, say: Callable[[str], None]) -> DemoResult:
    from reports import build_report
    from twin.engine.run import run_scenario
    from twin.fit.config import load_fit_config
    from twin.fit.synthetic import series_truth, write_synthetic_xrd
    from twin.fit.workflow import run_xrd_series_fit
    from twin.observe import observe, write_first_last_csv

    result = DemoResult(out)

    def stage(name: str, action: Callable[[], object]) -> object:
        value = _stage(result, name, action, say)
        ledger.record()
        return value

    scenario_path = out / "scenario.toml"
    shutil.copyfile(dataset_path(*DEMO_SCENARIO), scenario_path)
    instrument_path = out / "instrument.toml"
    shutil.copyfile(dataset_path(*DEMO_INSTRUMENT), instrument_path)
    scenario = load_scenario(scenario_path)
    say(f"demo: {scenario.name} → {out}")
    ledger.record()
    stage("simulate the powder through the protocol (twin run)",
          lambda: run_scenario(scenario, out, show_progress=show_progress))
    stage("powder XRD of every frame (twin observe --xrd)",
          lambda: write_first_last_csv(observe(out, "xrd", instrument_path)))

    def measure() -> None:  # measured/ holds no earlier frames: prepare_demo_dir deleted the demo's, refused others
        synthetic = write_synthetic_xrd(out, out / "measured", every=MEASURE_EVERY, seed=scenario.seed)
        truth = series_truth(out / "trajectory.h5", synthetic.frames)
        (out / "fit.toml").write_text(demo_fit_file(scenario.material, truth, scenario.seed), encoding="utf-8")

    stage("synthetic measured series with known truth (measured/, fit.toml)", measure)

    def fit() -> None:
        cfg = load_fit_config(out / "fit.toml")
        (path, _), = cfg.measurements
        run_xrd_series_fit(path, cfg.material, cfg.instrument, out, truth=cfg.truth, seed=cfg.seed,
                           source_text=cfg.text)

    stage("sequential refinement and sample-level fit (twin fit fit.toml)", fit)
    result.report = stage("report (twin report)", lambda: build_report(out))  # type: ignore[assignment]
    result.missing = [
        "2H NMR of the run (`twin observe OUT --technique nmr mil53_al_2h` adds it; the demo does not fit NMR yet), "
        "129Xe NMR, IR/Raman and TEM forward models (not in this version; their report panels appear when they exist)",
    ]
    return result
