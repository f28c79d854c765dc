"""Recovery study: simulate with known crystal size and defect parameters, add noise, fit, check coverage.

Each trial draws Gaussian noise (seeded) on the surrogate isotherm of a known sample, fits it with
:func:`twin.fit.isotherm` 's pipeline and records whether the truth lies inside the reported 90 % interval.
All trials run in one ``vmap`` of the compiled pipeline. Used by ``tests/twin/fit/test_isotherm.py``
(reduced) and ``scripts/recovery_study.py`` (full study, ≥ 20 trials).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from twin.fit.isotherm import FreeParameter, IsothermData, IsothermProblem, _core, summarise
from twin.fit.surrogate import make_sample, powder_branches, volume_weighted_size_nm
from twin.material import load_material

__all__ = ["recovery_study", "DEFAULT_TRUTH"]

#: truth of the default study (MIL-53(Al)/CO2 at 273 K; sample parameters chosen inside the physical range)
DEFAULT_TRUTH = {"size_median_nm": 150.0, "size_width": 0.35, "defect_sigma_kj_mol": 1.0}


def recovery_study(
    n_trials: int = 20,
    *,
    seed: int = 0,
    noise: float = 0.05,
    truth: dict[str, float] | None = None,
    n_points: int = 30,
    n_walkers: int = 24,
    n_steps: int = 1000,
    burn: int = 300,
    n_starts: int = 4,
    max_iter: int = 80,
    n_nodes: int = 24,
    thin: int = 1,
    size_rel_sd: float | None = 0.05,
    noise_known: bool = False,
) -> dict[str, Any]:
    """Run the study; returns per-parameter coverage, the per-trial intervals and the truth.

    The fixed parts: MIL-53(Al) parameters of ``datasets/materials/mil53-al.toml``, Δγ = 0.05 J/m²,
    ξ = 100 nm, σ_0 = 0.05 kJ/mol; both branches on 0.3–8 bar (``n_points`` each); noise sd ``noise``
    molecules per cell, estimated (not given) in the fit. ``size_rel_sd``: relative sd of a volume-weighted
    coherent size from XRD added as a second technique (``None``: isotherm alone, where the size median and
    width trade off against the defect strength and the study shows it). ``max_iter``: LM iterations per
    start; ``n_nodes``: size quadrature nodes; ``thin``: sampler moves per stored step; ``noise_known``: give
    the fit the true noise sd instead of letting it estimate σ̂ from the best fit.
    """
    truth = dict(DEFAULT_TRUTH if truth is None else truth)
    material = load_material("mil53-al")
    fixed = {"surface_energy_J_m2": 0.05, "defect_correlation_nm": 100.0}
    p_ads = np.geomspace(0.3, 8.0, n_points) * 1e5
    p_des = p_ads[::-1].copy()
    true_sample = make_sample(**fixed, **truth)
    dt = jnp.float32
    ads, des, _, _ = powder_branches(material.thermo, true_sample, "CO2", jnp.asarray(273.0, dt),
                                     jnp.asarray(p_ads, dt), jnp.asarray(p_des, dt), n_nodes)
    clean = np.concatenate([np.asarray(ads, float), np.asarray(des, float)])
    rng = np.random.default_rng(seed)
    ys = clean[None, :] + rng.normal(0.0, noise, (n_trials, clean.size))
    sigma = np.full(clean.size, noise if noise_known else 0.0)  # 0: estimated from the best fit
    size_obs = None
    if size_rel_sd is not None:
        size_true = float(volume_weighted_size_nm(true_sample))
        sd = size_rel_sd * size_true
        size_obs = size_true + rng.normal(0.0, sd, (n_trials, 1))
        ys = np.concatenate([ys, size_obs], axis=1)
        sigma = np.concatenate([sigma, [sd]])
        size_obs = (size_true, sd)
    bounds = {"size_median_nm": (20.0, 5000.0), "size_width": (0.05, 1.2), "defect_sigma_kj_mol": (0.02, 10.0)}
    free = tuple(FreeParameter(k, float(np.sqrt(bounds[k][0] * bounds[k][1])), *bounds[k]) for k in truth)
    data = IsothermData(p_ads, clean[:n_points], p_des, clean[n_points:])
    problem = IsothermProblem(material.thermo, make_sample(**fixed), "CO2", 273.0, data, free, size_obs, n_nodes)
    pipeline = _core(problem, n_starts, n_walkers, n_steps, burn, max_iter, thin=thin)
    u0 = jnp.asarray(problem.to_internal(np.array([p.value for p in free])), dt)
    keys = jax.random.split(jax.random.PRNGKey(seed), n_trials)
    outs = jax.jit(jax.vmap(pipeline, in_axes=(0, None, 0, None)))(
        jnp.asarray(ys, dt), jnp.asarray(sigma, dt), keys, u0)
    outs = jax.device_get(outs)
    names = problem.names
    inside = np.zeros((n_trials, len(names)), bool)
    intervals = np.zeros((n_trials, len(names), 2))
    values = np.zeros((n_trials, len(names)))
    for t in range(n_trials):
        one = {k: v[t] for k, v in outs.items()}
        size_t = None if size_obs is None else (float(ys[t, -1]), size_obs[1])
        trial_problem = replace(problem, data=IsothermData(p_ads, ys[t, :n_points], p_des, ys[t, n_points:2 * n_points]),
                                coherent_size_nm=size_t)
        fit = summarise(trial_problem, one)
        intervals[t] = fit.interval_90
        values[t] = fit.value
        inside[t] = [(lo <= truth[n] <= hi) for n, (lo, hi) in zip(names, fit.interval_90, strict=True)]
    return {
        "names": list(names),
        "truth": truth,
        "n_trials": n_trials,
        "coverage_90": {n: float(inside[:, k].mean()) for k, n in enumerate(names)},
        "coverage_all": float(inside.mean()),
        "inside": inside.tolist(),
        "intervals_90": intervals.tolist(),
        "values": values.tolist(),
        "noise": noise,
        "seed": seed,
    }
