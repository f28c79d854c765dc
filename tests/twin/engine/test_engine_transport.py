"""Guest transport (model B): exact mass conservation in a closed crystal, and a diffusion front ∝ √t
matching the erfc solution of Fick's law."""

from __future__ import annotations

from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erfc

from engine_helpers import geometry, table
from twin.engine import EngineConfig, MesoscaleParams, make_engine
from twin.engine.lattice import Geometry, pack_links
from twin.errors import SimulationError
from twin.material import load_material

RAMP = """
[[protocol.segments]]
type = "ramp"
pressure = "8 bar"
duration = "2000 s"
"""


def test_closed_crystal_conserves_guest_mass_while_eta_evolves():
    mat = load_material("mil53-al")
    geo = geometry((12, 10, 9), "sphere")
    meso = replace(MesoscaleParams.default(), diffusivity_A2_s=jnp.asarray([30.0, 300.0], jnp.float32))
    cfg = EngineConfig(dt_s=5e-3, guest_diffusion=True, gas_exchange=False)
    eng = make_engine(mat.thermo, meso, geo, table(RAMP, pressure="1 bar"), cfg, eta0=0.5)
    state = eng.init(11)
    rng = np.random.default_rng(0)
    inside = geo.mask
    state = replace(state, loading=jnp.asarray(np.where(inside, rng.uniform(0.2, 2.0, inside.shape), 0.0), jnp.float32))
    before = float(np.sum(np.asarray(state.loading, np.float64)))
    state = eng.run_chunk(state, 400)
    eng.raise_on_error(state, 0)
    after = float(np.sum(np.asarray(state.loading, np.float64)))
    assert abs(after - before) / before < 2e-5  # float32 rounding of ~1000 site updates per site
    assert np.all(np.asarray(state.loading)[~inside] == 0.0)
    assert float(np.std(np.asarray(state.eta)[inside])) > 0.01  # η really moved


def _slab(n: int, a_A: float) -> Geometry:
    """A 1-D column along x, periodic (self-linked) along y and z, open to the gas at both x ends."""
    links = pack_links(np.ones((n, 1, 1), bool), periodic=True)
    links[0] &= np.uint8(~0b10 & 0xFF)  # −x link of the first site
    links[-1] &= np.uint8(~0b01 & 0xFF)  # +x link of the last site
    return Geometry(links, (a_A, 1e3, 1e3), True, 1, np.asarray([n * a_A, 1e3, 1e3]))


def test_uptake_front_advances_as_sqrt_t_and_matches_erfc():
    mat = load_material("mil53-al")
    a, d = 10.0, 100.0  # Å, Å²/s
    geo = _slab(600, a)
    meso = replace(MesoscaleParams.default(), diffusivity_A2_s=jnp.asarray([d, d], jnp.float32))
    dt = 0.25
    cfg = EngineConfig(dt_s=dt, guest_diffusion=True, eta_dynamics=False, noise=False)
    hold = "[[protocol.segments]]\ntype = \"hold\"\nduration = \"1 h\"\n"
    eng = make_engine(mat.thermo, meso, geo, table(hold, pressure="100 Pa"), cfg, eta0=1.0)
    state = eng.init(0)
    n_eq = float(np.asarray(state.loading)[0, 0, 0])  # init: equilibrium with the gas (Henry regime, θ ≪ 1)
    assert 0.0 < n_eq < 0.01 * 9.8
    state = replace(state, loading=jnp.zeros_like(state.loading))
    x = np.arange(600) * a
    fronts = []
    for steps in (1600, 4800):  # t = 400 s, then 1600 s
        state = eng.run_chunk(state, steps)
        t = int(state.step) * dt
        c = np.asarray(state.loading)[:, 0, 0] / n_eq
        # Fick with the gas as a ghost node one spacing outside the first site
        exact = erfc((x + a) / (2.0 * np.sqrt(d * t)))
        half = slice(0, 300)
        np.testing.assert_allclose(c[half], exact[half], atol=0.01)
        fronts.append(np.interp(0.5, c[half][::-1], x[half][::-1]))
    assert fronts[1] / fronts[0] == pytest.approx(2.0, rel=0.03)  # √(1600/400)


def test_time_step_beyond_the_diffusion_limit_is_refused():
    """FTCS limit 1/(2 D Σ a⁻²) = 1/(2·100·(10⁻² + 2·10⁻⁶)) = 0.49990 s for D = 100 Å²/s, a = 10 Å."""
    mat = load_material("mil53-al")
    geo = _slab(20, 10.0)
    meso = replace(MesoscaleParams.default(), diffusivity_A2_s=jnp.asarray([100.0, 100.0], jnp.float32))
    cfg = EngineConfig(dt_s=1.0, guest_diffusion=True, eta_dynamics=False)  # only the diffusion limit applies
    with pytest.raises(SimulationError, match=r"numerics.dt: 1 s exceeds the stability limit 0\.49.* s .*guest diffusion"):
        make_engine(mat.thermo, meso, geo, table("[[protocol.segments]]\ntype = \"hold\"\nduration = \"1 h\"\n"), cfg)


def test_log_mean_limits_and_henry_flux_is_fick():
    """L(a, a) = a, L symmetric, L = (a − b)/ln(a/b); in the Henry regime (M = n) the link flux
    D L(n_i, n_j)(ln n_j − ln n_i) equals D (n_j − n_i) even next to an empty site."""
    from twin.engine.model import log_mean

    a = np.asarray([1.0, 2.0, 1e-3, 5.0, 1e-20, 0.7])
    b = np.asarray([1.0, 3.0, 1e-1, 5.0 * (1 + 1e-4), 1e-2, 0.7 * (1 - 5e-3)])
    got = np.asarray(log_mean(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)), float)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = np.where(a == b, a, (a - b) / (np.log(a) - np.log(b)))
    np.testing.assert_allclose(got, exact, rtol=2e-6)  # float32
    np.testing.assert_allclose(np.asarray(log_mean(jnp.asarray(b, jnp.float32), jnp.asarray(a, jnp.float32))), got, rtol=1e-6)
    n_i, n_j = np.float32(1e-30), np.float32(0.25)
    flux = float(log_mean(jnp.asarray(n_i), jnp.asarray(n_j))) * (np.log(n_j) - np.log(n_i))
    assert flux == pytest.approx(n_j - n_i, rel=1e-5)
