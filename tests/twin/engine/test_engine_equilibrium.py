"""Detailed balance: isolated sites sampled by the Langevin scheme follow the Boltzmann distribution of Ω(η)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate

from engine_helpers import HOLD, geometry, table
from twin.engine import EngineConfig, MesoscaleParams, make_engine
from twin.engine.dynamics import Drive
from twin.engine.lattice import pack_links
from twin.material import load_material
from twin.thermo import host_landscape


def test_single_site_samples_boltzmann_distribution():
    mat = load_material("mil53-al")
    n = (32, 32, 32)
    geo = geometry(n)
    # isolated sites: inside the crystal, no links (no coupling), no surface energy
    geo = type(geo)(pack_links(np.ones(n, bool)) & np.uint8(0b0100_0000), geo.spacing_A, False, 1, geo.size_A)
    meso = MesoscaleParams.default()
    rt, d_omega, w = 2.5, -0.8, 6.0  # kJ/mol: both wells populated, barrier W/16 ≈ 0.4 kJ/mol
    dt = 2e-3  # ν0 = 1/s; curvature ≤ 6|ΔΩ| + 2W ≈ 17 → Δt·ν0·κ/RT ≈ 0.014: small discretisation bias
    eng = make_engine(mat.thermo, meso, geo, table(HOLD), EngineConfig(dt_s=dt), eta0=0.5)
    drive = Drive(omega=jnp.asarray([0.0, d_omega], jnp.float32), host_pv=jnp.zeros(2, jnp.float32),
                  rt=jnp.float32(rt), log_f_gas=jnp.float32(0.0), log_k=jnp.zeros(2, jnp.float32),
                  n_max=jnp.ones(2, jnp.float32), barrier=jnp.float32(w))

    @jax.jit
    def advance(state):
        return jax.lax.fori_loop(0, 250, lambda i, s: eng.update(s, drive), state)

    state = eng.init(3)
    samples = []
    for k in range(12):  # relaxation time RT/(ν0 κ) ≲ 1 s = 500 steps; keep the last 8 snapshots
        state = advance(state)
        if k >= 4:
            samples.append(np.asarray(state.eta).ravel())
    eta = np.concatenate(samples)
    edges = np.linspace(-0.6, 1.6, 45)
    hist, _ = np.histogram(eta, edges, density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    omega = lambda x: float(host_landscape(jnp.float32(x), 0.0, d_omega, w))  # noqa: E731
    z = integrate.quad(lambda x: np.exp(-omega(x) / rt), -3, 4)[0]
    expected = np.asarray([integrate.quad(lambda x: np.exp(-omega(x) / rt), a, b)[0] / (b - a) / z
                           for a, b in zip(edges[:-1], edges[1:])])
    # 8 × 32768 samples, correlated between snapshots 0.5 s apart: allow 5 % of the peak density
    assert np.max(np.abs(hist - expected)) < 0.05 * expected.max()
    # mean and open fraction against the same exp(−Ω/RT)
    mean = integrate.quad(lambda x: x * np.exp(-omega(x) / rt), -3, 4)[0] / z
    assert abs(eta.mean() - mean) < 0.01
    open_frac = integrate.quad(lambda x: np.exp(-omega(x) / rt), 0.5, 4)[0] / z
    assert abs((eta >= 0.5).mean() - open_frac) < 0.01
    assert np.isfinite(centres).all()
