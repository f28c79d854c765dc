r"""Calibrating a two-phase (closed/open) parameter set on measured isotherms at one or several temperatures.

Three stages, each with a plain least-squares objective:

1. **Langmuir per phase** (:func:`fit_langmuir`). The points that the user assigns to the closed phase (the np
   plateau) and to the open phase (after the np → lp step) of the isotherm at T_ref are fitted separately with
   :math:`N = n\,Kf/(1+Kf)` (fugacity f from Peng–Robinson), parameters (ln n, ln K).
2. **Adsorption enthalpy per phase** (:func:`fit_enthalpy`). With n and K(T_ref) fixed, the points of the same
   phase at other temperatures fix ΔH through van 't Hoff, :math:`K(T) = K_{ref}\exp[-\Delta H/R\,(1/T - 1/T_{ref})]`
   (one parameter, the isosteric heat taken constant).
3. **Host** (:func:`fit_host`). With the adsorption part fixed, the host free-energy difference
   ΔF(T_ref) = F_open − F_closed and the barrier W(T_ref) minimise the squared uptake misfit of the full hysteretic
   model (both branches, every measured point, phases decided by the spinodal rule of
   :mod:`twin.thermo.transitions`) on a grid in (ΔF, W) followed by a finer grid around the best cell. The
   objective is discontinuous (a step crossing a data point), which is why a grid and not a gradient method is
   used here. Optionally the thermal hysteresis of the empty host ties the temperature dependence to every
   candidate (:func:`thermal_host_law`): the empty solid closes on cooling where ΔF(T_close) = +W(T_close)/3 and
   reopens on heating where ΔF(T_open) = −W(T_open)/3. With ΔF(T) = ΔU − TΔS and W(T) = W_ref − S_W (T − T_ref)
   these two conditions fix ΔS and S_W for each (ΔF_ref, W_ref), so that isotherms measured at other temperatures
   enter the same objective (fitting several temperatures jointly).

Without the opening temperature (S_W = 0, the earlier calibration) the one condition ΔF(T_close) = +W/3 fixes
ΔS; that puts the reopening of empty MIL-53(Al) near 620 K instead of 325–375 K and loses the CO2 breathing
above ~300 K. The calibration of ``datasets/materials/mil53-al.toml`` uses all three stages: Boutin et al. 2010
CO2 data at 273 K (both branches), the pure-CO2 ends (x_CO2 = 1) of the CO2/CH4 isobars of Ortiz et al. 2012 at
253, 292 and 323 K, and T_close = 137.5 K, T_open = 350 K, the middles of the ranges of Y. Liu et al.,
J. Am. Chem. Soc. 130, 11813 (2008).
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

__all__ = ["fit_langmuir", "fit_enthalpy", "thermal_host_law", "HostFit", "fit_host", "apply_fit"]


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


def _affinity_at(params: ThermoParams, g: int, temperature_K: float) -> np.ndarray:
    """K of every phase for guest g at T [1/Pa] (van 't Hoff from the reference temperature)."""
    k = np.exp(np.asarray(params.log_k_ref[:, g], float))
    dh = np.asarray(params.enthalpy_kj_mol[:, g], float)
    t_ref = float(params.reference_temperature_K)
    return k * np.exp(-dh / R_KJ_MOL_K * (1.0 / float(temperature_K) - 1.0 / t_ref))


def fit_enthalpy(
    params: ThermoParams, guest: str, phase: str, points: list[tuple[float, np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    """Least-squares adsorption enthalpy ΔH of ``guest`` in ``phase`` from uptakes at other temperatures.

    n_max and K(T_ref) of the phase stay fixed; only ΔH (van 't Hoff) moves.

    Args:
        params: parameters with the Langmuir part at T_ref calibrated.
        guest, phase: which column and row of the Langmuir tables.
        points: ``(temperature_K, pressure_Pa, uptake)`` triples, uptake in molecules per site cell; every point
            must belong to ``phase``.

    Returns:
        (ΔH [kJ/mol], rms uptake residual [molecules per site cell]).
    """
    g = params.guest_index(guest)
    if phase not in params.phase_names:
        raise FitError(f"fit_enthalpy: phase {phase!r} is not one of {', '.join(params.phase_names)}")
    if not points or sum(np.size(p) for _, p, _ in points) < 1:
        raise FitError("fit_enthalpy: needs at least one (temperature, pressure, uptake) point")
    i = params.phase_names.index(phase)
    n = float(params.n_max[i, g])
    k_ref = float(np.exp(float(params.log_k_ref[i, g])))
    t_ref = float(params.reference_temperature_K)
    fug = [(float(t), _fugacity(params, g, float(t), np.asarray(p, float)), np.asarray(u, float)) for t, p, u in points]

    def residual(x):
        out = []
        for t, f, u in fug:
            kf = k_ref * np.exp(-x[0] / R_KJ_MOL_K * (1.0 / t - 1.0 / t_ref)) * f
            out.append(n * kf / (1.0 + kf) - u)
        return np.concatenate(out)

    sol = least_squares(residual, np.array([float(params.enthalpy_kj_mol[i, g])]))
    if not sol.success:
        raise FitError(f"enthalpy fit did not converge: {sol.message}")
    return float(sol.x[0]), float(np.sqrt(np.mean(sol.fun**2)))


def thermal_host_law(delta_f_ref, barrier_ref, reference_temperature_K: float, closing_temperature_K: float,
                     opening_temperature_K: float):
    r"""Host entropy ΔS and barrier entropy S_W from the thermal hysteresis of the empty host.

    Solves, for ΔF(T) = ΔF_ref − ΔS (T − T_ref) and W(T) = W_ref − S_W (T − T_ref),

    .. math::
        \Delta F(T_{close}) = +W(T_{close})/3,\qquad \Delta F(T_{open}) = -W(T_{open})/3

    (spinodal closing on cooling, spinodal reopening on heating). Vectorised over ΔF_ref and W_ref.

    Args:
        delta_f_ref, barrier_ref: ΔF(T_ref) = F_open − F_closed and W(T_ref) [kJ/mol per site cell] (arrays).
        reference_temperature_K: T_ref [K]; closing_temperature_K < opening_temperature_K [K].

    Returns:
        (ΔS, S_W) [kJ/(mol K) per site cell], shaped like the broadcast inputs.
    """
    if not closing_temperature_K < opening_temperature_K:
        raise FitError(
            f"thermal hysteresis: the closing temperature ({closing_temperature_K} K) must lie below the opening "
            f"temperature ({opening_temperature_K} K)"
        )
    a, b = np.asarray(delta_f_ref, float), np.asarray(barrier_ref, float)
    dc = closing_temperature_K - reference_temperature_K
    do = opening_temperature_K - reference_temperature_K
    # rows: −ΔS·dc + S_W·dc/3 = b/3 − a ;  −ΔS·do − S_W·do/3 = −b/3 − a
    det = 2.0 * dc * do / 3.0
    r1, r2 = b / 3.0 - a, -b / 3.0 - a
    delta_s = (r1 * (-do / 3.0) - (dc / 3.0) * r2) / det
    s_w = ((-dc) * r2 - (-do) * r1) / det
    return delta_s, s_w


@dataclass(frozen=True)
class HostFit:
    """Result of :func:`fit_host`.

    Attributes:
        delta_f_kj_mol: ΔF(T_fit) = F_open − F_closed [kJ/mol per site cell].
        barrier_kj_mol: W(T_fit) [kJ/mol per site cell].
        rms_uptake: rms uptake misfit over every point used [molecules per site cell].
        entropy_kj_mol_K, barrier_entropy_kj_mol_K: ΔS and S_W [kJ/(mol K)] when the fit used the thermal
            hysteresis (None otherwise).
    """

    delta_f_kj_mol: float
    barrier_kj_mol: float
    rms_uptake: float
    entropy_kj_mol_K: float | None = None
    barrier_entropy_kj_mol_K: float | None = None


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


def _branch_sq(gap_ads, gap_des, n_ads, n_des, data_ads, data_des, w):
    """Sum of squared uptake errors of one isotherm for a batch of candidates (see :func:`_branch_misfit`)."""
    count = gap_ads.shape[1] + gap_des.shape[1]
    return _branch_misfit(gap_ads, gap_des, n_ads, n_des, data_ads, data_des, w) ** 2 * count, count


def fit_host(
    params: ThermoParams,
    guest: str,
    temperature_K: float,
    p_ads_Pa: np.ndarray,
    n_ads: np.ndarray,
    p_des_Pa: np.ndarray,
    n_des: np.ndarray,
    *,
    more_isotherms: tuple = (),
    thermal_hysteresis_K: tuple[float, float] | None = None,
    delta_f_range: tuple[float, float] = (-15.0, 15.0),
    barrier_range: tuple[float, float] = (0.5, 40.0),
    n_grid: int = 121,
) -> HostFit:
    """Fit ΔF(T) and W(T) at ``temperature_K`` of a two-phase material (adsorption parts fixed).

    Args:
        params: parameters whose Langmuir part (and, with ``more_isotherms``, enthalpies) for ``guest`` is
            calibrated (phase 0 closed, last open).
        temperature_K: T_fit [K], where ΔF and W are fitted.
        p_ads_Pa, n_ads: adsorption points at T_fit in measured (rising) order [Pa], [molecules per site cell].
        p_des_Pa, n_des: desorption points in measured (falling) order (may be empty).
        more_isotherms: further ``(temperature_K, p_ads_Pa, n_ads, p_des_Pa, n_des)`` tuples fitted jointly;
            they need ``thermal_hysteresis_K``.
        thermal_hysteresis_K: ``(T_close, T_open)`` of the empty host; every candidate (ΔF, W) then carries the
            ΔS and S_W of :func:`thermal_host_law`, which move it to the other temperatures.

    Raises:
        FitError: not a two-phase material, or ``more_isotherms`` without ``thermal_hysteresis_K``.
    """
    if params.n_phases != 2:
        raise FitError(f"fit_host needs a two-phase material, got phases {params.phase_names}")
    if more_isotherms and thermal_hysteresis_K is None:
        raise FitError("fit_host: isotherms at other temperatures need thermal_hysteresis_K = (T_close, T_open)")
    g = params.guest_index(guest)
    t_fit = float(temperature_K)
    nmax = np.asarray(params.n_max[:, g], float)
    dv = float(params.volume_A3[1] - params.volume_A3[0]) * PV_KJ_MOL_PER_PA_A3

    def parts(t, p):
        p = np.asarray(p, float)
        k = _affinity_at(params, g, t)
        f = _fugacity(params, g, t, p) if p.size else p
        kf = k[:, None] * f[None, :]
        psi = nmax[:, None] * np.log1p(kf)
        loads = nmax[:, None] * kf / (1.0 + kf)
        return p * dv - R_KJ_MOL_K * t * (psi[1] - psi[0]), loads

    sets = [(t_fit, p_ads_Pa, n_ads, p_des_Pa, n_des), *more_isotherms]
    prepared = []
    for t, pa, na, pd, nd in sets:
        base_a, load_a = parts(float(t), pa)
        base_d, load_d = parts(float(t), pd)
        prepared.append((float(t) - t_fit, base_a, load_a, np.asarray(na, float), base_d, load_d, np.asarray(nd, float)))

    def search(df_values, w_values):
        dfs, ws = np.meshgrid(df_values, w_values, indexing="ij")
        dfs, ws = dfs.ravel(), ws.ravel()
        if thermal_hysteresis_K is None:
            ds, sw = np.zeros_like(dfs), np.zeros_like(ws)
        else:
            ds, sw = thermal_host_law(dfs, ws, t_fit, *thermal_hysteresis_K)
        sq, count = np.zeros_like(dfs), 0
        for dt, base_a, load_a, na, base_d, load_d, nd in prepared:
            df_t, w_t = dfs - ds * dt, ws - sw * dt
            add, c = _branch_sq(df_t[:, None] + base_a[None, :], df_t[:, None] + base_d[None, :],
                                load_a, load_d, na, nd, w_t)
            sq, count = sq + add, count + c
        rms = np.sqrt(sq / count)
        rms = np.where(np.isfinite(rms), rms, np.inf)
        best = int(np.argmin(rms))
        return dfs[best], ws[best], rms[best], ds[best], sw[best]

    df, w, rms, ds, sw = search(np.linspace(*delta_f_range, n_grid), np.linspace(*barrier_range, n_grid))
    d_df = (delta_f_range[1] - delta_f_range[0]) / (n_grid - 1)
    d_w = (barrier_range[1] - barrier_range[0]) / (n_grid - 1)
    df, w, rms, ds, sw = search(np.linspace(df - d_df, df + d_df, 41), np.linspace(max(w - d_w, 1e-3), w + d_w, 41))
    if thermal_hysteresis_K is None:
        return HostFit(float(df), float(w), float(rms))
    return HostFit(float(df), float(w), float(rms), float(ds), float(sw))


def apply_fit(
    params: ThermoParams,
    guest: str,
    temperature_K: float,
    langmuir: dict[str, tuple[float, float]],
    host: HostFit,
    closing_temperature_K: float,
    opening_temperature_K: float | None = None,
    enthalpy: dict[str, float] | None = None,
) -> ThermoParams:
    """Parameters with the fitted Langmuir values (per phase name), ΔF, W and the host entropies.

    The reference temperature becomes ``temperature_K``; ``log_k_ref`` of the other guests is moved to the new
    reference with their enthalpies so that nothing else changes.

    Args:
        langmuir: ``{phase: (n_max, K [1/Pa])}`` at ``temperature_K``.
        host: ΔF and W at ``temperature_K``.
        closing_temperature_K: T_close of the empty host (spinodal closing on cooling).
        opening_temperature_K: T_open of the empty host (spinodal reopening on heating). With it ΔS and the
            barrier entropy S_W follow from :func:`thermal_host_law`; without it S_W = 0 and ΔS comes from
            ΔF(T_close) = +W/3 alone.
        enthalpy: ``{phase: ΔH [kJ/mol]}`` of ``guest`` (e.g. from :func:`fit_enthalpy`).
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
        if enthalpy and name in enthalpy:
            dh[i, g] = enthalpy[name]
    if not closing_temperature_K < t:
        raise FitError(f"the closing temperature {closing_temperature_K} K must lie below the fit temperature {t} K")
    if opening_temperature_K is None:
        delta_s = (host.barrier_kj_mol / 3.0 - host.delta_f_kj_mol) / (t - closing_temperature_K)
        s_w = 0.0
    else:
        delta_s, s_w = (float(x) for x in thermal_host_law(
            host.delta_f_kj_mol, host.barrier_kj_mol, t, closing_temperature_K, opening_temperature_K))
    delta_u = host.delta_f_kj_mol + t * delta_s
    dtype = params.volume_A3.dtype
    return replace(
        params,
        n_max=jnp.asarray(n_max, dtype),
        log_k_ref=jnp.asarray(log_k, dtype),
        enthalpy_kj_mol=jnp.asarray(dh, dtype),
        reference_temperature_K=jnp.asarray(t, dtype),
        barrier_kj_mol=jnp.asarray(host.barrier_kj_mol, dtype),
        barrier_entropy_kj_mol_K=jnp.asarray(s_w, dtype),
        host_energy_kj_mol=jnp.asarray([0.0, delta_u], dtype),
        host_entropy_kj_mol_K=jnp.asarray([0.0, delta_s], dtype),
    )
