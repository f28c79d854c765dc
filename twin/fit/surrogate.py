r"""Mean-field powder surrogate of the twin: isotherm branches of a crystal ensemble with sizes and defects.

The fast, differentiable backbone used for twin-level inference (DESIGN §5). It keeps the thermodynamics
of :mod:`twin.thermo` (OFAST osmotic potentials Ω_closed, Ω_open per site cell, double well of barrier W with
spinodals at |ΔΩ| = W/3) and adds what the mesoscale engine resolves cell by cell, averaged per crystal:

* **Crystal sizes.** A powder of cubic crystals of edge L with a log-normal *number* distribution,
  ln L ~ N(ln L_med, s²). Uptake per gram is volume weighted, and the volume-weighted distribution is again
  log-normal with ln L ~ N(ln L_med + 3s², s²); it is integrated by Gauss–Hermite quadrature
  (``n_nodes`` nodes in ln L). Volume-weighted mean size (what XRD line broadening sees, Scherrer):
  ⟨L⟩_V = L_med·exp(3.5 s²) (moments of the log-normal; J. I. Langford, D. Louër, P. Scardi,
  J. Appl. Cryst. 33, 964 (2000)).
* **Surfaces.** Per-phase surface energies γ_open, γ_closed [J/m²]: a crystal of N = L³/V_cell cells
  and area 6L² has per cell the extra gap :math:`s(L) = \Delta\gamma\cdot 6 V_{cell}/L` (Δγ = γ_open − γ_closed,
  converted to kJ/mol per cell with N_A), so that small crystals switch later or never — the
  "downsizing" effect (C. Sakata et al., Science 339, 193 (2013); S. Krause et al., Nature Commun. 9, 1573
  (2018) for DUT-8(Ni)); L and V_cell are those of the open phase (:mod:`twin.thermo.surface`). The area
  change between the phases is neglected.
* **Defects.** Local free-energy offsets of the cells form a Gaussian random field of standard deviation
  σ_d [kJ/mol per cell] and correlation length ξ. With strong coupling J the crystal switches
  cooperatively (one domain; the regime where the mesoscale engine shows a single front), so what matters
  is the crystal average, whose variance is σ_d²·ξ³/(ξ³ + L³) (≈ σ_d²(ξ/L)³ for L ≫ ξ: (L/ξ)³
  independent regions). A size-independent width σ_0 is added in quadrature: crystal-to-crystal
  heterogeneity that does not average out over a crystal (defects correlated over the whole crystal,
  composition, strain from the neighbours in a pressed powder), thermal fluctuations and numerical smoothing
  (default 0.05 kJ/mol; freed by ``twin fit --isotherm``). From one isotherm only the total spread of the
  crystal offsets is determined: the measured MIL-53(Al) CO2 step asks for about 1 kJ/mol per cell, which
  σ_d(ξ/L)^{3/2} could give only with σ_d near 20 kJ/mol for ξ = 50 nm and L = 300 nm (the bound the
  earlier default fit ran into).

A crystal with total offset δ + s(L) follows the spinodal rule of :mod:`twin.thermo.transitions` along each
branch. With g(p) = Ω_open − Ω_closed at the measured pressures:

* adsorption (rising p, starting closed): the crystal is open at p_k iff
  :math:`\min_{j\le k} g(p_j) + s + \delta < -W/3`;
* desorption (falling p, starting from the end of the adsorption branch): open iff it was open at the top
  and :math:`\max_{j\le k} g(p_j) + s + \delta < +W/3`.

With δ ~ N(0, σ(L)²) the open volume fraction is a sum of normal CDFs over the size nodes, smooth in
every parameter (size median and width, Δγ, σ_d, ξ, W, the host free energy and the Langmuir parameters),
and the uptake is :math:`N = (1-f)N_{closed}(p) + f N_{open}(p)` (IAST/Langmuir loadings of each phase).
History enters only through the running min/max of g, exact for the monotone single-switch branches of a
two-phase host.

Valid when: two phases; adsorption is fast (equilibrium loadings); each crystal switches as a whole
(coupling strong against defects, crystals below a few µm — larger crystals nucleate and coexist, which the
engine resolves and this surrogate does not); no fragmentation or ageing over cycles; the adsorption
branch starts closed at its first point (activated MIL-53(Al) closes at the first CO2 doses, DUT-8 is
activated closed). Not included: kinetics, nucleation barriers beyond the spinodal, shape anisotropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from jaxtyping import Array, Float

from twin.thermo import phase_loadings, phase_potentials
from twin.thermo.surface import size_shift_kj_mol
from twin.thermo.params import ThermoParams
from twin.thermo.transitions import single_guest_conditions

__all__ = [
    "SampleParams",
    "make_sample",
    "surface_shift_kj_mol",
    "crystal_offset_sigma_kj_mol",
    "size_nodes",
    "volume_weighted_size_nm",
    "branch_gaps",
    "powder_branches",
]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class SampleParams:
    """Size distribution and heterogeneity of a powder sample (scalars; JAX leaves).

    Attributes:
        size_median_nm: median crystal edge L_med of the number distribution [nm].
        size_width: s, standard deviation of ln L [1].
        surface_energy_J_m2: Δγ = γ_open − γ_closed [J/m²].
        defect_sigma_kj_mol: σ_d of the local free-energy offset [kJ/mol per site cell].
        defect_correlation_nm: ξ, correlation length of the defect field [nm].
        intrinsic_sigma_kj_mol: σ_0, intrinsic switching width [kJ/mol per site cell].
        uptake_scale: share of the sample mass that is porous, switching MOF [1] (activation, impurities).
    """

    size_median_nm: Float[Array, ""]
    size_width: Float[Array, ""]
    surface_energy_J_m2: Float[Array, ""]
    defect_sigma_kj_mol: Float[Array, ""]
    defect_correlation_nm: Float[Array, ""]
    intrinsic_sigma_kj_mol: Float[Array, ""]
    uptake_scale: Float[Array, ""]


def make_sample(
    size_median_nm: float = 500.0,
    size_width: float = 0.4,
    surface_energy_J_m2: float = 0.0,
    defect_sigma_kj_mol: float = 0.5,
    defect_correlation_nm: float = 20.0,
    intrinsic_sigma_kj_mol: float = 0.05,
    uptake_scale: float = 1.0,
    dtype=jnp.float32,
) -> SampleParams:
    """A :class:`SampleParams` from plain numbers."""
    a = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    return SampleParams(a(size_median_nm), a(size_width), a(surface_energy_J_m2), a(defect_sigma_kj_mol),
                        a(defect_correlation_nm), a(intrinsic_sigma_kj_mol), a(uptake_scale))


def size_nodes(sample: SampleParams, n_nodes: int = 24) -> tuple[Float[Array, "n_nodes"], Float[Array, "n_nodes"]]:
    """Sizes L_i [nm] and volume weights w_i (Σ w = 1) of the volume-weighted log-normal (Gauss–Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    dt = sample.size_median_nm.dtype
    x, w = jnp.asarray(x, dt), jnp.asarray(w / w.sum(), dt)
    mu_v = jnp.log(sample.size_median_nm) + 3.0 * sample.size_width**2
    return jnp.exp(mu_v + sample.size_width * x), w


def volume_weighted_size_nm(sample: SampleParams) -> Float[Array, ""]:
    """⟨L⟩_V = L_med·exp(3.5 s²) [nm] (module docstring)."""
    return sample.size_median_nm * jnp.exp(3.5 * sample.size_width**2)


def surface_shift_kj_mol(size_nm: Float[Array, "..."], surface_energy_J_m2, cell_volume_A3) -> Float[Array, "..."]:
    r"""s(L) = Δγ·6V_cell/L [kJ/mol per cell] for a cube of edge L (Δγ in J/m², V in Å³, L in nm);
    :func:`twin.thermo.surface.size_shift_kj_mol`, with L measured in the open phase (its V_cell)."""
    return size_shift_kj_mol(surface_energy_J_m2, size_nm, cell_volume_A3)


def crystal_offset_sigma_kj_mol(size_nm: Float[Array, "..."], sample: SampleParams) -> Float[Array, "..."]:
    r"""σ(L) = √(σ_d²·ξ³/(ξ³ + L³) + σ_0²) [kJ/mol per cell], std of a crystal's mean offset.

    ξ³/(ξ³ + L³) is evaluated as the logistic function of −3 ln(L/ξ), so that the extreme sizes of a wide
    distribution (L³ beyond the float32 range) neither overflow nor give a NaN derivative."""
    ratio = jax.nn.sigmoid(-3.0 * (jnp.log(size_nm) - jnp.log(sample.defect_correlation_nm)))
    return jnp.sqrt(sample.defect_sigma_kj_mol**2 * ratio + sample.intrinsic_sigma_kj_mol**2)


def branch_gaps(params: ThermoParams, guest: str, temperature_K, pressures_Pa: Float[Array, "n_points"]):
    """g = Ω_open − Ω_closed (n_points,) and loadings of ``guest`` in (closed, open) (n_points, 2)."""
    g_idx = params.guest_index(guest)

    def one(p):
        c = single_guest_conditions(params, temperature_K, p, guest)
        om = phase_potentials(params, c)
        loads = phase_loadings(params, c)[:, g_idx]
        return om[-1] - om[0], jnp.stack([loads[0], loads[-1]])

    return jax.vmap(one)(pressures_Pa)


def powder_branches(
    params: ThermoParams,
    sample: SampleParams,
    guest: str,
    temperature_K: Float[Array, ""],
    p_ads_Pa: Float[Array, "n_ads"],
    p_des_Pa: Float[Array, "n_des"],
    n_nodes: int = 24,
) -> tuple[Float[Array, "n_ads"], Float[Array, "n_des"], Float[Array, "n_ads"], Float[Array, "n_des"]]:
    """Uptake and open volume fraction of the powder along both branches (physics in the module docstring).

    Args:
        params: two-phase :class:`ThermoParams` (closed first, open last).
        sample: :class:`SampleParams`.
        guest: the adsorbing gas.
        temperature_K: T [K].
        p_ads_Pa: adsorption pressures in measured (rising) order [Pa], (n_ads,).
        p_des_Pa: desorption pressures in measured (falling) order [Pa], (n_des,).
        n_nodes: Gauss–Hermite nodes over ln L.

    Returns:
        (uptake_ads, uptake_des) [molecules per site cell, times ``uptake_scale``], (open_ads, open_des)
        open volume fractions [1].
    """
    dt = params.volume_A3.dtype
    t = jnp.asarray(temperature_K, dt)
    g_ads, load_ads = branch_gaps(params, guest, t, p_ads_Pa)
    g_des, load_des = branch_gaps(params, guest, t, p_des_Pa)
    h = params.barrier_kj_mol / 3.0
    m_ads = jax.lax.cummin(g_ads)
    m_top = m_ads[-1]
    m_des = jnp.maximum(jax.lax.cummax(g_des), g_ads[-1])
    sizes, weights = size_nodes(sample, n_nodes)
    shift = surface_shift_kj_mol(sizes, sample.surface_energy_J_m2, params.volume_A3[-1])  # (n_nodes,)
    sigma = crystal_offset_sigma_kj_mol(sizes, sample)
    z_ads = (-h - shift[:, None] - m_ads[None, :]) / sigma[:, None]
    open_ads = weights @ ndtr(z_ads)
    limit = jnp.minimum(-h - m_top, h - m_des)  # (n_des,)
    z_des = (limit[None, :] - shift[:, None]) / sigma[:, None]
    open_des = weights @ ndtr(z_des)
    up_ads = (1.0 - open_ads) * load_ads[:, 0] + open_ads * load_ads[:, 1]
    up_des = (1.0 - open_des) * load_des[:, 0] + open_des * load_des[:, 1]
    return sample.uptake_scale * up_ads, sample.uptake_scale * up_des, open_ads, open_des
