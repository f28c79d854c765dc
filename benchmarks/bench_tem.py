"""TEM benchmark: multislice propagation per slice, the slice potentials, and one full MIL-53(Al) exit wave.

Usage: ``python benchmarks/bench_tem.py [--quick | --standard]``; the last line of stdout is one JSON object
(figures of merit, versions, device, peak memory).

* per slice: one jitted ``lax.scan`` of N slices (transmission × ψ, FFT, propagator, inverse FFT) on an n × n grid
  (1024² in every tier; 512² and 2048² added by ``--standard``), complex64. Figure: ms per slice (median over
  repeats, compile time reported on its own).
* potentials: the slices of one repeat of MIL-53(Al) lp down [100] (a 3 × 4-cell field) at 0.1 Å sampling.
* exit wave: the same specimen 5.3 nm thick (8 repeats × 4 slices), potential included, after compilation.
* peak memory: the process's maximum resident set (``resource.getrusage``) at the end, in MiB.

* peer: abTEM (``pip install abtem``; optional, the ``tem-peer`` extra) on the same MIL-53(Al) exit wave — same atoms,
  grid, slices, voltage and Kirkland parametrisation (infinite projection) — timed in the same run, after one
  untimed call; its potential and multislice together, against our exit wave (potential included). Without
  abTEM the peer entry says so and no ratio is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _timing import timed  # noqa: E402

from instruments.tem.ctf import wavelength_A  # noqa: E402
from instruments.tem.multislice import (  # noqa: E402
    Grid,
    exit_wave,
    make_grid,
    multislice,
    propagator,
    transmission_functions,
)
from instruments.tem.specimen import specimen_from_structure  # noqa: E402
from instruments.xrd.structure import load_structure  # noqa: E402


def _timed(fn, repeats: int) -> tuple[float, list[float]]:
    """(compile + first time, the times of ``repeats`` calls after it)."""
    _, _, first, times = timed(fn, repeats)
    return first, times


def per_slice(n: int, n_slices: int, repeats: int) -> dict:
    grid = Grid((n, n), (0.1 * n, 0.1 * n))
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 0.05, (4, n, n)).astype(np.float32)
    t = jnp.asarray(np.exp(1j * phase).astype(np.complex64))
    prop = propagator(grid, wavelength_A(300e3), 1.66)
    psi0 = jnp.ones((n, n), jnp.complex64)
    reps = max(1, n_slices // 4)
    first, times = _timed(lambda: multislice(psi0, t, prop, reps), repeats)
    med = statistics.median(times)
    return {"grid": n, "slices": 4 * reps, "ms_per_slice": 1e3 * med / (4 * reps),
            "spread_ms_per_slice": 1e3 * (max(times) - min(times)) / (4 * reps),
            "first_call_s": first}


def mil53(repeats: int) -> dict:
    s = load_structure(ROOT / "datasets" / "structures" / "mil53al_lp.cif")
    spec = specimen_from_structure(s, (1, 0, 0), field_A=50.0, thickness_A=53.0)
    grid = make_grid(spec.extent_A, 0.1)
    pot_first, pot_times = _timed(lambda: transmission_functions(spec, grid, 300e3, 4), repeats)
    ew_first, ew_times = _timed(lambda: exit_wave(spec, grid, 300e3, slice_thickness_A=1.66), repeats)
    return {"grid": list(grid.shape), "atoms_per_repeat": int(len(spec.xyz_A)), "slices": 4 * spec.n_repeats,
            "potential_s": statistics.median(pot_times), "potential_first_call_s": pot_first,
            "exit_wave_s": statistics.median(ew_times), "exit_wave_first_call_s": ew_first}


def abtem_peer(repeats: int) -> dict:
    """abTEM's exit wave of the specimen of :func:`mil53` (module docstring), or why there is none."""
    try:
        import abtem
        import ase
    except ImportError:
        return {"abtem": "not installed (pip install abtem, or the tem-peer extra)"}
    s = load_structure(ROOT / "datasets" / "structures" / "mil53al_lp.cif")
    spec = specimen_from_structure(s, (1, 0, 0), field_A=50.0, thickness_A=53.0)
    grid = make_grid(spec.extent_A, 0.1)
    symbols = [spec.symbols[i] for i in spec.species_index]
    cell = [spec.extent_A[0], spec.extent_A[1], spec.repeat_A]
    atoms = ase.Atoms(symbols=symbols, positions=spec.xyz_A, cell=cell, pbc=True) * (1, 1, spec.n_repeats)
    gpts = (grid.shape[1], grid.shape[0])  # abTEM: (x, y)

    def run():
        potential = abtem.Potential(atoms, gpts=gpts, slice_thickness=spec.repeat_A / 4, parametrization="kirkland",
                                    projection="infinite")
        return abtem.PlaneWave(energy=300e3).multislice(potential).compute().array

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return {"abtem": abtem.__version__, "exit_wave_s": statistics.median(times), "first_call_s": first,
            "grid": list(grid.shape), "slices": 4 * spec.n_repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument("--quick", action="store_true", help="CI smoke: 1024² only, few repeats")
    tier.add_argument("--standard", action="store_true", help="512², 1024², 2048²; more repeats")
    args = parser.parse_args()
    repeats = 3 if not args.standard else 7
    sizes = [1024] if not args.standard else [512, 1024, 2048]
    t_start = time.perf_counter()
    slices = [per_slice(n, 16 if args.standard else 8, repeats) for n in sizes]
    for row in slices:
        print(f"multislice {row['grid']}²: {row['ms_per_slice']:.1f} ms per slice "
              f"(first call {row['first_call_s']:.2f} s)", file=sys.stderr)
    full = mil53(2 if not args.standard else 5)
    print(f"MIL-53(Al) lp exit wave {full['grid']}: potential {full['potential_s']:.2f} s, exit wave "
          f"{full['exit_wave_s']:.2f} s", file=sys.stderr)
    peer = abtem_peer(2 if not args.standard else 5)
    if "exit_wave_s" in peer:
        print(f"abTEM {peer['abtem']} exit wave: {peer['exit_wave_s']:.2f} s (first call {peer['first_call_s']:.1f} s)",
              file=sys.stderr)
    result = {
        "benchmark": "tem", "tier": "standard" if args.standard else "quick",
        "per_slice": slices, "mil53_lp_exit_wave": full,
        "ms_per_slice_1024": next(r["ms_per_slice"] for r in slices if r["grid"] == 1024),
        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peer": peer,
        "ratio_exit_wave_abtem_over_ours": (peer["exit_wave_s"] / full["exit_wave_s"]) if "exit_wave_s" in peer else None,
        "versions": {"jax": jax.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "device": str(jax.devices()[0]), "load_average": list(__import__("os").getloadavg()),
        "wall_s": time.perf_counter() - t_start,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
