r"""Electron scattering factors and projected atomic potentials (Kirkland parametrisation).

Parametrisation: E. J. Kirkland, *Advanced Computing in Electron Microscopy*, 2nd ed. (Springer, 2010),
Appendix C, Table C.4 (fit to relativistic Hartree–Fock/Dirac–Fock scattering factors for 0 ≤ q ≤ 12 Å⁻¹):

.. math:: f_e(q) = \sum_{i=1}^{3}\frac{a_i}{q^2 + b_i} + \sum_{i=1}^{3} c_i\,e^{-d_i q^2}

with q = 2 sinθ/λ = 1/d [Å⁻¹] (not s = q/2), f_e in Å (first Born approximation, rest-mass normalisation). The
12 numbers per element (a₁ b₁ a₂ b₂ a₃ b₃ c₁ d₁ c₂ d₂ c₃ d₃, as printed in the table) are the published values,
given here for the elements of the MOFs the twin models (H, C, N, O, Al, Cr, Ni, Cu, Zn); another element raises
:class:`~mofcore.errors.DataFormatError` naming the ones available.

Projected potential of one atom (Kirkland 2010, eqs. C.19–C.20), r the distance from the column [Å]:

.. math:: v_z(r) = 4\pi^2 a_0 e \sum_i a_i K_0(2\pi r\sqrt{b_i})
                 + 2\pi^2 a_0 e \sum_i \frac{c_i}{d_i} e^{-\pi^2 r^2/d_i}  \quad [\mathrm{V\,Å}],

a₀e = a₀ · e/(4πε₀) = 7.620 V·Å² (from :mod:`scipy.constants`). Its 2-D Fourier transform is
V̂(k) = 2π a₀e f_e(|k|), which is how :func:`slice_potentials` builds slices: on the grid of a periodic field of
area A, the Fourier coefficients of the projected potential of the atoms of one slice are

.. math:: \hat v(\mathbf k) = \frac{2\pi a_0 e}{A}\sum_j f_{e,Z_j}(|\mathbf k|)\,e^{-2\pi i\,\mathbf k\cdot\mathbf r_j},

evaluated exactly at every grid frequency (the phase factors of each atom are separable in k_x and k_y, so the
sum over atoms is one complex matrix product per element and slice), zeroed beyond the anti-aliasing band limit,
and transformed back. Atoms sit at their exact (off-grid) positions: no interpolation.

Left out: thermal vibration (no Debye–Waller damping here; frozen phonons displace the atoms instead:
:func:`instruments.tem.multislice.frozen_phonon_images`), bonding/ionicity
(independent-atom model), absorption.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.constants as sc

from mofcore.errors import DataFormatError

__all__ = ["KIRKLAND_2010", "A0_E_V_A2", "kirkland_params", "electron_form_factor_A", "projected_potential_V_A",
           "slice_potentials"]

#: a₀ e/(4πε₀) [V·Å²]: Bohr radius [Å] times e/(4πε₀) [V·Å]
A0_E_V_A2 = sc.physical_constants["Bohr radius"][0] * 1e10 * sc.e / (4 * math.pi * sc.epsilon_0) * 1e10

#: Kirkland (2010), Appendix C, Table C.4: a1 b1 a2 b2 a3 b3 c1 d1 c2 d2 c3 d3 (a, c in Å⁻¹·Å² resp. Å; b, d in Å²)
KIRKLAND_2010: dict[str, tuple[float, ...]] = {
    "H": (4.20298324e-003, 2.25350888e-001, 6.27762505e-002, 2.25366950e-001, 3.00907347e-002, 2.25331756e-001,
          6.77756695e-002, 4.38854001e+000, 3.56609237e-003, 4.03884823e-001, 2.76135815e-002, 1.44490166e+000),
    "C": (2.12080767e-001, 2.08605417e-001, 1.99811865e-001, 2.08610186e-001, 1.68254385e-001, 5.57870773e+000,
          1.42048360e-001, 1.33311887e+000, 3.63830672e-001, 3.80800263e+000, 8.35012044e-004, 4.03982620e-002),
    "N": (5.33015554e-001, 2.90952515e-001, 5.29008883e-002, 1.03547896e+001, 9.24159648e-002, 1.03540028e+001,
          2.61799101e-001, 2.76252723e+000, 8.80262108e-004, 3.47681236e-002, 1.10166555e-001, 9.93421736e-001),
    "O": (3.39969204e-001, 3.81570280e-001, 3.07570172e-001, 3.81571436e-001, 1.30369072e-001, 1.91919745e+001,
          8.83326058e-002, 7.60635525e-001, 1.96586700e-001, 2.07401094e+000, 9.96220028e-004, 3.03266869e-002),
    "Al": (7.77419424e-001, 2.71058227e+000, 5.78312036e-002, 7.17532098e+001, 4.26386499e-001, 9.13331555e-002,
           1.13407220e-001, 4.48867451e-001, 7.90114035e-001, 8.66366718e+000, 3.23293496e-002, 1.78503463e-001),
    "Cr": (1.34348379e+000, 1.25814353e+000, 5.07040328e-001, 1.15042811e+001, 4.26358955e-001, 8.53660389e-002,
           1.17241826e-002, 6.00177061e-002, 5.11966516e-001, 1.53772451e+000, 3.38285828e-001, 6.62418319e-001),
    "Ni": (1.72254630e+000, 7.76606908e-001, 3.29543044e-001, 1.02262360e-001, 6.23007200e-001, 1.94156207e+001,
           9.43496513e-003, 3.98684596e-002, 8.54063515e-001, 1.04078166e+001, 2.21073515e-001, 5.10869330e-001),
    "Cu": (3.58774531e-001, 1.06153463e-001, 1.76181348e+000, 1.01640995e+000, 6.36905053e-001, 1.53659093e+001,
           7.44930667e-003, 3.85345989e-002, 1.89002347e-001, 3.98427790e-001, 2.29619589e-001, 9.01419843e-001),
    "Zn": (5.70893973e-001, 1.26534614e-001, 1.98908856e+000, 2.17781965e+000, 3.06060585e-001, 3.78619003e+001,
           2.35600223e-001, 3.67019041e-001, 3.97061102e-001, 8.66419596e-001, 6.85657228e-003, 3.35778823e-002),
}


@lru_cache(maxsize=None)
def kirkland_params(symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c, d), each (3,), of an element; DataFormatError for an element outside the table."""
    if symbol not in KIRKLAND_2010:
        raise DataFormatError(f"element {symbol!r}: no Kirkland (2010) electron scattering factor in this version "
                              f"(available: {', '.join(KIRKLAND_2010)})")
    p = np.asarray(KIRKLAND_2010[symbol], dtype=np.float64).reshape(6, 2)
    return p[0:3, 0], p[0:3, 1], p[3:6, 0], p[3:6, 1]


def electron_form_factor_A(symbol: str, q_inv_A):
    """f_e(q) [Å] of ``symbol`` at q = 1/d [Å⁻¹] (NumPy or JAX array of any shape; float32 for JAX input)."""
    a, b, c, d = kirkland_params(symbol)
    if isinstance(q_inv_A, (np.ndarray, float, int)):
        q2 = np.asarray(q_inv_A, dtype=np.float64)[..., None] ** 2
        return np.sum(a / (q2 + b) + c * np.exp(-d * q2), axis=-1)
    import jax.numpy as jnp

    q2 = (q_inv_A * q_inv_A)[..., None]
    a, b, c, d = (jnp.asarray(x, dtype=q2.dtype).reshape((1,) * (q2.ndim - 1) + (3,)) for x in (a, b, c, d))
    return jnp.sum(a / (q2 + b) + c * jnp.exp(-d * q2), axis=-1)


def projected_potential_V_A(symbol: str, r_A: np.ndarray) -> np.ndarray:
    """v_z(r) [V·Å] of one atom in real space (eq. in the module docstring; r > 0 [Å]); NumPy, for checks."""
    from scipy.special import k0

    a, b, c, d = kirkland_params(symbol)
    r = np.asarray(r_A, dtype=np.float64)[..., None]
    return (4 * math.pi**2 * A0_E_V_A2 * np.sum(a * k0(2 * math.pi * r * np.sqrt(b)), axis=-1)
            + 2 * math.pi**2 * A0_E_V_A2 * np.sum(c / d * np.exp(-(math.pi**2) * r**2 / d), axis=-1))


def slice_potentials(
    xy_A: np.ndarray,
    slice_index: np.ndarray,
    symbols: tuple[str, ...],
    species_index: np.ndarray,
    n_slices: int,
    extent_A: tuple[float, float],
    shape: tuple[int, int],
    band_limit_inv_A: float | None,
):
    """Projected potential of each slice of a periodic field, (n_slices, ny, nx) float32 [V·Å] (JAX).

    Args:
        xy_A: in-plane atom positions (x, y) [Å], (n_atoms, 2).
        slice_index: slice of each atom, int (n_atoms,).
        symbols: element symbols; ``species_index`` (n_atoms,) indexes them.
        n_slices: number of slices.
        extent_A: field (Lx, Ly) [Å] (periodic).
        shape: grid (ny, nx).
        band_limit_inv_A: Fourier coefficients with |k| above this are zeroed (``None``: keep all).

    The atoms are grouped by (slice, element) on the host and padded to the largest group, so that the
    compiled part is one batched matrix product (n_slices · n_elements products of (ny × n) · (n × nx)).
    """
    import jax.numpy as jnp

    ny, nx = shape
    lx, ly = extent_A
    xy = np.asarray(xy_A, dtype=np.float64)
    sl = np.asarray(slice_index, dtype=np.int64)
    sp = np.asarray(species_index, dtype=np.int64)
    n_el = len(symbols)
    counts = np.zeros((n_slices, n_el), dtype=np.int64)
    np.add.at(counts, (sl, sp), 1)
    width = -(-max(int(counts.max()) if counts.size else 0, 1) // 32) * 32  # padded: fewer recompilations
    pos = np.zeros((n_slices, n_el, width, 2))
    weight = np.zeros((n_slices, n_el, width), dtype=np.float32)
    order = np.lexsort((sp, sl))
    fill = np.zeros((n_slices, n_el), dtype=np.int64)
    for j in order:
        i = fill[sl[j], sp[j]]
        pos[sl[j], sp[j], i] = xy[j]
        weight[sl[j], sp[j], i] = 1.0
        fill[sl[j], sp[j]] += 1
    kx = np.fft.fftfreq(nx, d=lx / nx)
    ky = np.fft.fftfreq(ny, d=ly / ny)
    # phase factors, computed in float64 on the host (x·k reaches 1e3 turns), then complex64
    ex = np.exp(-2j * np.pi * (pos[..., 0:1] % lx) * kx.reshape(1, 1, 1, nx)).astype(np.complex64)
    ey = np.exp(-2j * np.pi * (pos[..., 1:2] % ly) * ky.reshape(1, 1, 1, ny)).astype(np.complex64)
    k = np.sqrt(ky.reshape(ny, 1) ** 2 + kx.reshape(1, nx) ** 2)
    fe = np.stack([electron_form_factor_A(s, k) for s in symbols]) * (2 * math.pi * A0_E_V_A2 / (lx * ly))
    if band_limit_inv_A is not None:
        fe = fe * (k <= band_limit_inv_A).reshape(1, ny, nx)
    return _slices(jnp.asarray(ex), jnp.asarray(ey), jnp.asarray(weight), jnp.asarray(fe.astype(np.float32)))


@__import__("jax").jit
def _slices(ex, ey, weight, fe):
    import jax
    import jax.numpy as jnp

    w = jax.lax.complex(weight, jnp.zeros_like(weight))[..., None]
    s = jnp.einsum("eay,eax->eyx", (ey * w).reshape((-1,) + ey.shape[2:]), ex.reshape((-1,) + ex.shape[2:]))
    s = s.reshape(ex.shape[0], ex.shape[1], ey.shape[-1], ex.shape[-1])
    spectrum = jnp.sum(s * jax.lax.complex(fe, jnp.zeros_like(fe))[None], axis=1)
    ny, nx = spectrum.shape[-2:]
    return jnp.real(jnp.fft.ifft2(spectrum)) * (nx * ny)
