"""Free energy vs forces, noise moments, site potentials and the block rescaling rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine_helpers import geometry
from twin.engine import model
from twin.engine.params import MesoscaleParams, block_rescale
from twin.thermo import host_landscape


@pytest.mark.parametrize("periodic", [False, True])
def test_fused_force_equals_minus_gradient_of_free_energy(periodic):
    rng = np.random.default_rng(1)
    n = (7, 6, 5)
    defects = rng.random(n) < 0.2
    geo = geometry(n, "sphere" if not periodic else "cuboid", periodic, defects)
    links = jnp.asarray(geo.links)
    eta = jnp.asarray(rng.uniform(-0.2, 1.2, n))  # float32
    oc, oo = model.site_potentials(jnp.float32(0.3), jnp.float32(-1.1), links, jnp.asarray([0.7, 0.1], jnp.float32),
                                   jnp.asarray([1.5, -0.5], jnp.float32), 1.0)
    w = jnp.float32(9.0)
    coupling = jnp.asarray([3.0, 1.0, 2.0], jnp.float32)
    grad = jax.grad(model.free_energy)(eta, links, oc, oo, w, coupling, periodic)
    force = model.eta_force(eta, links, oc, oo, w, coupling, periodic)
    scale = float(jnp.max(jnp.abs(force)))
    np.testing.assert_allclose(np.asarray(force), -np.asarray(grad), atol=2e-6 * scale)  # float32 sums
    outside = np.asarray(model.inside(links, jnp.float32)) == 0
    assert np.all(np.asarray(force)[outside] == 0.0)


def test_free_energy_of_isolated_site_is_the_thermo_double_well():
    geo = geometry((1, 1, 1))
    links = jnp.asarray(geo.links)
    eta = jnp.full((1, 1, 1), 0.3, jnp.float32)
    oc, oo = model.site_potentials(jnp.float32(1.0), jnp.float32(2.0), links, jnp.zeros(2, jnp.float32),
                                   jnp.zeros(2, jnp.float32), 1.0)
    # one site: six exposed faces with zero surface energy, so F = Ω(η) of twin.thermo
    f = model.free_energy(eta, links, oc, oo, jnp.float32(5.0), jnp.ones(3, jnp.float32), False)
    assert float(f) == pytest.approx(float(host_landscape(jnp.float32(0.3), 1.0, 2.0, 5.0)), rel=1e-6)


def test_surface_faces_and_defect_shift_enter_site_potentials():
    geo = geometry((3, 3, 3), defects=np.eye(3, dtype=bool)[:, :, None].repeat(3, axis=2))
    links = jnp.asarray(geo.links)
    exposed = np.asarray(model.exposed_faces(links, jnp.float32))
    assert exposed[1, 1, 1] == 0 and exposed[0, 1, 1] == 1 and exposed[0, 0, 1] == 2 and exposed[0, 0, 0] == 3
    oc, oo = model.site_potentials(jnp.float32(0.0), jnp.float32(0.0), links, jnp.asarray([2.0, 0.0], jnp.float32),
                                   jnp.asarray([5.0, 0.0], jnp.float32), 8.0)
    assert float(oc[0, 0, 0]) == pytest.approx(3 * 2.0 + 5.0)  # corner, defective (diagonal)
    assert float(oc[1, 1, 0]) == pytest.approx(1 * 2.0 + 5.0)
    assert float(oo[0, 0, 0]) == 0.0


def test_counter_based_noise_has_unit_variance_and_no_step_correlation():
    key = jnp.asarray([12345, 678], jnp.uint32)
    a = np.asarray(model.gaussian_like_noise((32, 32, 32), key, jnp.int32(0), jnp.float32))
    b = np.asarray(model.gaussian_like_noise((32, 32, 32), key, jnp.int32(1), jnp.float32))
    n = a.size
    assert abs(a.mean()) < 4 / np.sqrt(n)
    assert abs(a.var() - 1.0) < 0.02
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 4 / np.sqrt(n)
    assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 4 / np.sqrt(n)  # neighbours along x
    assert np.abs(a).max() <= np.sqrt(3.0)
    again = np.asarray(model.gaussian_like_noise((32, 32, 32), key, jnp.int32(0), jnp.float32))
    assert np.array_equal(a, again)


def test_block_rescaling_rules():
    p = MesoscaleParams.default()
    q = block_rescale(p, 3)
    assert q.block == 3
    np.testing.assert_allclose(q.coupling_kj_mol, 3 * np.asarray(p.coupling_kj_mol))
    np.testing.assert_allclose(q.rate_prefactor_per_s, np.asarray(p.rate_prefactor_per_s) / 27)
    back = block_rescale(q, 1)
    np.testing.assert_allclose(back.coupling_kj_mol, p.coupling_kj_mol, rtol=1e-6)
    np.testing.assert_allclose(back.rate_prefactor_per_s, p.rate_prefactor_per_s, rtol=1e-6)


def test_langmuir_inverse_is_exact():
    eta = jnp.asarray(np.linspace(0, 1, 11), jnp.float32).reshape(11, 1, 1)
    n_max = jnp.asarray([2.5, 9.8], jnp.float32)
    log_k = jnp.asarray([-8.6, -11.6], jnp.float32)
    log_f = jnp.full((11, 1, 1), 11.0, jnp.float32)
    n, _ = model.loading_from_log_fugacity(log_f, eta, n_max, log_k)
    back = model.log_fugacity_from_loading(n, eta, n_max, log_k)
    np.testing.assert_allclose(np.asarray(back), 11.0, atol=2e-4)


@pytest.mark.parametrize("periodic", [False, True])
def test_coherency_and_face_weights_enter_force_and_free_energy_alike(periodic):
    """−∂F/∂η with the coherency term B/2 Σ(η − η̄)² and anisotropic face weights equals the fused force."""
    rng = np.random.default_rng(4)
    n = (6, 5, 4)
    geo = geometry(n, "sphere" if not periodic else "cuboid", periodic, rng.random(n) < 0.1)
    links = jnp.asarray(geo.links)
    eta = jnp.asarray(rng.uniform(-0.2, 1.2, n))
    weight = jnp.asarray([0.5, 1.0, 1.5], jnp.float32)
    oc, oo = model.site_potentials(jnp.float32(0.3), jnp.float32(-1.1), links, jnp.asarray([0.7, 0.1], jnp.float32),
                                   jnp.asarray([1.5, -0.5], jnp.float32), 1.0, weight)
    w, b = jnp.float32(9.0), jnp.float32(40.0)
    coupling = jnp.asarray([3.0, 1.0, 2.0], jnp.float32)
    grad = jax.grad(model.free_energy)(eta, links, oc, oo, w, coupling, periodic, b)
    force = model.eta_force(eta, links, oc, oo, w, coupling, periodic, coherency=b)
    scale = float(jnp.max(jnp.abs(force)))
    np.testing.assert_allclose(np.asarray(force), -np.asarray(grad), atol=3e-6 * scale)
    # the face weights: a face normal to z of this site counts 1.5 γ, one normal to x 0.5 γ
    ex, ey, ez = (np.asarray(e) for e in model.exposed_faces_per_axis(links, jnp.float32))
    np.testing.assert_allclose(ex + ey + ez, np.asarray(model.exposed_faces(links, jnp.float32)))
    term = np.asarray(model.surface_term(links, jnp.float32(2.0), weight, jnp.float32))
    np.testing.assert_allclose(term, 2.0 * (0.5 * ex + 1.0 * ey + 1.5 * ez), rtol=1e-6)


def test_site_landscape_is_the_thermo_well_inside_and_confines_outside():
    eta = jnp.linspace(0.0, 1.0, 41, dtype=jnp.float32)
    for d_omega in (-30.0, -1.0, 2.5, 30.0):
        np.testing.assert_allclose(np.asarray(model.site_landscape(eta, 0.0, d_omega, 6.0)),
                                   np.asarray(host_landscape(eta, 0.0, d_omega, 6.0)), rtol=1e-6, atol=1e-5)
    # far beyond the spinodal (ΔΩ ≫ W) a site pushed past an end state is pulled back, not run away
    outside = jnp.asarray([-0.4, -0.1, 1.1, 1.4], jnp.float32)
    slope = np.asarray(model.landscape_derivative(outside, 0.0, jnp.float32(30.0), jnp.float32(6.0)))
    assert slope[0] < 0 and slope[1] < 0 and slope[2] > 0 and slope[3] > 0
    slope = np.asarray(model.landscape_derivative(outside, 0.0, jnp.float32(-30.0), jnp.float32(6.0)))
    assert slope[0] < 0 and slope[1] < 0 and slope[2] > 0 and slope[3] > 0
    grad = jax.vmap(jax.grad(lambda e: model.site_landscape(e, 0.0, jnp.float32(3.0), jnp.float32(6.0))))(outside)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(model.landscape_derivative(outside, 0.0, 3.0, 6.0)),
                               rtol=1e-5, atol=1e-5)


def test_guest_site_fields_match_the_langmuir_forms_in_float64():
    """x = K_o f, M in its one-division form and the adsorption term with ln(1 + Kf) agree with the θ(1 − θ)
    and log1p forms evaluated in float64 NumPy, across empty, Henry, half-filled and nearly full sites."""
    rng = np.random.default_rng(3)
    eta = rng.uniform(-0.2, 1.2, 4000)
    n_max = np.asarray([2.5, 9.8])
    k = np.exp(np.asarray([-8.6, -11.6]))
    h = np.clip(eta, 0, 1) ** 2 * (3 - 2 * np.clip(eta, 0, 1))
    n_bar = (1 - h) * n_max[0] + h * n_max[1]
    loading = n_bar * np.concatenate([rng.uniform(0, 1e-6, 1000), rng.uniform(1e-6, 0.1, 1000),
                                      rng.uniform(0.1, 0.9, 1000), rng.uniform(0.9, 0.9999, 1000)])
    f32 = jnp.float32
    r = k[0] / k[1]
    x, log_x, m, log_m = (np.asarray(v, float) for v in model.guest_site_fields(
        jnp.asarray(loading, f32), jnp.asarray(eta, f32), jnp.asarray(n_max, f32), jnp.asarray(r, f32)))
    f = x / k[1]
    theta_c, theta_o = k[0] * f / (1 + k[0] * f), k[1] * f / (1 + k[1] * f)
    np.testing.assert_allclose((1 - h) * n_max[0] * theta_c + h * n_max[1] * theta_o, loading, rtol=3e-5)
    exact_m = (1 - h) * n_max[0] * theta_c * (1 - theta_c) + h * n_max[1] * theta_o * (1 - theta_o)
    np.testing.assert_allclose(m, exact_m, rtol=1e-5)
    np.testing.assert_allclose(log_x, np.log(x), atol=2e-6)
    np.testing.assert_allclose(log_m, np.log(m), atol=2e-6)
    scale = np.asarray([6.0, 25.0])
    ads = np.asarray(model.adsorption_term(jnp.asarray(x, f32), jnp.asarray(r, f32), jnp.asarray(scale, f32)), float)
    exact_ads = scale[1] * np.log1p(k[1] * f) - scale[0] * np.log1p(k[0] * f)
    assert np.all(np.abs(ads - exact_ads) <= 1.2e-7 * scale.sum() + 2e-6 * np.abs(exact_ads))


@pytest.mark.parametrize("ratio", [5e-9, 1e-6, 1e-3, 0.05, 20.0, 1e4])
def test_guest_fields_stay_finite_for_any_capacity_and_affinity_ratio(ratio):
    """Empty, full, closed, open and ghost (η = n = 0) sites give finite x, ln x, M and ln M in float32,
    also where one phase does not adsorb the guest (N_c = 0 or N_o = 0) and for K_c/K_o from 5·10⁻⁹
    (DUT-8(Ni)/n-butane at 77 K) to 10⁴, so no NaN reaches a neighbour through the stencil."""
    eta = jnp.asarray([0.0, 0.0, 1e-20, 0.3, 1.0, 1.0, 0.0, 1.2, -0.1], jnp.float32)
    for n_max in ([0.0, 9.8], [2.5, 0.0], [2.5, 9.8]):
        n_bar = np.asarray([n_max[0]] * 3 + [0.0] + [n_max[1]] * 2 + [n_max[0], n_max[1], n_max[0]])
        loading = jnp.asarray(np.asarray([0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0]) + n_bar, jnp.float32)
        for n in (jnp.zeros_like(loading), loading):
            fields = model.guest_site_fields(n, eta, jnp.asarray(n_max, jnp.float32), jnp.asarray(ratio, jnp.float32))
            for v in fields:
                assert np.all(np.isfinite(np.asarray(v))), (n_max, ratio, fields)
            assert np.all(np.asarray(fields[2]) > 0.0)


def test_log_mean_is_exact_to_rounding_in_float32_and_float64():
    """The tanh(x)/x series branch (|ln a − ln b| < ½) and the direct branch, against (a − b)/ln(a/b) of the
    same (rounded) inputs: relative error within a few roundings of ln a − ln b, which is ε(|ln a| + |ln b|)
    (the direct branch divides by it, |d| ≥ ½)."""
    rng = np.random.default_rng(5)
    a = np.exp(rng.uniform(-30, 10, 20000))
    b = a * np.exp(rng.uniform(-1.0, 1.0, 20000))
    for dtype in (jnp.float32, jnp.float64):
        with jax.enable_x64(dtype == jnp.float64):
            av, bv = np.asarray(a, dtype).astype(float), np.asarray(b, dtype).astype(float)
            x = 0.5 * np.log1p((av - bv) / bv)  # a − b rounded once at most, so x to rounding
            exact = np.sqrt(av * bv) * np.sinh(x) / np.where(x == 0.0, 1.0, x) + np.where(x == 0.0, av, 0.0)
            got = np.asarray(model.log_mean(jnp.asarray(av, dtype), jnp.asarray(bv, dtype)), float)
            eps = float(jnp.finfo(dtype).eps)
            error = np.abs(got / exact - 1.0)
            assert np.all(error <= eps * (8.0 + 4.0 * (np.abs(np.log(av)) + np.abs(np.log(bv)))))
            series = np.abs(np.log(av) - np.log(bv)) < 0.5  # the branch whose terms are counted
            assert np.max(error[series]) <= 3.5 * eps
