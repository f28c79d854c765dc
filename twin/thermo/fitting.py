r"""Calibrating a two-phase (closed/open) parameter set on one measured isotherm with both branches.

Two stages, each with a plain least-squares objective:

1. **Langmuir per phase.** The points that the user assigns to the closed phase (the np plateau) and
   to the open phase (after the np → lp step) are fitted separately with
   :math:`N = n\,Kf/(1+Kf)` (fugacity f from Peng–Robinson), parameters (ln n, ln K).
2. **Host.** With the Langmuir parameters fixed, the host free-energy difference ΔF(T_fit) = F_open − F_closed
   and the barrier W minimise the squared uptake misfit of the full hysteretic model (both branches, every
   measured point, phases decided by the spinodal rule of :mod:`twin.thermo.transitions`) on a grid in
   (ΔF, W) followed by a finer grid around the best cell. The objective is discontinuous (a step crossing a
   data point), which is why a grid and not a gradient method is used here.

The host entropy difference then follows from the thermal closing temperature of the empty solid,
:math:`\Delta F(T_{close}) = +W/3` (lp → np on cooling), and :math:`\Delta U = \Delta F(T_{fit}) + T_{fit}\Delta S`.
This is the calibration used for ``datasets/materials/mil53-al.toml`` (Boutin et al. 2010 CO2 data at 273 K;
T_close from Liu et al., J. Am. Chem. Soc. 130, 11813 (2008)).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares

from twin.errors import FitError
from twin.thermo.eos import R_KJ_MOL_K, peng_robinson_phi
from twin.thermo.osmotic import PV_KJ_MOL_PER_PA_A3
from twin.thermo.params import ThermoParams

__all__ = ["fit_langmuir", "HostFit", "fit_host", "apply_fit"]


def _fugacity(params: ThermoParams, g: int, temperature_K: float, pressure_Pa: np.ndarray) -> np.ndarray:
    phi = peng_robinson_phi(
        jnp.full(pressure_Pa.shape, temperature_K, jnp.float32),
        jnp.asarray(pressure_Pa, jnp.float32),
        jnp.full(pressure_Pa.shape, float(params.critical_temperature_K[g]), jnp.float32),
        jnp.full(pressure_Pa.shape, float(params.critical_pressure_Pa[g]), jnp.float32),
        jnp.full(pressure_Pa.shape, float(params.acentric_factor[g]), jnp.float32),
    )
    return np.asarray(phi, np.float64) * pressure_Pa


def fit_langmuir(fugacity_Pa: np.ndarray, uptake: np.ndarray) -> tuple[float, float]:
    """Least-squares Langmuir fit; returns (n_max [molecules per cell], K [1/Pa])."""
    f = np.asarray(fugacity_Pa, float)
    n = np.asarray(uptake, float)
    if f.size < 2:
        raise FitError(f"a Langmuir fit needs at least 2 points, got {f.size}")
    x0 = np.array([np.log(n.max() * 1.2), np.log(1.0 / np.median(f))])

    def residual(x):
        kf = np.exp(x[1]) * f
        return np.exp(x[0]) * kf / (1.0 + kf) - n

    sol = least_squares(residual, x0, method="lm")
    if not sol.success:
        raise FitError(f"Langmuir fit did not converge: {sol.message}")
    return float(np.exp(sol.x[0])), float(np.exp(sol.x[1]))


@dataclass(frozen=True)
class HostFit:
    """Result of :func:`fit_host`: ΔF(T_fit) = F_open − F_closed and W [kJ/mol per cell], rms misfit."""

    delta_f_kj_mol: float
    barrier_kj_mol: float
    rms_uptake: float


def _branch_misfit(gap_ads, gap_des, n_ads, n_des, data_ads, data_des, w):
    """Misfit of the two-phase hysteretic model for a batch of (ΔF, W) candidates (vectorised).

    gap_*: Ω_open − Ω_closed at the data points, shape (n_candidates, n_points).
    n_*: (2, n_points) model loadings of closed/open phase.
    """
    w3 = w / 3.0
    # activated start: open if locally stable at the first point
    phase = np.where(gap_ads[:, 0] < w3, 1, 0)
    sq = np.zeros(gap_ads.shape[0])
    for k in range(gap_ads.shape[1]):
        phase = np.where((phase == 1) & (gap_ads[:, k] > w3), 0, phase)
        phase = np.where((phase == 0) & (gap_ads[:, k] < -w3), 1, phase)
        sq += (np.where(phase == 1, n_ads[1, k], n_ads[0, k]) - data_ads[k]) ** 2
    for k in range(gap_des.shape[1]):  # desorption points in falling pressure order
        phase = np.where((phase == 1) & (gap_des[:, k] > w3), 0, phase)
        phase = np.where((phase == 0) & (gap_des[:, k] < -w3), 1, phase)
        sq += (np.where(phase == 1, n_des[1, k], n_des[0, k]) - data_des[k]) ** 2
    return np.sqrt(sq / (gap_ads.shape[1] + gap_des.shape[1]))


def fit_host(
    params: ThermoParams,
    guest: str,
    temperature_K: float,
    p_ads_Pa: np.ndarray,
    n_ads: np.ndarray,
    p_des_Pa: np.ndarray,
    n_des: np.ndarray,
    *,
    delta_f_range: tuple[float, float] = (-15.0, 15.0),
    barrier_range: tuple[float, float] = (0.5, 40.0),
    n_grid: int = 121,
) -> HostFit:
    """Fit ΔF(T) and W of a two-phase material to both branches of one isotherm (Langmuir parts fixed).

    Args:
        params: parameters whose Langmuir part for ``guest`` is already calibrated (phase 0 closed, last open).
        p_ads_Pa, n_ads: adsorption points in measured (rising) order [Pa], [molecules per site cell].
        p_des_Pa, n_des: desorption points in measured (falling) order.
    """
    if params.n_phases != 2:
        raise FitError(f"fit_host needs a two-phase material, got phases {params.phase_names}")
    g = params.guest_index(guest)
    t = float(temperature_K)
    rt = R_KJ_MOL_K * t
    k = np.exp(np.asarray(params.log_k_ref[:, g], float))  # at T_ref; only valid if T == T_ref
    if abs(t - float(params.reference_temperature_K)) > 1e-3:
        dh = np.asarray(params.enthalpy_kj_mol[:, g], float)
        k = k * np.exp(-dh / R_KJ_MOL_K * (1.0 / t - 1.0 / float(params.reference_temperature_K)))
    nmax = np.asarray(params.n_max[:, g], float)
    dv = float(params.volume_A3[1] - params.volume_A3[0]) * PV_KJ_MOL_PER_PA_A3

    def parts(p):
        f = _fugacity(params, g, t, np.asarray(p, float))
        kf = k[:, None] * f[None, :]
        psi = nmax[:, None] * np.log1p(kf)
        loads = nmax[:, None] * kf / (1.0 + kf)
        return p * dv - rt * (psi[1] - psi[0]), loads

    base_ads, load_ads = parts(p_ads_Pa)
    base_des, load_des = parts(p_des_Pa)

    def search(df_values, w_values):
        dfs, ws = np.meshgrid(df_values, w_values, indexing="ij")
        dfs, ws = dfs.ravel(), ws.ravel()
        rms = _branch_misfit(
            dfs[:, None] + base_ads[None, :], dfs[:, None] + base_des[None, :], load_ads, load_des, n_ads, n_des, ws
        )
        best = int(np.argmin(rms))
        return dfs[best], ws[best], rms[best]

    df, w, rms = search(np.linspace(*delta_f_range, n_grid), np.linspace(*barrier_range, n_grid))
    d_df = (delta_f_range[1] - delta_f_range[0]) / (n_grid - 1)
    d_w = (barrier_range[1] - barrier_range[0]) / (n_grid - 1)
    df, w, rms = search(np.linspace(df - d_df, df + d_df, 41), np.linspace(max(w - d_w, 1e-3), w + d_w, 41))
    return HostFit(float(df), float(w), float(rms))


def apply_fit(
    params: ThermoParams,
    guest: str,
    temperature_K: float,
    langmuir: dict[str, tuple[float, float]],
    host: HostFit,
    closing_temperature_K: float,
) -> ThermoParams:
    """Parameters with the fitted Langmuir values (per phase name), ΔF, W and the entropy from T_close.

    The reference temperature becomes ``temperature_K``; ``log_k_ref`` of the other guests is moved to the new
    reference with their enthalpies so that nothing else changes.
    """
    g = params.guest_index(guest)
    t = float(temperature_K)
    t_old = float(params.reference_temperature_K)
    dh = np.asarray(params.enthalpy_kj_mol, float)
    log_k = np.asarray(params.log_k_ref, float) - dh / R_KJ_MOL_K * (1.0 / t - 1.0 / t_old)
    n_max = np.asarray(params.n_max, float)
    for i, name in enumerate(params.phase_names):
        if name in langmuir:
            n_max[i, g], k = langmuir[name]
            log_k[i, g] = np.log(k)
    if not closing_temperature_K < t:
        raise FitError(f"the closing temperature {closing_temperature_K} K must lie below the fit temperature {t} K")
    delta_s = (host.barrier_kj_mol / 3.0 - host.delta_f_kj_mol) / (t - closing_temperature_K)
    delta_u = host.delta_f_kj_mol + t * delta_s
    dtype = params.volume_A3.dtype
    return replace(
        params,
        n_max=jnp.asarray(n_max, dtype),
        log_k_ref=jnp.asarray(log_k, dtype),
        reference_temperature_K=jnp.asarray(t, dtype),
        barrier_kj_mol=jnp.asarray(host.barrier_kj_mol, dtype),
        host_energy_kj_mol=jnp.asarray([0.0, delta_u], dtype),
        host_entropy_kj_mol_K=jnp.asarray([0.0, delta_s], dtype),
    )
