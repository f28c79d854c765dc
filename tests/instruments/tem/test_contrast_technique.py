"""Diffraction-contrast columns (two-beam Howie–Whelan) and the tem technique on the seam: instrument file,
`twin observe --technique tem` on a run with coexisting phases, the accumulated dose, the image reshaping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from instruments.registry import get
from instruments.tem.contrast import column_amplitudes, extinction_distance_A, two_beam_dark_field
from instruments.tem.technique import image_series, load_tem_settings, parse_tem_settings
from mofcore.errors import DataFormatError
from small_runs import co2_ramp_scenario

REPO = Path(__file__).resolve().parents[3]
INSTRUMENT = REPO / "datasets" / "instruments" / "tem_300kv.toml"

SCENARIO = co2_ramp_scenario("tem-test-ramp", seed=1, size_cells="[8, 24, 16]", outputs="field_stride = 1")


@pytest.mark.parametrize("s", [0.0, 2e-4, -1e-3])
def test_uniform_column_reproduces_two_beam_rocking_curve(s):
    xi = 800.0
    n = 400
    dz = np.full((1, n), 5.0, np.float32)
    # thickness series: a column of k sites for k = 1..n, as one batch padded with vacuum (w = 0, s-phase only)
    k = np.arange(1, n + 1)
    w = (np.arange(n)[None, :] < k[:, None]).astype(np.float32)
    p0, pg = column_amplitudes(w, np.full(w.shape, 1 / xi, np.float32), np.broadcast_to(dz, w.shape), s)
    df = np.abs(np.asarray(pg)) ** 2
    assert np.allclose(df, two_beam_dark_field(k * 5.0, xi, s), atol=2e-4)
    assert np.allclose(np.abs(np.asarray(p0)) ** 2 + df, 1.0, atol=1e-4)  # no absorption: BF + DF = 1


def test_extinction_distance_scale():
    # xi = pi V / (lambda gamma |F|): 1000 Å^3, |F| = 10 Å at 300 kV -> 1000 pi / (0.019687 * 1.587 * 10) ≈ 10 050 Å
    assert extinction_distance_A(1000.0, 10.0, 0.019687, 300e3) == pytest.approx(10052, rel=2e-3)


def test_shipped_instrument_and_bad_files(tmp_path):
    s = load_tem_settings(INSTRUMENT)
    assert s.lens.voltage_V == 300e3 and s.lens.defocus_A == pytest.approx(-561.25, abs=0.1)
    assert s.detector.dose_e_per_A2 == 20.0 and s.reflection == (0, 1, 1) and s.beam_axis == 0
    cases = [({"microscope": {"voltage": "0 kV"}}, "voltage"),
             ({"detector": {"dose": 0}}, "dose"),
             ({"detector": {"dose": -5.0}}, "dose"),
             ({"contrast": {"reflection": [1, 1, 0]}}, "perpendicular"),
             ({"contrast": {"reflection": [0, 0, 0]}}, "reflection"),
             ({"microscope": {"objective_aperture": "15"}}, "objective_aperture"),
             ({"hrtem": {"sampling": "-1 A"}}, "sampling"),
             ({"lens": {}}, "unknown table")]
    for doc, match in cases:
        with pytest.raises(DataFormatError, match=match):
            parse_tem_settings(doc, "x.toml")


@pytest.fixture(scope="module")
def ramp_run(tmp_path_factory):
    from twin.engine.run import run_scenario
    from twin.scenario import parse_scenario

    out = tmp_path_factory.mktemp("tem") / "run"
    run_scenario(parse_scenario(SCENARIO), out, show_progress=False)
    return out


def test_observe_dark_field_series_with_dose(ramp_run):
    from instruments.series_io import read_observable
    from twin.observe import observe

    assert get("tem").observable
    path = observe(ramp_run, "tem", INSTRUMENT)
    obs = read_observable(path)
    images = image_series(obs, path)
    n = obs.n_frames
    assert images.image.shape == (n, 16, 24)  # rows: site z, columns: site y (beam along x)
    assert images.pixel_size_A == pytest.approx(math.sqrt(16.736 * 12.84))
    # np everywhere at the start: the lp (0 1 1) dark field is black; lp after the switch: bright
    assert images.image[0].max() == 0.0 and images.image[-1].mean() > 1e-3
    time = obs.condition("time_s")
    assert np.allclose(obs.condition("dose_e_per_A2"), 0.01 * (time - time[0]))
    # a frame with coexisting phases shows contrast between domains
    eta_mean = [float(np.mean(im > 0)) for im in images.image]
    assert any(0.0 < f < 1.0 for f in eta_mean) or any(np.ptp(im) > 1e-3 for im in images.image[1:-1])
    assert obs.meta["kind"].startswith("dark-field (lp 0 1 1)")


def test_report_panel_draws_the_maps_with_dose(ramp_run, tmp_path):
    """The technique's panel (reports.sections.tem:tem_panel) draws the stored maps with their fluence."""
    from instruments.series_io import read_observable
    from reports.context import ReportContext
    from reports.run_data import load_run
    from reports.sections.tem import tem_panel
    from twin.observe import observe

    path = observe(ramp_run, "tem", INSTRUMENT)
    moved = path.rename(tmp_path / "tem.h5")  # load_run reads observables/tem.h5 as an image series (see docs/tem.md)
    run = load_run(ramp_run)
    try:
        run.spectra["tem"] = read_observable(moved)
        (tmp_path / "figures").mkdir()
        ctx = ReportContext(run, tmp_path / "figures")
        sec = tem_panel(ctx, "tem")
        assert sec is not None and sec.summary["n_images"] == read_observable(moved).n_frames
        assert sec.summary["dose_e_per_A2"][0] == 0.0 and len(ctx.figure_records) == 1
        assert tem_panel(ctx, "absent") is None
    finally:
        run.close()
