"""Reflection lists for planning an experiment: merged peaks with relative intensities (host side).

Families (Laue orbits) that fall at the same 2θ within ``merge_tol_deg`` (accidental overlaps such as
cubic (333)/(511)) are merged into one peak, as pymatgen's ``XRDCalculator`` does (it bins 2θ at 1e-5°);
intensities are scaled to 100 for the strongest peak and peaks below ``min_rel`` percent are dropped
(pymatgen: 1e-3 %). For a lab doublet only the Kα1 list is reported (Kα2 is a copy at λ₂ with half the
intensity); the profile includes both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instruments.xrd.reflections import family_intensities_jit
from instruments.xrd.structure import PhaseStructure

__all__ = ["peak_list"]


def peak_list(
    phase: PhaseStructure,
    wavelength_A: float,
    two_theta_range_deg: tuple[float, float],
    *,
    lattice: Any = None,
    merge_tol_deg: float = 1e-4,
    min_rel: float = 1e-3,
    monochromator_two_theta_deg: float = 0.0,
    polarisation_fraction: float = 0.5,
) -> list[dict[str, Any]]:
    """Peaks ``[{"two_theta_deg", "d_A", "intensity_rel", "hkl": [[h, k, l], ...], "multiplicity"}]``.

    Sorted by 2θ; ``hkl`` lists one representative per merged family (largest indices first).
    """
    lat = phase.lattice if lattice is None else lattice
    tth, inten, d = (np.asarray(x, dtype=float) for x in family_intensities_jit(
        phase, lat, np.float32(wavelength_A), np.float32(monochromator_two_theta_deg),
        np.float32(polarisation_fraction)))
    lo, hi = two_theta_range_deg
    sel = (tth >= lo) & (tth <= hi) & (inten > 0)
    if not sel.any():
        return []
    tth, inten, d = tth[sel], inten[sel], d[sel]
    hkl = np.asarray(phase.hkl, dtype=float)[sel].round().astype(int)
    mult = np.asarray(phase.multiplicity, dtype=float)[sel].round().astype(int)
    order = np.argsort(tth, kind="stable")
    tth, inten, d, hkl, mult = tth[order], inten[order], d[order], hkl[order], mult[order]
    group = np.concatenate([[0], np.cumsum(np.diff(tth) > merge_tol_deg)])
    n = int(group[-1]) + 1
    total = np.bincount(group, weights=inten, minlength=n)
    imax = total.max()
    peaks = []
    for g in range(n):  # host-side formatting of the output list, not a hot path
        idx = np.flatnonzero(group == g)
        rel = 100.0 * total[g] / imax
        if rel < min_rel:
            continue
        lead = idx[np.argmax(inten[idx])]
        peaks.append(
            {
                "two_theta_deg": float(tth[lead]),
                "d_A": float(d[lead]),
                "intensity_rel": float(rel),
                "hkl": [hkl[i].tolist() for i in idx],
                "multiplicity": [int(mult[i]) for i in idx],
            }
        )
    return peaks
