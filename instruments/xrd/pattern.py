r"""Powder patterns of phase mixtures with microstructure, one frame and series of frames (JAX).

A pattern is (Rietveld's decomposition; H. M. Rietveld, J. Appl. Cryst. 2, 65 (1969))

.. math::
    y(2\theta) = b(2\theta) + s \sum_p \frac{N_p}{V_p} \sum_{\ell} w_\ell \sum_h
        m_h |F_h|^2\, LP\, P_h\; \Phi_{p,h}(2\theta - 2\theta_{h,\ell})

with N_p unit cells of phase p (the twin's site counts; N_p·V_p is the phase volume and |F|²/V_p² the
scattering power per volume, so intensity ∝ N_p|F|²/V_p), emission lines ℓ (Kα1/Kα2 with weights, or
one synchrotron λ), and Φ the line profile: TCH pseudo-Voigt whose Gaussian part is the Caglioti
instrument width ⊕ microstrain and whose Lorentzian part is the TCH X/Y terms + size broadening,
summed over the domain-size distribution with volume weights (see :mod:`instruments.xrd.profiles`).

Microstructure from the twin, per phase and frame (:class:`PhaseState`): lattice parameters from η through
the phase endpoints (:func:`lattice_from_eta`), the spread of η inside the phase → an anisotropic
microstrain σ_ε,h = |∂ ln d_h/∂η|·σ_η (from the exact derivative of d_h along the lattice path, via
``jax.jvp``), a histogram of coherent-domain sizes with a domain shape, preferred orientation.
Peak shifts: zero shift and sample displacement Δ2θ = −2 s cos θ / R (Bragg–Brentano).
Everything is differentiable in the lattice, fractions, sizes, strains and instrument parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from instruments.observable import Axis, Observable
from mofcore.constants import CU_KA1_A, CU_KA2_A, XRAY_LINES_A
from instruments.xrd.profiles import (
    caglioti_fwhm_deg,
    chebyshev_background,
    pseudo_voigt_sum,
    size_fwhm_deg,
    strain_fwhm_deg,
    tch_fwhm_fraction,
    volume_weighted_column_length,
)
from instruments.xrd.reflections import (
    _direct_metric,
    bragg_two_theta_deg,
    constrain_lattice,
    d_spacing,
    lorentz_polarisation,
    march_dollase,
    reciprocal_basis,
    structure_factor_sq,
)
from instruments.xrd.structure import PhaseStructure, float_dtype

__all__ = [
    "Instrument",
    "PhaseState",
    "make_instrument",
    "make_phase_state",
    "lattice_from_eta",
    "weight_fractions",
    "powder_pattern",
    "pattern_series",
    "q_to_two_theta_deg",
    "CU_KA1_A",
    "CU_KA2_A",
]



@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Instrument:
    """Diffractometer settings (all arrays, so they can be fitted).

    Attributes:
        wavelengths_A: emission lines [Å], (n_lines,).
        line_weights: relative intensity of each line, (n_lines,).
        caglioti_u, caglioti_v, caglioti_w: Gaussian FWHM² terms [deg²].
        tch_x, tch_y: Lorentzian FWHM terms X tan θ + Y / cos θ [deg].
        zero_shift_deg: added to every peak position [deg].
        displacement_um: sample height displacement s [µm] (positive: towards the source side
            convention Δ2θ = −2 s cos θ / R).
        goniometer_radius_mm: R [mm].
        monochromator_two_theta_deg: 2θ_M of a monochromator (0: none).
        polarisation_fraction: share of the beam polarised ⊥ to the scattering plane (0.5 unpolarised,
            ≈1 for a synchrotron with a vertical scattering plane).
        background: Chebyshev coefficients [counts], (n_bg,).
        scale: overall scale factor.
    """

    wavelengths_A: Any
    line_weights: Any
    caglioti_u: Any
    caglioti_v: Any
    caglioti_w: Any
    tch_x: Any
    tch_y: Any
    zero_shift_deg: Any
    displacement_um: Any
    goniometer_radius_mm: Any
    monochromator_two_theta_deg: Any
    polarisation_fraction: Any
    background: Any
    scale: Any


def make_instrument(
    wavelength: float | str = "CuKa",
    *,
    caglioti_u: float = 0.004,
    caglioti_v: float = -0.002,
    caglioti_w: float = 0.003,
    tch_x: float = 0.0,
    tch_y: float = 0.01,
    zero_shift_deg: float = 0.0,
    displacement_um: float = 0.0,
    goniometer_radius_mm: float = 240.0,
    monochromator_two_theta_deg: float = 0.0,
    polarisation_fraction: float = 0.5,
    background: tuple[float, ...] | list[float] = (),
    scale: float = 1.0,
    ka2_ratio: float = 0.5,
) -> Instrument:
    """An :class:`Instrument` from plain numbers. ``wavelength="CuKa"`` (or ``"MoKa"``, ``"CoKa"`` … any anode of
    :data:`mofcore.constants.XRAY_LINES_A`) gives the Kα1/Kα2 doublet, ``"CuKa1"`` Kα1 only, a number a single
    line [Å]. Defaults are a typical lab Bragg–Brentano instrument (FWHM ≈ 0.06–0.1° at 10–50°)."""
    if isinstance(wavelength, str):
        named = re.fullmatch(r"([A-Z][a-z]?)Ka(1?)", wavelength)
        if named is None or named.group(1) not in XRAY_LINES_A:
            raise ValueError(f"unknown wavelength name {wavelength!r}; expected one of "
                             f"{', '.join(a + 'Ka' for a in XRAY_LINES_A)} (add 1 for Kα1 only) or a number in Å")
        ka1, ka2, _ = XRAY_LINES_A[named.group(1)]
        lams, weights = ([ka1], [1.0]) if named.group(2) else ([ka1, ka2], [1.0, ka2_ratio])
    else:
        lams, weights = [float(wavelength)], [1.0]
    dt = float_dtype()

    def a(x: Any) -> Any:
        return jnp.asarray(x, dt)

    return Instrument(
        wavelengths_A=a(lams),
        line_weights=a(weights),
        caglioti_u=a(caglioti_u),
        caglioti_v=a(caglioti_v),
        caglioti_w=a(caglioti_w),
        tch_x=a(tch_x),
        tch_y=a(tch_y),
        zero_shift_deg=a(zero_shift_deg),
        displacement_um=a(displacement_um),
        goniometer_radius_mm=a(goniometer_radius_mm),
        monochromator_two_theta_deg=a(monochromator_two_theta_deg),
        polarisation_fraction=a(polarisation_fraction),
        background=jnp.asarray(np.asarray(background, dtype=float).reshape(-1), dt),
        scale=a(scale),
    )


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PhaseState:
    """Microstructure of one phase in one frame (a series stacks a leading n_frames axis on each leaf).

    Attributes:
        cell_count: number of unit cells in the phase (site count × cells per site), scalar.
        lattice: a, b, c [Å], α, β, γ [deg] at the phase's mean η, (6,).
        dlattice_deta: ∂(lattice)/∂η along the η path, (6,).
        eta_std: standard deviation of η inside the phase, scalar.
        microstrain: extra isotropic rms strain σ_ε (dimensionless), scalar.
        size_A: domain-size histogram bin centres [Å], (n_bins,) (sphere: diameter; box: ∛volume).
        size_weight: number of domains per bin (any normalisation), (n_bins,).
        domain_aspect: box edge ratios along the Cartesian axes of the lattice (a along x), (3,).
        march_dollase_ratio: r (1 = random powder), scalar.
        preferred_hkl: preferred-orientation direction as reciprocal-lattice indices, (3,).
        domain_shape: "box" or "sphere" (static).
    """

    cell_count: Any
    lattice: Any
    dlattice_deta: Any
    eta_std: Any
    microstrain: Any
    size_A: Any
    size_weight: Any
    domain_aspect: Any
    march_dollase_ratio: Any
    preferred_hkl: Any
    domain_shape: str = field(default="box", metadata={"static": True})


def make_phase_state(
    lattice: Any,
    *,
    cell_count: Any = 1.0,
    dlattice_deta: Any = None,
    eta_std: Any = 0.0,
    microstrain: Any = 0.0,
    size_A: Any = 1e6,
    size_weight: Any = None,
    domain_aspect: Any = (1.0, 1.0, 1.0),
    march_dollase_ratio: Any = 1.0,
    preferred_hkl: Any = (0.0, 0.0, 1.0),
    domain_shape: str = "box",
) -> PhaseState:
    """A :class:`PhaseState` from plain numbers (leading frame axes allowed on every argument)."""
    dt = float_dtype()
    lattice = jnp.asarray(lattice, dt)
    size = jnp.atleast_1d(jnp.asarray(size_A, dt))
    weight = jnp.ones_like(size) if size_weight is None else jnp.atleast_1d(jnp.asarray(size_weight, dt))
    return PhaseState(
        cell_count=jnp.asarray(cell_count, dt),
        lattice=lattice,
        dlattice_deta=jnp.zeros_like(lattice) if dlattice_deta is None else jnp.asarray(dlattice_deta, dt),
        eta_std=jnp.asarray(eta_std, dt),
        microstrain=jnp.asarray(microstrain, dt),
        size_A=size,
        size_weight=weight,
        domain_aspect=jnp.asarray(domain_aspect, dt),
        march_dollase_ratio=jnp.asarray(march_dollase_ratio, dt),
        preferred_hkl=jnp.asarray(preferred_hkl, dt),
        domain_shape=domain_shape,
    )


def lattice_from_eta(
    eta: Float[Array, "..."], lattice_eta0: Float[Array, "6"], lattice_eta1: Float[Array, "6"]
) -> tuple[Float[Array, "... 6"], Float[Array, "6"]]:
    """Lattice parameters at η by linear interpolation between the endpoints (η=0 np, η=1 lp) in a
    common setting, and ∂lattice/∂η. Returns (lattice (..., 6), dlattice_deta (6,))."""
    slope = lattice_eta1 - lattice_eta0
    return lattice_eta0 + eta[..., None] * slope, slope


def weight_fractions(cell_counts: Float[Array, "n_phases"], cell_mass_amu: Float[Array, "n_phases"]) -> Float[Array, "n_phases"]:
    """Weight fraction W_p = N_p M_p / Σ N M (M: cell mass in g/mol)."""
    mass = cell_counts * cell_mass_amu
    return mass / jnp.sum(mass)


def q_to_two_theta_deg(q_inv_ang: Float[Array, "n_points"], wavelength_A: float) -> Float[Array, "n_points"]:
    """2θ [deg] of Q = 4π sin θ / λ [Å⁻¹]."""
    return 2.0 * jnp.rad2deg(jnp.arcsin(jnp.clip(q_inv_ang * wavelength_A / (4.0 * jnp.pi), 0.0, 1.0)))


def _phase_pattern(
    phase: PhaseStructure, state: PhaseState, inst: Instrument, tth_grid: Float[Array, "n_points"]
) -> Float[Array, "n_points"]:
    system = phase.crystal_system
    lattice = constrain_lattice(state.lattice, system)
    dlat = constrain_lattice(state.lattice + state.dlattice_deta, system) - lattice
    d, dd = jax.jvp(lambda lat: d_spacing(phase.hkl, lat), (lattice,), (dlat,))
    strain_sq = (dd / d * state.eta_std) ** 2 + state.microstrain**2
    # double where: no strain at all (a refinement at its lower bound) must not give a 0·∞ = NaN derivative
    strain = jnp.where(strain_sq > 0.0, jnp.sqrt(jnp.where(strain_sq > 0.0, strain_sq, 1.0)), 0.0)
    f2 = structure_factor_sq(phase, d)
    po = march_dollase(phase, lattice, state.preferred_hkl, state.march_dollase_ratio)
    volume = jnp.sqrt(jnp.linalg.det(_direct_metric(lattice)))
    base = inst.scale * state.cell_count / volume * phase.multiplicity * f2 * po
    g = phase.hkl @ reciprocal_basis(lattice)
    direction = g / jnp.linalg.norm(g, axis=1, keepdims=True)
    column = volume_weighted_column_length(direction, state.domain_aspect, state.domain_shape)
    vol_w = state.size_weight * state.size_A**3
    vol_w = vol_w / jnp.sum(vol_w)
    out = jnp.zeros_like(tth_grid)
    for line in range(inst.wavelengths_A.shape[0]):  # 1 or 2 emission lines (static)
        lam = inst.wavelengths_A[line]
        tth = bragg_two_theta_deg(d, lam)
        inside = lam < 2.0 * d
        tth = jnp.where(inside, tth, 90.0)
        theta = jnp.deg2rad(tth) / 2.0
        shift = inst.zero_shift_deg - jnp.rad2deg(
            2.0 * inst.displacement_um * 1e-3 * jnp.cos(theta) / inst.goniometer_radius_mm
        )
        center = tth + shift
        inten = jnp.where(
            inside,
            base * inst.line_weights[line]
            * lorentz_polarisation(tth, inst.monochromator_two_theta_deg, inst.polarisation_fraction),
            0.0,
        )
        g_fwhm = jnp.sqrt(
            caglioti_fwhm_deg(tth, inst.caglioti_u, inst.caglioti_v, inst.caglioti_w) ** 2
            + strain_fwhm_deg(tth, strain) ** 2
        )
        l_inst = inst.tch_x * jnp.tan(theta) + inst.tch_y / jnp.cos(theta)

        def one_size(acc: Any, xs: Any, *, lam: Any = lam, tth: Any = tth, center: Any = center,
                     inten: Any = inten, g_fwhm: Any = g_fwhm, l_inst: Any = l_inst) -> Any:
            size, w = xs
            l_fwhm = l_inst + size_fwhm_deg(tth, lam, size * column)
            fwhm, frac = tch_fwhm_fraction(g_fwhm, l_fwhm)
            return acc + w * pseudo_voigt_sum(tth_grid, center, fwhm, frac, inten), None

        out, _ = jax.lax.scan(one_size, out, (state.size_A, vol_w))
    return out


def powder_pattern(
    phases: tuple[PhaseStructure, ...],
    states: tuple[PhaseState, ...],
    instrument: Instrument,
    two_theta_deg: Float[Array, "n_points"],
) -> Float[Array, "n_points"]:
    """One powder pattern [arb. counts] of a phase mixture on the 2θ grid (equation in the module doc).

    Args:
        phases: the phase structures (their reflection families and atoms).
        states: microstructure of each phase in this frame (same order).
        instrument: diffractometer settings.
        two_theta_deg: grid [deg], (n_points,).
    """
    y = chebyshev_background(two_theta_deg, instrument.background, two_theta_deg[0], two_theta_deg[-1])
    for phase, state in zip(phases, states, strict=True):  # a handful of phases (static)
        y = y + _phase_pattern(phase, state, instrument, two_theta_deg)
    return y


@partial(jax.jit, static_argnames=("batch_size",))
def _series(phases: Any, states: Any, instrument: Instrument, two_theta_deg: Any, batch_size: int | None) -> Any:
    return jax.lax.map(lambda st: powder_pattern(phases, st, instrument, two_theta_deg), states, batch_size=batch_size)


def pattern_series(
    phases: tuple[PhaseStructure, ...],
    states: tuple[PhaseState, ...],
    instrument: Instrument,
    two_theta_deg: Float[Array, "n_points"],
    *,
    batch_size: int | None = 16,
) -> Observable:
    """Patterns of every frame: one jitted evaluation, vmapped over frames in batches of ``batch_size``
    (``jax.lax.map``; bounds memory to batch × n_peaks × n_points).

    ``states`` holds one :class:`PhaseState` per phase whose leaves carry a leading (n_frames,) axis.
    Returns an :class:`~instruments.observable.Observable` with values (n_frames, n_points).
    """
    values = _series(tuple(phases), tuple(states), instrument, jnp.asarray(two_theta_deg), batch_size)
    return Observable(axis=Axis(jnp.asarray(two_theta_deg), "two_theta", "deg"), values=values,
                      quantity="intensity", unit="arb.", technique="xrd")
