"""Surface energies from the material's Δγ, the coherency coupling and hydrolysis: consistency with twin.thermo."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import constants as sc

from engine_helpers import HOLD, geometry, table
from twin.engine import EngineConfig, MesoscaleParams, make_engine, model
from twin.engine.dynamics import Drive, hydrolysis_rate_per_s
from twin.engine.params import block_rescale, face_areas_A2, mesoscale_from_material, mesoscale_from_table
from twin.errors import MaterialError
from twin.material import load_material
from twin.thermo import size_shift_kj_mol


def test_dut8_faces_carry_dgamma_times_their_area():
    m = load_material("dut8-ni")
    meso = mesoscale_from_material(m)
    op = m.phases[-1]
    per_face = np.asarray(meso.surface_energy_kj_mol)[:, None] * np.asarray(meso.face_weight)[None, :]
    areas = np.asarray([op.b_A * op.c_A, op.a_A * op.c_A, op.a_A * op.b_A])
    np.testing.assert_allclose(per_face[0], 0.0)
    np.testing.assert_allclose(per_face[-1], -0.92 * areas * 1e-20 * sc.N_A / 1000.0, rtol=1e-6)
    assert per_face[-1] == pytest.approx([-958.96, -958.96, -1882.07], rel=1e-4)
    np.testing.assert_allclose(face_areas_A2((op.a_A, op.b_A, op.c_A)), areas)


@pytest.mark.parametrize("block, n", [(1, (10, 10, 20)), (8, (6, 6, 11)), (16, (3, 3, 6))])
def test_a_crystal_switching_as_a_whole_carries_the_thermo_size_shift(block, n):
    """Σ_i surface term / (cells) of a cuboid = s(L) of twin.thermo.surface for its cube-equivalent edge."""
    m = load_material("dut8-ni")
    meso = block_rescale(mesoscale_from_material(m), block)
    op = m.phases[-1]
    geo = geometry(n, spacing=(block * op.a_A, block * op.b_A, block * op.c_A))
    links = jnp.asarray(geo.links)
    gamma = meso.surface_energy_kj_mol[-1] - meso.surface_energy_kj_mol[0]
    total = float(jnp.sum(model.surface_term(links, gamma, meso.face_weight, jnp.float32)))
    cells = np.prod(n) * block**3
    lengths_nm = np.asarray(n) * np.asarray(geo.spacing_A) / 10.0
    edge_nm = 3.0 / np.sum(1.0 / lengths_nm)
    expected = float(size_shift_kj_mol(-0.92, edge_nm, op.volume_A3))
    assert total / cells == pytest.approx(expected, rel=1e-5)


def test_block_rescaling_of_the_new_terms():
    meso = mesoscale_from_material(load_material("dut8-ni"))
    q = block_rescale(meso, 4)
    assert float(q.coherency_kj_mol) == pytest.approx(64 * float(meso.coherency_kj_mol))
    np.testing.assert_allclose(q.face_weight, meso.face_weight)
    np.testing.assert_allclose(q.surface_energy_kj_mol, 16 * np.asarray(meso.surface_energy_kj_mol), rtol=1e-6)
    h = mesoscale_from_material(load_material("mil53-al"))
    assert float(block_rescale(h, 3).hydrolysis_prefactor_per_s) == float(h.hydrolysis_prefactor_per_s)
    assert meso.coherent and not meso.fracture and not meso.hydrolysis and h.hydrolysis and not h.coherent


def _table(**extra):
    raw = load_material("mil53-al").raw
    table_ = dict(raw["mesoscale"])
    table_.update(extra)
    return table_


def test_mesoscale_table_errors_name_the_key():
    m = load_material("mil53-al")
    kw = dict(file="x.toml", sources=m.raw["sources"], cell_A=(6.6, 16.7, 12.8))
    bad = _table(np=dict(m.raw["mesoscale"]["np"], surface_energy={"value": 0.1, "unit": "J/m2", "source": "estimate"}))
    with pytest.raises(MaterialError, match=r"x\.toml: mesoscale: surface_energy: give every phase in kJ/mol"):
        mesoscale_from_table(bad, m.phase_names, **kw)
    hyd = dict(m.raw["mesoscale"]["hydrolysis"])
    hyd["humidity_order"] = {"value": 1.0, "unit": "%", "source": "estimate"}
    with pytest.raises(MaterialError, match=r"x\.toml: mesoscale\.hydrolysis\.humidity_order\.unit: expected \"1\""):
        mesoscale_from_table(_table(hydrolysis=hyd), m.phase_names, **kw)
    with pytest.raises(MaterialError, match=r"x\.toml: mesoscale\.coherency: expected a finite non-negative energy"):
        mesoscale_from_table(_table(coherency={"value": -1.0, "unit": "kJ/mol", "source": "estimate"}),
                             m.phase_names, **kw)


def test_hydrolysis_rate_is_arrhenius_times_humidity():
    meso = mesoscale_from_material(load_material("mil53-al"))
    k = lambda t, rh: float(hydrolysis_rate_per_s(meso, jnp.float32(t), jnp.float32(rh)))  # noqa: E731
    assert k(393.0, 0.5) == pytest.approx(1.5e-3, rel=0.05)  # the estimate the material file states
    assert k(303.0, 0.0) == 0.0
    assert k(393.0, 1.0) == pytest.approx(2 * k(393.0, 0.5), rel=1e-5)  # first order in RH
    ratio = k(393.0, 0.5) / k(303.0, 0.5)
    assert ratio == pytest.approx(np.exp(80.0 / (sc.R / 1000) * (1 / 303.0 - 1 / 393.0)), rel=1e-3)


def test_hydrolysis_creates_defects_at_the_integrated_rate():
    """Constant 393 K, 80 % RH: after t the defective fraction is 1 − exp(−k t) (binomial scatter)."""
    mat = load_material("mil53-al")
    meso = mesoscale_from_material(mat)
    n = (32, 32, 32)
    geo = geometry(n)
    humid = table("""
[[protocol.segments]]
type = "hold"
temperature = "393 K"
humidity = "80 %"
duration = "200 s"
""", temperature="393 K")
    eng = make_engine(mat.thermo, meso, geo, humid, EngineConfig(dt_s=0.005, noise=False))
    state = eng.init(1)
    for _ in range(4):
        state = eng.run_chunk(state, 2000)  # 4 × 10 s
    fraction = float(np.mean(np.asarray(model.defect(state.links, jnp.float32))))
    k = float(hydrolysis_rate_per_s(meso, jnp.float32(393.0), jnp.float32(0.8)))
    expected = 1.0 - np.exp(-k * 40.0)
    assert fraction == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / np.prod(n)))
    dry = make_engine(mat.thermo, meso, geo, table(HOLD), EngineConfig(dt_s=0.005, noise=False))
    s = dry.run_chunk(dry.init(1), 2000)
    assert float(np.mean(np.asarray(model.defect(s.links, jnp.float32)))) == 0.0


def test_coherency_makes_a_crystal_switch_as_a_whole():
    """Without B an interior far past its spinodal closes while the surface (pinned open) stays; with B the
    surface holds the whole crystal open when the mean gap is inside the metastability window."""
    mat = load_material("mil53-al")
    n = (8, 8, 8)
    geo = geometry(n)
    base = replace(MesoscaleParams.default(), surface_energy_kj_mol=jnp.asarray([0.0, -60.0], jnp.float32))
    # bulk gap ΔΩ = +5 > W/3 = 1; surface faces shift it by −60 each: mean gap over the 512 sites < W/3
    drive = Drive(omega=jnp.asarray([0.0, 5.0], jnp.float32), host_pv=jnp.zeros(2, jnp.float32),
                  rt=jnp.float32(2.5), log_f_gas=jnp.float32(-80.0), log_k=jnp.zeros(2, jnp.float32),
                  n_max=jnp.ones(2, jnp.float32), barrier=jnp.float32(3.0))
    mean_gap = 5.0 + float(jnp.sum(model.exposed_faces(jnp.asarray(geo.links), jnp.float32))) * -60.0 / np.prod(n)
    assert mean_gap < 1.0
    out = {}
    for b in (0.0, 400.0):
        meso = replace(base, coherency_kj_mol=jnp.float32(b))
        eng = make_engine(mat.thermo, meso, geo, table(HOLD), EngineConfig(dt_s=2e-4, noise=False), eta0=1.0)

        @jax.jit
        def advance(state, eng=eng):
            return jax.lax.fori_loop(0, 4000, lambda i, s: eng.update(s, drive), state)

        state = eng.init(0)
        state = replace(state, eta=state.eta - 0.01 * model.inside(state.links, jnp.float32))  # a nudge to close
        out[b] = np.asarray(advance(state).eta)
    interior = (slice(2, -2),) * 3
    assert out[0.0][interior].max() < 0.5 and out[0.0][0, 4, 4] > 0.5  # core–shell
    assert out[400.0].min() > 0.5  # the whole crystal stays open
