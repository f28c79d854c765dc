r"""Selected-area electron diffraction of a zone axis: kinematical spot lists and the dynamical pattern of the
multislice exit wave.

Kinematical (thin crystal, exact zone-axis orientation, every zone reflection at the Bragg condition): the
reflections of the zone [uvw] are the reciprocal-lattice vectors **g** = h**a*** + k**b*** + l**c*** with the Weiss
zone law hu + kv + lw = 0 and |**g**| ≤ g_max; each has the electron structure factor

.. math:: F_e(\mathbf g) = \sum_j o_j\, f_{e,Z_j}(|\mathbf g|)\, e^{2\pi i\,\mathbf h\cdot\mathbf x_j}\quad[\text{Å}],

with Kirkland's f_e (:mod:`instruments.tem.potentials`), occupancies o_j, fractional coordinates **x**_j, and
intensity |F_e|² (arbitrary scale; no Debye–Waller factor, no excitation error, no dynamical coupling: strong
reflections of thick crystals are over-estimated relative to weak ones). Spots are placed in the image frame of
:func:`instruments.tem.specimen.zone_frame` (x̂ along the first in-plane period, ŷ = ẑ × x̂, ẑ the beam), so the
pattern and the HRTEM image share axes. The reciprocal basis is **a*** = (**b** × **c**)/V etc. (no 2π), the
crystallographer's convention (pymatgen's ``reciprocal_lattice_crystallographic``).

Dynamical: |F[ψ_exit]|² of the multislice exit wave (:func:`exit_wave_pattern`): all multiple scattering
within the slab, on the grid's reciprocal lattice (spots on pixels when the field is a period of the crystal).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from instruments.tem.potentials import electron_form_factor_A
from instruments.tem.specimen import zone_frame
from mofcore.errors import DataFormatError

__all__ = ["ZoneReflections", "zone_reflections", "coexisting_reflections", "render_pattern", "exit_wave_pattern"]


@dataclass(frozen=True)
class ZoneReflections:
    """Reflections of one zone: ``hkl`` (n, 3) int, ``g_xy_inv_A`` (n, 2) in the image frame [Å⁻¹],
    ``d_A`` (n,), ``intensity`` (n,) = |F_e|² [Å²], the zone and the frame rows (x̂, ŷ, ẑ) (3, 3)."""

    hkl: np.ndarray
    g_xy_inv_A: np.ndarray
    d_A: np.ndarray
    intensity: np.ndarray
    zone: tuple[int, int, int]
    frame: np.ndarray


def zone_reflections(structure, zone: tuple[int, int, int], g_max_inv_A: float = 1.0,
                     min_relative_intensity: float = 1e-6) -> ZoneReflections:
    """The kinematical reflections of ``zone`` up to ``g_max_inv_A`` (without 000), strongest first."""
    if tuple(zone) == (0, 0, 0):
        raise DataFormatError("zone: the zone axis [0 0 0] is no direction; give e.g. \"1 0 0\"")
    if not g_max_inv_A > 0:
        raise DataFormatError(f"g_max: expected > 0 1/Å, got {g_max_inv_A:g}")
    m = np.asarray(structure.lattice.matrix, dtype=np.float64)
    recip = np.linalg.inv(m).T  # rows a*, b*, c* [1/Å]
    _, frame = zone_frame(m, tuple(zone))
    n = np.ceil(g_max_inv_A * np.linalg.norm(m, axis=1)).astype(int)
    hkl = np.array(list(itertools.product(*(range(-k, k + 1) for k in n))), dtype=np.int64)
    hkl = hkl[(hkl @ np.asarray(zone)) == 0]
    hkl = hkl[np.any(hkl != 0, axis=1)]
    g = hkl @ recip
    g_len = np.linalg.norm(g, axis=1)
    keep = g_len <= g_max_inv_A
    hkl, g, g_len = hkl[keep], g[keep], g_len[keep]
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    symbols = [site.specie.symbol for site in structure]
    occ = np.array([next(iter(site.species.values())) for site in structure], dtype=np.float64)
    fe = np.stack([electron_form_factor_A(s, g_len) for s in symbols], axis=1)  # (n_refl, n_atoms)
    phase = np.exp(2j * np.pi * (hkl @ frac.T))
    intensity = np.abs(np.sum(occ * fe * phase, axis=1)) ** 2
    strong = intensity >= min_relative_intensity * (intensity.max() if intensity.size else 0)
    order = np.argsort(-intensity[strong], kind="stable")
    hkl, g, g_len, intensity = hkl[strong][order], g[strong][order], g_len[strong][order], intensity[strong][order]
    return ZoneReflections(hkl=hkl, g_xy_inv_A=g @ frame[:2].T, d_A=1.0 / g_len, intensity=intensity,
                           zone=tuple(zone), frame=frame)


def coexisting_reflections(parts: list[tuple[ZoneReflections, float, float]]) -> ZoneReflections:
    """The selected-area pattern of coexisting domains: the incoherent sum of each phase's reflections, weighted by
    its volume fraction over its cell volume squared (kinematical intensity per unit volume ∝ |F_e|²/V_c²).

    Args:
        parts: (reflections of one phase, volume fraction ≥ 0, cell volume [Å³]) per phase, all of the same zone
            orientation in the image frame (domains in a common orientation, e.g. lp and np along the chain axis).
    """
    if not parts:
        raise DataFormatError("coexisting_reflections: no phases given")
    if any(f < 0 for _, f, _ in parts) or not sum(f for _, f, _ in parts) > 0:
        raise DataFormatError("coexisting_reflections: volume fractions must be ≥ 0 and not all 0")
    hkl = np.vstack([r.hkl for r, _, _ in parts])
    g = np.vstack([r.g_xy_inv_A for r, _, _ in parts])
    d = np.concatenate([r.d_A for r, _, _ in parts])
    inten = np.concatenate([r.intensity * f / v**2 for r, f, v in parts])
    order = np.argsort(-inten, kind="stable")
    first = parts[0][0]
    return ZoneReflections(hkl=hkl[order], g_xy_inv_A=g[order], d_A=d[order], intensity=inten[order],
                           zone=first.zone, frame=first.frame)


def render_pattern(refl: ZoneReflections, n_pixels: int = 256, g_max_inv_A: float | None = None,
                   spot_sigma_inv_A: float = 0.004) -> tuple[np.ndarray, float]:
    """A pattern image (n, n) of Gaussian spots of total weight |F_e|² each, centred on 000 (drawn with the
    strongest reflection's weight), and its pixel size [Å⁻¹]. Rows run along increasing g_y, columns g_x."""
    gmax = g_max_inv_A or (float(np.max(np.abs(refl.g_xy_inv_A))) * 1.05 if refl.hkl.size else 1.0)
    pixel = 2 * gmax / n_pixels
    axis = (np.arange(n_pixels) - n_pixels / 2 + 0.5) * pixel
    gx = axis.reshape(1, n_pixels)
    gy = axis.reshape(n_pixels, 1)
    img = np.zeros((n_pixels, n_pixels))
    spots = np.vstack([np.zeros((1, 2)), refl.g_xy_inv_A])
    weights = np.concatenate([[refl.intensity.max() if refl.intensity.size else 1.0], refl.intensity])
    s2 = max(spot_sigma_inv_A, pixel) ** 2
    for (x, y), w in zip(spots, weights):
        if abs(x) <= gmax and abs(y) <= gmax:
            img += w * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * s2))
    return img, pixel


def exit_wave_pattern(psi_exit, sampling_A: tuple[float, float]) -> tuple[np.ndarray, tuple[float, float]]:
    """Dynamical pattern |F[ψ]|² / N² (sums to ⟨|ψ|²⟩), centred (fftshift: k = 0 at (ny//2, nx//2)), rows along
    increasing k_y; and the pixel sizes [Å⁻¹]."""
    psi = np.asarray(psi_exit)
    ny, nx = psi.shape
    p = np.abs(np.fft.fftshift(np.fft.fft2(psi))) ** 2 / (nx * ny) ** 2
    return p, (1.0 / (nx * sampling_A[0]), 1.0 / (ny * sampling_A[1]))
