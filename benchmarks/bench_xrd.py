"""XRD benchmark: in situ pattern series, per-pattern cost against pymatgen, Debye equation against debyecalculator.

Usage: ``python benchmarks/bench_xrd.py [--quick | --standard | --large]``; the last line of stdout is one JSON
object (figures of merit, ratios to the peer tools measured in the same run, versions, device).

* series: MIL-53(Al) lp + np phases (``datasets/structures``), Cu Kα doublet, ``n_points`` 2θ points,
  ``n_frames`` frames with varying phase fractions, lattices, η spread and a 4-bin size histogram; one
  jitted ``pattern_series`` call. Figure: patterns/s.
* per pattern: pymatgen ``XRDCalculator.get_pattern`` (stick pattern, 3–50° 2θ) against our jitted
  stick pattern for a new lattice once the reflection list is built (``family_intensities``), and our full
  profile pattern (``powder_pattern``) for reference.
* Debye: simple-cubic Cu clusters of 10³…10⁵ atoms; our blocked pair-distance histogram + Debye sum
  against debyecalculator (``DebyeCalculator.iq``, CPU) on the same atoms and Q grid. Figure: pairs/s.
Setup is untimed; compile time is reported on its own; medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from instruments.xrd import (  # noqa: E402
    d_min_for,
    debye_intensity_histogram,
    family_intensities,
    form_factor_coefficients,
    load_structure,
    make_instrument,
    make_phase_state,
    pair_distance_histogram,
    pattern_series,
    phase_from_structure,
    powder_pattern,
)
from instruments.xrd.debye import form_factor_matrix  # noqa: E402

TIERS = {
    "quick": {"n_frames": 200, "n_points": 5000, "debye_atoms": [1000, 8000], "repeats": 3},  # < 1 min on 2 cores
    "standard": {"n_frames": 1000, "n_points": 5000, "debye_atoms": [1000, 8000, 27000], "repeats": 5},
    "large": {"n_frames": 4000, "n_points": 10000, "debye_atoms": [1000, 8000, 27000, 100000], "repeats": 3},
}


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (min(times), max(times))


def bench_series(cfg, phases):
    n, m = cfg["n_frames"], cfg["n_points"]
    rng = np.random.default_rng(0)
    frac = jnp.asarray(np.linspace(0.0, 1.0, n), jnp.float32)
    grid = jnp.linspace(3.0, 50.0, m)
    states = []
    for k, phase in enumerate(phases):
        lat = np.asarray(phase.lattice)[None, :] * (1 + 0.002 * rng.standard_normal((n, 1)) * np.array([1, 1, 1, 0, 0, 0]))
        states.append(make_phase_state(
            jnp.asarray(lat, jnp.float32), cell_count=frac if k == 0 else 1.0 - frac,
            dlattice_deta=jnp.zeros((n, 6)), eta_std=jnp.full(n, 0.03), microstrain=jnp.zeros(n),
            size_A=jnp.broadcast_to(jnp.asarray([150.0, 300.0, 600.0, 1200.0]), (n, 4)),
            size_weight=jnp.asarray(rng.random((n, 4)), jnp.float32), domain_aspect=jnp.ones((n, 3)),
            march_dollase_ratio=jnp.ones(n), preferred_hkl=jnp.ones((n, 3))))
    inst = make_instrument("CuKa", background=[10.0, -2.0])
    t0 = time.perf_counter()
    jax.block_until_ready(pattern_series(phases, tuple(states), inst, grid).values)
    first = time.perf_counter() - t0
    t, spread = _median_time(lambda: pattern_series(phases, tuple(states), inst, grid).values, cfg["repeats"])
    return {"n_frames": n, "n_points": m, "n_phases": len(phases), "n_size_bins": 4, "lines": 2,
            "n_reflection_families": [p.n_peaks for p in phases], "compile_plus_first_s": first - t,
            "time_s": t, "time_range_s": spread, "patterns_per_s": n / t}


def bench_per_pattern(cfg, structure, phase):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    calc = XRDCalculator(1.5406)
    calc.get_pattern(structure, two_theta_range=(3, 50))  # warm-up: medians are over warm calls only
    t_pm, spread_pm = _median_time(lambda: calc.get_pattern(structure, two_theta_range=(3, 50)), max(cfg["repeats"], 5))
    stick = jax.jit(family_intensities)
    lam = jnp.asarray(1.5406, jnp.float32)
    lat = phase.lattice * 1.001
    jax.block_until_ready(stick(phase, lat, lam))
    reps = 200
    t_ours, _ = _median_time(lambda: [stick(phase, lat * (1 + 1e-4 * i), lam) for i in range(reps)][-1], 5)
    t_ours /= reps
    grid = jnp.linspace(3.0, 50.0, 5000)
    inst = make_instrument("CuKa")
    st = make_phase_state(lat, size_A=500.0)
    prof = jax.jit(powder_pattern)
    jax.block_until_ready(prof((phase,), (st,), inst, grid))
    t_prof, _ = _median_time(lambda: prof((phase,), (st,), inst, grid), 10)
    return {"structure": phase.name, "pymatgen_s": t_pm, "pymatgen_range_s": spread_pm, "ours_stick_s": t_ours,
            "speedup_stick": t_pm / t_ours, "ours_profile_5000pt_s": t_prof, "speedup_profile": t_pm / t_prof}


def bench_debye(cfg):
    out = []
    try:
        import torch
        from debyecalculator import DebyeCalculator

        peer = True
        torch.set_num_threads(max(1, torch.get_num_threads()))
    except Exception as error:  # noqa: BLE001 - optional peer tool
        peer, reason = False, f"{type(error).__name__}: {error}"
    qmin, qmax, qstep = 1.0, 10.0, 0.01
    q = jnp.arange(qmin, qmax, qstep, dtype=jnp.float32)
    coeff = form_factor_coefficients(("Cu",))
    ff = form_factor_matrix(q, *(jnp.asarray(coeff[k], jnp.float32) for k in "abc"), True)
    for n_atoms in cfg["debye_atoms"]:
        side = round(n_atoms ** (1 / 3))
        pos = (np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3) * 2.55).astype(np.float32)
        n = len(pos)
        width = 0.01
        n_bins = int(np.ceil(np.ptp(pos, axis=0).max() * np.sqrt(3) / width)) + 2
        p, s = jnp.asarray(pos), jnp.zeros(n, jnp.int32)
        counts = jnp.asarray([float(n)], jnp.float32)

        def ours():
            h = pair_distance_histogram(p, s, 1, n_bins, width)
            return debye_intensity_histogram(h, width, ff, counts, q)

        jax.block_until_ready(ours())
        t, _ = _median_time(ours, cfg["repeats"] if n <= 30000 else 1)
        row = {"n_atoms": n, "ours_s": t, "ours_pairs_per_s": n * n / t, "bin_width_A": width}
        if peer:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                calc = DebyeCalculator(qmin=qmin, qmax=qmax, qstep=qstep, device="cpu", biso=0.0)
                src = (["Cu"] * n, pos.astype(np.float64))
                calc.iq(src)  # warm-up
                t_p, _ = _median_time(lambda: calc.iq(src), cfg["repeats"] if n <= 30000 else 1)
            row.update({"debyecalculator_s": t_p, "debyecalculator_pairs_per_s": n * n / t_p, "speedup": t_p / t})
        out.append(row)
    return out, (None if peer else reason)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier = parser.add_mutually_exclusive_group()
    for name in TIERS:
        tier.add_argument(f"--{name}", dest="tier", action="store_const", const=name)
    args = parser.parse_args()
    start = time.perf_counter()
    name = args.tier or "quick"
    cfg = TIERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structures = [load_structure(ROOT / "datasets/structures" / f"mil53al_{p}.cif") for p in ("lp", "np")]
    phases = tuple(phase_from_structure(s, d_min_for(1.5445, 50.0), name=f"MIL-53(Al) {p}")
                   for s, p in zip(structures, ("lp", "np"), strict=True))
    series = bench_series(cfg, phases)
    per_pattern = bench_per_pattern(cfg, structures[0], phases[0])
    debye, peer_missing = bench_debye(cfg)
    import pymatgen.core

    versions = {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
                "pymatgen": pymatgen.core.__version__}
    try:
        import debyecalculator  # noqa: F401
        from importlib.metadata import version

        versions["debyecalculator"] = version("debyecalculator")
        versions["torch"] = version("torch")
    except Exception:  # noqa: BLE001
        pass
    result = {
        "benchmark": "xrd", "tier": name, "device": str(jax.devices()[0]), "platform": platform.platform(),
        "cpu_count": __import__("os").cpu_count(), "versions": versions,
        "series": series, "per_pattern": per_pattern, "debye": debye,
        "debyecalculator_missing": peer_missing, "wall_s": time.perf_counter() - start,
        "figure_of_merit": {"series_patterns_per_s": series["patterns_per_s"],
                            "stick_speedup_vs_pymatgen": per_pattern["speedup_stick"],
                            "debye_speedup_vs_debyecalculator": [r.get("speedup") for r in debye]},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
