"""Total-scattering forward model (instruments/xrd/total_scattering.py) and the ZIF-4 structure it is used with.

Independent checks: the exact Debye double sum of spherical clusters cut from the crystal (instruments.xrd.debye),
pymatgen's XRDCalculator reflection positions, the analytic volume of the spherical characteristic function, the
uniform-density limit of the pair histogram, and the 1/Q decay of the distinct terms (Faber–Ziman).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from instruments.xrd import load_structure
from instruments.xrd.total_scattering import (
    bulk_pair_histograms,
    coherent_interference,
    debye_interference,
    debye_kernel,
    pair_weights,
    sinc_matvec,
    sphere_envelope,
)


@pytest.fixture(scope="module")
def zif4(repo_root):
    return load_structure(repo_root / "datasets" / "structures" / "zif4_park2006.cif")


@pytest.fixture(scope="module")
def hist_sphere(zif4):
    """r₀ = 0: the plain spherical-particle envelope, out to 40 Å."""
    return bulk_pair_histograms(zif4, r_max_A=40.0, bin_width_A=0.025, local_radius_A=0.0)


@pytest.fixture(scope="module")
def hist_local(zif4):
    return bulk_pair_histograms(zif4, r_max_A=60.0, bin_width_A=0.04, local_radius_A=3.6)


def test_zif4_cif_is_pbca_with_sixteen_formula_units_and_tetrahedral_zinc(zif4):
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    assert len(zif4) == 272
    assert zif4.composition.as_dict() == {"Zn": 16.0, "N": 64.0, "C": 96.0, "H": 96.0}  # 16 Zn(C3H3N2)2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's own, about its error handling
        analyzer = SpacegroupAnalyzer(zif4, symprec=0.01)
        assert (analyzer.get_space_group_symbol(), analyzer.get_space_group_number()) == ("Pbca", 61)
    np.testing.assert_allclose(zif4.lattice.abc, (15.395, 15.3073, 18.426), atol=1e-4)  # Park et al. 2006
    d = zif4.distance_matrix + 1e3 * np.eye(len(zif4))
    assert d.min() > 0.9  # C–H 0.94 Å is the shortest: no clash from the resolved disorder
    zn = [i for i, s in enumerate(zif4) if s.specie.symbol == "Zn"]
    n = [i for i, s in enumerate(zif4) if s.specie.symbol == "N"]
    zn_n = np.sort(d[np.ix_(zn, n)], axis=1)
    assert np.all((zn_n[:, :4] > 1.95) & (zn_n[:, :4] < 2.05))  # four N per Zn at the Zn–N bond length
    assert np.all(zn_n[:, 4] > 3.5)  # and no fifth


def test_pair_histogram_reaches_the_uniform_density(hist_local):
    h = hist_local
    rho0 = float(h.number_density_A3)
    assert rho0 == pytest.approx(272 / (15.395 * 15.3073 * 18.426), rel=1e-6)
    counts = np.asarray(h.local).sum() + np.cumsum(np.asarray(h.inter).sum(axis=0))
    r = np.asarray(h.r_A)
    for radius in (20.0, 40.0, 55.0):  # neighbours within R → (4/3)πR³ρ₀ − 1 (itself), to shell noise
        k = int(np.searchsorted(r, radius))
        assert counts[k] == pytest.approx(4.0 / 3.0 * np.pi * r[k] ** 3 * rho0, rel=5e-3)
    # the uniform term carries the same number on the same nodes
    assert np.asarray(h.density_inter).sum() + np.asarray(h.density_local).sum() == pytest.approx(
        4.0 / 3.0 * np.pi * float(r[-1]) ** 3 * rho0, rel=1e-3)


def test_sphere_envelope_is_the_characteristic_function_of_a_sphere():
    d = jnp.asarray(25.0, jnp.float32)
    x = jnp.linspace(0.0, 30.0, 30001, dtype=jnp.float32)
    g = sphere_envelope(x, d)
    assert float(g[0]) == 1.0 and float(g[-1]) == 0.0
    volume = float(jnp.trapezoid(4.0 * jnp.pi * x**2 * g, x))
    assert volume == pytest.approx(np.pi * 25.0**3 / 6.0, rel=1e-4)  # ∫γ₀ d³r = V of the sphere
    slope = jax.grad(lambda t: sphere_envelope(t[None], d)[0])(jnp.asarray(24.999, jnp.float32))
    assert abs(float(slope)) < 1e-4  # C¹ at x = D: D is a smooth fit parameter


def test_debye_sum_over_bulk_histogram_matches_spherical_clusters_cut_from_the_crystal(zif4, hist_sphere):
    """⟨Σ_{i≠j} f f sinc⟩/N⟨f⟩² of spheres of diameter D = the bulk histogram × γ₀(r; D) (no uniform term).

    The clusters' Debye sums are exact double sums over their atom pairs in NumPy (float64), independent of
    the histogram code.
    """
    from scipy.spatial.distance import pdist

    from instruments.xrd.form_factors import atomic_form_factor, form_factor_coefficients

    h = hist_sphere
    q = jnp.linspace(1.0, 12.0, 120, dtype=jnp.float32)
    diameter = 30.0
    kernel = debye_kernel(q, h)
    pairs, _ = coherent_interference(kernel, sphere_envelope(h.r_A, jnp.asarray(diameter, jnp.float32)),
                                     jnp.asarray(0.0, jnp.float32))
    model = np.asarray(pairs)
    qn = np.asarray(q, dtype=np.float64)
    coeff = form_factor_coefficients(h.symbols)
    f = np.asarray(atomic_form_factor(jnp.asarray(qn / (4.0 * np.pi), jnp.float32),
                                      *(jnp.asarray(coeff[k], jnp.float32) for k in ("a", "b", "c")), True),
                   dtype=np.float64).T  # (n_species, n_q)
    mean_f = np.asarray(h.concentration, dtype=np.float64) @ f
    big = zif4 * (4, 4, 4)
    cart = np.asarray(big.cart_coords)
    spec = np.array([h.symbols.index(s.specie.symbol) for s in big])
    rng = np.random.default_rng(0)
    sums = []
    for _ in range(4):  # average over the sphere's position in the crystal (what γ₀ describes)
        centre = cart.mean(axis=0) + rng.uniform(-8.0, 8.0, 3)
        inside = np.linalg.norm(cart - centre, axis=1) < diameter / 2
        pos, sp = cart[inside], spec[inside]
        total = np.zeros_like(qn)
        for a in range(len(h.symbols)):
            for b in range(a, len(h.symbols)):
                pa, pb = pos[sp == a], pos[sp == b]
                r = pdist(pa) if a == b else np.linalg.norm(pa[:, None] - pb[None, :], axis=-1).ravel()
                x = np.outer(r, qn)
                total += 2.0 * f[a] * f[b] * np.sinc(x / np.pi).sum(axis=0)  # both orders of each pair
        sums.append(total / inside.sum() / mean_f**2)
    cluster = np.mean(sums, axis=0)
    rel = np.sqrt(np.mean((model - cluster) ** 2) / np.mean(cluster**2))
    assert rel < 0.06  # ~3 % measured; the rest is the scatter of 4 cluster positions


def test_large_domain_peaks_where_pymatgen_puts_the_strongest_zif4_reflections(zif4, hist_local):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    wavelength = 1.54184
    pattern = XRDCalculator(wavelength="CuKa").get_pattern(zif4, two_theta_range=(4.0, 30.0))
    theta = np.radians(np.asarray(pattern.x) / 2.0)
    q_hkl = 4.0 * np.pi * np.sin(theta) / wavelength
    lp = (1.0 + np.cos(2.0 * theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))
    powder = np.asarray(pattern.y) / lp / q_hkl**2  # m|F|² / Q²: the Debye equation's powder average
    q = jnp.linspace(0.45, 1.6, 600, dtype=jnp.float32)
    kernel = debye_kernel(q, hist_local)
    diameter = 10.0 * (hist_local.r_max_A - hist_local.local_radius_A) / 10.0
    f = np.asarray(debye_interference(kernel, jnp.asarray(diameter, jnp.float32), jnp.asarray(0.0, jnp.float32),
                                      jnp.asarray(0.0, jnp.float32), jnp.asarray(0.0, jnp.float32)))
    qn = np.asarray(q)
    width = 2.0 * np.pi * 0.9 / diameter / 2.355  # Scherrer FWHM of a sphere of diameter D, as a Gaussian σ
    profile = (powder[None, :] * np.exp(-0.5 * ((qn[:, None] - q_hkl[None, :]) / width) ** 2)).sum(axis=1)
    assert abs(qn[np.argmax(f)] - qn[np.argmax(profile)]) < 0.03
    # the strongest reflection group lies where the Debye F(Q) has its first sharp maximum, and the profile
    # minima (gaps between reflection groups) are minima of F too
    strongest = q_hkl[np.argmax(powder)]
    assert abs(qn[np.argmax(f)] - strongest) < 0.06


def test_small_domains_damp_the_oscillations_and_keep_the_local_units(hist_local):
    q = jnp.linspace(0.6, 4.0, 500, dtype=jnp.float32)
    kernel = debye_kernel(q, hist_local)
    zero = jnp.asarray(0.0, jnp.float32)

    def fq(d_nm: float) -> np.ndarray:
        return np.asarray(debye_interference(kernel, jnp.asarray(10.0 * d_nm, jnp.float32), zero, zero, zero))

    sharp = [np.max(np.abs(np.diff(fq(d)))) for d in (5.0, 2.0, 1.0)]
    assert sharp[0] > 2.0 * sharp[1] > 0.0 and sharp[1] > sharp[2]
    # D → 0: only the local units remain: r < r₀, and the node at r₀ itself (γ = 1 there, the envelope is continuous)
    node_r0 = jnp.zeros_like(kernel.r_A).at[0].set(1.0)
    pairs, uniform = coherent_interference(kernel, node_r0, zero)
    local_only = np.asarray(kernel.local_pairs.sum(axis=0) - kernel.local_uniform + pairs - uniform)
    np.testing.assert_allclose(fq(0.001), local_only, atol=1e-4)


def test_distinct_terms_vanish_at_high_q_without_debye_waller(hist_local):
    """Faber–Ziman: F = S − 1 → 0 as the self term is all that remains; the distinct sum decays like 1/Q."""
    q = jnp.linspace(2.0, 25.0, 2000, dtype=jnp.float32)
    kernel = debye_kernel(q, hist_local, table="cromer_mann")
    zero = jnp.asarray(0.0, jnp.float32)
    f = np.asarray(debye_interference(kernel, jnp.asarray(30.0, jnp.float32), zero, zero, zero))
    qn = np.asarray(q)
    low, high = np.abs(f[(qn > 2.0) & (qn < 5.0)]).max(), np.abs(f[qn > 20.0]).max()
    assert high < 0.3 * low
    assert np.abs(qn * f)[qn > 10.0].max() < 3.0 * np.abs(qn * f)[(qn > 5.0) & (qn < 10.0)].max()
    # the two normalisations differ by ⟨f²⟩/⟨f⟩² in the pair weights
    w1, u1 = pair_weights(q, hist_local, normalisation="<f>^2")
    w2, u2 = pair_weights(q, hist_local, normalisation="<f^2>")
    np.testing.assert_allclose(np.asarray(u1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(w2 / w1), np.broadcast_to(np.asarray(u2), w1.shape), rtol=1e-5)


def test_sinc_matvec_jvp_matches_autodiff_of_the_plain_sum():
    key = jax.random.PRNGKey(0)
    m = jax.random.normal(key, (40, 60), jnp.float32)
    r = jnp.linspace(0.0, 12.0, 60, dtype=jnp.float32)
    q = jnp.linspace(0.5, 10.0, 40, dtype=jnp.float32)

    def plain(x):
        y = (q * x[2])[:, None] * (r * x[1])[None, :] * (1.0 + x[3])
        safe = jnp.where(y > 0.0, y, 1.0)
        return (m * jnp.where(y > 0.0, jnp.sin(safe) / safe, 1.0)) @ (jnp.cos(r) * x[0])

    def custom(x):
        return sinc_matvec(m, jnp.cos(r) * x[0], r * x[1], q * x[2], 1.0 + x[3])

    x = jnp.asarray([1.1, 0.95, 1.05, 0.02], jnp.float32)
    np.testing.assert_allclose(custom(x), plain(x), atol=1e-5)
    np.testing.assert_allclose(jax.jacfwd(custom)(x), jax.jacfwd(plain)(x), atol=2e-4)
    np.testing.assert_allclose(jax.jit(custom)(x), custom(x), atol=1e-6)
