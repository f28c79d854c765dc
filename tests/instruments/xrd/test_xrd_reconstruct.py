"""Atoms from η: common atom ordering (verified or built), interpolation, crystal blocks, errors."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.reconstruct import common_ordering, crystal_atoms, interpolate_structure
from twin.errors import MaterialError


@pytest.fixture(scope="module")
def endpoints(shared_structure):
    """η = 1: MIL-53(Cr) ht; η = 0: the same framework in a sheared, compressed cell with atoms
    jittered and shuffled (so the ordering has to be rebuilt)."""
    from pymatgen.core import Lattice, Structure

    lp = shared_structure("raspa2/MIL-53(Cr)ht.cif")
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(lp))
    a, b, c = lp.lattice.abc
    squeezed = Lattice.from_parameters(a * 1.15, b * 0.6, c, 90.0, 95.0, 90.0)
    frac = (lp.frac_coords + rng.normal(0.0, 0.01, lp.frac_coords.shape)) % 1.0
    np_ = Structure(squeezed, [lp.species[i] for i in perm], frac[perm])
    return np_, lp, perm


def test_ordering_is_rebuilt_and_endpoints_reproduced(endpoints):
    np_, lp, perm = endpoints
    order = common_ordering(np_, lp)
    # atom k of np_ is atom perm[k] of lp
    np.testing.assert_array_equal(order, perm)
    from pymatgen.analysis.structure_matcher import StructureMatcher

    assert StructureMatcher().fit(interpolate_structure(np_, lp, 1.0), lp)
    assert StructureMatcher().fit(interpolate_structure(np_, lp, 0.0), np_)
    mid = interpolate_structure(np_, lp, 0.5)
    assert mid.lattice.abc[1] == pytest.approx(0.5 * (np_.lattice.b + lp.lattice.b), rel=1e-9)
    dist = mid.distance_matrix[np.triu_indices(len(mid), 1)]
    ends = [st.distance_matrix[np.triu_indices(len(st), 1)].min() for st in (np_, lp)]
    assert dist.min() > 0.9 * min(ends)  # no atoms collapse on the path


def test_origin_shift_is_found(endpoints):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    np_, lp, _ = endpoints
    shifted = Structure(np_.lattice, np_.species, (np_.frac_coords + [0.11, 0.07, 0.0]) % 1.0)
    common_ordering(shifted, lp)  # would fail without the origin search (atoms move > 2.5 Å)
    with pytest.raises(MaterialError, match="an atom moves"):
        common_ordering(shifted, lp, allow_origin_shift=False)
    assert StructureMatcher().fit(interpolate_structure(shifted, lp, 1.0), lp)


def test_crystal_block_counts_and_contact(endpoints):
    np_, lp, _ = endpoints
    eta = np.zeros((3, 2, 2))
    eta[1:] = 1.0
    pos, spec, symbols = crystal_atoms(np_, lp, eta, mask=np.ones(eta.shape, bool))
    assert pos.shape == (12 * len(lp), 3) and set(symbols) == {"Cr", "O", "C", "H"}
    mask = np.ones(eta.shape, bool)
    mask[0, 0, 0] = False
    pos2, _, _ = crystal_atoms(np_, lp, eta, mask=mask)
    assert len(pos2) == 11 * len(lp)
    # the block is as long along x as one np cell plus two lp cells
    assert np.ptp(pos[:, 0]) == pytest.approx(np_.lattice.a + 2 * lp.lattice.a, abs=0.25 * lp.lattice.a)


def test_errors_for_partial_occupancy_and_different_frameworks(endpoints, shared_structure):
    from pymatgen.core import Structure

    np_, lp, _ = endpoints
    disordered = lp.copy()
    disordered.replace(0, {"Cr": 0.5, "Al": 0.5})
    with pytest.raises(MaterialError, match=r"site 0 \(.*\) is partially occupied"):
        common_ordering(np_, disordered)
    other = shared_structure("raspa2/IRMOF-1.cif")
    with pytest.raises(MaterialError, match="the endpoint cells differ in content"):
        common_ordering(lp, other)
    scrambled = Structure(lp.lattice, lp.species, np.random.default_rng(3).random((len(lp), 3)))
    with pytest.raises(MaterialError, match=r"an atom moves .* Å between the endpoints; expected at most 2.5 Å"):
        common_ordering(lp, scrambled, allow_origin_shift=False)
