r"""Mesoscale diffraction contrast of a whole crystal: bright- and dark-field maps from the per-site phase field,
two-beam Howie–Whelan equations in the column approximation.

Each image pixel is one column of sites along the beam (a lattice axis of the site lattice). Down a column the
direct and diffracted amplitudes (φ₀, φ_g) of the reflection **g** selected by the objective aperture obey the
two-beam Howie–Whelan equations without absorption (P. B. Hirsch, A. Howie, R. B. Nicholson, D. W. Pashley,
M. J. Whelan, *Electron Microscopy of Thin Crystals*, Butterworths 1965, ch. 8; Williams & Carter, *Transmission
Electron Microscopy*, ch. 13):

.. math:: \frac{d\phi_0}{dz} = \frac{i\pi}{\xi_g}\,w\,\phi_g, \qquad
          \frac{d\phi_g}{dz} = \frac{i\pi}{\xi_g}\,w\,\phi_0 + 2\pi i\, s\,\phi_g ,

with, per site, the extinction distance ξ_g = π V_c / (λ γ |F_e(g)|) of the site's phase (V_c cell volume,
F_e the electron structure factor of :mod:`instruments.tem.diffraction`, γ the relativistic factor; cos θ_B ≈ 1),
the excitation error s (the instrument's tilt off the Bragg condition) and a weight w that says whether the site
diffracts *into the aperture*: a site of the other phase has its reflection elsewhere (its lattice parameters
differ by several %, far more than an objective aperture of ~0.01 Å⁻¹ accepts), so it does not couple (w = 0)
and only transmits. With η the breathing order parameter (0 closed, 1 open), w = 1 for sites of the selected
phase (η > ½ for the open phase, η ≤ ½ for the closed one) and 0 otherwise; outside the crystal mask w = 0 (vacuum).
Each site is one step Δz (its cell length along the beam times the block factor) with the exact 2×2 propagator
exp(iΔz H), H = [[0, a], [a, b]], a = πw/ξ_g, b = 2πs:

.. math:: e^{i\Delta z H} = e^{i\Delta z b/2}\left[\cos(\Omega\Delta z)\,\mathbb 1
          + i\,\frac{\sin(\Omega\Delta z)}{\Omega}\,(H - \tfrac b2\mathbb 1)\right], \quad \Omega = \sqrt{a^2 + b^2/4},

so |φ₀|² + |φ_g|² = 1 exactly: bright field BF = |φ₀|², dark field DF = |φ_g|². A uniform column reproduces the
two-beam rocking curve DF = (πt/ξ_g)² sin²(πt s_eff)/(πt s_eff)², s_eff = √(s² + 1/ξ_g²) (thickness fringes,
the test). Domains of the other phase in a column shorten its diffracting length; interfaces show as steps.

Left out: absorption (anomalous absorption damps thickness fringes in thick crystals), many-beam effects, the
strain *within* a phase (lattice rotation and displacement fields R: the phase factor 2πi g·dR/dz), and bending.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["extinction_distance_A", "column_amplitudes", "two_beam_dark_field"]


def extinction_distance_A(cell_volume_A3: float, structure_factor_A: float, wavelength: float, voltage_V: float) -> float:
    """ξ_g = π V_c / (λ γ |F_e(g)|) [Å] (F_e with rest-mass f_e [Å], γ = 1 + eV/m₀c²)."""
    import scipy.constants as sc

    gamma = 1.0 + sc.e * voltage_V / (sc.m_e * sc.c**2)
    return math.pi * cell_volume_A3 / (wavelength * gamma * abs(structure_factor_A))


def column_amplitudes(weight, inv_xi_inv_A, dz_A, s_inv_A: float):
    """(φ₀, φ_g) at the exit of every column, each (…,) complex64 (JAX; scan along the last axis).

    Args:
        weight: w per site (1 diffracting into the aperture, 0 not), (…, n_z).
        inv_xi_inv_A: 1/ξ_g per site [Å⁻¹], (…, n_z).
        dz_A: step length per site [Å], (…, n_z).
        s_inv_A: excitation error s [Å⁻¹].
    """
    import jax
    import jax.numpy as jnp

    a = jnp.moveaxis(jnp.asarray(weight, jnp.float32) * jnp.asarray(inv_xi_inv_A, jnp.float32) * math.pi, -1, 0)
    dz = jnp.moveaxis(jnp.asarray(dz_A, jnp.float32), -1, 0)
    b = jnp.float32(2 * math.pi * s_inv_A)

    def cplx(re, im):
        return jax.lax.complex(re, im)

    def step(state, site):
        p0, pg = state
        ai, dzi = site
        omega = jnp.sqrt(ai * ai + 0.25 * b * b)
        c = jnp.cos(omega * dzi)
        sn = jnp.where(omega > 0, jnp.sin(omega * dzi) / jnp.where(omega > 0, omega, 1.0), dzi)
        zero = jnp.zeros_like(c)
        # M = e^{i dz b/2} [c I + i sn (H - b/2 I)],  H - b/2 I = [[-b/2, a], [a, b/2]]
        m00 = cplx(c, -sn * 0.5 * b)
        m01 = cplx(zero, sn * ai)
        m11 = cplx(c, sn * 0.5 * b)
        ph = cplx(jnp.cos(0.5 * b * dzi), jnp.sin(0.5 * b * dzi))
        return (ph * (m00 * p0 + m01 * pg), ph * (m01 * p0 + m11 * pg)), None

    shape = a.shape[1:]
    p0 = jnp.ones(shape, jnp.complex64)
    pg = jnp.zeros(shape, jnp.complex64)
    (p0, pg), _ = jax.lax.scan(step, (p0, pg), (a, dz))
    return p0, pg


def two_beam_dark_field(thickness_A, xi_A: float, s_inv_A: float):
    """Analytic two-beam DF of a uniform column: (π t/ξ)² sin²(π t s_eff)/(π t s_eff)², s_eff = √(s² + 1/ξ²)."""
    t = np.asarray(thickness_A, dtype=np.float64)
    s_eff = math.sqrt(s_inv_A**2 + 1.0 / xi_A**2)
    return (1.0 / (xi_A * s_eff)) ** 2 * np.sin(math.pi * t * s_eff) ** 2
