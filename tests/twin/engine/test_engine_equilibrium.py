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
from twin.engine.model import site_landscape


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
    # the engine's well: twin.thermo.host_landscape on [0, 1], phase drive held at its end values outside
    omega = lambda x: float(site_landscape(jnp.float32(x), 0.0, d_omega, w))  # noqa: E731
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


def test_switching_pressures_lie_inside_the_thermodynamic_metastability_window():
    """A 16³ crystal under thermal noise, CO2 ramped 2 → 10 → 1 bar at 303 K, switches np → lp between the
    equilibrium pressure and the adsorption spinodal of :mod:`twin.thermo` (ΔΩ = 0 and Ω_np − Ω_lp = W/3),
    and back between the desorption spinodal and equilibrium: the mean-field window bounds the engine,
    whose surfaces and fluctuations let it switch before the spinodal (hysteresis narrower than the window).
    """
    from twin.engine.dynamics import stability_limit_s
    from twin.thermo import host_barrier_kj_mol
    from twin.thermo.transitions import crossing_pressure

    mat = load_material("mil53-al")
    th, t_K = mat.thermo, 303.0
    w3 = float(host_barrier_kj_mol(th, jnp.float32(t_K))) / 3.0
    p_eq = float(crossing_pressure(th, t_K, "CO2", 0, 1, 0.0, 2e5, 2e6))
    p_ads = float(crossing_pressure(th, t_K, "CO2", 0, 1, w3, 2e5, 3e6))  # np unstable above
    p_des = float(crossing_pressure(th, t_K, "CO2", 1, 0, w3, 1e5, 2e6))  # lp unstable below
    assert 1e5 < p_des < p_eq < p_ads < 10e5

    ramp = 60.0  # s per branch; relaxation time RT/(ν0 Ω'') ≈ 0.1 s, so the ramp is quasi-static
    segments = (f'[[protocol.segments]]\ntype = "ramp"\npressure = "10 bar"\nduration = "{ramp} s"\n'
                f'[[protocol.segments]]\ntype = "ramp"\npressure = "1 bar"\nduration = "{ramp} s"\n')
    tab = table(segments, pressure="2 bar", temperature=f"{t_K} K")
    geo = geometry((16, 16, 16))
    meso = MesoscaleParams.default()
    n_chunks = 120  # one open fraction per second of protocol
    steps = int(np.ceil(2 * ramp / n_chunks / (0.5 * stability_limit_s(th, meso, geo, tab, False)[0])))
    dt = 2 * ramp / n_chunks / steps
    eng = make_engine(th, meso, geo, tab, EngineConfig(dt_s=dt), eta0=0.0)
    state = eng.init(1)
    times, open_fraction = [], []
    for _ in range(n_chunks):
        state = eng.run_chunk(state, steps)
        times.append(int(state.step) * dt)
        open_fraction.append(float(np.mean(np.asarray(state.eta) >= 0.5)))
    eng.raise_on_error(state, 0)
    times, open_fraction = np.asarray(times), np.asarray(open_fraction)
    pressure = np.where(times <= ramp, 2e5 + 8e5 * times / ramp, 10e5 - 9e5 * (times - ramp) / ramp)
    up, down = times <= ramp, times > ramp
    # thermal fluctuations flip a few per cent of the sites either way; the crystal switches as a whole
    assert open_fraction[up][0] < 0.1 and open_fraction[up][-1] > 0.9 and open_fraction[-1] < 0.1
    p_switch_up = pressure[up][np.argmax(open_fraction[up] >= 0.5)]
    p_switch_down = pressure[down][np.argmax(open_fraction[down] < 0.5)]
    # grid of the ramp: 8 bar / 60 frames ≈ 0.13 bar up, 0.15 bar down
    assert p_eq < p_switch_up <= p_ads + 0.15e5
    assert p_des - 0.15e5 <= p_switch_down < p_eq
