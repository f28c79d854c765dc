"""The toy technique's fit problem: the open-phase fraction of every measured frame, and their mean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twin.datasets import file_sha256
from twin.fit.config import FitConfig
from twin.fit.problems import FitProblem
from twin.fit.result import write_fit_result


def parse(root, fit, file) -> FitConfig:
    instrument = file.base_dir / fit.string("instrument")
    fit.finish()
    (entry,) = root.tables("measurements", required=True)
    path = file.base_dir / entry.string("path")
    entry.finish()
    return FitConfig("toy", "", None, None, ((path, None),), (), {}, None, 0, 0, file.source, file.text,
                     instrument=instrument)


def run(cfg: FitConfig, out: Path) -> dict[str, Any]:
    from toy_technique import align, load_settings
    from twin.observe import attach_measured

    settings = load_settings(cfg.instrument)
    (path, _), = cfg.measurements
    measured = align(path, settings)
    nu = np.asarray(measured.axis.values)
    bands = np.exp(-0.5 * ((nu[None, :] - settings["positions"][:, None]) / settings["width"]) ** 2)
    weights, residual, *_ = np.linalg.lstsq(bands.T, np.asarray(measured.values).T, rcond=None)
    open_fraction = weights[-1] / weights.sum(axis=0)
    mean, sem = float(open_fraction.mean()), float(open_fraction.std(ddof=1) / np.sqrt(open_fraction.size))
    result = {
        "parameters": {"mean_open_fraction": {"value": mean, "stderr": sem, "unit": "1",
                                              "interval_90": [mean - 1.645 * sem, mean + 1.645 * sem]}},
        "figures_of_merit": {"chi2": float(np.sum(residual))},
        "correlations": {"names": ["mean_open_fraction"], "matrix": [[1.0]]},
        "measurements": [{"path": str(f), "sha256": file_sha256(f), "technique": "toy"} for f in sorted(path.iterdir())],
        "convergence": {"method": "linear least squares"}, "provenance": {"command": "twin fit"}, "warnings": [],
    }
    target = write_fit_result(result, out)
    if (out / "observables" / "toy.h5").is_file():
        attach_measured(out / "observables" / "toy.h5", measured)
    return {**result, "path": str(target)}


FIT = FitProblem(parse=parse, run=run)
