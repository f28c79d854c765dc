"""XRD benchmark: in situ pattern series, per-pattern cost against pymatgen, Debye equation against debyecalculator.

Usage: ``python benchmarks/bench_xrd.py [--quick | --standard | --large] [--debye-only] [--atoms N ...]
[--bin-width DELTA ...]``; the last line of stdout is one JSON object (figures of merit, ratios to the peer tools
measured in the same run, versions, device, load average).

* series: MIL-53(Al) lp + np phases (``datasets/structures``), Cu Kα doublet, ``n_points`` 2θ points,
  ``n_frames`` frames with varying phase fractions, lattices, η spread and a 4-bin size histogram; one
  jitted ``pattern_series`` call. Figure: patterns/s.
* per pattern: pymatgen ``XRDCalculator.get_pattern`` (stick pattern, 3–50° 2θ) against our jitted
  stick pattern for a new lattice once the reflection list is built (``family_intensities``): one jitted call
  per pattern (Python dispatch included), and one call over 200 lattices (``vmap``, per pattern), and our full
  profile pattern (``powder_pattern``) for reference.
* Debye: simple-cubic Cu clusters of 10³…10⁵ atoms; our blocked pair-distance histogram + Debye sum (at each
  ``--bin-width``) against debyecalculator (``DebyeCalculator.iq``, CPU) on the same atoms, Q grid and form factor,
  with the largest difference of the two I(Q). Figure: pairs/s (N²/t). ``--debye-only`` skips the rest.
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


def _timed(fn, repeats):
    """Median and (min, max) wall time of ``repeats`` calls, and the last call's result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (min(times), max(times)), result


def _median_time(fn, repeats):
    t, spread, _ = _timed(fn, repeats)
    return t, spread


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
    lattices = [jax.block_until_ready(lat * (1 + 1e-4 * i)) for i in range(reps)]  # new lattices, made untimed
    t_ours, _ = _median_time(lambda: [stick(phase, x, lam) for x in lattices][-1], 5)
    t_ours /= reps  # one call per pattern: Python dispatch included
    batched = jax.jit(jax.vmap(family_intensities, in_axes=(None, 0, None)))
    stacked = jnp.stack(lattices)
    jax.block_until_ready(batched(phase, stacked, lam))
    t_batch, _ = _median_time(lambda: batched(phase, stacked, lam), 10)
    t_batch /= reps  # per pattern of one call over 200 lattices (the way a series or a refinement evaluates)
    grid = jnp.linspace(3.0, 50.0, 5000)
    inst = make_instrument("CuKa")
    st = make_phase_state(lat, size_A=500.0)
    prof = jax.jit(powder_pattern)
    jax.block_until_ready(prof((phase,), (st,), inst, grid))
    t_prof, _ = _median_time(lambda: prof((phase,), (st,), inst, grid), 10)
    return {"structure": phase.name, "pymatgen_s": t_pm, "pymatgen_range_s": spread_pm, "ours_stick_s": t_ours,
            "speedup_stick": t_pm / t_ours, "ours_stick_batched_s": t_batch, "speedup_stick_batched": t_pm / t_batch,
            "ours_profile_5000pt_s": t_prof, "speedup_profile": t_pm / t_prof}


DEBYE_Q = (1.0, 10.0, 0.01)  # Q min, max (exclusive), step [Å⁻¹]: the same grid on both sides
#: Our histogram bin widths δ [Å] (linear two-node assignment, error ≤ (Qδ)²/8 per term): at δ = 0.005 Å I(Q) agrees
#: with debyecalculator to ~2e-5 of the peak at 10³–10⁵ atoms, at 0.01 Å to ~9e-5 (benchmarks/README.md "XRD").
DEBYE_BIN_WIDTHS_A = (0.005,)
#: debyecalculator as run here: its defaults but for the Q grid and biso (see bench_debye)
DEBYE_PEER_SETTINGS = ("DebyeCalculator(qmin, qmax, qstep, device='cpu', biso=0.0): pair_sum='grid' (cubic spreading "
                       "onto a 2^-7 Å grid for qmax = 10 in float32), batch_size=None (3e6 pairs per batch, shared "
                       "by the threads), float32, torch intra-op threads")


def _cubic_cluster(n_atoms):
    """Simple-cubic Cu cluster, a = 2.55 Å, side round(n^(1/3)) (so 10⁴ → 22³ = 10648, 10⁵ → 46³ = 97336)."""
    side = round(n_atoms ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return (grid * 2.55).astype(np.float32)


def bench_debye(cfg, atoms=None, widths=DEBYE_BIN_WIDTHS_A, repeats_override=None):
    """Our pair-distance histogram + Debye sum against ``DebyeCalculator.iq`` (CPU torch) on the same clusters.

    Both sides: the same float32 positions, Q grid, Cu form factor f(Q) (debyecalculator's, read back from the I(Q)
    of a single atom, ½ f², and passed to our sum), no Debye–Waller (biso = 0), no Lorch/damping (those only enter
    debyecalculator's G(r)). Conventions: ours is Σ_i f² + Σ_{i≠j} (ordered pairs), debyecalculator's ½ Σ_i f² +
    Σ_{i<j}, so ours / 2 is compared. Pairs/s is N² / t on both sides (each unordered pair is computed once by each).
    """
    try:
        import torch
        from debyecalculator import DebyeCalculator

        peer, reason = True, None
    except Exception as error:  # noqa: BLE001 - optional peer tool
        peer, reason = False, f"{type(error).__name__}: {error}"
    qmin, qmax, qstep = DEBYE_Q
    q = jnp.arange(qmin, qmax, qstep, dtype=jnp.float32)
    if peer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = DebyeCalculator(qmin=qmin, qmax=qmax, qstep=qstep, device="cpu", biso=0.0)
            assert calc.q.shape[0] == q.shape[0] and float(abs(calc.q.squeeze(-1).numpy() - np.asarray(q)).max()) < 1e-5
            f_peer = np.sqrt(2.0 * calc.iq((["Cu"], np.zeros((1, 3)))).i)  # one atom: I = ½ f²
            calc.iq((["Cu"] * 1000, _cubic_cluster(1000).astype(np.float64)))  # warm-up (torch start-up) off the clock
        ff = jnp.concatenate([jnp.asarray(f_peer, jnp.float32)[None], jnp.zeros((1, q.shape[0]), jnp.float32)])
        form_factors = "debyecalculator (Waasmaier-Kirfel), both sides"
    else:
        coeff = form_factor_coefficients(("Cu",))
        ff = form_factor_matrix(q, *(jnp.asarray(coeff[k], jnp.float32) for k in "abc"), True)
        form_factors = "ours (pymatgen Mott-Bethe table)"
    out = []
    for n_atoms in atoms or cfg["debye_atoms"]:
        pos = _cubic_cluster(n_atoms)
        n = len(pos)
        repeats = (repeats_override or cfg["repeats"]) if n <= 30000 else 1  # 10⁵ atoms: ~1 min per peer call here
        p, s = jnp.asarray(pos), jnp.zeros(n, jnp.int32)
        counts = jnp.asarray([float(n)], jnp.float32)
        row = {"n_atoms": n, "pairs": n * n, "q_points": int(q.shape[0]), "form_factors": form_factors,
               "repeats": repeats}
        # Setup, off the clock: compile our histogram and Debye sum (ahead of time) for each width
        ours = []
        for width in widths:
            n_bins = int(np.ceil(np.ptp(pos, axis=0).max() * np.sqrt(3) / width)) + 2
            w = jnp.asarray(width, jnp.float32)
            t0 = time.perf_counter()
            hist_c = pair_distance_histogram.lower(p, s, 1, n_bins, w).compile()
            sum_c = debye_intensity_histogram.lower(jnp.zeros((1, 1, n_bins), jnp.float32), w, ff, counts, q).compile()

            def fn(hist_c=hist_c, sum_c=sum_c, w=w):
                return sum_c(hist_c(p, s, w), w, ff, counts, q)

            ours.append(({"bin_width_A": width, "n_bins": n_bins, "compile_s": time.perf_counter() - t0}, fn))
        src = (["Cu"] * n, pos.astype(np.float64))
        # Timed calls interleaved (peer, then ours at each width, per repeat) so both see the same load
        # CPU seconds of the process (all threads) beside wall time: under other jobs' load the wall ratio depends
        # on how many cores each side gets, the CPU ratio much less
        t_peer, t_ours, i_peer, i_ours = [], [[] for _ in ours], None, [None] * len(ours)
        c_peer, c_ours = [], [[] for _ in ours]
        for _ in range(repeats):
            if peer:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    c0 = time.process_time()
                    t, _, result = _timed(lambda: calc.iq(src), 1)
                    c_peer.append(time.process_time() - c0)
                t_peer.append(t)
                i_peer = np.asarray(result.i, np.float64)
            for k, (_, fn) in enumerate(ours):
                c0 = time.process_time()
                t, _, i_ours[k] = _timed(fn, 1)
                c_ours[k].append(time.process_time() - c0)
                t_ours[k].append(t)
        if peer:
            tp = statistics.median(t_peer)
            row.update({"debyecalculator_s": tp, "debyecalculator_range_s": (min(t_peer), max(t_peer)),
                        "debyecalculator_cpu_s": statistics.median(c_peer),
                        "debyecalculator_pairs_per_s": n * n / tp, "torch_threads": torch.get_num_threads(),
                        "debyecalculator_batch_size": getattr(calc, "_effective_batch_size", lambda: calc.batch_size)(),
                        "debyecalculator_pair_sum": calc.pair_sum})
        row["ours"] = []
        for k, (res, _) in enumerate(ours):
            t = statistics.median(t_ours[k])
            res.update({"time_s": t, "time_range_s": (min(t_ours[k]), max(t_ours[k])), "pairs_per_s": n * n / t,
                        "cpu_s": statistics.median(c_ours[k])})
            if peer:
                mine = np.asarray(i_ours[k], np.float64) / 2.0
                diff = np.abs(mine - i_peer)
                res.update({"speedup": tp / t, "cpu_ratio": row["debyecalculator_cpu_s"] / res["cpu_s"],
                            "speedup_per_repeat": [a / b for a, b in zip(t_peer, t_ours[k], strict=True)],
                            "max_rel_diff_vs_debyecalculator": float((diff / np.abs(i_peer)).max()),
                            "max_diff_over_peak": float(diff.max() / np.abs(i_peer).max())})
            row["ours"].append(res)
        out.append(row)
    return out, reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier = parser.add_mutually_exclusive_group()
    for name in TIERS:
        tier.add_argument(f"--{name}", dest="tier", action="store_const", const=name)
    parser.add_argument("--debye-only", action="store_true", help="run only the Debye part (no series, no pymatgen)")
    parser.add_argument("--atoms", type=int, nargs="+", metavar="N",
                        help="Debye cluster sizes (simple cubic, side round(N^(1/3))) instead of the tier's")
    parser.add_argument("--bin-width", type=float, nargs="+", metavar="DELTA", default=list(DEBYE_BIN_WIDTHS_A),
                        help="our histogram bin widths [Å] (default: %(default)s)")
    parser.add_argument("--repeats", type=int,
                        help="timed Debye calls per size up to 3·10⁴ atoms (default: the tier's; always 1 above)")
    args = parser.parse_args()
    start = time.perf_counter()
    load_start = list(__import__("os").getloadavg())
    name = args.tier or "quick"
    cfg = TIERS[name]
    series = per_pattern = None
    if not args.debye_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = [load_structure(ROOT / "datasets/structures" / f"mil53al_{p}.cif") for p in ("lp", "np")]
        phases = tuple(phase_from_structure(s, d_min_for(1.5445, 50.0), name=f"MIL-53(Al) {p}")
                       for s, p in zip(structures, ("lp", "np"), strict=True))
        series = bench_series(cfg, phases)
        per_pattern = bench_per_pattern(cfg, structures[0], phases[0])
    debye, peer_missing = bench_debye(cfg, args.atoms, tuple(args.bin_width), args.repeats)
    from importlib.metadata import version

    versions = {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__}
    for package in ("pymatgen-core", "debyecalculator", "torch"):
        try:
            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - optional peer tools
            pass
    result = {
        "benchmark": "xrd", "tier": name, "debye_only": args.debye_only, "device": str(jax.devices()[0]),
        "platform": platform.platform(), "cpu_count": __import__("os").cpu_count(),
        "load_average_start_end": [load_start, list(__import__("os").getloadavg())], "versions": versions,
        "series": series, "per_pattern": per_pattern,
        "debye_config": {"q_min_max_step": DEBYE_Q, "bin_widths_A": args.bin_width, "biso": 0.0,
                         "debyecalculator": DEBYE_PEER_SETTINGS},
        "debye": debye, "debyecalculator_missing": peer_missing, "wall_s": time.perf_counter() - start,
        "figure_of_merit": {
            "series_patterns_per_s": series and series["patterns_per_s"],
            "stick_speedup_vs_pymatgen": per_pattern and per_pattern["speedup_stick"],
            "stick_speedup_vs_pymatgen_batched": per_pattern and per_pattern["speedup_stick_batched"],
            "debye_speedup_vs_debyecalculator": {
                f"{r['n_atoms']} atoms, bin {o['bin_width_A']} A": o.get("speedup") for r in debye for o in r["ours"]},
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
