r"""X-ray atomic scattering factors f₀(s), s = sin θ / λ = 1/(2d) [Å⁻¹].

Two named tables:

``"pymatgen"`` (default)
    The Mott–Bethe form used by pymatgen's ``XRDCalculator`` and by De Graef & McHenry,
    *Structure of Materials* (CUP 2007), ch. 12:

    .. math:: f_0(s) = Z - 41.78214\, s^2 \sum_{i=1}^{4} a_i\, e^{-b_i s^2}

    (41.78214 Å = 8π² a₀ with a₀ the Bohr radius; the sum is a 4-Gaussian fit of the *electron*
    scattering factor). The coefficients are read at run time from the JSON file shipped inside the
    installed pymatgen (``pymatgen/analysis/diffraction/atomic_scattering_params.json``), 99 elements;
    nothing is copied into this repository. Using the same table is what makes the pymatgen
    cross-check exact.

``"cromer_mann"``
    The International Tables 4-Gaussian fit (D. T. Cromer & J. B. Mann, Acta Cryst. A24, 321 (1968);
    International Tables for Crystallography Vol. C, Table 6.1.1.4):

    .. math:: f_0(s) = c + \sum_{i=1}^{4} a_i\, e^{-b_i s^2}

    Coefficients typed in for the elements of the MOFs this project models (H, C, N, O, Al, Cr, Ni,
    Cu, Zn); f₀(0) = Σa + c reproduces Z within 0.015 for each (a test checks it).

Anomalous dispersion f′ + i f″ is added per element by the caller (it depends on the wavelength and no
table is shipped). Valid for s ≲ 2 Å⁻¹ (the fits' range).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["FORM_FACTOR_TABLES", "form_factor_coefficients", "atomic_form_factor"]

FORM_FACTOR_TABLES = ("pymatgen", "cromer_mann")

#: 41.78214 Å: 8π² a₀, the Mott–Bethe prefactor (De Graef & McHenry 2007, eq. 12.16).
MOTT_BETHE_PREFACTOR_A = 41.78214

# Cromer & Mann (1968) / ITC Vol. C Table 6.1.1.4: (a1..a4, b1..b4 [Å²], c)
_CROMER_MANN: dict[str, tuple[tuple[float, ...], tuple[float, ...], float]] = {
    "H": ((0.489918, 0.262003, 0.196767, 0.049879), (20.6593, 7.74039, 49.5519, 2.20159), 0.001305),
    "C": ((2.31, 1.02, 1.5886, 0.865), (20.8439, 10.2075, 0.5687, 51.6512), 0.2156),
    "N": ((12.2126, 3.1322, 2.0125, 1.1663), (0.0057, 9.8933, 28.9975, 0.5826), -11.529),
    "O": ((3.0485, 2.2868, 1.5463, 0.867), (13.2771, 5.7011, 0.3239, 32.9089), 0.2508),
    "Al": ((6.4202, 1.9002, 1.5936, 1.9646), (3.0387, 0.7426, 31.5472, 85.0886), 1.1151),
    "Cr": ((10.6406, 7.3537, 3.324, 1.4922), (6.1038, 0.392, 20.2626, 98.7399), 1.1832),
    "Ni": ((12.8376, 7.292, 4.4438, 2.38), (3.8785, 0.2565, 12.1763, 66.3421), 1.0341),
    "Cu": ((13.338, 7.1676, 5.6158, 1.6735), (3.5828, 0.247, 11.3966, 64.8126), 1.191),
    "Zn": ((14.0743, 7.0318, 5.1652, 2.41), (3.2655, 0.2333, 10.3163, 58.7097), 1.3041),
}


@lru_cache(maxsize=1)
def _pymatgen_table() -> dict[str, list[list[float]]]:
    import pymatgen.analysis.diffraction as diffraction

    path = Path(diffraction.__file__).parent / "atomic_scattering_params.json"
    return json.loads(path.read_text())


def form_factor_coefficients(symbols: tuple[str, ...], table: str = "pymatgen") -> dict[str, np.ndarray]:
    """Coefficient arrays of ``table`` for the elements ``symbols`` (host side, NumPy).

    Returns ``{"a": (n_species, 4), "b": (n_species, 4), "c": (n_species,), "z": (n_species,)}``
    where for ``"pymatgen"`` ``c`` holds Z and the Mott–Bethe form is used.

    Raises:
        KeyError: with the element symbol when the table has no entry (callers turn it into a
            :class:`~twin.errors.MaterialError` naming the file).
    """
    from pymatgen.core import Element

    a = np.zeros((len(symbols), 4))
    b = np.zeros((len(symbols), 4))
    c = np.zeros(len(symbols))
    z = np.array([Element(s).Z for s in symbols], dtype=float)
    if table == "pymatgen":
        data = _pymatgen_table()
        for i, sym in enumerate(symbols):
            if sym not in data:
                raise KeyError(sym)
            coeff = np.asarray(data[sym], dtype=float)
            a[i, : len(coeff)] = coeff[:, 0]
            b[i, : len(coeff)] = coeff[:, 1]
        c[:] = z
    elif table == "cromer_mann":
        for i, sym in enumerate(symbols):
            if sym not in _CROMER_MANN:
                raise KeyError(sym)
            ai, bi, ci = _CROMER_MANN[sym]
            a[i], b[i], c[i] = ai, bi, ci
    else:
        raise KeyError(table)
    return {"a": a, "b": b, "c": c, "z": z}


def atomic_form_factor(
    s_inv_ang: Float[Array, "n_peaks"],
    a: Float[Array, "n_species 4"],
    b: Float[Array, "n_species 4"],
    c: Float[Array, "n_species"],
    mott_bethe: bool,
) -> Float[Array, "n_peaks n_species"]:
    r"""f₀ of every species at every s = sin θ/λ [Å⁻¹] (electrons).

    Mott–Bethe (``mott_bethe=True``, table "pymatgen"): f₀ = c − 41.78214 s² Σ aᵢ exp(−bᵢ s²) with c = Z;
    Cromer–Mann: f₀ = c + Σ aᵢ exp(−bᵢ s²). References in the module docstring.
    """
    s2 = (s_inv_ang**2)[:, None, None]
    gauss = jnp.sum(a[None, :, :] * jnp.exp(-b[None, :, :] * s2), axis=-1)
    if mott_bethe:
        return c[None, :] - MOTT_BETHE_PREFACTOR_A * s2[:, :, 0] * gauss
    return c[None, :] + gauss
