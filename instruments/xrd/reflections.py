r"""Reflection positions and integrated intensities of one phase (JAX, differentiable in the lattice).

For every reflection family h of a :class:`~instruments.xrd.structure.PhaseStructure`:

* d-spacing from the reciprocal metric tensor, :math:`1/d^2 = h^\mathsf{T} G^{*} h`, :math:`G^{*} = G^{-1}`;
* structure factor (International Tables Vol. C §6.1; Giacovazzo, *Fundamentals of Crystallography*, ch. 3)

  .. math:: F(h) = \sum_j o_j\,[f_{0,j}(s) + f'_j + i f''_j]\;T_j(h)\;e^{2\pi i\,h\cdot x_j}

  with s = 1/(2d), Debye–Waller :math:`T_j = \exp(-8\pi^2 U_j s^2)\,\exp(-2\pi^2 h^\mathsf{T} U^*_j h)`;
  a family carries m·(|F(h)|² + |F(−h)|²)/2 (Friedel pairs averaged, exact with anomalous terms);
* Lorentz–polarisation for a powder with an optional monochromator at 2θ_M and a beam polarisation
  fraction p (share polarised perpendicular to the scattering plane; 0.5 unpolarised)
  (L. V. Azároff, Acta Cryst. 8, 701 (1955); International Tables Vol. C §6.2.2)

  .. math:: LP = \frac{p + (1-p)\cos^2 2\theta_M \cos^2 2\theta}{[p + (1-p)\cos^2 2\theta_M]\;\sin^2\theta\cos\theta}

  For p = 0.5, 2θ_M = 0 this is ½(1+cos²2θ)/(sin²θ cos θ), pymatgen's factor up to the constant ½;
* March–Dollase preferred orientation (W. A. Dollase, J. Appl. Cryst. 19, 267 (1986)), averaged over
  the members of a family: :math:`P_h = \langle (r^2\cos^2\alpha + \sin^2\alpha/r)^{-3/2}\rangle`.

Left out: absorption, extinction, surface roughness, thermal diffuse scattering.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from instruments.xrd.form_factors import atomic_form_factor
from instruments.xrd.structure import PhaseStructure

__all__ = [
    "reciprocal_metric",
    "reciprocal_basis",
    "d_spacing",
    "bragg_two_theta_deg",
    "structure_factor_sq",
    "lorentz_polarisation",
    "march_dollase",
    "constrain_lattice",
    "family_intensities",
]


def constrain_lattice(lattice: Float[Array, "6"], crystal_system: str) -> Float[Array, "6"]:
    """Project (a, b, c, α, β, γ) onto the metric of ``crystal_system`` (static).

    Keeps the reflection families of a phase exact when a caller passes lattice parameters that
    break its symmetry (e.g. interpolated between two phases of different symmetry).
    """
    a, b, c, al, be, ga = (lattice[i] for i in range(6))
    right = jnp.full((), 90.0, lattice.dtype)
    if crystal_system in ("orthorhombic",):
        return jnp.stack([a, b, c, right, right, right])
    if crystal_system == "tetragonal":
        ab = 0.5 * (a + b)
        return jnp.stack([ab, ab, c, right, right, right])
    if crystal_system == "cubic":
        m = (a + b + c) / 3.0
        return jnp.stack([m, m, m, right, right, right])
    if crystal_system in ("hexagonal", "trigonal"):
        ab = 0.5 * (a + b)
        return jnp.stack([ab, ab, c, right, right, jnp.full((), 120.0, lattice.dtype)])
    if crystal_system == "monoclinic":
        # unique axis is the one whose angle departs from 90° (b for standard settings)
        return jnp.stack([a, b, c, right, be, right])
    return lattice


def _direct_metric(lattice: Float[Array, "6"]) -> Float[Array, "3 3"]:
    a, b, c = lattice[0], lattice[1], lattice[2]
    ca, cb, cg = (jnp.cos(jnp.deg2rad(lattice[i])) for i in (3, 4, 5))
    return jnp.stack(
        [
            jnp.stack([a * a, a * b * cg, a * c * cb]),
            jnp.stack([a * b * cg, b * b, b * c * ca]),
            jnp.stack([a * c * cb, b * c * ca, c * c]),
        ]
    )


def reciprocal_metric(lattice: Float[Array, "6"]) -> Float[Array, "3 3"]:
    """G* = G⁻¹ [Å⁻²] from (a, b, c [Å], α, β, γ [deg])."""
    return jnp.linalg.inv(_direct_metric(lattice))


def reciprocal_basis(lattice: Float[Array, "6"]) -> Float[Array, "3 3"]:
    """Rows a*, b*, c* [Å⁻¹] in a Cartesian frame (Cholesky factor of G*: B Bᵀ = G*)."""
    return jnp.linalg.cholesky(reciprocal_metric(lattice))


def d_spacing(hkl: Float[Array, "n_peaks 3"], lattice: Float[Array, "6"]) -> Float[Array, "n_peaks"]:
    """d [Å] of reflections ``hkl``: 1/d² = hᵀ G* h."""
    gstar = reciprocal_metric(lattice)
    inv_d2 = jnp.einsum("pi,ij,pj->p", hkl, gstar, hkl)
    return 1.0 / jnp.sqrt(inv_d2)


def bragg_two_theta_deg(d_A: Float[Array, "n_peaks"], wavelength_A: Float[Array, ""]) -> Float[Array, "n_peaks"]:
    """2θ [deg] from Bragg's law λ = 2d sin θ; reflections beyond the limiting sphere get 180°."""
    x = jnp.clip(wavelength_A / (2.0 * d_A), 0.0, 1.0)
    return 2.0 * jnp.rad2deg(jnp.arcsin(x))


def structure_factor_sq(phase: PhaseStructure, d_A: Float[Array, "n_peaks"]) -> Float[Array, "n_peaks"]:
    """(|F(h)|² + |F(−h)|²)/2 [electrons²] of each family representative at d-spacings ``d_A``."""
    s = 0.5 / d_A
    f0 = atomic_form_factor(s, phase.ff_a, phase.ff_b, phase.ff_c, phase.table == "pymatgen")
    f_re = (f0 + phase.f_anomalous[None, :, 0])[:, phase.species_index]  # (n_peaks, n_atoms)
    f_im = jnp.broadcast_to(phase.f_anomalous[None, :, 1], f0.shape)[:, phase.species_index]
    dw_iso = jnp.exp(-8.0 * jnp.pi**2 * phase.u_iso_A2[None, :] * (s**2)[:, None])
    hUh = jnp.einsum("pi,aij,pj->pa", phase.hkl, phase.u_star, phase.hkl)
    weight = phase.occupancy[None, :] * dw_iso * jnp.exp(-2.0 * jnp.pi**2 * hUh)
    hx = phase.hkl @ phase.frac_coords.T
    arg = 2.0 * jnp.pi * (hx - jnp.floor(hx))  # reduce before scaling: float32-safe phases
    cos, sin = jnp.cos(arg), jnp.sin(arg)
    # F(h) = Σ w (f_re + i f_im)(cos + i sin);  F(−h) = Σ w (f_re + i f_im)(cos − i sin)
    re_p = jnp.sum(weight * (f_re * cos - f_im * sin), axis=1)
    im_p = jnp.sum(weight * (f_re * sin + f_im * cos), axis=1)
    re_m = jnp.sum(weight * (f_re * cos + f_im * sin), axis=1)
    im_m = jnp.sum(weight * (f_im * cos - f_re * sin), axis=1)
    return 0.5 * (re_p**2 + im_p**2 + re_m**2 + im_m**2)


def lorentz_polarisation(
    two_theta_deg: Float[Array, "n_peaks"],
    monochromator_two_theta_deg: Float[Array, ""],
    polarisation_fraction: Float[Array, ""],
) -> Float[Array, "n_peaks"]:
    """Powder Lorentz–polarisation factor (equation in the module docstring), dimensionless."""
    th = jnp.deg2rad(two_theta_deg) / 2.0
    cm2 = jnp.cos(jnp.deg2rad(monochromator_two_theta_deg)) ** 2
    p = polarisation_fraction
    pol = (p + (1.0 - p) * cm2 * jnp.cos(2.0 * th) ** 2) / (p + (1.0 - p) * cm2)
    return pol / (jnp.sin(th) ** 2 * jnp.cos(th))


def march_dollase(
    phase: PhaseStructure,
    lattice: Float[Array, "6"],
    preferred_hkl: Float[Array, "3"],
    ratio: Float[Array, ""],
) -> Float[Array, "n_peaks"]:
    """March–Dollase factor per family (1 for ``ratio`` = 1), averaged over the family's members."""
    gstar = reciprocal_metric(lattice)
    gm = jnp.einsum("pmi,ij,j->pm", phase.members, gstar, preferred_hkl)
    nm = jnp.sqrt(jnp.einsum("pmi,ij,pmj->pm", phase.members, gstar, phase.members))
    npf = jnp.sqrt(preferred_hkl @ gstar @ preferred_hkl)
    cos2 = jnp.clip((gm / (nm * npf)) ** 2, 0.0, 1.0)
    w = (ratio**2 * cos2 + (1.0 - cos2) / ratio) ** -1.5
    return jnp.sum(w * phase.member_mask, axis=1) / jnp.sum(phase.member_mask, axis=1)


def family_intensities(
    phase: PhaseStructure,
    lattice: Float[Array, "6"],
    wavelength_A: Float[Array, ""],
    monochromator_two_theta_deg: Float[Array, ""] | float = 0.0,
    polarisation_fraction: Float[Array, ""] | float = 0.5,
    preferred_hkl: Float[Array, "3"] | None = None,
    march_dollase_ratio: Float[Array, ""] | float = 1.0,
) -> tuple[Float[Array, "n_peaks"], Float[Array, "n_peaks"], Float[Array, "n_peaks"]]:
    """Stick pattern of one phase: (2θ [deg], integrated intensity m·|F|²·LP·P_h [e²], d [Å]).

    Families outside the limiting sphere (λ > 2d) get zero intensity and 2θ = 180°.
    """
    lattice = constrain_lattice(lattice, phase.crystal_system)
    d = d_spacing(phase.hkl, lattice)
    tth = bragg_two_theta_deg(d, wavelength_A)
    inside = wavelength_A < 2.0 * d
    tth_safe = jnp.where(inside, tth, 90.0)
    lp = lorentz_polarisation(tth_safe, jnp.asarray(monochromator_two_theta_deg), jnp.asarray(polarisation_fraction))
    inten = phase.multiplicity * structure_factor_sq(phase, d) * lp
    if preferred_hkl is not None:
        inten = inten * march_dollase(phase, lattice, preferred_hkl, jnp.asarray(march_dollase_ratio))
    return tth, jnp.where(inside, inten, 0.0), d


family_intensities_jit = jax.jit(family_intensities)
