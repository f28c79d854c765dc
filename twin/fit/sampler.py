r"""Posterior sampling for twin-level inference: an affine-invariant ensemble sampler in JAX.

Two moves, both in the parallel "red–black" form of D. Foreman-Mackey et al., PASP 125, 306 (2013) (emcee):
the walkers are split into two halves and every walker X_k of one half moves using walkers of the other half
only, so that each half-step is a valid Metropolis–Hastings update of the joint ensemble.

* **Stretch move** (J. Goodman & J. Weare, Commun. Appl. Math. Comput. Sci. 5, 65 (2010)): X_k draws a
  partner X_j and z from g(z) ∝ 1/√z on [1/a, a] (a = 2), proposes Y = X_j + z (X_k − X_j) and accepts with
  probability min(1, z^{d−1} p(Y)/p(X_k)).
* **Differential-evolution move** (C. J. F. ter Braak, Stat. Comput. 16, 239 (2006); C. J. F. ter Braak &
  J. A. Vrugt, Stat. Comput. 18, 435 (2008)): X_k draws two distinct walkers X_j, X_l and proposes
  Y = X_k + γ (X_j − X_l) + ε, with γ = 2.38/√(2d) (the optimal random-walk scale of a Gaussian target) and,
  with probability 0.1, γ = 1, which carries a walker from one mode to another (the difference of two walkers
  in two modes is the vector between them); ε ~ N(0, (10⁻⁴ |X_j − X_l|)²) keeps the chain irreducible. The
  proposal is symmetric: accept with min(1, p(Y)/p(X_k)).

Each walker picks the DE move with probability ``de_fraction``, independently of its state (a mixture of two
valid kernels is valid). Both moves are invariant to affine maps of the parameters, so strongly correlated or
badly scaled posteriors (size median against surface energy, barrier against host free energy) need no tuning;
the stretch move alone mixes slowly between separated modes (the sharp-step optima of an isotherm whose step
falls between two measured points) and along long curved ridges, which the DE move with γ = 1 crosses — the
reason emcee recommends DE moves for multimodal targets. numpyro/blackjax (NUTS) are not installed and the
surrogate posteriors have a handful of parameters, where ensemble samplers are efficient. Everything is one
``lax.scan`` over steps with the log-density ``vmap``-ped over half the walkers, so it batches on top of
``vmap`` over independent data sets (the recovery study).

Diagnostics: acceptance fraction (healthy 0.2–0.5) and the split potential scale reduction R̂ of each
parameter over the walkers' chains (A. Gelman & D. B. Rubin, Stat. Sci. 7, 457 (1992)); R̂ < 1.1 is taken
as converged.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from twin.errors import FitError
from twin.fit.progress import report_step

__all__ = ["ensemble_sample", "split_rhat"]


def ensemble_sample(
    log_prob: Callable[[Float[Array, "n_params"]], Float[Array, ""]],
    start: Float[Array, "n_walkers n_params"],
    key: Array,
    n_steps: int,
    stretch: float = 2.0,
    de_fraction: float = 0.0,
    thin: int = 1,
) -> tuple[Float[Array, "n_steps n_walkers n_params"], Float[Array, "n_steps n_walkers"], Float[Array, ""]]:
    """Run the ensemble sampler (module docstring).

    Args:
        log_prob: log posterior density (up to a constant) of one point; −inf outside the support.
        start: initial walkers (n_walkers even, ≥ 2·n_params; ≥ 6 for the DE move), e.g. draws from the
            Laplace approximation around the optimum.
        key: ``jax.random`` key (the same key gives the same chain).
        n_steps: number of ensemble steps.
        stretch: a of g(z).
        de_fraction: probability that a walker makes a differential-evolution move instead of a stretch
            move in a step (0: stretch moves only, the Goodman–Weare sampler).
        thin: ensemble moves per stored step (``n_steps · thin`` moves in all; emcee's ``thin_by``): longer
            chains at the memory of ``n_steps``.

    Returns:
        (chain (n_steps, n_walkers, n_params), log_prob of the chain (n_steps, n_walkers),
        acceptance fraction () over all moves).
    """
    if thin < 1:
        raise FitError(f"sampler: thin must be a positive integer, got {thin}")
    n_walkers, n_params = start.shape
    half = n_walkers // 2
    dt = start.dtype
    lp_fn = jax.vmap(log_prob)
    a = jnp.asarray(stretch, dt)
    gamma0 = jnp.asarray(2.38 / (2.0 * n_params) ** 0.5, dt)

    def update(key, moving, lp_moving, others):
        k1, k2, k3, k4, k5, k6, k7 = jax.random.split(key, 7)
        m, n_other = moving.shape[0], others.shape[0]
        # stretch move
        u = jax.random.uniform(k1, (m,), dt)
        z = ((a - 1.0) * u + 1.0) ** 2 / a  # inverse CDF of g(z) ∝ 1/√z on [1/a, a]
        partner = others[jax.random.randint(k2, (m,), 0, n_other)]
        y_stretch = partner + z[:, None] * (moving - partner)
        # differential-evolution move: two distinct walkers j ≠ l of the other half
        j = jax.random.randint(k3, (m,), 0, n_other)
        l_idx = (j + jax.random.randint(k4, (m,), 1, n_other)) % n_other
        diff = others[j] - others[l_idx]
        gamma = jnp.where(jax.random.uniform(k5, (m,), dt) < 0.1, jnp.ones((), dt), gamma0)
        y_de = moving + gamma[:, None] * diff + 1e-4 * jnp.abs(diff) * jax.random.normal(k6, moving.shape, dt)
        k7a, k7b = jax.random.split(k7)
        use_de = jax.random.uniform(k7a, (m,), dt) < de_fraction
        proposal = jnp.where(use_de[:, None], y_de, y_stretch)
        lp_prop = lp_fn(proposal)
        log_ratio = jnp.where(use_de, 0.0, (n_params - 1.0) * jnp.log(z)) + lp_prop - lp_moving
        accept = jnp.log(jax.random.uniform(k7b, (m,), dt)) < log_ratio
        accept = accept & jnp.isfinite(lp_prop)
        return (jnp.where(accept[:, None], proposal, moving), jnp.where(accept, lp_prop, lp_moving),
                jnp.sum(accept.astype(dt)))

    def move(carry, key):
        walkers, lp = carry
        ka, kb = jax.random.split(key)
        first, lp_first, acc1 = update(ka, walkers[:half], lp[:half], walkers[half:])
        second, lp_second, acc2 = update(kb, walkers[half:], lp[half:], first)
        return (jnp.concatenate([first, second]), jnp.concatenate([lp_first, lp_second])), acc1 + acc2

    def step(carry, xs):
        key, index = xs
        carry, acc = jax.lax.scan(move, carry, jax.random.split(key, thin))
        walkers, lp = carry
        report_step(index, n_steps)  # progress to the command line (twin.fit.progress); values unchanged
        return carry, (walkers, lp, jnp.sum(acc))

    lp0 = lp_fn(start)
    _, (chain, lps, acc) = jax.lax.scan(step, (start, lp0), (jax.random.split(key, n_steps), jnp.arange(n_steps)))
    return chain, lps, jnp.sum(acc) / (n_steps * thin * n_walkers)


def split_rhat(chain: Float[Array, "n_steps n_walkers n_params"]) -> Float[Array, "n_params"]:
    """Split-R̂ of each parameter, treating every walker's chain halves as separate chains."""
    n = chain.shape[0] // 2
    chains = jnp.concatenate([chain[:n], chain[n: 2 * n]], axis=1)  # (n, 2·n_walkers, n_params)
    means = jnp.mean(chains, axis=0)
    within = jnp.mean(jnp.var(chains, axis=0, ddof=1), axis=0)
    between = n * jnp.var(means, axis=0, ddof=1)
    var_hat = (n - 1.0) / n * within + between / n
    return jnp.sqrt(var_hat / jnp.maximum(within, jnp.finfo(chain.dtype).tiny))
