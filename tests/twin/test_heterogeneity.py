"""Heterogeneity generators: statistics against their definitions, determinism, validation."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from twin.errors import ScenarioError
from twin.heterogeneity import (
    DEFECT_POINT,
    DEFECT_REGION,
    defect_map,
    gaussian_random_field,
    powder_sizes_A,
    threshold_to_fraction,
    void_mask,
)
from twin.scenario import Heterogeneity, SizeDistribution

CELL = (6.6, 16.7, 12.8)


def test_grf_covariance_matches_squared_exponential():
    # covariance at lag r along x must be exp(-r²/2ℓ²) (ℓ in cells); average over a few realisations
    ell = 4.0
    shape = (128, 32, 32)
    fields = [np.asarray(gaussian_random_field(jax.random.PRNGKey(s), shape, (ell, 2.0, 2.0))) for s in range(4)]
    for lag in (2, 4, 8):
        cov = np.mean([np.mean(f * np.roll(f, lag, axis=0)) for f in fields])
        assert cov == pytest.approx(np.exp(-(lag**2) / (2 * ell**2)), abs=0.05), lag
    f = fields[0]
    assert f.mean() == pytest.approx(0.0, abs=1e-5) and f.std() == pytest.approx(1.0, rel=1e-4)


def test_threshold_gives_requested_fraction():
    f = gaussian_random_field(jax.random.PRNGKey(1), (40, 40, 40), (3.0, 3.0, 3.0))
    assert float(threshold_to_fraction(f, 0.15).mean()) == pytest.approx(0.15, abs=1e-3)
    assert not bool(threshold_to_fraction(f, 0.0).any())


def test_defect_map_concentration_and_regions_and_determinism():
    h = Heterogeneity(defect_concentration=0.05, nanoregion_fraction=0.1, correlation_length_A=40.0)
    a = np.asarray(defect_map(jax.random.PRNGKey(3), (48, 24, 24), h, CELL))
    b = np.asarray(defect_map(jax.random.PRNGKey(3), (48, 24, 24), h, CELL))
    np.testing.assert_array_equal(a, b)
    assert (a == DEFECT_REGION).mean() == pytest.approx(0.1, abs=2e-3)
    outside = a[a != DEFECT_REGION]
    # binomial: 0.05 ± 3σ on ~25k sites
    assert (outside == DEFECT_POINT).mean() == pytest.approx(0.05, abs=3 * np.sqrt(0.05 * 0.95 / outside.size))


def test_voids_fraction():
    h = Heterogeneity(void_fraction=0.2, correlation_length_A=30.0)
    assert float(void_mask(jax.random.PRNGKey(0), (32, 32, 32), h, CELL).mean()) == pytest.approx(0.2, abs=2e-3)


def test_powder_sizes_are_lognormal():
    d = SizeDistribution(median_A=3000.0, width=0.4, n_crystals=4000, aspect=(1.0, 0.5, 0.5))
    sizes = powder_sizes_A(jax.random.PRNGKey(0), d)
    assert sizes.shape == (4000, 3)
    logs = np.log(sizes[:, 0])
    assert np.exp(np.median(logs)) == pytest.approx(3000.0, rel=0.03)
    assert logs.std() == pytest.approx(0.4, rel=0.05)
    np.testing.assert_allclose(sizes[:, 1] / sizes[:, 0], 0.5)


@pytest.mark.parametrize(
    "h, message",
    [
        (Heterogeneity(nanoregion_fraction=0.1, correlation_length_A=2.0), r"heterogeneity\.correlation_length: expected at least one lattice cell"),
        (Heterogeneity(defect_concentration=1.0), r"heterogeneity\.defect_concentration: expected a fraction in \[0, 1\)"),
        (Heterogeneity(defect_concentration=-0.1), r"heterogeneity\.defect_concentration"),
    ],
)
def test_bad_heterogeneity(h, message):
    with pytest.raises(ScenarioError, match=message):
        defect_map(jax.random.PRNGKey(0), (8, 8, 8), h, CELL)


def test_bad_width():
    with pytest.raises(ScenarioError, match=r"crystal\.distribution\.width: expected a positive width"):
        powder_sizes_A(jax.random.PRNGKey(0), SizeDistribution(3000.0, 0.0, 3))


def test_validation_message_names_the_file():
    from twin.heterogeneity import validate_heterogeneity

    with pytest.raises(ScenarioError, match=r"^run\.toml: heterogeneity\.void_fraction: expected a fraction"):
        validate_heterogeneity(Heterogeneity(void_fraction=1.5), CELL, "run.toml")
