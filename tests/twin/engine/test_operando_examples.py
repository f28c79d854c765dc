"""The operando examples of ``examples/`` run with the shipped material parameters, checked on their trajectories.

1. ``dut8_size_series.toml``: DUT-8(Ni) crystals below the critical edge stay open after desolvation, larger ones
   close; the engine's critical edge brackets twin.thermo.surface.critical_size_nm (the same Δγ) within one site
   and lies near the measured ~0.5 µm (Kavoosi et al., Dalton Trans. 46, 4685 (2017)).
2. ``mil53_nucleation.toml``: the np → lp transition of MIL-53(Al) starts at defects and at the surface and passes
   through np/lp coexistence.
3. ``mil53_cycles_stable.toml`` / ``mil53_fragmenting_cycles.toml``: the critical pressure of a fragmenting
   parameter set drifts monotonically over cycles, that of mil53-al stays put (Bon et al., ACS Appl. Mater.
   Interfaces 7, 22292 (2015)).
4. ``mil53_humid_cycling.toml``: steaming creates defects (Arrhenius × RH) that lower the critical pressure.

The default suite runs reduced versions (a coarser block, fewer cycles, smaller crystals); the full examples are
``@pytest.mark.slow`` (``python -m pytest -m slow``).
"""

from __future__ import annotations

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from twin.commands.analyze import analyze_trajectory
from twin.engine.run import CHECKPOINT_NAME, Prepared, run_scenario
from twin.material import load_material
from twin.scenario import parse_scenario
from twin.thermo import critical_size_nm, host_barrier_kj_mol, host_free_energy_kj_mol
from twin.trajectory import Trajectory

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _text(name: str, *replacements: tuple[str, str]) -> str:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _run(text: str, out: Path, name: str = "example.toml") -> Path:
    return run_scenario(parse_scenario(text, source=name), out, show_progress=False)


def _adsorption_pressures(result: dict) -> np.ndarray:
    return np.asarray([r["transition_pressure_bar"] for r in result["cycles"] if r["branch"] == "adsorption"],
                      dtype=float)


# ------------------------------------------------------------------------------------------------ 1. size series
def _thermo_critical_edge_nm(temperature_K: float = 273.0) -> float:
    m = load_material("dut8-ni")
    t = jnp.float32(temperature_K)
    f = host_free_energy_kj_mol(m.thermo, t)
    w = host_barrier_kj_mol(m.thermo, t)
    return float(critical_size_nm(f[-1] - f[0], w / 3.0, jnp.float32(m.surface_energy_difference_J_m2),
                                  m.thermo.volume_A3[-1]))


def _size_series(tmp_path: Path, block: int, sizes: list[str]):
    text = _text("dut8_size_series.toml", ("block = 16", f"block = {block}"))
    text = re.sub(r"sizes = \[.*\]", "sizes = [" + ", ".join(f'"{s}"' for s in sizes) + "]", text)
    sc = parse_scenario(text, source="dut8_size_series.toml")
    prep = Prepared(sc)
    # the cube-equivalent edge 3/(1/Lx + 1/Ly + 1/Lz) of each crystal as the lattice holds it: a cuboid carries
    # Δγ·2(1/Lx + 1/Ly + 1/Lz)·V per cell, the 6Δγ V/L of twin.thermo.surface for L = that edge
    mask = prep.geometry.mask
    spacing_nm = np.asarray(prep.geometry.spacing_A) / 10.0
    edges = []
    for k in range(mask.shape[0]):
        n = [int(np.any(mask[k], axis=tuple(a for a in range(3) if a != d)).sum()) for d in range(3)]
        lengths = np.asarray(n) * spacing_nm
        edges.append(3.0 / float(np.sum(1.0 / lengths)))
    path = run_scenario(sc, tmp_path, show_progress=False)
    with Trajectory(path) as traj:
        t = traj.time_s
        per = traj.summary("crystal_phase_fraction")[:, :, -1]
    empty = per[np.argmin(np.abs(t - 4.0))]  # end of the hold at 0 bar
    return np.asarray(edges), empty, analyze_trajectory(path)


def _check_size_series(edges, empty, result, site_nm):
    l_thermo = _thermo_critical_edge_nm()
    assert l_thermo == pytest.approx(498.0, abs=2.0)  # docs/materials.md
    stays_open = empty > 0.9
    closes = empty < 0.1
    assert np.all(stays_open | closes), empty  # each crystal switches as a whole
    order = np.argsort(edges)
    assert np.all(np.diff(stays_open[order].astype(int)) <= 0), (edges, empty)  # small open, large closed
    largest_open = edges[stays_open].max()
    smallest_closed = edges[closes].min()
    # the engine's critical edge (between the largest open and the smallest closed crystal) brackets the
    # mean-field one, and its estimate, the middle of the bracket, lies within one site of it
    assert largest_open < l_thermo < smallest_closed
    engine_l = 0.5 * (largest_open + smallest_closed)
    assert abs(engine_l - l_thermo) < site_nm
    measured = load_material("dut8-ni").critical_size_nm
    assert measured == pytest.approx(500.0)
    assert abs(engine_l - measured) < 0.25 * measured
    # the crystals that closed reopen on re-adsorption (gate opening), the small ones never switch
    for c in result["crystals"]:
        switched = [r for r in c["cycles"] if r["transition_pressure_bar"] is not None]
        if closes[c["index"]]:
            assert any(r["branch"] == "adsorption" for r in switched)
        else:
            assert not switched
    return engine_l


def test_dut8_size_series_critical_edge_matches_thermo(tmp_path):
    """Reduced series: block 32 (59 × 59 × 30 nm sites), four crystals around the critical edge."""
    edges, empty, result = _size_series(tmp_path, 32, ["0.35 um", "0.47 um", "0.53 um", "0.7 um"])
    _check_size_series(edges, empty, result, site_nm=59.0)


@pytest.mark.slow
def test_dut8_size_series_full_example(tmp_path):
    """The example as shipped (block 16, seven crystals of 0.3–1.0 µm), plus two sizes next to L*."""
    sizes = ["0.3 um", "0.4 um", "0.45 um", "0.47 um", "0.53 um", "0.55 um", "0.6 um", "0.8 um", "1.0 um"]
    edges, empty, result = _size_series(tmp_path, 16, sizes)
    engine_l = _check_size_series(edges, empty, result, site_nm=29.5)
    assert abs(engine_l - _thermo_critical_edge_nm()) < 10.0  # 0.47 and 0.53 µm bracket it closely


# ------------------------------------------------------------------------------------------ 2. nucleation
def _check_nucleation(path: Path) -> None:
    result = analyze_trajectory(path)
    (ads,) = [r for r in result["cycles"] if r["branch"] == "adsorption"]
    assert ads["switched_fraction"] > 0.95 and ads["transition_pressure_bar"] is not None
    (nuc,) = result["nucleation"]
    # at the onset, defect and surface sites are switched out of proportion to their share, the bulk lags
    assert nuc["enrichment"]["defect"] > 2.0
    assert nuc["enrichment"]["surface"] > 1.5
    assert nuc["enrichment"]["bulk"] < 1.0
    with Trajectory(path) as traj:
        f = traj.summary("phase_fraction")[:, -1]
        cls = traj.summary("class_open_fraction")
        depth = traj.summary("phase_depth_mean_nm")
        area = traj.summary("interface_area_nm2")
    coexist = (f > 0.1) & (f < 0.9)
    assert coexist.sum() >= 3  # passes through phase coexistence
    assert np.all(area[coexist] > 0.0)
    # the defects and the surface lead the bulk through the whole transition, and the open phase sits nearer
    # the surface than the closed one while they coexist
    assert np.all(cls[coexist, 1] > cls[coexist, 2]) and np.all(cls[coexist, 0] > cls[coexist, 2])
    assert np.all(depth[coexist, 1] < depth[coexist, 0])


def test_mil53_transition_nucleates_at_defects_and_surface(tmp_path):
    text = _text("mil53_nucleation.toml", ('size = ["600 nm", "300 nm", "300 nm"]', 'size = ["120 nm", "60 nm", "60 nm"]'))
    _check_nucleation(_run(text, tmp_path))


@pytest.mark.slow
def test_mil53_nucleation_full_example(tmp_path):
    _check_nucleation(_run(_text("mil53_nucleation.toml"), tmp_path))


# ------------------------------------------------------------------------------------------ 3. cycling fatigue
def _cycles(tmp_path: Path, name: str, count: int) -> dict:
    text = _text(name, ("count = 100", f"count = {count}"))
    return analyze_trajectory(_run(text, tmp_path / name))


def _check_cycles(stable: dict, fragmenting: dict, count: int) -> tuple[np.ndarray, np.ndarray]:
    p_stable = _adsorption_pressures(stable)
    p_frag = _adsorption_pressures(fragmenting)
    assert p_stable.size == p_frag.size == count and np.all(np.isfinite(p_stable)) and np.all(np.isfinite(p_frag))
    # non-fragmenting: constant within the thermal noise (one frame of the ramp is 1.2 bar; the crossing is
    # interpolated, the scatter is ~0.02 bar)
    assert np.std(p_stable) < 0.05 and abs(p_stable[-1] - p_stable[0]) < 0.1
    assert stable["coherent_domain_size_nm"]["median"] > 30.0  # one domain: the crystal
    # fragmenting: drifts monotonically (each cycle lower than the last, up to the cycle-to-cycle scatter of
    # two noisy crossings, 4√2 σ, with σ of the stable series or of the levelled-off last third, whichever is
    # larger: the fragments' crossings scatter more) and far beyond that noise
    sigma = max(np.std(p_stable), np.std(p_frag[-count // 3:]) if count >= 30 else 0.0)
    assert np.all(np.diff(p_frag) < max(0.05, 4.0 * np.sqrt(2.0) * sigma))
    assert p_frag[0] - p_frag[-1] > 10 * np.std(p_stable)
    assert p_frag[0] == pytest.approx(p_stable[0], abs=0.1)  # the same material before it cracks
    assert fragmenting["coherent_domain_size_nm"]["median"] < 0.5 * stable["coherent_domain_size_nm"]["median"]
    return p_stable, p_frag


def test_critical_pressure_drifts_for_a_fragmenting_material_only(tmp_path):
    stable = _cycles(tmp_path, "mil53_cycles_stable.toml", 6)
    fragmenting = _cycles(tmp_path, "mil53_fragmenting_cycles.toml", 6)
    _, p_frag = _check_cycles(stable, fragmenting, 6)
    assert p_frag[0] - p_frag[-1] > 0.5


@pytest.mark.slow
def test_100_cycles_drift_then_level_off(tmp_path):
    stable = _cycles(tmp_path, "mil53_cycles_stable.toml", 100)
    fragmenting = _cycles(tmp_path, "mil53_fragmenting_cycles.toml", 100)
    p_stable, p_frag = _check_cycles(stable, fragmenting, 100)
    # levels off: the drift happens in the first ~10–20 cycles, the last 50 scatter like the stable material
    assert p_frag[0] - p_frag[20] > 0.8 * (p_frag[0] - p_frag[-1])
    assert np.std(p_frag[50:]) < 3 * np.std(p_stable) + 0.02
    blocks = p_frag.reshape(10, 10).mean(axis=1)
    assert np.all(np.diff(blocks) < 0.03)


# ------------------------------------------------------------------------------------------ 4. humid cycling
def _check_humid(result: dict, dry: dict | None = None) -> None:
    p = _adsorption_pressures(result)
    assert p.size == 7 and np.all(np.isfinite(p))
    d0, d1 = result["defect_density_per_nm3_initial"], result["defect_density_per_nm3"]
    # densities per nm³ of site cell (mil53-al lp cell, 1.4252 nm³)
    assert d0 == pytest.approx(0.01 / 1.4252, rel=0.3)  # 1 % point defects
    # six steaming steps of 20 s at k(393 K, 50 %) = 1.5e-3 1/s: 1 − (1 − 0.01) exp(−0.18) of the cells
    expected = (1.0 - 0.99 * np.exp(-6 * 20 * 1.5e-3)) / 1.4252
    assert d1 == pytest.approx(expected, rel=0.15)
    assert np.all(np.diff(p) < 0.05) and p[0] - p[-1] > 0.15  # the defects lower the np → lp pressure
    if dry is not None:
        q = _adsorption_pressures(dry)
        assert dry["defect_density_per_nm3"] == pytest.approx(dry["defect_density_per_nm3_initial"])
        assert np.std(q) < 0.05 and p[-1] < q[-1] - 0.15


def test_humid_cycling_accumulates_defects_and_lowers_the_critical_pressure(tmp_path):
    _check_humid(analyze_trajectory(_run(_text("mil53_humid_cycling.toml"), tmp_path)))


@pytest.mark.slow
def test_humid_cycling_against_its_dry_control(tmp_path):
    humid = analyze_trajectory(_run(_text("mil53_humid_cycling.toml"), tmp_path / "humid"))
    dry_text = _text("mil53_humid_cycling.toml").replace('humidity = "50 %"', 'humidity = "0 %"')
    _check_humid(humid, analyze_trajectory(_run(dry_text, tmp_path / "dry")))


def test_hydrolysis_run_resumes_bit_for_bit(tmp_path):
    """Defects created under humidity are part of the state: an interrupted run continues identically."""
    text = """
material = "mil53-al"
seed = 9
[crystal]
size_cells = [8, 4, 4]
[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "1 bar"
[[protocol.segments]]
type = "hold"
temperature = "393 K"
humidity = "80 %"
duration = "60 s"
[numerics]
frame_interval = "10 s"
checkpoint_interval = "10 s"
[outputs]
fields = ["eta", "defect"]
field_stride = 1
"""
    sc = parse_scenario(text)
    ref = run_scenario(sc, tmp_path / "ref", show_progress=False)
    run_scenario(sc, tmp_path / "cut", show_progress=False, stop_after_frames=3)
    assert (tmp_path / "cut" / CHECKPOINT_NAME).is_file()
    again = run_scenario(sc, tmp_path / "cut", resume=True, show_progress=False)
    with Trajectory(ref) as a, Trajectory(again) as b:
        da, db = a.summary("defect_fraction"), b.summary("defect_fraction")
        assert np.array_equal(da, db) and da[-1] > da[0]  # defects were created
        for f in a.field_frames:
            assert np.array_equal(a.field("defect", int(f)), b.field("defect", int(f)))
            assert np.array_equal(a.field("eta", int(f)), b.field("eta", int(f)))
