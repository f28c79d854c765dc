"""NMR benchmark: static ²H powder spectra with exchange per second, batched over rates, orientations and frames,
against mrsimulator's static (rigid) ²H spectrum in the same run; ¹²⁹Xe Bloch–McConnell spectra and xenon
random walks.

Usage: ``python benchmarks/bench_nmr.py [--quick | --standard | --large]``; the last line of stdout is one JSON
object (figures of merit, versions, device, load average, wall time).

* ``pi-flip``: two-site 180° flips at 60° (closed-form eigen-decomposition), C_q = 170 kHz, solid echo τ = 20 µs,
  a batch of rates 10²…10¹⁰ s⁻¹ in one call (``DeuteriumSimulator.fids`` + ``spectra``), 1024-point spectra (±250 kHz),
  at each ZCW size of the tier. Figure: spectra/s with exchange.
* ``tetrahedral``: 4-site tetrahedral jumps (LAPACK ``geev`` per orientation), C_q = 215 kHz, same grid.
* ``frames``: the technique's ``phase_spectra`` over frames at distinct temperatures, two phases (the MIL-53(Al)
  example instrument, 1597 directions, 1024 points): spectra/s over frames × phases.
* peer: mrsimulator ``BlochDecaySpectrum`` (static, rigid: no exchange in mrsimulator), C_q = 170 kHz, η = 0.3,
  2048 points over 500 kHz, its default integration density (70) and an exponential apodisation, one spectrum per
  ``Simulator.run`` + signal processing; against our rigid spectrum on the same grid (4181 directions), one call.
  Skipped with a note when mrsimulator is not installed (``pip install '.[nmr-peer]'``).

* ``xenon``: three-site (lp, np, gas) Bloch–McConnell spectra, 2048 points, one call per rate of a sweep
  (``instruments.nmr.xenon.bloch_mcconnell``: input checks on the host, one batched 3 × 3 solve per frequency);
  and the random walk of 4096 xenon walkers over a 16³ two-phase lattice with escape to the gas: walker hops per
  second. No peer: mrsimulator 1.0 has no chemical exchange.

Setup is untimed; compile time (plus the first call) is reported on its own; medians over repeats.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _timing import choose_tier, timed  # noqa: E402

from instruments.nmr.deuterium import deuterium_spectrum, make_deuterium  # noqa: E402
from instruments.nmr.exchange import spectrum_grid  # noqa: E402

TIERS = {
    "quick": {"n_rates": 128, "orientations": [987, 4181], "tetra_rates": 32, "n_frames": 32, "repeats": 3},
    "standard": {"n_rates": 512, "orientations": [987, 4181, 10946], "tetra_rates": 128, "n_frames": 128,
                 "repeats": 5},
    "large": {"n_rates": 2048, "orientations": [987, 4181, 10946], "tetra_rates": 512, "n_frames": 512, "repeats": 3},
}
GRID = np.linspace(-250e3, 250e3, 1024, endpoint=False)


def _timed(fn, repeats):
    """(median, (min, max)) wall time of ``repeats`` calls after one untimed call, and the compile + first time."""
    median, spread, first, _ = timed(fn, repeats)
    return median, spread, first


def bench_rates(motion, cq_hz, n_rates, orientations, repeats):
    grid = spectrum_grid(GRID)
    rates = np.logspace(2, 10, n_rates)
    rows = []
    for n in orientations:
        sim = make_deuterium(motion, 0.0, None, None, grid, n)

        def run(sim=sim):
            return sim.spectra(sim.fids(cq_hz, rates, 20e-6), 1000.0, 0.0)

        t, spread, first = _timed(run, repeats)
        rows.append({"motion": motion, "n_sites": sim.model.n_sites, "domain": sim.model.powder_domain,
                     "n_orientations": int(sim.directions.shape[0]), "n_rates": n_rates, "n_points": GRID.size,
                     "time_s": t, "time_range_s": spread, "compile_plus_first_s": first, "spectra_per_s": n_rates / t})
    return rows


def bench_frames(n_frames, repeats):
    from instruments.nmr.technique import load_nmr_settings, phase_spectra
    from twin.datasets import dataset_path

    EXAMPLE_INSTRUMENT = dataset_path("instruments", "mil53_al_2h.toml")

    settings = load_nmr_settings(EXAMPLE_INSTRUMENT)
    temperatures = np.linspace(250.0, 350.0, n_frames)  # every frame its own rates
    t, spread, first = _timed(lambda: phase_spectra(settings, temperatures, phase_names=("np", "lp")), repeats)
    n = n_frames * 2
    return {"n_frames": n_frames, "n_phases": 2, "rate_width_lp": 0.5, "n_orientations": settings.n_orientations,
            "n_points": settings.frequency_hz.size, "spectra": n, "time_s": t, "time_range_s": spread,
            "compile_plus_first_s": first, "spectra_per_s": n / t,
            "note": "the lp phase has a log-normal rate distribution (12 Gauss-Hermite nodes): 13 exchange "
                    "calculations per frame"}


def bench_peer(repeats):
    try:
        import mrsimulator
        from mrsimulator import Simulator, Site, SpinSystem
        from mrsimulator import signal_processor as sp
        from mrsimulator.method import SpectralDimension
        from mrsimulator.method.lib import BlochDecaySpectrum
    except Exception as error:  # noqa: BLE001 - optional peer
        return {"skipped": f"mrsimulator not installed ({type(error).__name__}); pip install '.[nmr-peer]'"}
    site = Site(isotope="2H", isotropic_chemical_shift=0, quadrupolar={"Cq": 170e3, "eta": 0.3})

    def peer():
        method = BlochDecaySpectrum(channels=["2H"], magnetic_flux_density=9.4, rotor_frequency=0,
                                    spectral_dimensions=[SpectralDimension(count=2048, spectral_width=500e3,
                                                                           reference_offset=0)])
        simulator = Simulator(spin_systems=[SpinSystem(sites=[site])], methods=[method])
        simulator.config.number_of_sidebands = 1
        simulator.run()
        processor = sp.SignalProcessor(operations=[sp.IFFT(), sp.apodization.Exponential(FWHM="2 kHz"), sp.FFT()])
        return np.asarray(processor.apply_operations(dataset=simulator.methods[0].simulation).y[0].components[0])

    t_peer, spread_peer, _ = _timed(peer, max(repeats, 5))
    nu = np.linspace(-250e3, 250e3, 2048, endpoint=False)
    t_ours, spread_ours, first = _timed(
        lambda: deuterium_spectrum(170e3, 0.3, "rigid", None, 0.0, 0.0, nu, lorentzian_hz=2000.0), max(repeats, 5))
    sim = make_deuterium("rigid", 0.3, None, None, spectrum_grid(nu), 4181)
    batch = np.zeros(64)
    t_batch, _, _ = _timed(lambda: sim.spectra(sim.fids(170e3, batch, 0.0), 2000.0, 0.0), repeats)
    return {"mrsimulator_version": mrsimulator.__version__, "peer_s": t_peer, "peer_range_s": spread_peer,
            "peer_spectra_per_s": 1.0 / t_peer, "ours_rigid_s": t_ours, "ours_rigid_range_s": spread_ours,
            "ours_rigid_batched_per_spectrum_s": t_batch / batch.size, "ratio_one_call": t_peer / t_ours,
            "ratio_batched": t_peer / (t_batch / batch.size), "ours_compile_plus_first_s": first,
            "note": "mrsimulator has no exchange; the rigid spectrum is the common ground (same grid, broadening)"}


def bench_xenon(n_rates, repeats):
    from instruments.nmr.xenon import bloch_mcconnell, walk_spectrum

    nu = np.linspace(-5e3, 35e3, 2048)
    p = np.array([0.55, 0.40, 0.05])
    rates_list = []
    for k in np.logspace(1, 6, n_rates):
        k_mat = np.array([[0.0, k, 0.1 * k], [k * p[0] / p[1], 0.0, 0.0], [0.1 * k * p[0] / p[2], 0.0, 0.0]])
        rates_list.append(k_mat)

    def sweep():
        return [bloch_mcconnell(nu, [10e3, 22e3, 0.0], p, k_mat, [900.0, 1200.0, 300.0]) for k_mat in rates_list]

    t, spread, first = _timed(sweep, repeats)
    phase = np.zeros((16, 16, 16), np.int64)
    phase[:, :, 8:] = 1
    shift = np.linspace(-40.0, 300.0, 2048)

    def walk():
        return walk_spectrum(phase, shift, [90.0, 200.0, 0.5], [2e5, 5e4], [3.0, 1.7], linewidth_hz=[300, 400, 100],
                             gas_fraction=0.05, n_walkers=4096, seed=1)

    t_walk, spread_walk, first_walk = _timed(walk, repeats)
    result = walk()
    hops = result.n_events * 4096
    return {"bloch_mcconnell": {"sites": 3, "n_points": nu.size, "spectra": n_rates, "time_s": t,
                                "time_range_s": spread, "compile_plus_first_s": first, "spectra_per_s": n_rates / t},
            "walk": {"lattice": [16, 16, 16], "walkers": 4096, "events": result.n_events, "time_s": t_walk,
                     "time_range_s": spread_walk, "compile_plus_first_s": first_walk,
                     "walker_hops_per_s_upper": hops / t_walk,
                     "note": "events = iterations of the event loop (the busiest walker's hops); walkers in slow "
                             "sites finish early, so hops/s is an upper bound"},
            "peer": {"skipped": "mrsimulator 1.0 has no chemical exchange"}}


def main(argv=None):
    name, cfg = choose_tier(__doc__.splitlines()[0], TIERS, argv)
    start = time.perf_counter()
    flips = bench_rates("pi-flip", 170e3, cfg["n_rates"], cfg["orientations"], cfg["repeats"])
    for row in flips:
        print(f"pi-flip     {row['n_orientations']:6d} directions × {row['n_rates']} rates: "
              f"{row['spectra_per_s']:8.1f} spectra/s", file=sys.stderr)
    tetra = bench_rates("tetrahedral", 215e3, cfg["tetra_rates"], cfg["orientations"][:1], cfg["repeats"])
    for row in tetra:
        print(f"tetrahedral {row['n_orientations']:6d} directions × {row['n_rates']} rates: "
              f"{row['spectra_per_s']:8.1f} spectra/s", file=sys.stderr)
    frames = bench_frames(cfg["n_frames"], cfg["repeats"])
    print(f"frames      {frames['n_frames']} frames × 2 phases: {frames['spectra_per_s']:.1f} spectra/s",
          file=sys.stderr)
    xenon = bench_xenon(cfg["tetra_rates"], cfg["repeats"])
    print(f"xenon       Bloch-McConnell 3 sites: {xenon['bloch_mcconnell']['spectra_per_s']:.1f} spectra/s; walk "
          f"16^3 × 4096 walkers: {xenon['walk']['time_s']:.2f} s", file=sys.stderr)
    peer = bench_peer(cfg["repeats"])
    print(f"peer        {json.dumps(peer)}", file=sys.stderr)
    best = max(row["spectra_per_s"] for row in flips)
    result = {
        "benchmark": "nmr", "tier": name, "figure_of_merit": "2H spectra with exchange per second",
        "spectra_per_s_pi_flip": {str(r["n_orientations"]): r["spectra_per_s"] for r in flips},
        "spectra_per_s_tetrahedral": {str(r["n_orientations"]): r["spectra_per_s"] for r in tetra},
        "spectra_per_s_frames": frames["spectra_per_s"], "goal_spectra_per_s": 1000.0,
        "goal_met_pi_flip_best": best >= 1000.0, "pi_flip": flips, "tetrahedral": tetra, "frames": frames,
        "xenon": xenon, "peer": peer, "versions": {"python": platform.python_version(), "jax": jax.__version__,
                                   "numpy": np.__version__},
        "device": str(jax.devices()[0]), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(), "dtype": str(jax.numpy.result_type(float)),
        "wall_s": time.perf_counter() - start,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
