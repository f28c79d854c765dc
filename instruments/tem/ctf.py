r"""Electron optics of the objective lens: relativistic wavelength, aberration phase, contrast transfer function.

Physics and conventions (one convention throughout :mod:`instruments.tem`):

* Relativistic electron wavelength at accelerating voltage V,

  .. math:: \lambda = \frac{h}{\sqrt{2 m_0 e V\,(1 + eV/(2 m_0 c^2))}}

  (λ(300 kV) = 0.019687 Å, λ(200 kV) = 0.025079 Å, λ(80 kV) = 0.041757 Å; Kirkland 2010, Table 2.2, and
  Williams & Carter, *Transmission Electron Microscopy*, Table 1.1). Constants from :mod:`scipy.constants`.
* Interaction constant σ = 2π m e λ / h² with the relativistic mass m = γ m₀ (Kirkland 2010, eq. 5.6):
  σ(300 kV) = 6.526e-4 rad/(V·Å).
* Aberration phase (round lens, defocus and third-order spherical aberration only)

  .. math:: \chi(k) = \pi\lambda\,\Delta f\,k^2 + \tfrac{\pi}{2} C_s \lambda^3 k^4 ,

  k the spatial frequency [Å⁻¹]. **Sign convention: Δf < 0 is underfocus** (a weakened lens; the Fresnel
  propagator of :mod:`instruments.tem.multislice`, exp(−iπλΔz k²), is the same factor exp(−iχ) with Δf = Δz, so a
  positive Δf propagates the exit wave further downstream). Kirkland's book writes χ = πλk²(½C_sλ²k² − Δf) with
  Δf > 0 underfocus: his Δf is −Δf here.
* The lens multiplies the exit wave's spectrum by the wave transfer function
  T(k) = A(k) E_t(k) E_s(k) exp(−iχ(k)), with A the objective aperture (1 for k ≤ α_ap/λ, else 0).
  For a weak-phase object ψ = 1 + iσv_z the image is I ≈ 1 + 2σ F⁻¹[v̂_z · sin χ · E] (Friedel-symmetric
  spectrum), so the *phase contrast transfer function* is sin χ(k): negative over the Scherzer pass band, where
  atoms (positive potential) appear dark.
* Scherzer defocus: **Δf_Sch = −√(4/3 · C_s λ)** (the value that keeps χ ≥ −2π/3 and makes the first zero of
  sin χ fall as far out as possible with no earlier zero: O. Scherzer, J. Appl. Phys. 20, 20 (1949);
  J. C. H. Spence, *High-Resolution Electron Microscopy*, 4th ed., OUP 2017, §6.2). At this defocus the first
  zero of sin χ is k₁ = 1.5197 (C_s λ³)^(−1/4) and the point resolution 1/k₁ = 0.658 C_s^(1/4) λ^(3/4).
  Other definitions in use: √(1.5 C_s λ) (Kirkland 2010, eq. 3.43, first zero at 1.565 (C_sλ³)^(−1/4)),
  1.2 √(C_s λ) (Williams & Carter), √(C_s λ) (χ ≥ −π/2).
* Partial coherence in the quasi-coherent approximation (Kirkland 2010, §3.3.2, eqs. 3.50–3.53; Frank,
  Optik 38, 519 (1973)): temporal (focal spread Δ, the standard deviation of the defocus, from chromatic
  aberration and energy spread)

  .. math:: E_t(k) = \exp\!\left[-\tfrac{1}{2}\pi^2\lambda^2\Delta^2 k^4\right],

  spatial (a Gaussian distribution of illumination angles of 1/e half-width α)

  .. math:: E_s(k) = \exp\!\left[-\left(\frac{\pi\alpha}{\lambda}\right)^2\left(C_s\lambda^3k^3 + \Delta f\,\lambda k\right)^2\right]
            = \exp\!\left[-\left(\frac{\alpha}{2\lambda}\right)^2 \left(\frac{\partial\chi}{\partial k}\right)^2\right].

Left out: astigmatism, coma and higher-order aberrations; the mixed cross term of the two envelopes; non-linear
(non-isoplanatic) partial coherence. References: E. J. Kirkland, *Advanced Computing in Electron Microscopy*,
2nd ed. (Springer, 2010), chapters 2–3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.constants as sc

from mofcore.errors import UnitError
from mofcore.units import parse_quantity

__all__ = [
    "wavelength_A",
    "interaction_constant",
    "aberration_phase",
    "phase_ctf",
    "temporal_envelope",
    "spatial_envelope",
    "scherzer_defocus_A",
    "first_zero_inv_A",
    "point_resolution_A",
    "Lens",
    "parse_voltage_V",
    "parse_defocus_A",
    "parse_cs_A",
]

#: first zero of sin χ at Δf = −√(4/3 C_sλ), in units of (C_s λ³)^(−1/4): K² = 2√(4/3)
SCHERZER_FIRST_ZERO = math.sqrt(2.0 * math.sqrt(4.0 / 3.0))


def wavelength_A(voltage_V: float) -> float:
    """Relativistic electron wavelength λ [Å] at accelerating voltage [V] (> 0); equation in the module docstring."""
    v = float(voltage_V)
    if not v > 0:
        raise UnitError(f"voltage: expected an accelerating voltage > 0 such as \"300 kV\", got {v:g} V")
    e_v = sc.e * v
    p = math.sqrt(2.0 * sc.m_e * e_v * (1.0 + e_v / (2.0 * sc.m_e * sc.c**2)))
    return sc.h / p * 1e10


def interaction_constant(voltage_V: float) -> float:
    """σ = 2π m e λ / h² [rad/(V·Å)] with m = γ m₀ (Kirkland 2010, eq. 5.6); the phase shift per projected potential."""
    lam_m = wavelength_A(voltage_V) * 1e-10
    gamma = 1.0 + sc.e * voltage_V / (sc.m_e * sc.c**2)
    return 2.0 * math.pi * gamma * sc.m_e * sc.e * lam_m / sc.h**2 * 1e-10


def aberration_phase(k_inv_A, wavelength: float, defocus_A: float, cs_A: float):
    """χ(k) = πλΔf k² + (π/2) C_s λ³ k⁴ [rad]; k [Å⁻¹] (any shape, NumPy or JAX); λ, Δf, C_s in Å (Δf < 0:
    underfocus)."""
    k2 = k_inv_A * k_inv_A
    return math.pi * wavelength * defocus_A * k2 + 0.5 * math.pi * cs_A * wavelength**3 * k2 * k2


def phase_ctf(k_inv_A, wavelength: float, defocus_A: float, cs_A: float):
    """Phase contrast transfer function sin χ(k) (no envelopes); negative in the Scherzer pass band."""
    chi = aberration_phase(k_inv_A, wavelength, defocus_A, cs_A)
    return np.sin(chi) if isinstance(chi, (np.ndarray, float)) else _jnp().sin(chi)


def temporal_envelope(k_inv_A, wavelength: float, focal_spread_A: float):
    """E_t(k) = exp(−½ π² λ² Δ² k⁴), Δ the focal spread (standard deviation of defocus) [Å]."""
    xp = np if isinstance(k_inv_A, (np.ndarray, float)) else _jnp()
    k2 = k_inv_A * k_inv_A
    return xp.exp(-0.5 * (math.pi * wavelength * focal_spread_A) ** 2 * k2 * k2)


def spatial_envelope(k_inv_A, wavelength: float, defocus_A: float, cs_A: float, convergence_rad: float):
    """E_s(k) = exp(−(πα/λ)² (C_s λ³ k³ + Δf λ k)²), α the illumination semi-angle (1/e, Gaussian) [rad]."""
    xp = np if isinstance(k_inv_A, (np.ndarray, float)) else _jnp()
    grad = cs_A * wavelength**3 * k_inv_A**3 + defocus_A * wavelength * k_inv_A
    return xp.exp(-((math.pi * convergence_rad / wavelength) ** 2) * grad * grad)


def scherzer_defocus_A(cs_A: float, wavelength: float) -> float:
    """Scherzer defocus Δf_Sch = −√(4/3 C_s λ) [Å] (negative: underfocus); see the module docstring for the choice."""
    if cs_A < 0:
        raise UnitError(f"cs: expected a spherical aberration ≥ 0 such as \"1.2 mm\", got {cs_A / 1e7:g} mm")
    return -math.sqrt(4.0 / 3.0 * cs_A * wavelength)


def first_zero_inv_A(wavelength: float, defocus_A: float, cs_A: float) -> float:
    """The smallest k > 0 with sin χ(k) = 0 [Å⁻¹], analytically (``inf`` for Δf = C_s = 0).

    With u = k², χ/π = f(u) = (C_sλ³/2) u² + λΔf u. For Δf ≥ 0, f rises from 0 and the first zero is f = 1.
    For Δf ≤ 0, f dips to f_min = −Δf²/(2C_sλ) at u* = −Δf/(C_sλ²): if f_min ≤ −1 the first zero is the
    smaller root of f = −1, else the root f = 0 at u = −2Δf/(C_sλ²).
    """
    a = 0.5 * cs_A * wavelength**3
    b = wavelength * defocus_A
    if cs_A == 0.0:
        return math.inf if defocus_A == 0.0 else 1.0 / math.sqrt(wavelength * abs(defocus_A))
    if defocus_A >= 0:
        u = (-b + math.sqrt(b * b + 4.0 * a)) / (2.0 * a)
    elif defocus_A * defocus_A / (2.0 * cs_A * wavelength) >= 1.0:
        u = (-b - math.sqrt(b * b - 4.0 * a)) / (2.0 * a)
    else:
        u = -b / a
    return math.sqrt(u) if u > 0 else math.inf


def point_resolution_A(wavelength: float, cs_A: float, defocus_A: float | None = None) -> float:
    """1 / (first zero of sin χ) [Å] at ``defocus_A`` (default: Scherzer, giving 0.658 C_s^(1/4) λ^(3/4))."""
    df = scherzer_defocus_A(cs_A, wavelength) if defocus_A is None else defocus_A
    return 1.0 / first_zero_inv_A(wavelength, df, cs_A)


@dataclass(frozen=True)
class Lens:
    """The objective lens and illumination: the settings of the wave transfer function (all lengths in Å).

    Attributes:
        voltage_V: accelerating voltage [V].
        cs_A: third-order spherical aberration C_s [Å] (1.2 mm = 1.2e7 Å), ≥ 0.
        defocus_A: Δf [Å], negative = underfocus.
        aperture_mrad: objective aperture semi-angle [mrad]; ``inf`` for none.
        focal_spread_A: Δ of the temporal envelope [Å]; 0 for none.
        convergence_mrad: illumination semi-angle α of the spatial envelope [mrad]; 0 for none.
    """

    voltage_V: float = 300e3
    cs_A: float = 1.2e7
    defocus_A: float = 0.0
    aperture_mrad: float = math.inf
    focal_spread_A: float = 0.0
    convergence_mrad: float = 0.0

    @property
    def wavelength_A(self) -> float:
        return wavelength_A(self.voltage_V)

    def transfer(self, k_inv_A, defocus_A=None):
        """T(k) = A(k) E_t E_s exp(−iχ(k)) (complex64, JAX) for a k grid [Å⁻¹]; ``defocus_A`` overrides Δf
        (may be a traced scalar, for vmap over defoci)."""
        jnp = _jnp()
        lam = self.wavelength_A
        df = self.defocus_A if defocus_A is None else defocus_A
        k = jnp.asarray(k_inv_A, dtype=jnp.float32)
        chi = aberration_phase(k, lam, df, self.cs_A)
        env = temporal_envelope(k, lam, self.focal_spread_A) * spatial_envelope(
            k, lam, df, self.cs_A, self.convergence_mrad * 1e-3)
        if math.isfinite(self.aperture_mrad):
            env = env * (k <= self.aperture_mrad * 1e-3 / lam).astype(jnp.float32)
        return jax_lax_complex(env * jnp.cos(chi), -env * jnp.sin(chi))


def jax_lax_complex(re, im):
    """re + i·im as complex64 (strict dtype promotion allows no float·complex product)."""
    import jax

    return jax.lax.complex(re.astype("float32"), im.astype("float32"))


def _jnp():
    import jax.numpy as jnp

    return jnp


def parse_voltage_V(text: object, where: str = "voltage") -> float:
    """``"300 kV"`` → 3e5 [V]; a positive voltage in V, kV or MV, else :class:`UnitError`."""
    try:
        value = parse_quantity(text, "voltage", where=where)
    except UnitError:
        raise UnitError(f"{where}: expected an accelerating voltage such as \"300 kV\" (units V, kV, MV), got {text!r}") from None
    if value <= 0:
        raise UnitError(f"{where}: expected an accelerating voltage > 0 such as \"300 kV\", got {text!r}")
    return value


def parse_cs_A(text: object, where: str = "cs") -> float:
    """``"1.2 mm"`` → 1.2e7 [Å]; C_s ≥ 0, else :class:`UnitError`."""
    value = parse_quantity(text, "length", where=where)
    if value < 0:
        raise UnitError(f"{where}: expected a spherical aberration ≥ 0 such as \"1.2 mm\", got {text!r}")
    return value


def parse_defocus_A(text: object, cs_A: float, wavelength: float, where: str = "defocus") -> float:
    """``"scherzer"`` → Δf_Sch, or a signed length (``"-50 nm"``, negative = underfocus) [Å]."""
    if isinstance(text, str) and text.strip().lower() == "scherzer":
        return scherzer_defocus_A(cs_A, wavelength)
    return parse_quantity(text, "length", where=where)
