"""Vibrational benchmark: VDOS spectra per second from an atomistic velocity trajectory (JAX FFT autocorrelation,
batched over atoms and components) against a plain NumPy FFT autocorrelation of the same array in the same run;
Kubo lineshapes per second batched over lines; exact and cumulant lineshapes of per-site frequency series.

Usage: ``python benchmarks/bench_vib.py [--quick | --standard | --large]``; the last line of stdout is one JSON
object (figures of merit, versions, device, load average, wall time).

* ``vdos``: random velocities (n_frames, n_atoms, 3), float32, ``instruments.vib.atomistic.vdos`` (mass-weighted
  VACF by FFT, Hann window, 2× padding). Figures: spectra/s (one spectrum = the whole trajectory) and atom
  autocorrelations/s. Peer: NumPy ``rfft``/``irfft`` autocorrelation of the same array (float32, zero-padded to
  2·n_frames, summed over atoms and components), the same work without windowing.
  dynasor is not installed here (an optional peer; its ``compute_dynamic_structure_factors`` does far more),
  so the NumPy route is the peer.
* ``kubo``: C(t) = exp(−g(t)) for a batch of (Δ, τ_c) pairs, 4096 time points, FFT to lineshapes in one call.
* ``sites``: ``exact_correlation`` and ``cumulant_correlation`` of (n_sites, n_frames) frequency series.

Setup is untimed; compile time (plus the first call) is reported on its own; medians over repeats.
"""

from __future__ import annotations

import json
import os
import platform
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

from _timing import choose_tier, timed  # noqa: E402

from instruments.vib.atomistic import trajectory_from_arrays, vdos  # noqa: E402
from instruments.vib.kubo import (  # noqa: E402
    cumulant_correlation,
    exact_correlation,
    kubo_correlation,
    spectrum_from_correlation,
)

TIERS = {
    "quick": {"n_atoms": 1000, "n_frames": 2000, "n_lines": 256, "n_sites": 1024, "site_frames": 2048, "repeats": 3},
    "standard": {"n_atoms": 10000, "n_frames": 10000, "n_lines": 4096, "n_sites": 8192, "site_frames": 4096,
                 "repeats": 3},
    "large": {"n_atoms": 10000, "n_frames": 10000, "n_lines": 16384, "n_sites": 32768, "site_frames": 8192,
              "repeats": 3},
}


def _timed(fn, repeats):
    """(median, (min, max)) wall time of ``repeats`` calls after one untimed call, and the compile + first time."""
    median, spread, first, _ = timed(fn, repeats)
    return median, spread, first


def _numpy_vacf(v: np.ndarray, masses: np.ndarray) -> np.ndarray:
    n = v.shape[0]
    f = np.fft.rfft(v, n=2 * n, axis=0)
    acf = np.fft.irfft(f * np.conj(f), axis=0)[: n // 2]
    return np.einsum("a,tak->t", masses, acf) / (n - np.arange(n // 2))


def bench_vdos(cfg):
    rng = np.random.default_rng(0)
    n_f, n_a = cfg["n_frames"], cfg["n_atoms"]
    v = rng.normal(size=(n_f, n_a, 3)).astype(np.float32)
    masses = np.full(n_a, 12.0)
    traj = trajectory_from_arrays(np.zeros((4, n_a, 3)), masses, np.arange(4) * 0.001)  # validated shell
    traj = type(traj)(positions_A=np.zeros((1, n_a, 3)), velocities_A_ps=v, masses_amu=masses, dt_ps=0.001)
    ours, spread, first = _timed(lambda: jnp.asarray(vdos(traj)[1]), cfg["repeats"])
    peer_times = []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        _numpy_vacf(v, masses)
        peer_times.append(time.perf_counter() - t0)
    peer = statistics.median(peer_times)
    return {"n_atoms": n_a, "n_frames": n_f, "seconds": ours, "spread_s": spread, "compile_and_first_s": first,
            "spectra_per_s": 1.0 / ours, "atom_acfs_per_s": n_a * 3 / ours,
            "numpy_fft_seconds": peer, "speedup_vs_numpy": peer / ours}


def bench_kubo(cfg):
    n = cfg["n_lines"]
    amp = jnp.asarray(np.geomspace(1.0, 50.0, n), jnp.float32)
    tau = jnp.asarray(np.geomspace(0.01, 10.0, n), jnp.float32)
    t = jnp.arange(4096, dtype=jnp.float32) * 0.01

    @jax.jit
    def lines(a, c):
        corr = jax.vmap(lambda x, y: kubo_correlation(t, x, y))(a, c)
        return spectrum_from_correlation(corr, 0.01, n_fft=8192)[1]

    med, spread, first = _timed(lambda: lines(amp, tau), cfg["repeats"])
    return {"n_lines": n, "n_t": 4096, "seconds": med, "spread_s": spread, "compile_and_first_s": first,
            "lineshapes_per_s": n / med}


def bench_sites(cfg):
    rng = np.random.default_rng(1)
    w = jnp.asarray(3700.0 + 5.0 * rng.normal(size=(cfg["n_sites"], cfg["site_frames"])), jnp.float32)
    out = {"n_sites": cfg["n_sites"], "n_frames": cfg["site_frames"]}
    for name, fn in (("exact", exact_correlation), ("cumulant", cumulant_correlation)):
        jitted = jax.jit(lambda x, f=fn: f(x, 0.01)[0])
        med, spread, first = _timed(lambda: jitted(w), cfg["repeats"])
        out[name] = {"seconds": med, "spread_s": spread, "compile_and_first_s": first,
                     "site_frames_per_s": cfg["n_sites"] * cfg["site_frames"] / med}
    return out


def main(argv=None):
    name, cfg = choose_tier(__doc__.splitlines()[0], TIERS, argv)
    start = time.perf_counter()
    result = {"benchmark": "vib", "tier": name, "config": cfg, "vdos": bench_vdos(cfg), "kubo": bench_kubo(cfg),
              "sites": bench_sites(cfg),
              "peer": {"name": "numpy.fft autocorrelation", "dynasor": "not installed"},
              "versions": {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__},
              "device": str(jax.devices()[0]), "platform": platform.platform(), "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "dtype": str(jnp.result_type(float)),
              "wall_s": time.perf_counter() - start}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
