"""The end-to-end demo: scenario → simulation → XRD → synthetic measurement → fit → report.

:func:`run_demo` runs the embedded default scenario (``datasets/scenarios/demo.toml``: a powder of
MIL-53(Al) crystals with a log-normal size distribution through a CO2 pressure swing at 303 K) through every
stage the package has and writes the report. Each stage is what a user gets from a command, on files in the
output folder, so the demo can be repeated step by step:

1. ``twin run OUT/scenario.toml -o OUT`` — the mesoscale simulation (``OUT/trajectory.h5``);
2. ``twin observe OUT --xrd OUT/instrument.toml`` — the powder XRD series of every frame;
3. the "measured" series: every 2nd simulated pattern with Poisson counts (:mod:`twin.fit.synthetic`),
   written as ``.xye`` files with a conditions log in ``OUT/measured/``, and ``OUT/fit.toml`` naming them,
   the instrument and the truth taken from the trajectory;
4. ``twin fit OUT/fit.toml -o OUT`` — sequential refinement and the sample-level summary
   (:mod:`twin.fit.xrd_series`), read back through the measurement readers;
5. ``twin report OUT`` — ``OUT/report/index.html``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twin.datasets import dataset_path
from twin.scenario import load_scenario

__all__ = ["DEMO_SCENARIO", "DEMO_INSTRUMENT", "DemoResult", "run_demo", "demo_fit_file"]

DEMO_SCENARIO = ("scenarios", "demo.toml")
DEMO_INSTRUMENT = ("instruments", "lab_cuka.toml")
MEASURE_EVERY = 2


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


def run_demo(out_dir: str | Path, *, show_progress: bool = True, say: Callable[[str], None] = print) -> DemoResult:
    """Run every stage on the embedded default scenario into ``out_dir``; returns what was made."""
    from reports import build_report
    from twin.engine.run import run_scenario
    from twin.fit.config import load_fit_config
    from twin.fit.synthetic import series_truth, write_synthetic_xrd
    from twin.fit.workflow import run_xrd_series_fit
    from twin.observe import observe, write_first_last_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out)
    scenario_path = out / "scenario.toml"
    shutil.copyfile(dataset_path(*DEMO_SCENARIO), scenario_path)
    instrument_path = out / "instrument.toml"
    shutil.copyfile(dataset_path(*DEMO_INSTRUMENT), instrument_path)
    scenario = load_scenario(scenario_path)
    say(f"demo: {scenario.name} → {out}")
    _stage(result, "simulate the powder through the protocol (twin run)",
           lambda: run_scenario(scenario, out, show_progress=show_progress), say)
    _stage(result, "powder XRD of every frame (twin observe --xrd)",
           lambda: write_first_last_csv(observe(out, "xrd", instrument_path)), say)

    def measure() -> None:
        shutil.rmtree(out / "measured", ignore_errors=True)  # frames of an earlier demo must not join the series
        synthetic = write_synthetic_xrd(out, out / "measured", every=MEASURE_EVERY, seed=scenario.seed)
        truth = series_truth(out / "trajectory.h5", synthetic.frames)
        (out / "fit.toml").write_text(demo_fit_file(scenario.material, truth, scenario.seed), encoding="utf-8")

    _stage(result, "synthetic measured series with known truth (measured/, fit.toml)", measure, say)

    def fit() -> None:
        cfg = load_fit_config(out / "fit.toml")
        (path, _), = cfg.measurements
        run_xrd_series_fit(path, cfg.material, cfg.instrument, out, truth=cfg.truth, seed=cfg.seed,
                           source_text=cfg.text)

    _stage(result, "sequential refinement and sample-level fit (twin fit fit.toml)", fit, say)
    result.report = _stage(result, "report (twin report)", lambda: build_report(out), say)  # type: ignore[assignment]
    result.missing = [
        "NMR, IR/Raman and TEM forward models (not in this version; their report panels appear when they exist)",
    ]
    return result
