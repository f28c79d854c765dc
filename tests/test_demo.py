"""The end-to-end demo (``twin demo``): scenario → simulation → XRD → synthetic measurement → fit → report.

One test runs the whole demo once (about two minutes on two cores) and checks every stage's product, that
the fit recovers the known truth of the synthetic series, and that the report renders in headless Chromium
with every figure loaded and no console error. Screenshots go to ``test-artifacts/demo/`` (git-ignored) or
``$TWIN_TEST_ARTIFACTS/demo``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "reports"))

from chromium import MISSING_HINT, render, require_chromium  # noqa: E402
from instruments.series_io import read_observable  # noqa: E402
from twin.cli import main  # noqa: E402


def test_demo_end_to_end(tmp_path, capsys, repo_root):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(summary["report"]) == out / "report" / "index.html"
    assert [s["name"].split(" (")[0] for s in summary["stages"]][0].startswith("simulate")
    assert len(summary["stages"]) == 5 and summary["missing"]

    # stages' products
    assert (out / "trajectory.h5").is_file() and (out / "scenario.toml").is_file()
    frames = sorted((out / "measured").glob("frame_*.xye"))
    observed = read_observable(out / "observables" / "xrd.h5")
    n_sim, measured_index = observed.n_frames, observed.measured_frame_index
    assert len(frames) == measured_index.size >= 20
    np.testing.assert_array_equal(measured_index, [int(f.stem.split("_")[1]) for f in frames])
    assert measured_index[-1] == n_sim - 1

    # the fit recovers the truth of the synthetic series
    fit = json.loads((out / "fit_result.json").read_text(encoding="utf-8"))
    params = fit["parameters"]
    assert {"switching_pressure_adsorption", "switching_pressure_desorption", "hysteresis_width",
            "coherent_size_np", "coherent_size_lp"} <= set(params)
    covered = [p["interval_90"][0] <= p["truth"] <= p["interval_90"][1] for p in params.values()]
    assert all("truth" in p for p in params.values()) and sum(covered) >= len(covered) - 1
    assert params["switching_pressure_adsorption"]["value"] > params["switching_pressure_desorption"]["value"]
    assert fit["figures_of_merit"]["chi2_reduced"] == pytest.approx(1.0, abs=0.1)  # Poisson data, right model
    assert len(fit["measurements"]) == len(frames) + 1  # the frames and the conditions log, with checksums

    # the report: every section, the fit with truth coverage, the measured overlay
    report = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    sections = report["sections"]
    assert sections["fit"]["truth_coverage_90"] >= 0.8
    assert 0.8 <= min(sections["fit"]["posterior_predictive_coverage"]) <= 1.0
    assert sections["xrd"]["Rwp_mean"] < 0.1

    # the same measured series attached by `twin observe --measured` (any reader format, matched by time)
    assert main(["observe", str(out), "--xrd", str(out / "instrument.toml"), "--measured", str(out / "measured")]) == 0
    np.testing.assert_array_equal(read_observable(out / "observables" / "xrd.h5").measured_frame_index, measured_index)
    # on a run copy: a coarser measured grid is simulated on its own points; frames without times are refused
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copyfile(out / "trajectory.h5", copy / "trajectory.h5")
    coarse = tmp_path / "coarse"
    coarse.mkdir()
    for f in frames[:2]:  # every other point: another grid
        lines = [ln for ln in f.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
        (coarse / f.name).write_text("\n".join(lines[::2]) + "\n", encoding="utf-8")
    log = coarse / "conditions_log.csv"
    log.write_text("file,time_s,pressure_bar\n" + "".join(f"{f.name},{6 * k},1.0\n" for k, f in enumerate(frames[:2])),
                   encoding="utf-8")
    assert main(["observe", str(copy), "--xrd", str(out / "instrument.toml"), "--measured", str(coarse)]) == 0
    coarse_series = read_observable(copy / "observables" / "xrd.h5")
    assert len(coarse_series.axis) == coarse_series.measured.values.shape[1] < len(lines)
    log.write_text("file,pressure_bar\n" + "".join(f"{f.name},1.0\n" for f in frames[:2]), encoding="utf-8")
    capsys.readouterr()
    assert main(["observe", str(copy), "--xrd", str(out / "instrument.toml"), "--measured", str(coarse)]) == 2
    assert "conditions log needs a time column" in capsys.readouterr().err

    require_chromium(f"{MISSING_HINT} (the rest passed)")
    base = os.environ.get("TWIN_TEST_ARTIFACTS")
    artifacts = (Path(base) if base else repo_root / "test-artifacts") / "demo"
    result = render(out / "report" / "index.html", artifacts)
    images = result["images"]
    assert len(images) == len(report["figures"]) >= 12
    assert [i["alt"] for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)] == []
    assert result["console_errors"] == [] and result["exceptions"] == []
    assert all(url.startswith("file://") for url in result["requests"]), result["requests"]
    assert (artifacts / "report-full.png").stat().st_size > 10_000
