"""The report of a synthetic run: content, self-containedness, summary numbers, bad input, atomic writes, CLI."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from reports import build_report, sections
from synthetic_run import MEASURED_FRAMES, make_run
from twin import cli
from twin.errors import DataFormatError, FitError


def test_report_has_every_section_and_embedded_figures(built_run):
    report = built_run / "report"
    page = (report / "index.html").read_text(encoding="utf-8")
    for anchor in ("scenario", "phases", "spatial", "xrd", "fit", "provenance"):
        assert f'<section id="{anchor}">' in page and f'href="#{anchor}"' in page
    assert "MIL-53(Al) powder, CO2 swing (synthetic test)" in page
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    n_fig = len(summary["figures"])
    assert n_fig >= 12 and page.count('<img src="data:image/png;base64,') == n_fig
    for record in summary["figures"]:
        assert (report / record["png"]).stat().st_size > 1000
        assert (report / record["svg"]).read_text(encoding="utf-8").lstrip().startswith("<?xml")
    # self-contained: no resource from any URL, no script
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page) and "url(http" not in page
    assert "<script" not in page
    assert not any(p.name.startswith(".report-") for p in built_run.iterdir())


def test_summary_numbers_agree_with_the_synthetic_truth(built_run):
    summary = json.loads((built_run / "report" / "summary.json").read_text(encoding="utf-8"))
    phases = summary["sections"]["phases"]
    switching = {s["branch"]: s["value"] for s in phases["switching"]}
    # the largest crystal (most sites) opens at 3 bar on the way up and closes at 1 bar on the way down; the
    # powder's lp fraction crosses 1/2 between 3.5 and 4.5 bar up and 1.5 and 2.5 bar down
    assert 3.5 < switching["adsorption"] < 4.5 and 1.5 < switching["desorption"] < 2.5
    assert phases["hysteresis_width"] == pytest.approx(switching["adsorption"] - switching["desorption"])
    per = {c["crystal"]: c["switching"][0]["value"] for c in phases["per_crystal"]}
    assert per[3] > per[2] > per[1]  # smaller crystals switch at higher pressure, as constructed
    xrd = summary["sections"]["xrd"]
    assert [a["frame"] for a in xrd["agreement"]] == list(MEASURED_FRAMES)
    for a in xrd["agreement"]:
        # Poisson draws of 40 × the model: the refined scale is 40 and chi2 ≈ 1 (spread sqrt(2/1200) ≈ 0.04);
        # weights 1/y_obs bias the scale low by about 1/<y> ≈ 1/80 (Neyman's chi2), hence 2 %
        assert a["scale"] == pytest.approx(40.0, rel=0.02) and a["chi2"] == pytest.approx(1.0, abs=0.2)
    fit = summary["sections"]["fit"]
    assert fit["truth_coverage_90"] == 1.0 and fit["parameters"]["median_size"]["unit"] == "nm"
    assert summary["sections"]["provenance"]["files_sha256"]["trajectory.h5"]
    assert summary["key_numbers"]["XRD Rwp (mean)"].endswith("%")


def test_report_without_trajectory_names_what_is_missing(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    (out / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty: no trajectory\.h5 to report on .*holds: notes\.txt"):
        build_report(out)
    (out / "trajectory.h5.partial").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"interrupted before its first checkpoint, so it cannot be resumed and must be started again: "
                                                r"`twin run SCENARIO\.toml -o .*empty`"):
        build_report(out)
    with pytest.raises(DataFormatError, match=r"nowhere: run directory not found"):
        build_report(tmp_path / "nowhere")


def test_fit_result_whose_measurement_moved_names_the_file(tmp_path):
    out = make_run(tmp_path)
    moved = out / "measured" / "frame022.xy"
    shutil.move(moved, tmp_path / "elsewhere.xy")
    with pytest.raises(DataFormatError, match=r"measurements\[1\]\.path: measurement file measured/frame022\.xy not found"):
        build_report(out)
    shutil.move(tmp_path / "elsewhere.xy", moved)
    moved.write_text(moved.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"measurements\[1\]\.sha256: measurement file measured/frame022\.xy changed"):
        build_report(out)
    # the check can be switched off explicitly
    assert build_report(out, check_measurements=False).is_file()


def test_malformed_fit_result_names_the_key(tmp_path):
    out = make_run(tmp_path, measured=False, fit=False)
    (out / "fit_result.json").write_text(json.dumps({"parameters": {"size": {"value": "big"}}}), encoding="utf-8")
    with pytest.raises(FitError, match=r"fit_result\.json: parameters\.size\.value: expected a finite number, got 'big'"):
        build_report(out)
    (out / "fit_result.json").write_text(json.dumps({"parameters": {"a": {"value": 1}}, "correlations": {
        "names": ["a", "b"], "matrix": [[1.0]]}}), encoding="utf-8")
    with pytest.raises(FitError, match=r"correlations\.matrix: expected a 2×2 list of lists"):
        build_report(out)


def test_minimal_run_lists_absent_panels(tmp_path):
    out = make_run(tmp_path, xrd=False, fit=False)
    build_report(out)
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    assert any("observables/xrd.h5" in m for m in summary["missing"])
    assert any("fit_result.json" in m for m in summary["missing"])
    assert '<section id="absent">' in page and "No observables/xrd.h5 in this run." in page


def test_failed_build_keeps_the_previous_report(tmp_path, monkeypatch):
    out = make_run(tmp_path, xrd=False, fit=False)
    build_report(out)
    good = (out / "report" / "index.html").read_bytes()

    def broken(ctx):
        raise RuntimeError("section failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        build_report(out, sections=[sections.scenario_section, broken])
    assert (out / "report" / "index.html").read_bytes() == good
    assert not any(p.name.startswith(".report-") for p in out.iterdir())


def test_snapshot_frames_must_be_stored(tmp_path):
    out = make_run(tmp_path, xrd=False, fit=False)
    with pytest.raises(DataFormatError, match=r"snapshot frame\(s\) \[3\] hold no stored fields; stored frames: \[0, 2, 4"):
        build_report(out, snapshot_frames=[0, 3])
    build_report(out, snapshot_frames=[0, 20])
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["sections"]["spatial"]["snapshot_frames"] == [0, 20]


def test_cli_report(tmp_path, capsys):
    out = make_run(tmp_path, xrd=False, fit=False)
    assert cli.main(["report", str(out), "--frames", "0,10"]) == 0
    assert capsys.readouterr().out.strip().endswith("report/index.html")
    assert cli.main(["report", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run directory not found" in err
    assert cli.main(["report", str(out), "--frames", "a,b"]) == 2
    assert "--frames: expected comma-separated frame numbers" in capsys.readouterr().err


def test_community_axis_directions(tmp_path):
    """NMR ppm and IR wavenumber decrease to the right; 2θ increases."""
    from matplotlib.figure import Figure

    from reports.figures import orient_axis

    ax = Figure().subplots()
    orient_axis(ax, np.array([0.0, 10.0, 250.0]), decreasing=True)
    assert ax.get_xlim() == (250.0, 0.0)
    orient_axis(ax, np.array([5.0, 30.0]), decreasing=False)
    assert ax.get_xlim() == (5.0, 30.0)
