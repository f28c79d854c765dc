"""¹²⁹Xe NMR: the Demarquay–Fraissard shift model, Bloch–McConnell exchange against its analytic limits (slow: two
Lorentzians of FWHM 1/(πT₂) + k/π; fast: one line at the population-weighted shift; coalescence at
k_c = πΔν/√2), xenon random walks on two-domain lattices against Bloch–McConnell with the mean-first-passage
rate, lp/np coexistence whose two lines merge as the domains shrink, the instrument file and a run on the seam."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest

from instruments.nmr.technique import load_nmr_settings, parse_nmr_settings, simulate_nmr
from instruments.nmr.xenon import (
    bloch_mcconnell,
    first_passage_rates,
    gas_density_amagat,
    langmuir_loading,
    slab_first_passage_rate,
    two_site_rates,
    wall_shift_ppm,
    walk_spectrum,
    xenon_spectrum,
)
from instruments.nmr.xenon_technique import XenonSettings, surrogate_lattice
from mofcore.errors import DataFormatError
from twin.datasets import dataset_path

INSTRUMENT = dataset_path("instruments", "mil53_al_129xe.toml")
LARMOR_HZ = 110.7e6


def _fwhm(x: np.ndarray, y: np.ndarray, peak: int) -> float:
    """Full width at half maximum of the peak at index ``peak`` (linear interpolation)."""
    half = y[peak] / 2.0
    i = peak
    while y[i] > half:
        i -= 1
    j = peak
    while y[j] > half:
        j += 1
    left = x[i] + (half - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i])
    right = x[j - 1] + (half - y[j - 1]) * (x[j] - x[j - 1]) / (y[j] - y[j - 1])
    return right - left


# --- shift model ----------------------------------------------------------------------------------------------


def test_wall_shift_limits():
    """ℓ → 0: δ_S + 243 ppm; ℓ = b = 2.054 Å: δ_S + 121.5 ppm; ℓ → ∞: δ_S (Demarquay & Fraissard 1987)."""
    assert wall_shift_ppm(0.0) == pytest.approx(243.0)
    assert wall_shift_ppm(2.054, 10.0) == pytest.approx(10.0 + 121.5)
    assert wall_shift_ppm(1e12, 10.0) == pytest.approx(10.0, abs=1e-9)
    assert np.all(np.diff(wall_shift_ppm(np.linspace(0, 50, 11))) < 0)  # bigger pores, smaller shift


def test_gas_density_and_langmuir():
    assert gas_density_amagat(101325.0, 273.15) == pytest.approx(1.0, rel=1e-12)
    assert langmuir_loading(2e5, 273.0, 6.0, 2e5, -20.0, 273.0) == pytest.approx(3.0)
    # exothermic adsorption: less xenon at a higher temperature
    assert langmuir_loading(2e5, 303.0, 6.0, 2e5, -20.0, 273.0) < 3.0


# --- Bloch–McConnell --------------------------------------------------------------------------------------------


def test_bloch_mcconnell_slow_limit_two_lorentzians():
    """k ≪ 2πΔν: lines at the site frequencies, FWHM (R₂ + k)/π, unit area."""
    nu = np.linspace(-4000.0, 4000.0, 16001)
    r2, k = 60.0, 25.0
    spectrum = bloch_mcconnell(nu, [-1000.0, 1500.0], [0.4, 0.6], two_site_rates(k, [0.4, 0.6]), r2)
    assert spectrum.sum() * (nu[1] - nu[0]) == pytest.approx(1.0, abs=2e-3)  # tails beyond ±4 kHz: ~1e-3
    k_out = (k, k * 0.4 / 0.6)  # the rate of leaving each site
    for centre, kj in zip((-1000.0, 1500.0), k_out, strict=True):
        window = np.abs(nu - centre) < 500
        peak = np.nonzero(window)[0][np.argmax(spectrum[window])]
        assert nu[peak] == pytest.approx(centre, abs=0.5)
        assert _fwhm(nu, spectrum, peak) == pytest.approx((r2 + kj) / math.pi, rel=0.01)


def test_bloch_mcconnell_fast_limit_one_averaged_line():
    """k ≫ 2πΔν: one line at Σ p_j ν_j, FWHM (R₂ + p₁p₂(2πΔν)²/(k₁₂ + k₂₁))/π."""
    nu = np.linspace(-3000.0, 3000.0, 12001)
    p = np.array([0.3, 0.7])
    k12 = 2e6
    rates = two_site_rates(k12, p)
    spectrum = bloch_mcconnell(nu, [-1000.0, 1000.0], p, rates, 40.0)
    peak = int(np.argmax(spectrum))
    assert nu[peak] == pytest.approx(p @ np.array([-1000.0, 1000.0]), abs=1.0)
    excess = p[0] * p[1] * (2 * math.pi * 2000.0) ** 2 / (rates[0, 1] + rates[1, 0])
    assert _fwhm(nu, spectrum, peak) == pytest.approx((40.0 + excess) / math.pi, rel=0.01)


def test_bloch_mcconnell_coalescence_rate():
    """Equal populations, no relaxation: the centre turns from a minimum into a maximum at k_c = πΔν/√2."""
    delta_nu = 1000.0
    k_c = math.pi * delta_nu / math.sqrt(2.0)
    nu = np.array([-2.0, 0.0, 2.0])
    for factor, centre_is_max in ((0.97, False), (1.03, True)):
        y = bloch_mcconnell(nu, [-delta_nu / 2, delta_nu / 2], [0.5, 0.5], two_site_rates(factor * k_c, [0.5, 0.5]),
                            0.0)
        curvature = y[0] + y[2] - 2 * y[1]
        assert (curvature < 0) == centre_is_max, (factor, curvature)


def test_xenon_spectrum_on_a_ppm_axis():
    shift = np.linspace(-50.0, 250.0, 3001)
    y = xenon_spectrum(shift, [90.0, 200.0, 0.5], [0.5, 0.4, 0.1], np.zeros((3, 3)), larmor_hz=LARMOR_HZ,
                       linewidth_hz=[300.0, 400.0, 50.0])
    # Lorentzian tails outside the window: (2/π)·HWHM/distance ≈ 0.8 % of the 200 ppm line's area
    assert y.sum() * (shift[1] - shift[0]) == pytest.approx(1.0, abs=0.015)
    for centre in (90.0, 200.0, 0.5):
        assert np.argmax(np.where(np.abs(shift - centre) < 5, y, 0)) == np.argmin(np.abs(shift - centre))


@pytest.mark.parametrize(
    ("populations", "rates", "match"),
    [
        ([0.5, 0.5], [[0.0, -3.0], [-3.0, 0.0]], "non-negative"),
        ([0.5, 0.6], [[0.0, 3.0], [3.0, 0.0]], "sum to 1"),
        ([0.5, 0.5], [[0.0, 3.0], [1.0, 0.0]], "stationary"),
        ([0.5, 0.5], [[1.0, 3.0], [3.0, 0.0]], "diagonal"),
        ([0.5, 0.5], [[0.0, 3.0, 0.0]], "matrix"),
    ],
)
def test_bad_exchange_input_is_a_one_line_project_error(populations, rates, match):
    with pytest.raises(DataFormatError, match=match) as info:
        xenon_spectrum(np.linspace(0, 100, 64), [10.0, 50.0], populations, rates)
    assert "\n" not in str(info.value)


def test_unknown_nucleus_and_bad_xenon_file_are_project_errors():
    with pytest.raises(DataFormatError, match=r"nucleus: expected one of 2H, 129Xe, got '13C'") as info:
        parse_nmr_settings({"nucleus": "13C"}, "x.toml")
    assert "\n" not in str(info.value)
    doc = {"nucleus": "129Xe", "phases": {"lp": {"mean_free_path": "4 A", "diffusivity": "-1e-10 m2/s",
                                                 "n_max": 6.0, "p_half": "2 bar"}}}
    with pytest.raises(DataFormatError, match=r"x.toml: phases.lp.diffusivity: expected a non-negative"):
        parse_nmr_settings(doc, "x.toml")
    with pytest.raises(DataFormatError, match=r"x.toml: spectrum.shift: expected a range"):
        parse_nmr_settings({"nucleus": "129Xe", "spectrum": {"shift": "300 ppm"}}, "x.toml")
    with pytest.raises(DataFormatError, match=r"x.toml: phases.lp.p_half: missing required key"):
        parse_nmr_settings({"nucleus": "129Xe", "phases": {"lp": {"mean_free_path": "4 A", "diffusivity":
                                                                  "1e-10 m2/s", "n_max": 6.0}}}, "x.toml")


def test_walk_rejects_negative_hop_rates():
    with pytest.raises(DataFormatError, match="hop rates must be non-negative"):
        walk_spectrum(np.zeros((2, 2, 2), np.int64), np.linspace(-10, 10, 64), [0.0, 0.0], [-1.0], [1.0])


# --- random walks against Bloch–McConnell -------------------------------------------------------------------------


def _slabs(width: int) -> np.ndarray:
    """Two-domain lattice: slabs of ``width`` sites of phases 0 and 1 alternating along x (periodic)."""
    phase = np.zeros((2 * width, 2, 2), np.int64)
    phase[width:] = 1
    return phase


def test_first_passage_rate_of_a_slab_is_the_analytic_one():
    """Mean first-passage time out of a slab of L sites (hops h/6 per direction), averaged over the slab:
    (L + 1)(L + 2)/(2h)."""
    for width in (1, 3, 6):
        populations, rates = first_passage_rates(_slabs(width), [600.0, 600.0], [1.0, 1.0])
        np.testing.assert_allclose(populations, [0.5, 0.5])
        np.testing.assert_allclose(rates[0, 1], slab_first_passage_rate(600.0, width), rtol=1e-10)
        np.testing.assert_allclose(rates[1, 0], rates[0, 1], rtol=1e-10)


def _walk_vs_bm(width: int, k: float, n_walkers: int = 8192, seed: int = 0):
    shift = np.linspace(-40.0, 40.0, 1024)
    hop = k / slab_first_passage_rate(1.0, width)
    phase = _slabs(width)
    populations, rates = first_passage_rates(phase, [hop, hop], [1.0, 1.0])
    walk = walk_spectrum(phase, shift, [-5.0, 5.0, 0.0], [hop, hop], [1.0, 1.0], linewidth_hz=50.0,
                         larmor_hz=LARMOR_HZ, periodic=True, n_walkers=n_walkers, seed=seed)
    bm = xenon_spectrum(walk.shift_ppm, [-5.0, 5.0], populations, rates, larmor_hz=LARMOR_HZ, linewidth_hz=50.0)
    return walk, bm


def test_random_walk_on_one_site_domains_is_bloch_mcconnell():
    """Domains of one site: leaving a domain is one Markov hop, so the walk is the two-site Bloch–McConnell
    process (Δν = 10 ppm at 110.7 MHz = 1107 Hz, coalescence at k_c ≈ 2460 1/s; here k = 2500 1/s)."""
    walk, bm = _walk_vs_bm(1, 2500.0)
    assert walk.rate_cap_per_s is None
    np.testing.assert_allclose(walk.occupancy[:2], [0.5, 0.5], atol=0.02)
    step = walk.shift_ppm[1] - walk.shift_ppm[0]
    assert walk.intensity.sum() * step == pytest.approx(1.0, abs=0.02)
    # 8192 walkers: ~1/√8192 ≈ 1 % noise on the signal; the lineshapes agree to the noise
    assert np.max(np.abs(walk.intensity - bm)) < 0.08 * bm.max()


@pytest.mark.slow
@pytest.mark.parametrize("k", [300.0, 20000.0])
def test_random_walk_on_one_site_domains_slow_and_fast(k):
    walk, bm = _walk_vs_bm(1, k)
    assert np.max(np.abs(walk.intensity - bm)) < 0.08 * bm.max()


@pytest.mark.slow
def test_random_walk_on_wide_domains_is_close_to_bloch_mcconnell():
    """Slabs of 4 sites: the exit time is no longer exponential, and the mean-first-passage rate gives Bloch–
    McConnell lineshapes within ~15 % of the walk's (measured 14 % at k = 2500 1/s, 11 % at 2·10⁴ 1/s)."""
    for k in (2500.0, 20000.0):
        walk, bm = _walk_vs_bm(4, k)
        assert np.max(np.abs(walk.intensity - bm)) < 0.2 * bm.max()


def test_coexisting_lp_np_lines_merge_as_the_domains_shrink():
    """Half lp (δ = 90 ppm), half np (δ = 200 ppm) at fixed diffusivity and site spacing: wide domains (16 sites,
    k ≈ 2h/306 ≈ 2·10³ 1/s ≪ k_c ≈ 2.7·10⁴ 1/s) give two lines at the two shifts, one-site domains (k = h/3 =
    10⁵ 1/s ≫ k_c) one line at the mean."""
    shift = np.linspace(0.0, 300.0, 1024)
    hop = 3e5
    peaks = {}
    for width in (16, 1):
        walk = walk_spectrum(_slabs(width), shift, [90.0, 200.0, 0.0], [hop, hop], [1.0, 1.0], linewidth_hz=600.0,
                             larmor_hz=LARMOR_HZ, periodic=True, n_walkers=2048)
        y = np.convolve(walk.intensity, np.ones(9) / 9, mode="same")  # smooth the walkers' noise
        above = y > 0.5 * y.max()
        starts = np.nonzero(above[1:] & ~above[:-1])[0] + 1
        ends = np.nonzero(~above[1:] & above[:-1])[0] + 1
        peaks[width] = [walk.shift_ppm[a + np.argmax(y[a:b])] for a, b in zip(starts, ends, strict=True)]
    assert len(peaks[16]) == 2 and np.allclose(peaks[16], [90.0, 200.0], atol=3.0), peaks
    assert len(peaks[1]) == 1 and peaks[1][0] == pytest.approx(145.0, abs=3.0), peaks


def test_surrogate_lattice_keeps_the_fractions():
    phase = surrogate_lattice(np.array([0.25, 0.75]), 2, 8, seed=3)
    assert phase.shape == (8, 8, 8) and abs(np.mean(phase == 0) - 0.25) < 0.02
    assert np.all(surrogate_lattice(np.array([0.0, 1.0]), 2, 8, seed=3) == 1)
    assert abs(np.mean(surrogate_lattice(np.array([0.5, 0.5]), 2, 8, seed=3) == 0) - 0.5) < 0.02


# --- the instrument file and a run ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_frames(repo_root):
    from twin.material import load_material
    from twin.observe import twin_frames
    from twin.trajectory import Trajectory

    with Trajectory(repo_root / "tests" / "data" / "golden" / "demo_run" / "trajectory.h5") as traj:
        return twin_frames(traj, load_material("mil53-al"))


def test_shipped_instrument_loads():
    settings = load_nmr_settings(INSTRUMENT)
    assert isinstance(settings, XenonSettings) and set(settings.phases) == {"np", "lp"}
    assert settings.larmor_hz == pytest.approx(110.7e6)
    assert wall_shift_ppm(settings.phases["np"].mean_free_path_A) > wall_shift_ppm(
        settings.phases["lp"].mean_free_path_A)


def test_a_run_gives_np_and_lp_xenon_lines(demo_frames):
    """All-np and all-lp frames of the golden run (49 nm crystals, CO2 pressure read as xenon pressure): the line
    sits near the np resp. lp shift (pulled a little toward the gas line by exchange through the surface), its
    area is the xenon present."""
    settings = dataclasses.replace(load_nmr_settings(INSTRUMENT), walkers=512, lattice=6, max_events=4000)
    fraction = demo_frames.summary("phase_fraction", "test")
    pick = np.array([0, int(np.argmax(fraction[:, 1]))])
    frames = dataclasses.replace(demo_frames,
                                 summaries={k: np.asarray(v)[pick] for k, v in demo_frames.summaries.items()},
                                 conditions={k: np.asarray(v)[pick] for k, v in demo_frames.conditions.items()})
    observable = simulate_nmr(frames, settings)
    axis = observable.axis.values
    assert observable.axis.name == "shift" and observable.axis.unit == "ppm" and np.all(np.diff(axis) > 0)
    assert dict(observable.attrs)["nucleus"] == "129Xe"
    step = axis[1] - axis[0]
    for i, phase in enumerate(("np", "lp")):
        shift = observable.conditions[f"shift_ppm_{phase}"][i]
        gas_fraction = observable.conditions["gas_fraction"][i]
        peak = axis[np.argmax(observable.values[i])]
        assert (1 - gas_fraction) * shift - 25.0 < peak < shift + 2.0, (phase, peak, shift)
        loading = observable.conditions[f"loading_{phase}"][i]
        area = observable.values[i].sum() * step
        assert area == pytest.approx(loading / (1 - gas_fraction), rel=0.05)


def test_frames_with_large_domains_show_two_lines_small_domains_one(demo_frames):
    """Half lp, half np in a ~1 µm crystal: 400 nm domains exchange slowly (two lines at the np and lp shifts),
    5 nm domains fast (one line at the loading-weighted mean shift) — from the summaries alone."""
    settings = dataclasses.replace(load_nmr_settings(INSTRUMENT), walkers=1024)
    v = float(np.mean(demo_frames.volume_A3))
    frames = dataclasses.replace(
        demo_frames, n_sites=900.0**3, block=1,
        summaries={"phase_fraction": np.array([[0.5, 0.5], [0.5, 0.5]]),
                   "domain_size_mean": np.array([[4000.0**3 / v] * 2, [50.0**3 / v] * 2])},
        conditions={"time_s": np.array([0.0, 1.0]), "temperature_K": np.array([303.0, 303.0]),
                    "pressure_bar": np.array([1.0, 1.0]), "relative_humidity": np.zeros(2)})
    observable = simulate_nmr(frames, settings)
    axis, c = observable.axis.values, observable.conditions
    assert c["surrogate_periodic"].tolist() == [0.0, 1.0]
    shifts = np.array([c["shift_ppm_np"][0], c["shift_ppm_lp"][0]])
    weights = np.array([c["loading_np"][0], c["loading_lp"][0]])
    lines = []
    for values in observable.values:  # the adsorbed xenon, beside the narrow gas line at ~0.5 ppm
        y = np.where(axis > 30.0, np.convolve(values, np.ones(15) / 15, mode="same"), 0.0)
        above = y > 0.3 * y.max()
        starts = np.nonzero(above[1:] & ~above[:-1])[0] + 1
        ends = np.nonzero(~above[1:] & above[:-1])[0] + 1
        lines.append([axis[a + np.argmax(y[a:b])] for a, b in zip(starts, ends, strict=True)])
    assert len(lines[0]) == 2 and np.allclose(sorted(lines[0]), sorted(shifts), atol=8.0), (lines, shifts)
    assert len(lines[1]) == 1 and lines[1][0] == pytest.approx(weights @ shifts / weights.sum(), abs=8.0), lines


@pytest.mark.slow
def test_twin_observe_writes_a_xenon_series(tmp_path, repo_root):
    from instruments.series_io import read_observable
    from twin.observe import observe

    run = tmp_path / "run"
    shutil.copytree(repo_root / "tests" / "data" / "golden" / "demo_run", run)
    text = INSTRUMENT.read_text(encoding="utf-8").replace("walkers = 2048", "walkers = 256").replace(
        "lattice = 12", "lattice = 4").replace("max_events = 20000", "max_events = 2000")
    instrument = tmp_path / "xe.toml"
    instrument.write_text(text, encoding="utf-8")
    path = observe(run, "nmr", instrument)
    series = read_observable(path)
    assert series.axis.name == "shift" and series.values.shape[1] == 2048
    assert np.all(np.isfinite(series.values)) and series.values.shape[0] > 10


# --- twin nmr xenon ---------------------------------------------------------------------------------------------------


def test_cli_sites_write_the_spectrum(tmp_path, capsys):
    """Volkringer et al. 2017: lp and np lines of Xe in MIL-53(Al) exchange at 43 ± 6 1/s, far below coalescence
    (k_c = π·Δν/√2 ≈ 2.7·10⁴ 1/s for 110 ppm at 110.7 MHz): two lines, broadened by k/π ≈ 14 Hz."""
    from twin.cli import main

    csv = tmp_path / "xe.csv"
    capsys.readouterr()
    status = main(["nmr", "xenon", "--shifts", "90,200", "--populations", "0.6,0.4", "--rate", "43 /s",
                   "--linewidth", "300 Hz", "--points", "4096", "-o", str(csv), "--json"])
    out = capsys.readouterr().out
    assert status == 0 and json.loads(out)["model"] == "bloch-mcconnell"
    assert csv.read_text().splitlines()[0] == "shift_ppm,intensity"
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    shift, y = table[:, 0], table[:, 1]
    for centre in (90.0, 200.0):
        near = np.abs(shift - centre) < 5
        assert shift[near][np.argmax(y[near])] == pytest.approx(centre, abs=0.1)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--shifts", "90,200", "--populations", "0.5,0.5", "--rate", "-5 1/s"], "non-negative"),
        (["--shifts", "90,200", "--populations", "0.5,0.6"], "sum to 1"),
        (["--shifts", "90,200", "--populations", "0.5,0.5", "--rates", "0,1;2,0"], "stationary"),
        (["--shifts", "90", "--populations", "0.5,0.5"], "one per shift"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(capsys, extra, match):
    from twin.cli import main

    capsys.readouterr()
    assert main(["nmr", "xenon", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_cli_random_walks_over_a_stored_frame(tmp_path, capsys, repo_root):
    from twin.cli import main

    capsys.readouterr()
    status = main(["nmr", "xenon", "--run", str(repo_root / "tests" / "data" / "golden" / "demo_run"), "--frame", "0",
                   "--json", "-o", str(tmp_path / "xe.csv")])
    result = json.loads(capsys.readouterr().out)
    assert status == 0 and result["model"] == "random-walk" and result["phase_fraction"]["np"] == 1.0
    # the walkers spend the equilibrium share of their time in the gas
    assert result["occupancy"][-1] == pytest.approx(result["gas_fraction"], abs=0.005)
    assert result["area"] == pytest.approx(1.0, abs=0.02)
