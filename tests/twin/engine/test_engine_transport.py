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
from twin.engine.lattice import DIRECTIONS, Geometry, pack_links
from twin.errors import SimulationError
from twin.material import load_material

HOLD_1H = """
[[protocol.segments]]
type = "hold"
duration = "1 h"
"""

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


def _reference_step(eta, loading, links, c, meso, spacing, periodic, dt):
    """One step of η and n with guest transport (no noise, no fracture) in float64 NumPy, written from the
    module docstring of twin.engine.model with the θ(1 − θ), log1p and (a − b)/ln(a/b) forms and the local
    fugacity found by bisection: independent of the engine's fused field kernels."""
    f64 = np.float64
    eta, loading = eta.astype(f64), loading.astype(f64)
    inside = ((links >> 6) & 1).astype(f64)
    bits = [((links >> k) & 1).astype(f64) for k in range(6)]
    defect = ((links >> 7) & 1).astype(f64)
    gamma, delta, w = (np.asarray(v, f64) for v in (meso.surface_energy_kj_mol, meso.defect_shift_kj_mol,
                                                    meso.face_weight))
    exposed = [(2.0 - bits[2 * d] - bits[2 * d + 1]) * inside for d in range(3)]
    local = (gamma[-1] - gamma[0]) * sum(w[d] * exposed[d] for d in range(3)) + (delta[-1] - delta[0]) * defect
    cl = np.clip(eta, 0.0, 1.0)
    h = cl * cl * (3.0 - 2.0 * cl)
    n_max = np.asarray(c.n_max, f64)
    k = np.exp(f64(c.log_affinity)) * np.asarray([f64(c.affinity_ratio), 1.0])  # (K_c, K_o)
    n_bar = (1.0 - h) * n_max[0] + h * n_max[1]
    n = np.clip(loading, 1e-25 * n_bar, (1.0 - 1e-6) * n_bar)
    lo, hi = np.full(eta.shape, -150.0), np.full(eta.shape, 150.0)  # ln(f/Pa)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        tc, to = 1.0 / (1.0 + np.exp(-(np.log(k[0]) + mid))), 1.0 / (1.0 + np.exp(-(np.log(k[1]) + mid)))
        below = (1.0 - h) * n_max[0] * tc + h * n_max[1] * to < n
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    log_f = 0.5 * (lo + hi)
    f = np.exp(log_f)
    scale = np.asarray(c.ads_scale, f64)
    d_omega = f64(c.d_host_pv) - (scale[1] * np.log1p(k[1] * f) - scale[0] * np.log1p(k[0] * f)) + local
    barrier = f64(c.barrier)
    pad = (lambda a: np.pad(a, 1, mode="wrap")) if periodic else (lambda a: np.pad(a, 1))

    def nb(a, axis, off):
        index = [slice(1, -1)] * 3
        index[axis] = slice(1 + off, a.shape[axis] - 1 + off)
        return a[tuple(index)]

    coupling = np.asarray(meso.coupling_kj_mol, f64)
    force = -(6.0 * d_omega * cl * (1.0 - cl) + 2.0 * barrier * eta * (1.0 - eta) * (1.0 - 2.0 * eta)) * inside
    pe = pad(eta)
    for i, (axis, off) in enumerate(DIRECTIONS):
        force -= coupling[axis] * bits[i] * (eta - nb(pe, axis, off))
    new_eta = eta + f64(c.eta_rate) * force

    tc, to = k[0] * f / (1.0 + k[0] * f), k[1] * f / (1.0 + k[1] * f)
    m = np.maximum((1.0 - h) * n_max[0] * tc * (1.0 - tc) + h * n_max[1] * to * (1.0 - to), 1e-30)
    dif = np.asarray(meso.diffusivity_A2_s, f64)
    d_site = (1.0 - h) * dif[0] + h * dif[1]

    def log_mean(a, b):
        x = 0.5 * np.log(a / b)
        return np.sqrt(a * b) * np.where(x == 0.0, 1.0, np.sinh(x) / np.where(x == 0.0, 1.0, x))

    pm = np.pad(m, 1, mode="wrap") if periodic else np.pad(m, 1, constant_values=1.0)  # 0 beyond open faces
    pf, pd = pad(log_f), pad(d_site)  # would give 0/0 in the mean there (times an absent link)
    inflow, gas_rate = np.zeros_like(eta), np.zeros_like(eta)
    for i, (axis, off) in enumerate(DIRECTIONS):
        rate = 1.0 / spacing[axis] ** 2
        inflow += rate * bits[i] * 0.5 * (d_site + nb(pd, axis, off)) * log_mean(m, nb(pm, axis, off)) * (
            nb(pf, axis, off) - log_f)
        gas_rate += rate * (1.0 - bits[i])
    gm = np.asarray(c.gas_mobility, f64)
    m_gas = np.maximum((1.0 - h) * gm[0] + h * gm[1], 1e-30)
    inflow += gas_rate * d_site * log_mean(m, m_gas) * (f64(c.log_f_gas) - log_f)
    return new_eta, loading + dt * inflow * inside


@pytest.mark.parametrize("periodic", [False, True])
def test_one_transport_step_matches_an_independent_float64_reference(periodic):
    """η and n after one step with guest transport, surface energy, defects and anisotropic coupling, from
    random η in [−0.2, 1.2] and loadings from empty to nearly full, against :func:`_reference_step`. The
    adsorption term moves η by far more than the tolerance, so leaving it out or reading it from the wrong
    site fails."""
    from twin.engine import stability_limit_s
    from twin.engine.dynamics import step_coefficients
    from twin.engine.model import step_keys

    mat = load_material("mil53-al")
    rng = np.random.default_rng(7)
    n = (9, 8, 7)
    defects = rng.random(n) < 0.1
    geo = geometry(n, "sphere", periodic=periodic, defects=defects)
    meso = replace(MesoscaleParams.default(), diffusivity_A2_s=jnp.asarray([30.0, 300.0], jnp.float32),
                   coupling_kj_mol=jnp.asarray([6.0, 8.0, 3.0], jnp.float32),
                   surface_energy_kj_mol=jnp.asarray([0.5, 2.0], jnp.float32),
                   defect_shift_kj_mol=jnp.asarray([0.0, 1.5], jnp.float32),
                   face_weight=jnp.asarray([1.0, 0.7, 1.2], jnp.float32))
    prot = table(HOLD_1H, pressure="2 bar")
    dt = 0.5 * stability_limit_s(mat.thermo, meso, geo, prot, True)[0]
    eng = make_engine(mat.thermo, meso, geo, prot, EngineConfig(dt_s=dt, guest_diffusion=True, noise=False), eta0=0.5)
    state = eng.init(0)
    inside = geo.mask if not periodic else np.ones(n, bool)
    eta = np.where(inside, rng.uniform(-0.2, 1.2, n), 0.0).astype(np.float32)
    cl = np.clip(eta, 0, 1)
    h = cl * cl * (3 - 2 * cl)
    n_bar = (1 - h) * 2.5675 + h * 9.8388
    frac = rng.choice([0.0, 1e-4, 0.3, 0.7, 0.999], size=n) * rng.uniform(0.5, 1.0, n)
    loading = np.where(inside, frac * n_bar, 0.0).astype(np.float32)
    state = replace(state, eta=jnp.asarray(eta), loading=jnp.asarray(loading))
    drive = eng.drive_at(jnp.asarray(0.0, jnp.float32))
    new = eng.update(state, drive)
    c = step_coefficients(drive, eng.meso, eng.config, eng.block_volume, *step_keys(state.key, state.step))
    ref_eta, ref_n = _reference_step(eta, loading, np.asarray(geo.links), c, eng.meso, geo.spacing_A, periodic, dt)
    d_eta = np.abs(ref_eta - eta)
    assert np.max(d_eta) > 0.05  # the step moves η
    np.testing.assert_allclose(np.asarray(new.eta), ref_eta, atol=2e-5 * (1.0 + np.max(d_eta)))
    d_n = ref_n - loading
    np.testing.assert_allclose(np.asarray(new.loading) - loading, d_n, atol=2e-3 * np.max(np.abs(d_n)))
