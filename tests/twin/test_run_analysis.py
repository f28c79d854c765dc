"""Switching analysis: transitions per cycle and branch, domain-size quantiles, nucleation shares, `twin analyze`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin import analysis, cli
from twin.engine.summaries import N_SIZE_BINS
from twin.trajectory import SummarySpec, TrajectoryWriter


def _swing(n_cycles=3, per_leg=10, low=0.5, high=10.0):
    """A triangular pressure swing starting at ``low`` and an open fraction that switches at 6 bar going up and
    at 2 bar going down (a square hysteresis loop)."""
    up = np.linspace(low, high, per_leg, endpoint=False)
    down = np.linspace(high, low, per_leg, endpoint=False)
    p = np.concatenate([np.concatenate([up, down]) for _ in range(n_cycles)] + [[low]])
    f = np.zeros_like(p)
    state = 0.0
    for i in range(1, p.size):
        if p[i] > p[i - 1] and p[i] >= 6.0:
            state = 1.0
        if p[i] < p[i - 1] and p[i] <= 2.0:
            state = 0.0
        f[i] = state
    return np.arange(p.size, dtype=float), p, f


def test_transitions_per_cycle_and_branch():
    t, p, f = _swing()
    rows = analysis.transitions(t, p, f)
    assert [(r["index"], r["branch"]) for r in rows] == [(c, b) for c in range(3) for b in ("adsorption", "desorption")]
    for r in rows:
        assert r["switched_fraction"] == pytest.approx(1.0)
        # the crossing lies between the last frame below and the first frame at or past the switch
        if r["branch"] == "adsorption":
            assert 5.0 < r["transition_pressure_bar"] <= 6.5
        else:
            assert 1.5 <= r["transition_pressure_bar"] < 3.0
    widths = analysis.cycle_hysteresis_widths(rows)
    assert len(widths) == 3 and all(2.0 < w < 5.0 for w in widths)


def test_a_branch_without_crossing_has_no_transition_pressure():
    t, p, _ = _swing(n_cycles=2)
    rows = analysis.transitions(t, p, np.full_like(p, 0.2))
    assert all(r["transition_pressure_bar"] is None and r["switched_fraction"] == 0.0 for r in rows)
    assert analysis.cycle_hysteresis_widths(rows) == [None, None]


def test_domain_size_quantiles_of_one_bin_and_of_a_spread():
    h = np.zeros(N_SIZE_BINS)
    h[0] = 5  # five one-site domains
    assert analysis.domain_size_quantiles_nm(h, 8.0, weighting="number") == pytest.approx([2.0, 2.0, 2.0])
    assert analysis.domain_size_quantiles_nm(np.zeros(N_SIZE_BINS), 8.0) is None
    h = np.zeros((2, N_SIZE_BINS))
    h[0, 3] = 1  # one domain of 8..15 sites
    h[1, 10] = 1  # one of 1024..2047 sites
    p10, med, p90 = analysis.domain_size_quantiles_nm(h, 1.0, weighting="number")
    assert 2.0 <= p10 <= 15 ** (1 / 3) and 1024 ** (1 / 3) <= p90 <= 2047 ** (1 / 3)
    # by volume the large domain holds almost everything: the median is inside its bin
    p10_v, med_v, _ = analysis.domain_size_quantiles_nm(h, 1.0)
    assert 1024 ** (1 / 3) <= p10_v <= med_v <= 2047 ** (1 / 3)
    # one thousand single-site specks beside one big domain: the volume median stays the big domain
    h = np.zeros(N_SIZE_BINS)
    h[0], h[15] = 1000, 1
    assert analysis.domain_size_quantiles_nm(h, 1.0)[1] > 30.0
    assert analysis.domain_size_quantiles_nm(h, 1.0, weighting="number")[1] == pytest.approx(1.0)


def test_nucleation_shares_point_at_the_class_that_switches_first():
    n = 12
    p = np.linspace(1.0, 10.0, n)
    site = np.tile([0.1, 0.05, 0.85], (n, 1))
    cls = np.zeros((n, 3))
    cls[3:, 0] = np.linspace(0.3, 1.0, n - 3)  # the surface leads
    cls[5:, 2] = np.linspace(0.1, 1.0, n - 5)  # the bulk follows two frames later
    cls[5:, 1] = cls[5:, 2]
    f = np.sum(cls * site, axis=1)
    (nuc,) = analysis.nucleation_sites(p, f, cls, site, onset=0.02)
    assert nuc["branch"] == "adsorption" and nuc["onset_frame"] == 3
    assert nuc["share"]["surface"] == pytest.approx(1.0)
    assert nuc["enrichment"]["surface"] == pytest.approx(10.0) and nuc["enrichment"]["bulk"] == 0.0


def _synthetic_trajectory(path, n_cycles=2):
    """A trajectory written directly (no engine): a square-loop pressure swing with domain and defect summaries."""
    t, p, f = _swing(n_cycles=n_cycles)
    specs = {
        "phase_fraction": SummarySpec((2,), "float64", "1", ""),
        "domain_size_histogram": SummarySpec((2, N_SIZE_BINS), "int64", "1", ""),
        "defect_density_per_nm3": SummarySpec((), "float64", "1/nm3", ""),
        "class_open_fraction": SummarySpec((3,), "float64", "1", ""),
        "class_site_fraction": SummarySpec((3,), "float64", "1", ""),
    }
    hist = np.zeros((2, N_SIZE_BINS), np.int64)
    hist[1, 9] = 1  # one domain of 512..1023 sites
    with TrajectoryWriter.create(path, guests=("CO2",), phases=("np", "lp"), site_shape=(10, 10, 10),
                                 cell_A=(10.0, 10.0, 10.0), mask=None, fields={}, summaries=specs,
                                 provenance={"seed": 0}) as w:
        for k in range(t.size):
            w.append(time_s=float(t[k]), temperature_K=303.0, partial_pressure_Pa=np.asarray([p[k] * 1e5]),
                     relative_humidity=0.0,
                     summaries={"phase_fraction": np.asarray([1 - f[k], f[k]]), "domain_size_histogram": hist,
                                "defect_density_per_nm3": 0.01 + 0.001 * k,
                                "class_open_fraction": np.asarray([f[k]] * 3),
                                "class_site_fraction": np.asarray([0.2, 0.1, 0.7])},
                     fields={} if w.wants_fields() else None)
        w.finalize()
    return t, p, f


def test_twin_analyze_json_has_the_documented_keys(tmp_path, capsys):
    _synthetic_trajectory(tmp_path / "trajectory.h5")
    assert cli.main(["analyze", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(c["index"], c["branch"]) for c in out["cycles"]] == [(0, "adsorption"), (0, "desorption"),
                                                                  (1, "adsorption"), (1, "desorption")]
    for c in out["cycles"]:
        assert set(c) >= {"index", "branch", "transition_pressure_bar", "switched_fraction"}
        assert c["switched_fraction"] == pytest.approx(1.0)
    assert len(out["hysteresis_width_bar"]) == 2
    d = out["coherent_domain_size_nm"]
    assert 512 ** (1 / 3) <= d["p10"] <= d["median"] <= d["p90"] <= 1023 ** (1 / 3)  # nm: 1 nm³ sites
    assert out["defect_density_per_nm3"] == pytest.approx(0.01 + 0.001 * (out["n_frames"] - 1))
    assert len(out["nucleation"]) == 4


def test_twin_analyze_table_and_missing_run(tmp_path, capsys):
    _synthetic_trajectory(tmp_path / "trajectory.h5", n_cycles=1)
    assert cli.main(["analyze", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "adsorption" in text and "hysteresis width per cycle" in text and "defect density" in text
    assert cli.main(["analyze", str(tmp_path / "nothing")]) == 2
    assert "trajectory not found" in capsys.readouterr().err
