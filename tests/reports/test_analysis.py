"""Derived numbers of the report against analytic cases and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from reports import agreement_indices, branches, crossings, cycle_index, domain_sizes_nm, hysteresis_width


def test_branches_follow_the_protocol_and_holds_inherit():
    p = np.array([0, 1, 2, 2, 2, 1, 0, 0, 1, 2.0])
    b = branches(p)
    assert b.tolist() == [1, 1, 1, 1, 1, -1, -1, -1, 1, 1]
    assert cycle_index(b).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert branches(np.full(5, 3.0)).tolist() == [1] * 5
    assert branches(np.array([5.0, 5.0, 4.0])).tolist() == [-1, -1, -1]


def test_crossings_interpolate_exactly_on_linear_data():
    # fraction rises linearly with p on the way up (crossing ½ at 3.25 bar) and falls on the way down (at 1.5 bar)
    p = np.concatenate([np.linspace(0, 10, 11), np.linspace(9, 0, 10)])
    up = np.clip((p - 2.25) / 2.0, 0, 1)
    down = np.clip((p - 0.5) / 2.0, 0, 1)
    f = np.where(branches(p) > 0, up, down)
    t = np.arange(p.size) * 10.0
    found = crossings(f, p, t)
    assert [c.branch for c in found] == [1, -1]
    assert found[0].value == pytest.approx(3.25, abs=1e-12) and found[0].fraction_rising
    assert found[1].value == pytest.approx(1.5, abs=1e-12) and not found[1].fraction_rising
    assert found[0].time_s == pytest.approx(32.5, abs=1e-12)
    assert hysteresis_width(found) == pytest.approx(1.75, abs=1e-12)
    assert hysteresis_width(found[:1]) is None


def test_rwp_analytic_cases():
    y = np.full(100, 400.0)
    # identical patterns, or a pattern off by a scale factor that is refined, agree perfectly
    assert agreement_indices(y, y)["Rwp"] == pytest.approx(0.0, abs=1e-12)  # least-squares scale: rounding only
    scaled = agreement_indices(y, y / 3.0)
    assert scaled["Rwp"] == pytest.approx(0.0, abs=1e-12) and scaled["scale"] == pytest.approx(3.0)
    # constant offset d on a flat pattern without refined scale: Rwp = d / y0, Rp = d / y0
    r = agreement_indices(y, y + 20.0, fit_scale=False)
    assert r["Rwp"] == pytest.approx(0.05) and r["Rp"] == pytest.approx(0.05)
    # counting weights: Rexp = sqrt((N - P) / sum(y)) for w = 1/y; nothing refined, P = 0
    assert r["Rexp"] == pytest.approx(np.sqrt(100 / (100 * 400.0)))
    # a refined scale counts in P
    assert scaled["Rexp"] == pytest.approx(np.sqrt(99 / (100 * 400.0)))


def test_scale_and_chebyshev_background_are_refined_linearly():
    x = np.linspace(5.0, 30.0, 400)
    peaks = 1e-6 * np.exp(-0.5 * ((x - 12.0) / 0.1) ** 2)  # a simulation in its own units
    background = 300.0 - 40.0 * np.linspace(-1.0, 1.0, x.size)  # T0 and T1 on the mapped axis
    obs = 2.0e10 * peaks + background
    r = agreement_indices(obs, peaks, n_background=2)
    assert r["Rwp"] == pytest.approx(0.0, abs=1e-9)
    assert r["scale"] == pytest.approx(2.0e10, rel=1e-9)
    np.testing.assert_allclose(r["background"], background, rtol=1e-9)
    # without the background the same comparison is poor
    assert agreement_indices(obs, peaks)["Rwp"] > 0.5


def test_rwp_of_poisson_data_gives_chi2_near_one():
    rng = np.random.default_rng(0)
    model = 200.0 + 800.0 * np.exp(-0.5 * ((np.linspace(0, 10, 4000) - 5) / 0.2) ** 2)
    obs = rng.poisson(model).astype(float)
    r = agreement_indices(obs, model)
    # for a correct model, chi2 = 1 within its sampling spread sqrt(2/N) ≈ 0.02
    assert r["chi2"] == pytest.approx(1.0, abs=0.08)
    assert r["Rwp"] == pytest.approx(r["Rexp"], rel=0.05)


def test_domain_sizes_of_two_cubes_and_a_slab():
    eta = np.zeros((12, 12, 12), dtype=np.float32)
    eta[0:4, 0:4, 0:4] = 1.0  # 64 open sites
    eta[6:8, 6:8, 6:8] = 1.0  # 8 open sites
    mask = np.ones_like(eta, dtype=bool)
    cell = np.array([10.0, 10.0, 10.0])  # 1 nm³ per site
    d = domain_sizes_nm(eta, mask, cell)
    expected = np.sort((6.0 * np.array([8.0, 64.0]) / np.pi) ** (1 / 3))
    np.testing.assert_allclose(np.sort(d["open"]), expected, rtol=1e-12)
    assert d["closed"].size == 1
    np.testing.assert_allclose(d["closed"], (6.0 * (12**3 - 72) / np.pi) ** (1 / 3), rtol=1e-12)


def test_domain_sizes_match_scipy_and_domain_ids_on_a_powder():
    rng = np.random.default_rng(1)
    eta = (rng.random((3, 7, 6, 5)) > 0.55).astype(np.float32)
    mask = rng.random((3, 7, 6, 5)) > 0.1
    cell = np.array([6.6, 16.7, 12.8])
    d = domain_sizes_nm(eta, mask, cell)
    # independent count: scipy on each crystal separately
    counts = []
    for c in range(3):
        lab, n = ndimage.label(mask[c] & (eta[c] >= 0.5))
        counts.extend(np.bincount(lab.ravel())[1:].tolist())
    v = np.prod(cell) * 1e-3
    np.testing.assert_allclose(np.sort(d["open"]), np.sort((6 * np.array(counts) * v / np.pi) ** (1 / 3)))
    # the same domains given as an id field
    ids = np.full(eta.shape, -1, dtype=np.int64)
    for c in range(3):
        for phase, offset in ((eta[c] >= 0.5, 0), (eta[c] < 0.5, 10_000)):
            lab, _ = ndimage.label(mask[c] & phase)
            ids[c] = np.where(lab > 0, lab + offset + 100_000 * c, ids[c])
    d_ids = domain_sizes_nm(eta, mask, cell, domain=ids)
    np.testing.assert_allclose(np.sort(d_ids["open"]), np.sort(d["open"]))
    np.testing.assert_allclose(np.sort(d_ids["closed"]), np.sort(d["closed"]))
