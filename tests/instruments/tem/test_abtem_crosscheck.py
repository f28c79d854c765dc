"""Cross-check against abTEM (an optional peer; skipped when it is not installed — it is not installed in the
project's environment, so this test has not run there yet).

Same atoms, sampling, slices, voltage and parametrisation (Kirkland, infinite projection): the exit-wave phases
of a thin MIL-53(Al) lp slab down [100] are compared by correlation. abTEM's ``defocus`` is −C10, positive for
underfocus, i.e. −Δf of this package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

abtem = pytest.importorskip("abtem")
ase = pytest.importorskip("ase")

from instruments.tem.multislice import Grid, exit_wave  # noqa: E402
from instruments.tem.specimen import specimen_from_structure  # noqa: E402
from instruments.xrd.structure import load_structure  # noqa: E402

LP = Path(__file__).resolve().parents[3] / "datasets" / "structures" / "mil53al_lp.cif"


def test_exit_wave_phase_correlates_with_abtem():
    spec = specimen_from_structure(load_structure(LP), (1, 0, 0), field_A=30.0, thickness_A=6.0)
    n = (336, 384)  # 0.1 Å over 33.472 × 38.52 Å
    grid = Grid((n[1], n[0]), spec.extent_A)
    ours = np.asarray(exit_wave(spec, grid, 300e3, slice_thickness_A=spec.repeat_A / 4))
    symbols = [spec.symbols[i] for i in spec.species_index]
    atoms = ase.Atoms(symbols=symbols, positions=spec.xyz_A, cell=[spec.extent_A[0], spec.extent_A[1], spec.repeat_A],
                      pbc=True)
    potential = abtem.Potential(atoms, gpts=n, slice_thickness=spec.repeat_A / 4, parametrization="kirkland",
                                projection="infinite")
    theirs = abtem.PlaneWave(energy=300e3).multislice(potential).compute().array
    theirs = np.asarray(theirs).reshape(n).T  # abTEM arrays are (x, y); ours (y, x)
    a, b = np.angle(ours).ravel(), np.angle(theirs).ravel()
    r = np.corrcoef(a, b)[0, 1]
    print(f"exit-wave phase correlation with abTEM: {r:.4f}")
    assert r > 0.95
