r"""Crystal-size effect through the surface energies of the phases: the osmotic gap of a crystal of edge L.

A cubic crystal of edge L holds N = L³/V_cell site cells and exposes 6L². With per-phase surface energies
γ_open, γ_closed [J/m²] its osmotic gap per site cell gains

.. math::
    s(L) = \Delta\gamma\,\frac{6 V_{cell}}{L}\,\frac{N_A}{1000}, \qquad \Delta\gamma = \gamma_{open} - \gamma_{closed}

[kJ/mol per site cell; V in m³, L in m], so that :math:`\Omega_{open} - \Omega_{closed} = \Delta F_{host} +
p\Delta V - RT\Delta\psi + s(L)`. With Δγ < 0 (the open phase has the cheaper surface) small crystals stay open:
the "downsizing" of the switching (C. Sakata et al., Science 339, 193 (2013); for DUT-8(Ni) N. Kavoosi et al.,
Dalton Trans. 46, 4685 (2017), and S. Ehrling et al., Front. Chem. (2021), who find that crystals below about
0.5 µm stay open after desolvation). It is the convention of :mod:`twin.fit.surrogate`.

The size L is the edge of the crystal in the phase whose cell volume is used; :func:`crystal_thermo` takes the
open phase, because the crystal sizes reported for DUT-8(Ni) are those of the as-synthesised, solvated open
crystals (and the shipped Δγ of ``datasets/materials/dut8-ni.toml`` was derived that way). The area change
between the phases is neglected, as are edges, corners and shape (a cube; a rod or plate has another
area per volume), and the surface term is taken independent of temperature and loading.

Critical size (:func:`critical_size_nm`): the edge L* where ΔΩ + s(L*) = ℓ. With ℓ = W/3 it is where the
(meta)stability of the open phase ends in the spinodal rule of :mod:`twin.thermo.transitions` — an activated
open crystal below L* stays open, above it closes; with ℓ = 0 it is the size where both phases have equal Ω.
"""

from __future__ import annotations

from dataclasses import replace

import jax.numpy as jnp
from jaxtyping import Array, Float
from scipy import constants as sc

from twin.errors import MaterialError
from twin.thermo.params import ThermoParams

__all__ = ["size_shift_kj_mol", "critical_size_nm", "crystal_thermo"]

#: J per site cell → kJ/mol per site cell
_J_TO_KJ_MOL = sc.N_A / 1000.0


def size_shift_kj_mol(
    delta_gamma_J_m2: Float[Array, "..."],
    size_nm: Float[Array, "..."],
    cell_volume_A3: Float[Array, "..."],
) -> Float[Array, "..."]:
    r"""Surface shift of the osmotic gap, :math:`s(L) = \Delta\gamma\cdot 6V_{cell}/L` [kJ/mol per site cell].

    Elementwise; arguments broadcast (same rank); differentiable in each.

    Args:
        delta_gamma_J_m2: Δγ = γ_open − γ_closed [J/m²].
        size_nm: crystal edge L [nm], > 0.
        cell_volume_A3: V_cell of the phase in which L is measured [Å³ per site cell].

    Returns:
        s(L) [kJ/mol per site cell], added to Ω_open − Ω_closed.
    """
    return delta_gamma_J_m2 * 6.0 * (cell_volume_A3 * 1e-30) / (size_nm * 1e-9) * _J_TO_KJ_MOL


def critical_size_nm(
    delta_omega_kj_mol: Float[Array, "..."],
    level_kj_mol: Float[Array, "..."],
    delta_gamma_J_m2: Float[Array, "..."],
    cell_volume_A3: Float[Array, "..."],
) -> Float[Array, "..."]:
    r"""Crystal edge L* [nm] where the gap of a crystal reaches a level: ΔΩ + s(L*) = ℓ.

    .. math:: L^* = \frac{6\,\Delta\gamma\,V_{cell}\,N_A/1000}{\ell - \Delta\Omega}

    Args:
        delta_omega_kj_mol: bulk ΔΩ = Ω_open − Ω_closed [kJ/mol per site cell] (at p = 0: ΔF_host(T)).
        level_kj_mol: ℓ: W(T)/3 for the spinodal of the open phase, 0 for equal Ω.
        delta_gamma_J_m2: Δγ = γ_open − γ_closed [J/m²].
        cell_volume_A3: V_cell of the phase in which L is measured [Å³].

    Returns:
        L* [nm]. Meaningful when Δγ and ℓ − ΔΩ have the same sign (else no size reaches ℓ and the result is
        negative or infinite). For Δγ < 0 crystals smaller than L* lie below ℓ (stay open), larger ones above.
    """
    c = size_shift_kj_mol(delta_gamma_J_m2, jnp.ones_like(jnp.asarray(delta_gamma_J_m2)), cell_volume_A3)  # s(1 nm)
    return c / (level_kj_mol - delta_omega_kj_mol)


def crystal_thermo(params: ThermoParams, delta_gamma_J_m2: float, size_nm: float) -> ThermoParams:
    """The parameter set of a cubic crystal of edge ``size_nm``: the open phase's U shifted by s(L).

    Every function of :mod:`twin.thermo` applied to the result (potentials, branches, transition pressures, the
    stable phase) describes that crystal in the mean-field limit. L is the edge in the open phase (its cell
    volume ``params.volume_A3[-1]`` is used; module docstring).

    Args:
        params: a parameter set with at least two phases (closed first, open last).
        delta_gamma_J_m2: Δγ = γ_open − γ_closed [J/m²] (``Material.surface_energy_difference_J_m2``).
        size_nm: crystal edge L [nm], > 0.

    Raises:
        MaterialError: one phase only, or a size that is not positive.
    """
    if params.n_phases < 2:
        raise MaterialError(f"crystal_thermo: expected a material with a closed and an open phase, got phases {params.phase_names}")
    if not float(size_nm) > 0.0:
        raise MaterialError(f"crystal_thermo: size_nm: expected a crystal edge > 0 nm, got {size_nm!r}")
    dtype = params.volume_A3.dtype
    shift = size_shift_kj_mol(jnp.asarray(delta_gamma_J_m2, dtype), jnp.asarray(size_nm, dtype), params.volume_A3[-1])
    return replace(params, host_energy_kj_mol=params.host_energy_kj_mol.at[-1].add(shift))
