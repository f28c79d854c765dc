"""`twin tem image`: an HRTEM image and diffraction patterns of MIL-53(Al) lp from one command, files readable by
the project's own readers; bad zone axes, doses and instrument names exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twin import cli

LP = Path(__file__).resolve().parents[2] / "datasets" / "structures" / "mil53al_lp.cif"


def test_tem_image_writes_readable_files(tmp_path, capsys):
    from instruments.io import read_measurement
    from instruments.series_io import read_image_series
    from twin.commands.tem import run_image

    out = tmp_path / "img"
    summary = run_image(LP, out, zone="1 0 0", thickness="1.3 nm", field="2 nm", dose="50", seed=1)
    for name in ("hrtem.tif", "hrtem_noiseless.tif", "diffraction.tif", "diffraction_dynamical.tif", "hrtem.h5",
                 "tem_preview.png", "tem.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "tem.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["wavelength_A"] == pytest.approx(0.019687, abs=1e-6)
    assert summary["strongest_reflections"][0]["d_A"] == pytest.approx(5.0936, abs=1e-3)  # {0 2 2}
    assert summary["mean_counts_per_pixel"] == pytest.approx(50 * np.prod(summary["sampling_A"]), rel=0.1)
    series = read_image_series(out / "hrtem.h5")
    assert series.image.shape[0] == 2 and series.pixel_size_A == pytest.approx(summary["sampling_A"][0])
    m = read_measurement(out / "hrtem.tif")
    assert m.metadata["pixel_size_ang"][1] == pytest.approx(summary["sampling_A"][0], rel=1e-5)
    # the micrographs' own report: the images with scale bars and the simulation's summary as provenance
    assert cli.main(["report", str(out)]) == 0
    report = json.loads((out / "report" / "summary.json").read_text())
    assert list(report["sections"]) == ["tem", "provenance"]
    assert any("diffraction" in str(f) for f in report["figures"])  # the pattern on the reciprocal-space scale
    assert report["sections"]["provenance"]["simulation"]["wavelength_A"] == pytest.approx(0.019687, abs=1e-6)


@pytest.mark.parametrize(("args", "match"), [(["--zone", "0 0 0"], "[0 0 0]"), (["--dose", "0"], "dose"),
                                             (["--dose", "-3"], "dose"), (["--instrument", "nope"], "instrument"),
                                             (["--thickness", "3 K"], "thickness")])
def test_tem_image_bad_input_exit_2(tmp_path, capsys, args, match):
    assert cli.main(["tem", "image", str(LP), "-o", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err
