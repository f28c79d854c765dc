"""``twin.observe`` on a real (tiny) trajectory: one XRD pattern per frame, lp/np reflections following the
phase fractions the engine wrote, first/last CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from instruments.series_io import read_observable
from twin.engine.run import run_scenario
from twin.observe import observe, write_first_last_csv
from twin.scenario import parse_scenario
from twin.trajectory import Trajectory
from small_runs import co2_ramp_scenario

# 8×8×8 cells of MIL-53(Al) (a 53 × 134 × 103 Å block) under a CO2 ramp 0.2 → 16 bar in 60 s at 303 K:
# np at the start, lp after the switch (the material's CO2 np → lp pressure at 303 K lies between 2.8 and 5.5 bar).
SCENARIO = co2_ramp_scenario("observe-test-ramp", seed=1)


def _at(two_theta_deg, intensity, center_deg):
    """Intensity of every frame at the grid point nearest ``center_deg``: (n_frames,)."""
    return intensity[:, np.argmin(np.abs(two_theta_deg - center_deg))]


def _area(two_theta_deg, intensity, center_deg, half_width_deg=0.4):
    """Integrated intensity of every frame within ±``half_width_deg`` of ``center_deg``: (n_frames,)."""
    window = np.abs(two_theta_deg - center_deg) < half_width_deg
    return intensity[:, window].sum(axis=1)


def test_observe_xrd_on_a_pressure_ramp(tmp_path, repo_root):
    """MIL-53(Al) lp (011) at 8.67° and np (110) at 12.52° 2θ (Cu Kα1; Loiseau et al., Chem. Eur. J. 10,
    1373 (2004) cells): lp grows and np shrinks as the pressure passes the switch, and their heights
    follow the lp and np fractions the engine wrote (the reference independent of the forward model).
    The np line also broadens when the np region breaks into small domains just above the switch, so
    its height is less than proportional to the np fraction there; the integrated intensities follow both
    fractions (correlation > 0.985)."""
    out = tmp_path / "run"
    traj_path = run_scenario(parse_scenario(SCENARIO), out, show_progress=False)
    xrd_path = observe(out, "xrd", repo_root / "datasets/instruments/lab_cuka.toml")
    assert xrd_path == out / "observables" / "xrd.h5"

    with Trajectory(traj_path) as traj:
        n_frames, time_s = traj.n_frames, np.asarray(traj.time_s)
        pressure_bar = traj.partial_pressure_Pa.sum(axis=1) / 1e5
        lp_fraction = traj.summary("phase_fraction")[:, list(traj.phases).index("lp")]
    series = read_observable(xrd_path)
    grid = np.asarray(series.axis.values)
    assert series.values.shape == (n_frames, grid.size) and n_frames == 7  # one pattern per frame (0…60 s)
    np.testing.assert_allclose(series.condition("time_s"), time_s)
    np.testing.assert_allclose(series.condition("pressure_bar"), pressure_bar, rtol=1e-6)
    assert lp_fraction[0] < 0.05 and lp_fraction[-1] > 0.9  # the ramp crosses the switch

    i_lp = _at(grid, series.values, 8.67)
    i_np = _at(grid, series.values, 12.52)
    assert i_lp[-1] > 10.0 * i_lp[0] and i_np[0] > 10.0 * i_np[-1]
    switch = int(np.argmax(lp_fraction > 0.5))
    assert 0 < switch < n_frames - 1
    assert i_lp[switch:].min() > i_lp[:switch].max() and i_np[:switch].min() > i_np[switch:].max()
    # integrated intensities follow the fractions (heights less so: the lines broaden and the lp cell
    # follows the mean η of the lp region, which overshoots 1 by a few % under the drive)
    a_lp, a_np = _area(grid, series.values, 8.67), _area(grid, series.values, 12.52)
    assert np.corrcoef(a_lp, lp_fraction)[0, 1] > 0.985
    assert np.corrcoef(a_np, 1.0 - lp_fraction)[0, 1] > 0.985

    first, last = write_first_last_csv(xrd_path)
    assert (first.name, last.name) == ("xrd_first.csv", "xrd_last.csv") and first.parent == xrd_path.parent
    for path, row in ((first, 0), (last, -1)):
        table = pd.read_csv(path)
        assert list(table.columns) == ["two_theta_deg", "intensity"]
        np.testing.assert_allclose(table["two_theta_deg"], grid)
        np.testing.assert_allclose(table["intensity"], series.values[row], rtol=1e-6)
    assert series.meta["wavelength_A"] == pytest.approx(1.5405929, abs=1e-6)
