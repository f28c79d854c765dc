"""Fit benchmark: sequential whole-pattern refinement of an in situ XRD series, ours against lmfit and SciPy.

Usage: ``python benchmarks/bench_fit.py [--quick | --standard] [--frames N] [--peer-frames M] [--cache-dir DIR |
--no-compilation-cache]``; the last line of stdout is one JSON object (per-frame times, ratios to the lmfit and SciPy
peers measured in the same run, χ² agreement, the first call with a cold and with a warm compilation cache,
versions, device, config). Progress goes to stderr.

Compilation cache: the benchmark enables JAX's persistent compilation cache as the ``twin`` command does
(:func:`twin.cli.enable_compilation_cache`, same settings) in an empty folder (a fresh temporary one unless
``--cache-dir``), so its first call of ours compiles cold and fills the cache (``compilation_cache.cold``); then a
second process with the same cache folder builds the same series and times its first call
(``compilation_cache.cached``: the compiled refinement loaded from disk instead of compiled; what is left is
tracing and lowering, which no cache saves) and one warm call, with the cache hits JAX reports.
``--no-compilation-cache`` skips both (the first call then compiles without a cache, as before).

Workload (the issue's: a 1000-frame in situ series, ``--standard``): MIL-53(Al) np + lp phases (the material's
CIFs in ``datasets/structures``), the lab Cu Kα instrument ``datasets/instruments/lab_cuka.toml``, the
refinement set up as :func:`twin.fit.xrd_series.fit_xrd_series` does (19 free parameters: per phase scale,
lattice, log-normal box-domain size and width, microstrain; zero shift; 3 Chebyshev terms).

Synthetic series (setup, untimed): frames simulated with the project's forward model
(:func:`instruments.xrd.make_phase_state` + :func:`instruments.xrd.powder_pattern`) through an np → lp
transition with known weight fractions (pure np, a smoothstep ramp, pure lp), drifting lattices, a growing lp
domain size, microstrain, zero shift and a Chebyshev background; Poisson counts, fixed seed.

Ours: :func:`twin.fit.pattern.make_refinement` + :func:`~twin.fit.pattern.refine_series` with
``sequential=True`` (one jitted ``lax.scan`` over the frames; per frame: reset of a vanished phase, linear
stage for scales and background, bounded Levenberg–Marquardt with a ``jacfwd`` Jacobian, statistics and esd's).
Compile time (first call minus the median warm call) is reported on its own; timed calls end in the
``device_get`` inside ``refine_series``.

Peers, all with the same parameters, bounds, start, per-frame preparation and seeding:

* the issue's peer, "an lmfit/SciPy implementation of the same model": ``lmfit`` (``method="leastsq"``, MINPACK
  with forward differences) on the model written in NumPy float64 (``numpy_pattern.py``), on ``lmfit_frames``
  evenly spaced frames started from our result for the frame before (:class:`LmfitPeer`); its agreement with the
  JAX model is reported;
* the stricter optimiser-only comparison below.

SciPy: ``scipy.optimize.least_squares(method="trf", bounds=..., x_scale="jac")`` on the SAME residual
(the jitted ``RefinementSetup.model()``, float32 as ours), the same parameters, bounds and start, the same
per-frame preparation (vanished-phase reset, the same linear stage for scales and background, the same
frozen parameters) and the same seeding by the previous frame; stopping rules matched to ours (``ftol`` 1e-6
relative χ² decrease, ``xtol`` 1e-7, at most ``max_iter`` = 60 residual evaluations). Two Jacobians:

* ``jacfwd``: the jitted ``jax.jacfwd`` of the same residual, i.e. exactly the Jacobian our LM uses, so the ratio
  measures the optimiser loop (host round trips, SciPy's trust-region algebra) and not the derivative method;
* ``2-point``: SciPy's forward differences with ``diff_step`` = √ε(float32) (the model is float32; SciPy's
  float64 default step would difference rounding noise), on a few frames only.

When the peer runs on fewer frames than the series (``peer_frames``), it takes evenly spaced frames and starts
each from our result for the frame before it: the start ours had, so the per-frame comparison stays exact;
otherwise it runs the whole series, seeded by its own previous frame. Per-frame peer time = its series time
over its frame count (setup and jit compilation of the residual and Jacobian untimed, reported on their own).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

_PROCESS_START = time.perf_counter()

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from instruments.xrd import (  # noqa: E402
    chebyshev_background,
    d_min_for,
    load_instrument,
    make_phase_state,
    phase_from_cif,
    powder_pattern,
)
from twin.fit.pattern import lognormal_sizes_A, make_refinement, poisson_sigma, refine_series  # noqa: E402
from twin.material import load_material  # noqa: E402

TIERS = {
    # CI smoke (no thresholds): a few frames on a coarse grid; dominated by XLA compilation
    "quick": {"n_frames": 8, "step_deg": 0.05, "repeats": 3, "peer_frames": None, "peer_repeats": 2, "fd_frames": 3,
              "lmfit_frames": 3},
    # the workload: 1000 frames on the instrument's own 0.02° grid; SciPy on an evenly spaced subset
    "standard": {"n_frames": 1000, "step_deg": None, "repeats": 1, "peer_frames": 50, "peer_repeats": 1,
                 "fd_frames": 5, "lmfit_frames": 10},
}
MAX_ITER = 60
MIN_FRACTION = 0.01
FTOL, XTOL = 1e-6, 1e-7
SEED = 20261201
FD_STEP = float(np.sqrt(np.finfo(np.float32).eps))

# truth of the synthetic series (phase 0 = np, phase 1 = lp, the material's order)
TRUTH = {
    "lattice_drift": (-0.002, 0.004),  # relative change of a, b, c from first to last frame (np, lp)
    "size_nm": ((35.0, 35.0), (40.0, 70.0)),  # ⟨L⟩_V of box domains, (first, last) — lp grows with its fraction
    "size_width": (0.3, 0.3),
    "microstrain": (3e-4, 5e-4),
    "zero_shift_deg": 0.015,
    "background": (150.0, -30.0, 8.0),  # Chebyshev coefficients [counts]
    "peak_counts": 2.0e4,  # strongest peak of a pure-lp frame above the background
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(cfg):
    """Phases, instrument, grid and refinement setup as ``fit_xrd_series`` builds them."""
    material = load_material("mil53-al")
    instrument, grid = load_instrument(ROOT / "datasets" / "instruments" / "lab_cuka.toml")
    grid = np.asarray(grid, float)
    if cfg["step_deg"] is not None:
        grid = np.round(np.arange(grid[0], grid[-1] + 0.5 * cfg["step_deg"], cfg["step_deg"]), 6)
    d_min = d_min_for(float(np.max(np.asarray(instrument.wavelengths_A))), float(grid[-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phases = tuple(phase_from_cif(p.structure, d_min) for p in material.phases)
    setup = make_refinement(phases, instrument, grid, n_background=3, size_nm=50.0, size_width=0.3,
                            lattice_window=0.1, domain_shape="box")
    return material, instrument, grid, phases, setup


def simulate(phases, instrument, grid, n_frames, seed):
    """Poisson counts of an np → lp transition, with the truth per frame."""
    dt = jnp.zeros(()).dtype
    u = np.linspace(0.0, 1.0, n_frames)
    ramp = np.clip((u - 0.3) / 0.4, 0.0, 1.0)
    w_lp = ramp * ramp * (3.0 - 2.0 * ramp)
    weight = np.stack([1.0 - w_lp, w_lp], axis=1)
    masses = np.array([float(p.cell_mass_amu) for p in phases])
    inst = dataclasses.replace(instrument, zero_shift_deg=jnp.asarray(TRUTH["zero_shift_deg"], dt),
                               background=jnp.zeros((0,), dt))
    tth = jnp.asarray(grid, dt)

    @jax.jit
    def frame(lattices, cells, sizes_nm):
        states = []
        for p in range(len(phases)):
            size_A, number_weight = lognormal_sizes_A(sizes_nm[p], jnp.asarray(TRUTH["size_width"][p], dt))
            states.append(make_phase_state(lattices[p], cell_count=cells[p], size_A=size_A, size_weight=number_weight,
                                           microstrain=TRUTH["microstrain"][p], domain_shape="box"))
        return powder_pattern(phases, tuple(states), inst, tth)

    lengths = np.array([1, 1, 1, 0, 0, 0], float)
    lattices = np.stack([np.asarray(p.lattice, float)[None, :] * (1.0 + TRUTH["lattice_drift"][i] * u[:, None] * lengths)
                         for i, p in enumerate(phases)], axis=1)  # (n_frames, n_phases, 6)
    sizes = np.stack([lo + (hi - lo) * (w_lp if i == 1 else u) for i, (lo, hi) in enumerate(TRUTH["size_nm"])], axis=1)
    # N_p = K W_p / M_p; K such that a pure-lp frame peaks at peak_counts
    pure_lp = np.asarray(frame(jnp.asarray(lattices[-1], dt), jnp.asarray([0.0, 1.0 / masses[1]], dt),
                               jnp.asarray(sizes[-1], dt)))
    k = TRUTH["peak_counts"] / float(pure_lp.max())
    cells = k * weight / masses[None, :]
    background = np.asarray(chebyshev_background(tth, jnp.asarray(TRUTH["background"], dt), tth[0], tth[-1]), float)
    clean = np.stack([np.asarray(frame(jnp.asarray(lattices[i], dt), jnp.asarray(cells[i], dt), jnp.asarray(sizes[i], dt)),
                                 float) for i in range(n_frames)]) + background[None, :]
    counts = np.random.default_rng(seed).poisson(np.clip(clean, 0.0, None)).astype(float)
    return counts, {"weight_fraction_lp": w_lp, "size_nm": sizes, "lattice": lattices, "cells": cells}


class ScipyPeer:
    """Sequential refinement with ``scipy.optimize.least_squares`` on the project's jitted residual.

    Per frame, the same steps as ``twin.fit.pattern._solver``: the lattice, size and strain of a phase whose
    weight fraction in the start is below ``min_fraction`` are reset to the setup's start; scales and background
    by weighted linear least squares (unit-scale phase patterns + Chebyshev basis, columns normalised); the
    lattice, size and strain of a phase still below ``min_fraction`` stay fixed; then the bounded fit.
    """

    def __init__(self, setup):
        self.setup = setup
        self.dt = jnp.zeros(()).dtype
        model = setup.model()
        free_j = jnp.asarray(setup.free)

        def residual(x_free, base, y, sigma):
            return (y - model(base.at[free_j].set(x_free))) / sigma

        self._res = jax.jit(residual)
        self._jac = jax.jit(jax.jacfwd(residual))
        self.free = np.asarray(setup.free)
        self.lower = np.asarray(setup.lower, float)
        self.upper = np.asarray(setup.upper, float)
        self.reference = np.asarray(setup.x0, float)
        self.masses = np.array([float(p.cell_mass_amu) for p in setup.phases])
        self.scale_idx = np.array([lay[0] for lay in setup.layout])
        self.bg_idx = np.array(setup.background_index, int)
        own = np.zeros((len(setup.layout), len(setup.names)), bool)
        for p, (_, i_lat, i_size, i_width, i_strain) in enumerate(setup.layout):
            own[p, list(i_lat) + [i_size, i_width, i_strain]] = True
        self.own = own
        tth = jnp.asarray(setup.two_theta_deg, self.dt)
        nb = len(self.bg_idx)
        self.cheb = np.stack([np.asarray(chebyshev_background(tth, jnp.zeros(nb, self.dt).at[k].set(1.0), tth[0], tth[-1]),
                                         float) for k in range(nb)], axis=1)
        n = setup.two_theta_deg.size
        self._zeros, self._ones = jnp.zeros(n, self.dt), jnp.ones(n, self.dt)

    def compile(self) -> float:
        t0 = time.perf_counter()
        x = jnp.asarray(self.reference, self.dt)
        jax.block_until_ready(self._res(x[self.free], x, self._zeros, self._ones))
        jax.block_until_ready(self._jac(x[self.free], x, self._zeros, self._ones))
        return time.perf_counter() - t0

    def eval_times(self, repeats: int = 10) -> dict:
        """Warm cost of one residual and one ``jacfwd`` Jacobian (all free columns), medians over calls."""
        x = jnp.asarray(self.reference, self.dt)
        out = {}
        for key, fn in (("model_eval_s", self._res), ("jacfwd_eval_s", self._jac)):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(x[self.free], x, self._zeros, self._ones))
                times.append(time.perf_counter() - t0)
            out[key] = statistics.median(times)
        out["jacfwd_over_model"] = out["jacfwd_eval_s"] / out["model_eval_s"]
        return out

    def _model(self, x):
        xj = jnp.asarray(x, self.dt)
        return -np.asarray(self._res(xj[self.free], xj, self._zeros, self._ones), float)  # y=0, σ=1: −model

    def _fractions(self, x):
        m = x[self.scale_idx] * self.masses
        return m / max(float(np.sum(m)), np.finfo(float).tiny)

    def _frozen(self, x):
        return np.any(self.own[self._fractions(x) < MIN_FRACTION], axis=0)

    def _linear_stage(self, x, y, sigma):
        columns = []
        for i in self.scale_idx:
            xb = x.copy()
            xb[self.scale_idx] = 0.0
            xb[i] = 1.0
            xb[self.bg_idx] = 0.0
            columns.append(self._model(xb))
        a = np.concatenate([np.stack(columns, axis=1), self.cheb], axis=1) / sigma[:, None]
        norms = np.sqrt(np.sum(a * a, axis=0))
        safe = np.where(norms > 0.0, norms, 1.0)
        coef = np.linalg.lstsq(a / safe[None, :], y / sigma, rcond=None)[0] / safe
        x = x.copy()
        x[self.scale_idx] = np.maximum(coef[: len(self.scale_idx)], 0.0)
        x[self.bg_idx] = coef[len(self.scale_idx):]
        return x

    def frame(self, x_prev, y, sigma, jacobian):
        """Refine one frame from ``x_prev``: (x, χ², nfev, njev)."""
        from scipy.optimize import least_squares

        x = np.where(self._frozen(x_prev), self.reference, x_prev)
        x = self._linear_stage(x, y, sigma)
        mask = ~self._frozen(x)[self.free]
        active = self.free[mask]
        lo, hi = self.lower[active], self.upper[active]
        p0 = np.clip(x[active], lo, hi)
        base = jnp.asarray(x, self.dt)
        xf0 = x[self.free].copy()
        yj, sj = jnp.asarray(y, self.dt), jnp.asarray(sigma, self.dt)

        def point(p):
            xf = xf0.copy()
            xf[mask] = p
            return jnp.asarray(xf, self.dt)

        def fun(p):
            return np.asarray(self._res(point(p), base, yj, sj), float)

        def jac(p):
            return np.asarray(self._jac(point(p), base, yj, sj), float)[:, mask]

        kw = {"jac": jac} if jacobian == "jacfwd" else {"jac": "2-point", "diff_step": FD_STEP}
        sol = least_squares(fun, p0, bounds=(lo, hi), method="trf", x_scale="jac", ftol=FTOL, xtol=XTOL,
                            max_nfev=MAX_ITER, **kw)
        x_new = x.copy()
        x_new[active] = sol.x
        return x_new, 2.0 * float(sol.cost), int(sol.nfev), int(sol.njev), bool(sol.status > 0)

    def run(self, counts, sigma, frames, starts=None, jacobian="jacfwd"):
        """Refine ``frames`` in order; start each from ``starts[j]`` or, if None, from the previous result."""
        x = self.reference.copy()
        out = {"x": [], "chi2": [], "nfev": [], "njev": [], "converged": [], "frame_s": []}
        for j, k in enumerate(frames):
            t0 = time.perf_counter()
            x, chi2, nfev, njev, conv = self.frame(x if starts is None else starts[j], counts[k], sigma[k], jacobian)
            out["frame_s"].append(time.perf_counter() - t0)
            for key, v in zip(("x", "chi2", "nfev", "njev", "converged"), (x, chi2, nfev, njev, conv), strict=True):
                out[key].append(v)
        return {k: np.asarray(v) for k, v in out.items()}


class LmfitPeer(ScipyPeer):
    """The issue's peer: ``lmfit`` minimising the same model written in NumPy (:mod:`numpy_pattern`, float64).

    ``lmfit.Minimizer.minimize(method="leastsq")`` (lmfit's default: MINPACK ``lmdif``, forward-difference
    Jacobian, bounds by lmfit's MINUIT-style transformation), ``ftol``/``xtol`` as ours, at most ``MAX_ITER``
    Jacobians' worth of evaluations. Per-frame preparation (vanished-phase reset, linear stage, frozen
    parameters) as :class:`ScipyPeer`, with the NumPy model.
    """

    def __init__(self, setup):
        super().__init__(setup)
        from numpy_pattern import NumpyPattern

        self.numpy_model = NumpyPattern(setup)

    def compile(self) -> float:
        return 0.0

    def model_agreement(self, xs) -> float:
        """Largest |NumPy − JAX| / max |JAX| over the parameter vectors ``xs``."""
        worst = 0.0
        for x in xs:
            ours = super()._model(np.asarray(x, float))
            worst = max(worst, float(np.max(np.abs(self.numpy_model(x) - ours)) / np.max(np.abs(ours))))
        return worst

    def eval_times(self, repeats: int = 5) -> dict:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.numpy_model(self.reference)
            times.append(time.perf_counter() - t0)
        return {"numpy_model_eval_s": statistics.median(times)}

    def _model(self, x):
        return self.numpy_model(x)

    def frame(self, x_prev, y, sigma, jacobian):
        import lmfit

        x = np.where(self._frozen(x_prev), self.reference, x_prev)
        x = self._linear_stage(x, y, sigma)
        active = self.free[~self._frozen(x)[self.free]]
        params = lmfit.Parameters()
        for j, i in enumerate(active):
            params.add(f"p{j}", value=float(np.clip(x[i], self.lower[i], self.upper[i])), min=self.lower[i],
                       max=self.upper[i])

        def point(pars):
            xt = x.copy()
            xt[active] = [pars[f"p{j}"].value for j in range(len(active))]
            return xt

        def fun(pars):
            return (y - self.numpy_model(point(pars))) / sigma

        out = lmfit.Minimizer(fun, params).minimize(method="leastsq", ftol=FTOL, xtol=XTOL,
                                                    max_nfev=MAX_ITER * (len(active) + 1))
        x_new = point(out.params)
        return x_new, float(out.chisqr), int(out.nfev), 0, bool(out.success)


def _spread(values):
    return [float(min(values)), float(max(values))]


def bench_ours(setup, counts, sigma, repeats):
    t0 = time.perf_counter()
    fit = refine_series(setup, counts, sigma, sequential=True, max_iter=MAX_ITER, min_fraction=MIN_FRACTION)
    first = time.perf_counter() - t0
    log(f"ours: first call {first:.1f} s")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = refine_series(setup, counts, sigma, sequential=True, max_iter=MAX_ITER, min_fraction=MIN_FRACTION)
        times.append(time.perf_counter() - t0)
        log(f"ours: warm call {times[-1]:.1f} s")
    t = statistics.median(times)
    n = counts.shape[0]
    return fit, {"series_s": t, "series_range_s": _spread(times), "repeats": repeats,
                 "per_frame_s": t / n, "per_frame_range_s": [v / n for v in _spread(times)],
                 "compile_s": max(first - t, 0.0), "first_call_s": first,
                 "iterations_mean": float(np.mean(fit.n_iter)), "converged_frames": int(np.sum(fit.converged))}


def bench_peer(peer, counts, sigma, frames, starts, repeats, label, jacobian="jacfwd"):
    passes, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = peer.run(counts, sigma, frames, starts, jacobian)
        passes.append(time.perf_counter() - t0)
        log(f"{label}: {len(frames)} frames in {passes[-1]:.1f} s")
    t = statistics.median(passes)
    n = len(frames)
    return result, {"frames": [int(k) for k in frames], "n_frames": n, "seeded_from": "ours" if starts is not None else "own",
                    "series_s": t, "series_range_s": _spread(passes), "repeats": repeats, "per_frame_s": t / n,
                    "per_frame_range_s": [v / n for v in _spread(passes)],
                    "per_frame_median_over_frames_s": float(np.median(result["frame_s"])),
                    "per_frame_over_frames_range_s": _spread(result["frame_s"]),
                    "nfev_mean": float(np.mean(result["nfev"])), "njev_mean": float(np.mean(result["njev"])),
                    "converged_frames": int(np.sum(result["converged"]))}


def agreement(fit, peer_result, frames, peer):
    ours = fit.chi2[frames]
    theirs = peer_result["chi2"]
    rel = (theirs - ours) / ours
    w_peer = np.array([peer._fractions(x)[-1] for x in peer_result["x"]])
    return {"chi2_ours_total": float(np.sum(ours)), "chi2_peer_total": float(np.sum(theirs)),
            "chi2_rel_diff_median": float(np.median(rel)), "chi2_rel_diff_max_abs": float(np.max(np.abs(rel))),
            "chi2_rel_diff_range": _spread(rel), "frames_within_1e-3": int(np.sum(np.abs(rel) <= 1e-3)),
            "weight_fraction_lp_max_abs_diff": float(np.max(np.abs(w_peer - fit.weight_fraction[frames, -1])))}


def _enable_cache(cache_dir: Path) -> Path:
    """The ``twin`` command's compilation cache settings, in ``cache_dir/jax``."""
    from twin.cli import enable_compilation_cache

    path = enable_compilation_cache({"TWIN_CACHE_DIR": str(cache_dir)})
    if path is None:
        raise SystemExit(f"bench_fit: cannot use {cache_dir} as the compilation cache")
    return path


def cached_run(cfg, cache_dir: Path) -> dict:
    """The second process: the same series, the first call of ours with the cache the first process filled."""
    start = time.perf_counter()
    _enable_cache(cache_dir)
    _, _, grid, phases, setup = build(cfg)
    counts, _ = simulate(phases, setup.instrument, grid, cfg["n_frames"], SEED)
    sigma = np.asarray(poisson_sigma(jnp.asarray(counts)), float)
    setup_s = time.perf_counter() - start
    events = {"requests": 0, "hits": 0, "saved_s": 0.0}

    def on_event(name, **_):
        if name == "/jax/compilation_cache/compile_requests_use_cache":
            events["requests"] += 1
        elif name == "/jax/compilation_cache/cache_hits":
            events["hits"] += 1

    def on_duration(name, seconds, **_):
        if name == "/jax/compilation_cache/compile_time_saved_sec":
            events["saved_s"] += seconds

    jax.monitoring.register_event_listener(on_event)
    jax.monitoring.register_event_duration_secs_listener(on_duration)
    t0 = time.perf_counter()
    refine_series(setup, counts, sigma, sequential=True, max_iter=MAX_ITER, min_fraction=MIN_FRACTION)
    first = time.perf_counter() - t0
    first_events = dict(events)
    t0 = time.perf_counter()
    refine_series(setup, counts, sigma, sequential=True, max_iter=MAX_ITER, min_fraction=MIN_FRACTION)
    warm = time.perf_counter() - t0
    log(f"ours, second process with the cache: first call {first:.1f} s ({first_events['hits']} of "
        f"{first_events['requests']} compilations loaded from the cache), warm call {warm:.1f} s")
    return {"first_call_s": first, "warm_call_s": warm, "compile_s": max(first - warm, 0.0),
            "cache_lookups": first_events["requests"], "cache_hits": first_events["hits"],
            "compile_time_saved_s": first_events["saved_s"],
            "setup_s": setup_s, "process_start_to_end_s": time.perf_counter() - _PROCESS_START}


def bench_cached(name: str, cfg, cache_dir: Path) -> dict:
    """Run :func:`cached_run` in a fresh process with ``cache_dir``; its last stdout line is the result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--{name}", "--frames", str(cfg["n_frames"]),
           "--cache-dir", str(cache_dir), "--cached-run"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier = parser.add_mutually_exclusive_group()
    for name in TIERS:
        tier.add_argument(f"--{name}", dest="tier", action="store_const", const=name)
    parser.add_argument("--frames", type=int, help="override the tier's number of frames")
    parser.add_argument("--peer-frames", type=int, help="SciPy on this many evenly spaced frames (default: tier)")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", type=Path, help="compilation cache folder (default: a fresh temporary one; "
                       "it should be empty for the cold measurement)")
    cache.add_argument("--no-compilation-cache", action="store_true",
                       help="no compilation cache, no measurement of a cached first call")
    parser.add_argument("--cached-run", action="store_true", help=argparse.SUPPRESS)  # the second process
    args = parser.parse_args()
    start = time.perf_counter()
    load_start = os.getloadavg()
    name = args.tier or "quick"
    cfg = dict(TIERS[name])
    if args.frames:
        cfg["n_frames"] = args.frames
    if args.peer_frames:
        cfg["peer_frames"] = args.peer_frames
    n = cfg["n_frames"]
    if args.cached_run:
        print(json.dumps(cached_run(cfg, args.cache_dir)))
        return

    temporary = None
    cache_info: dict = {"enabled": not args.no_compilation_cache}
    if not args.no_compilation_cache:
        if args.cache_dir is None:
            temporary = tempfile.TemporaryDirectory(prefix="bench_fit_cache_")
        cache_dir = Path(temporary.name) if temporary else args.cache_dir
        cache_path = _enable_cache(cache_dir)
        cache_info.update({"dir": str(cache_path), "temporary": temporary is not None,
                           "entries_before": len(list(cache_path.iterdir()))})

    _, _, grid, phases, setup = build(cfg)
    counts, truth = simulate(phases, setup.instrument, grid, n, SEED)
    sigma = np.asarray(poisson_sigma(jnp.asarray(counts)), float)
    log(f"series: {n} frames x {grid.size} points, {len(setup.free)} free parameters, setup {time.perf_counter() - start:.1f} s")

    fit, ours = bench_ours(setup, counts, sigma, cfg["repeats"])
    if not args.no_compilation_cache:
        cache_info["cold"] = {"first_call_s": ours["first_call_s"], "compile_s": ours["compile_s"]}
        cache_info["cached"] = bench_cached(name, cfg, cache_dir)
        cache_info["entries_after"] = len(list(cache_path.iterdir()))
        cache_info["cached_first_call_over_cold"] = cache_info["cached"]["first_call_s"] / ours["first_call_s"]
        log(f"ours: first call {ours['first_call_s']:.1f} s cold, {cache_info['cached']['first_call_s']:.1f} s "
            f"with the cache (second process)")

    peer = ScipyPeer(setup)
    peer_compile = peer.compile()
    evals = peer.eval_times()
    m = cfg["peer_frames"]
    if m is None or m >= n:
        frames, starts = np.arange(n), None
    else:
        frames = np.unique(np.linspace(1, n - 1, m).round().astype(int))
        starts = fit.values[frames - 1]
    peer_res, scipy_jac = bench_peer(peer, counts, sigma, frames, starts, cfg["peer_repeats"], "scipy jac=jacfwd")
    scipy_jac["compile_s"] = peer_compile
    scipy_jac["series_extrapolated_s"] = scipy_jac["per_frame_s"] * n  # = series_s when it ran every frame
    scipy_jac["agreement"] = agreement(fit, peer_res, frames, peer)

    fd_frames = np.unique(np.linspace(1, n - 1, cfg["fd_frames"]).round().astype(int))
    fd_res, scipy_fd = bench_peer(peer, counts, sigma, fd_frames, fit.values[fd_frames - 1], 1, "scipy 2-point",
                                  "2-point")
    scipy_fd["diff_step"] = FD_STEP
    scipy_fd["agreement"] = agreement(fit, fd_res, fd_frames, peer)

    from importlib.util import find_spec

    if find_spec("lmfit") is None:
        lmfit_peer = {"skipped": "lmfit is not installed (pip install '.[bench-fit]')", "per_frame_s": None}
        log(lmfit_peer["skipped"])
    else:
        lm_peer = LmfitPeer(setup)
        lm_evals = lm_peer.eval_times()
        lm_frames = np.unique(np.linspace(1, n - 1, cfg["lmfit_frames"]).round().astype(int))
        lm_res, lmfit_peer = bench_peer(lm_peer, counts, sigma, lm_frames, fit.values[lm_frames - 1], 1,
                                        "lmfit + NumPy model")
        lmfit_peer["model_eval_s"] = lm_evals["numpy_model_eval_s"]
        lmfit_peer["numpy_vs_jax_model_max_rel_diff"] = lm_peer.model_agreement(list(fit.values[lm_frames]) + [setup.x0])
        lmfit_peer["agreement"] = agreement(fit, lm_res, lm_frames, peer)

    from importlib.metadata import version

    import scipy

    ratio_jac = scipy_jac["per_frame_s"] / ours["per_frame_s"]
    ratio_fd = scipy_fd["per_frame_s"] / ours["per_frame_s"]
    ratio_lmfit = None if lmfit_peer["per_frame_s"] is None else lmfit_peer["per_frame_s"] / ours["per_frame_s"]
    w_err = np.abs(fit.weight_fraction[:, -1] - truth["weight_fraction_lp"])
    result = {
        "benchmark": "fit", "tier": name, "device": str(jax.devices()[0]), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "load_average_start": list(load_start), "load_average_end": list(os.getloadavg()),
        "versions": {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": version("jaxlib"),
                     "numpy": np.__version__, "scipy": scipy.__version__,
                     "lmfit": version("lmfit") if find_spec("lmfit") else None},
        "config": {"n_frames": n, "n_points": int(grid.size), "two_theta_deg": [float(grid[0]), float(grid[-1])],
                   "step_deg": float(grid[1] - grid[0]), "n_free_params": len(setup.free),
                   "params": list(setup.names), "n_reflection_families": [int(p.n_peaks) for p in phases],
                   "dtype": str(jnp.zeros(()).dtype), "max_iter": MAX_ITER, "ftol": FTOL, "xtol": XTOL,
                   "min_fraction": MIN_FRACTION, "seed": SEED, "truth": {k: v for k, v in TRUTH.items()},
                   "peers": {"lmfit_numpy": "lmfit.Minimizer(method='leastsq') on the NumPy model (numpy_pattern.py)",
                             "scipy_jacfwd": "scipy.optimize.least_squares(method='trf', bounds, x_scale='jac') on our jitted model and jacfwd",
                             "scipy_2point": "the same with 2-point differences"}},
        "forward_model": evals, "ours": ours, "compilation_cache": cache_info, "lmfit_numpy": lmfit_peer,
        "scipy_jacfwd": scipy_jac,
        "scipy_2point": scipy_fd,
        "truth_recovery": {"weight_fraction_lp_max_abs_err": float(np.max(w_err)),
                           "rwp_over_rexp_median": float(np.median(fit.rwp / fit.rexp))},
        "ratio": {"lmfit_numpy_over_ours": ratio_lmfit, "scipy_jacfwd_over_ours": ratio_jac,
                  "scipy_2point_over_ours": ratio_fd},
        "goal": {"speedup": 20.0, "holds_vs_lmfit_numpy": ratio_lmfit is not None and ratio_lmfit >= 20.0,
                 "holds_vs_scipy_jacfwd": bool(ratio_jac >= 20.0),
                 "holds_vs_scipy_2point": bool(ratio_fd >= 20.0)},
        "wall_s": time.perf_counter() - start,
    }
    if temporary is not None:
        temporary.cleanup()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
