"""Whole-pattern refinement against patterns that pymatgen computes.

The test data are built independently of the refinement's structure-factor code: reflection positions and
intensities (|F|², Lorentz–polarisation, multiplicity by enumeration) come from pymatgen's
``XRDCalculator`` for MIL-53(Cr) lp and np (shared data, RASPA2 CIFs) on lattices strained by known
amounts; each phase is weighted by N_p/V_p (cells in the beam over the cell volume, Warren's per-cell
intensity), profiles are pseudo-Voigts with a Caglioti instrument width and a Lorentzian size width of
spheres of known diameter (⟨L⟩_V = 3D/4), a known Chebyshev background is added and Poisson counts drawn.
The refinement starts from the unstrained CIF cells and must return the truth within its esd's with
Rwp ≈ Rexp.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from instruments.xrd import make_instrument, phase_from_structure
from instruments.xrd.profiles import caglioti_fwhm_deg, chebyshev_background, pseudo_voigt, size_fwhm_deg, tch_fwhm_fraction
from twin.errors import FitError
from twin.fit.pattern import make_refinement, refine_pattern, refine_series

LAMBDA = 1.5406
STRAIN = {"lp": (1.004, 0.997, 1.002), "np": (0.998, 1.003, 1.001)}
SIZE_NM = {"lp": 60.0, "np": 35.0}
CAGLIOTI = (0.004, -0.002, 0.003)


def _strained(structure, factors):
    s = structure.copy()
    a, b, c = (x * f for x, f in zip(s.lattice.abc, factors))
    s.lattice = type(s.lattice).from_parameters(a, b, c, *s.lattice.angles)
    return s


def _pymatgen_phase_pattern(structure, size_nm, tth):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    pat = XRDCalculator(wavelength=LAMBDA).get_pattern(structure, scaled=False, two_theta_range=(tth[0] - 1, tth[-1] + 1))
    center = jnp.asarray(pat.x, jnp.float32)
    g = caglioti_fwhm_deg(center, *CAGLIOTI)
    lor = size_fwhm_deg(center, jnp.asarray(LAMBDA, jnp.float32), jnp.full(center.shape, 0.75 * 10.0 * size_nm, jnp.float32))
    fwhm, frac = tch_fwhm_fraction(g, lor)
    prof = pseudo_voigt(jnp.asarray(tth, jnp.float32), center, fwhm, frac)
    return np.asarray(jnp.asarray(pat.y, jnp.float32) @ prof, float) / structure.volume


@pytest.fixture(scope="module")
def mixture(shared_data):
    from instruments.xrd import load_structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp = load_structure(shared_data / "structures" / "raspa2" / "MIL-53(Cr)ht.cif")
        np_ = load_structure(shared_data / "structures" / "raspa2" / "MIL-53(Cr)lt.cif")
    tth = np.arange(6.0, 36.0, 0.02)
    truth_cells = {"lp": 1.0, "np": 0.6}
    strained = {"lp": _strained(lp, STRAIN["lp"]), "np": _strained(np_, STRAIN["np"])}
    clean = sum(truth_cells[k] * _pymatgen_phase_pattern(strained[k], SIZE_NM[k], tth) for k in ("lp", "np"))
    scale = 2.0e4 / clean.max()
    bg = np.asarray(chebyshev_background(jnp.asarray(tth), jnp.asarray([300.0, -60.0, 20.0]), tth[0], tth[-1]), float)
    mass = {k: float(strained[k].composition.weight) for k in strained}
    w_lp = truth_cells["lp"] * mass["lp"] / sum(truth_cells[k] * mass[k] for k in strained)
    phases = [phase_from_structure(lp, 2.4, name="lp"), phase_from_structure(np_, 2.4, name="np")]
    return {"tth": tth, "clean": scale * clean + bg, "phases": phases, "strained": strained, "w_lp": w_lp}


def _setup(mixture):
    inst = make_instrument(LAMBDA, caglioti_u=CAGLIOTI[0], caglioti_v=CAGLIOTI[1], caglioti_w=CAGLIOTI[2],
                           tch_x=0.0, tch_y=0.0)
    return make_refinement(mixture["phases"], inst, mixture["tth"], size_nm=[80.0, 80.0], fix=("strain_variance",
                           "size_log_variance"), lattice_window=0.02)


def test_refinement_recovers_pymatgen_lattices_fractions_and_sizes(mixture):
    rng = np.random.default_rng(11)
    counts = rng.poisson(mixture["clean"]).astype(float)
    fit = refine_pattern(_setup(mixture), counts)
    assert fit.converged[0]
    assert fit.rwp[0] == pytest.approx(fit.rexp[0], rel=0.05)  # Rwp ≈ Rexp: the model describes the data
    for label in ("lp", "np"):
        truth = mixture["strained"][label].lattice.abc
        for axis, true in zip(("a_A", "b_A", "c_A"), truth):
            value, esd = fit.value(f"{label}.{axis}")
            assert abs(value - true) <= 3.0 * esd + 1e-5 * true, (label, axis, value, esd, true)  # + float32
        size, esd = fit.value(f"{label}.size_nm")
        assert abs(size - SIZE_NM[label]) <= 3.0 * esd, (label, size, esd)
    w, w_esd = fit.weight_fraction[0, 0], fit.weight_fraction_esd[0, 0]
    assert abs(w - mixture["w_lp"]) <= 3.0 * w_esd, (w, w_esd, mixture["w_lp"])


def test_sequential_series_follows_fractions_and_freezes_a_vanished_phase(mixture):
    """Frames from pure lp to a mixture; in the pure frames the absent np keeps its start values, esd 0."""
    rng = np.random.default_rng(5)
    base = mixture["clean"]
    lp_only = _pymatgen_phase_pattern(mixture["strained"]["lp"], SIZE_NM["lp"], mixture["tth"])
    lp_only = lp_only * (2.0e4 / lp_only.max()) + base.min()
    frames = np.stack([rng.poisson(lp_only), rng.poisson(lp_only), rng.poisson(base)]).astype(float)
    setup = _setup(mixture)
    fit = refine_series(setup, frames)
    k_np_a = fit.names.index("np.a_A")
    assert not fit.refined[0, k_np_a] and fit.esd[0, k_np_a] == 0.0
    assert fit.values[0, k_np_a] == pytest.approx(setup.x0[k_np_a])
    assert fit.weight_fraction[0, 1] < 0.01 and fit.refined[2, k_np_a]
    assert abs(fit.weight_fraction[2, 0] - mixture["w_lp"]) <= 3 * fit.weight_fraction_esd[2, 0]
    assert np.all(fit.rwp < 1.1 * fit.rexp + 0.005)


def test_bad_refinement_input(mixture):
    setup = _setup(mixture)
    with pytest.raises(FitError, match="the data have 10 points but the model grid has"):
        refine_pattern(setup, np.ones(10))
    with pytest.raises(FitError, match="fix: 'nonsense' matches no parameter"):
        make_refinement(mixture["phases"], setup.instrument, mixture["tth"], fix=("nonsense",))
    with pytest.raises(FitError, match="domain_shape must be 'sphere' or 'box'"):
        make_refinement(mixture["phases"], setup.instrument, mixture["tth"], domain_shape="cylinder")


def test_cubic_lattice_parameter_moves_the_whole_cell():
    """A refined a of a cubic phase scales b and c with it: the model at a = 1.01 a_CIF is the pattern of the
    cell scaled by 1.01 in every direction (not the average of the refined and the CIF edges)."""
    from instruments.xrd import make_phase_state, phase_from_cif, powder_pattern
    from twin.datasets import dataset_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phase = phase_from_cif(dataset_path("structures/hkust1.cif"), 2.5)
    assert phase.crystal_system == "cubic"
    inst = make_instrument(LAMBDA)
    tth = np.linspace(5.0, 30.0, 1001)
    setup = make_refinement([phase], inst, tth, n_background=0, size_nm=80.0)
    x = np.asarray(setup.x0, float)
    i_a = setup.names.index(f"{phase.name}.a_A")
    x[i_a] *= 1.01
    ours = np.asarray(setup.model()(jnp.asarray(x, jnp.float32)))
    lattice = np.asarray(phase.lattice, float) * np.array([1.01, 1.01, 1.01, 1, 1, 1])
    strain = np.sqrt(x[setup.names.index(f"{phase.name}.strain_variance")])
    from twin.fit.pattern import lognormal_sizes_A

    size_A, weight = lognormal_sizes_A(jnp.asarray(80.0, jnp.float32), jnp.sqrt(jnp.asarray(x[setup.names.index(f"{phase.name}.size_log_variance")], jnp.float32)))
    state = make_phase_state(lattice, cell_count=x[setup.names.index(f"{phase.name}.scale")], size_A=size_A,
                             size_weight=weight, microstrain=strain, domain_shape=setup.domain_shape)
    expected = np.asarray(powder_pattern((phase,), (state,), inst, jnp.asarray(tth, jnp.float32)))
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4 * expected.max())


def test_strain_variance_has_a_nonzero_derivative_at_zero(mixture):
    """The refined ε² starts from its lower bound 0 without being trapped there: ∂y/∂ε² ≠ 0 at ε² = 0."""
    import jax

    setup = _setup(mixture)
    model = setup.model()
    x = jnp.asarray(setup.x0, jnp.float32)
    for p in setup.phases:
        i = setup.names.index(f"{p.name}.strain_variance")
        column = jax.jacfwd(lambda v, i=i: model(x.at[i].set(v)))(jnp.float32(0.0))
        assert float(jnp.linalg.norm(column)) > 0.0
