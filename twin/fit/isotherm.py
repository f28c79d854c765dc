r"""Twin-level inference from a measured isotherm with both branches: host, adsorption and sample parameters.

The forward model is the powder surrogate of :mod:`twin.fit.surrogate` (OFAST thermodynamics of
:mod:`twin.thermo` + a log-normal crystal-size distribution + surface energies + a defect field). Any of the
parameters in :data:`PARAMETERS` can be freed, each with bounds and an optional normal prior; the others
stay at the material file's values (host, Langmuir) or at the sample defaults.

Estimation, in three steps:

1. **Best fit.** Levenberg–Marquardt (:func:`twin.fit.lm.levenberg_marquardt`) in internal coordinates
   u (ln x for positive scale parameters, x otherwise; the widths of distributions — ``size_width``,
   ``defect_sigma_kj_mol``, ``intrinsic_sigma_kj_mol`` — are linear, below), from the given start, seeded perturbations of it (5 % of
   each range) and seeded random starts inside the bounds, ``n_starts`` in all and in one ``vmap``; the lowest
   χ² wins. When the data carry no uncertainties, the noise level is estimated from the best fit,
   σ̂² = Σ(y − ŷ)²/(N − P) (the usual least-squares estimate; χ²_ν = 1 by construction then).
2. **Posterior.** Gaussian likelihood with σ (given or σ̂), prior uniform in u inside the bounds (i.e.
   log-uniform for scale parameters, the Jeffreys choice for a positive scale) times the normal priors the
   user gives. A width of a distribution of crystals (the spread of sizes, the spread of switching offsets)
   gets a uniform prior on the width itself: a log-uniform prior puts most of its mass near zero, where the
   modelled step is sharper than the spacing of the measured points and the likelihood is flat, so that the
   posterior would follow the lower bound (A. Gelman, Bayesian Analysis 1, 515 (2006), on priors for
   group-level scale parameters). Sampled with the ensemble sampler of :mod:`twin.fit.sampler` (stretch and
   differential-evolution moves), the walkers drawn from the Laplace approximation N(u_opt, (JᵀJ)⁻¹) of every
   plausible least-squares optimum (:func:`laplace_start`). Reported: best value (maximum a posteriori under
   flat priors = least squares), posterior standard deviation ("stderr"), the central 90 % interval
   (5th–95th percentiles), posterior correlations, and the posterior predictive band of the uptake on both
   branches.
3. **Identifiability.** A parameter whose 90 % interval spans more than about half its bound range (in u), or
   a pair correlated beyond |ρ| = 0.95, raises a warning in the result (``twin.fit.stats.identifiability``).
   Typical cases: from an isotherm alone only Δγ/L_med is determined, not L_med and Δγ separately — add the
   XRD coherent size (``coherent_size_nm`` observation) or fix one of them; the defect strength σ_d and its
   correlation length ξ act only through the crystal average σ_d²ξ³/(ξ³ + L³) and trade against L_med along
   a ridge that ends at the bounds; the empty host's ΔF rests on the open phase's isotherm below its lowest
   measured point (its spreading pressure at the step is an integral from p = 0), so it correlates with the
   open phase's Langmuir parameters.

Extra observation: the volume-weighted coherent size from pattern-level refinement (Scherrer), compared with
⟨L⟩_V of the size distribution (:func:`twin.fit.surrogate.volume_weighted_size_nm`), enters the same
likelihood ("other techniques at once").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from twin.errors import FitError
from twin.fit.lm import levenberg_marquardt
from twin.fit.sampler import ensemble_sample, split_rhat
from twin.fit.stats import correlation_matrix, fit_statistics
from twin.fit.surrogate import SampleParams, make_sample, powder_branches, volume_weighted_size_nm
from twin.thermo.eos import R_KJ_MOL_K
from twin.thermo.params import ThermoParams

__all__ = [
    "StatedConditions",
    "stated_conditions",
    "read_isotherm_file",
    "PARAMETERS",
    "ParameterInfo",
    "FreeParameter",
    "IsothermData",
    "IsothermProblem",
    "TwinFit",
    "load_isotherm",
    "uptake_factor_to_per_cell",
    "fit_isotherm",
    "apply_values",
]


@dataclass(frozen=True)
class ParameterInfo:
    """Unit, coordinate (log or linear), default bounds and meaning of a fittable parameter."""

    unit: str
    log: bool
    bounds: tuple[float, float]
    description: str


#: every parameter the isotherm fit can free
PARAMETERS: dict[str, ParameterInfo] = {
    "size_median_nm": ParameterInfo("nm", True, (10.0, 1e5), "median crystal edge of the number distribution"),
    "size_width": ParameterInfo("1", False, (0.02, 1.5), "standard deviation of ln L"),
    "surface_energy_J_m2": ParameterInfo("J/m2", False, (-0.5, 0.5), "γ_open − γ_closed"),
    "defect_sigma_kj_mol": ParameterInfo("kJ/mol", False, (0.01, 20.0), "std of local free-energy offsets per cell"),
    "defect_correlation_nm": ParameterInfo("nm", True, (0.5, 2000.0), "correlation length of the defect field"),
    "intrinsic_sigma_kj_mol": ParameterInfo("kJ/mol", False, (0.005, 5.0),
                                            "size-independent width of the crystals' switching offsets"),
    "uptake_scale": ParameterInfo("1", True, (0.3, 3.0), "share of the sample mass that is switching MOF"),
    "delta_f_kj_mol": ParameterInfo("kJ/mol", False, (-200.0, 200.0), "F_open − F_closed of the empty host at the fit T"),
    "barrier_kj_mol": ParameterInfo("kJ/mol", True, (0.1, 500.0), "double-well barrier W (spinodals at ±W/3)"),
    "n_max_closed": ParameterInfo("1/cell", True, (0.01, 200.0), "Langmuir capacity of the closed phase"),
    "n_max_open": ParameterInfo("1/cell", True, (0.01, 200.0), "Langmuir capacity of the open phase"),
    "p_half_closed_bar": ParameterInfo("bar", True, (1e-7, 1e3), "1/K of the closed phase at the fit T"),
    "p_half_open_bar": ParameterInfo("bar", True, (1e-7, 1e3), "1/K of the open phase at the fit T"),
}

#: share of differential-evolution moves in the ensemble sampler (the rest are stretch moves)
DE_FRACTION = 0.8

_SAMPLE_FIELDS = ("size_median_nm", "size_width", "surface_energy_J_m2", "defect_sigma_kj_mol",
                  "defect_correlation_nm", "intrinsic_sigma_kj_mol", "uptake_scale")


@dataclass(frozen=True)
class FreeParameter:
    """A freed parameter: start value, bounds and an optional normal prior (mean, sd) on the natural scale."""

    name: str
    value: float
    lower: float | None = None
    upper: float | None = None
    prior: tuple[float, float] | None = None

    def bounds(self) -> tuple[float, float]:
        lo_d, hi_d = PARAMETERS[self.name].bounds
        return (lo_d if self.lower is None else self.lower, hi_d if self.upper is None else self.upper)


def check_free(free: list[FreeParameter] | tuple[FreeParameter, ...], where: str = "parameters") -> None:
    """Validate names, bounds and start values (FitError naming the parameter and what was found)."""
    if not free:
        raise FitError(f"{where}: expected at least one free parameter, got none")
    seen = set()
    for p in free:
        if p.name not in PARAMETERS:
            from twin._toml_schema import did_you_mean

            raise FitError(f"{where}.{p.name}: unknown parameter{did_you_mean(p.name, tuple(PARAMETERS))}; "
                           f"known: {', '.join(PARAMETERS)}")
        if p.name in seen:
            raise FitError(f"{where}.{p.name}: freed twice")
        seen.add(p.name)
        info = PARAMETERS[p.name]
        lo, hi = p.bounds()
        if not lo < hi:
            raise FitError(f"{where}.{p.name}.bounds: lower bound {lo:g} {info.unit} is above upper {hi:g} {info.unit}")
        if info.log and lo <= 0:
            raise FitError(f"{where}.{p.name}.bounds: expected a positive lower bound (a positive quantity), got {lo:g}")
        if not lo <= p.value <= hi:
            raise FitError(f"{where}.{p.name}.value: start {p.value:g} {info.unit} lies outside the bounds {lo:g}..{hi:g}")
        if p.prior is not None and not p.prior[1] > 0:
            raise FitError(f"{where}.{p.name}.prior: expected a positive standard deviation, got {p.prior[1]:g}")


# ---------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class IsothermData:
    """The branches of a measured isotherm in the model's units (one of them may be empty: most measured
    isotherms have an adsorption branch only).

    Attributes:
        p_ads_Pa, n_ads: adsorption branch, rising pressure [Pa], uptake [molecules per site cell].
        p_des_Pa, n_des: desorption branch, falling pressure.
        sigma: standard uncertainty of every uptake [molecules per site cell] (n_ads + n_des,), or None.
        unit: the file's uptake unit; per_cell_to_unit: factor from molecules per cell to that unit.
        temperature_K: temperature stated by the file, or None.
        path, sha256: provenance.
    """

    p_ads_Pa: np.ndarray
    n_ads: np.ndarray
    p_des_Pa: np.ndarray
    n_des: np.ndarray
    sigma: np.ndarray | None = None
    unit: str = "1/cell"
    per_cell_to_unit: float = 1.0
    temperature_K: float | None = None
    path: str | None = None
    sha256: str | None = None

    @property
    def n_points(self) -> int:
        return int(self.n_ads.size + self.n_des.size)


def uptake_factor_to_per_cell(unit: str, cell_mass_g_per_mol: float, guest_molar_mass: float, where: str) -> float:
    """Factor turning an uptake in ``unit`` into molecules per site cell.

    Accepted: molecules/cell (``molecules_per_cell``, ``1/cell``), mmol/g, mol/kg, mL(STP)/g (22.414 mL/mmol,
    IUPAC STP 273.15 K and 1 atm), wt% (g per 100 g adsorbent).
    """
    u = unit.lower().replace(" ", "").replace("_", "").replace("-1", "").replace("^", "")
    if u in ("moleculespercell", "molecules/cell", "1/cell", "molec/uc", "moleculespercell)"):
        return 1.0
    if u in ("mmol/g", "mmolg", "mmolpergram", "mmolperg", "mol/kg", "molkg"):
        return cell_mass_g_per_mol / 1000.0
    if u in ("ml(stp)g", "ml(stp)/g", "mlstppergram", "mlstpperg", "cm3(stp)/g", "cm3stppergram", "cc/g"):
        return cell_mass_g_per_mol / 1000.0 / 22.414
    if u in ("wtpercent", "wt%", "wt.%"):
        return cell_mass_g_per_mol / (100.0 * guest_molar_mass)
    raise FitError(
        f"{where}: uptake unit {unit!r} cannot be converted to the model's unit (molecules per site cell); "
        "expected one of molecules/cell, mmol/g, mol/kg, mL(STP)/g, wt%"
    )


def load_isotherm(
    path: str | Path,
    cell_mass_g_per_mol: float,
    guest_molar_mass: float,
    *,
    y_column: str | None = None,
    min_pressure_Pa: float = 0.0,
    series: Any = None,
) -> IsothermData:
    """Read a measured isotherm (AIF or CSV, through :func:`instruments.io.read_measurement`) into model units.

    Branches: the series labels ``adsorption``/``desorption``; points are sorted rising (adsorption) and
    falling (desorption); points at pressures ≤ ``min_pressure_Pa`` are dropped (the p = 0 origin).

    Raises:
        FitError: no labelled branch, fewer than two points, an axis that is not a pressure, an uptake unit that
        cannot be converted.
    """
    from twin.datasets import file_sha256

    path = Path(path)
    if series is None:  # else the file as read_isotherm_file gave it
        series = read_isotherm_file(path, y_column=y_column)
    labels = tuple(getattr(series, "labels", ()))
    present = [label for label in ("adsorption", "desorption") if label in labels]
    if not present:
        raise FitError(f"{path.name}: expected an isotherm with an adsorption and/or a desorption branch (labelled "
                       f"as such), got {labels or 'one unlabelled curve'}")
    branches = {label: (np.zeros(0), np.zeros(0), None, None, None) for label in ("adsorption", "desorption")}
    for label in present:
        m = series[labels.index(label)]
        if m.axis.name != "pressure" or m.axis.unit != "bar":
            raise FitError(
                f"{path.name}: {label} branch: the model needs a pressure axis in bar, got {m.axis.name!r} in {m.axis.unit!r}"
            )
        factor = uptake_factor_to_per_cell(m.unit, cell_mass_g_per_mol, guest_molar_mass, f"{path.name}: {label} uptake")
        p = np.asarray(m.axis.values, float) * 1e5
        n = np.asarray(m.values, float) * factor
        keep = p > min_pressure_Pa
        p, n = p[keep], n[keep]
        order = np.argsort(p) if label == "adsorption" else np.argsort(-p)
        branches[label] = (p[order], n[order], m.unit, factor, m.conditions.get("temperature_K"))
    (pa, na, *_), (pd, nd, *_) = branches["adsorption"], branches["desorption"]
    _, _, unit, factor, t_file = branches[present[0]]
    if na.size + nd.size < 2:
        raise FitError(f"{path.name}: {na.size + nd.size} point(s) above {min_pressure_Pa:g} Pa; an isotherm fit needs "
                       "a measured curve (at least as many points as free parameters)")
    return IsothermData(pa, na, pd, nd, None, unit, 1.0 / factor, t_file, str(path), file_sha256(path))


@dataclass(frozen=True)
class StatedConditions:
    """What a measured isotherm file says about itself (``None`` where it says nothing).

    Attributes:
        adsorptive: the gas as the file writes it (AIF ``_exptl_adsorptive``: ``C2H5OH``).
        temperature_K: the measurement temperature (AIF ``_exptl_temperature`` with ``_units_temperature``).
        pressure_unit: the file's pressure unit (AIF ``_units_pressure``, a CSV's ``pressure_kPa`` column), for
            plots in the unit the user measured in.
    """

    adsorptive: str | None
    temperature_K: float | None
    pressure_unit: str | None


def read_isotherm_file(path: str | Path, *, y_column: str | None = None) -> Any:
    """A measured isotherm file as its reader gives it (:func:`instruments.io.read_measurement`), read once for both
    :func:`stated_conditions` and :func:`load_isotherm`."""
    from instruments.io import read_measurement

    return read_measurement(Path(path), **({"y_column": y_column} if y_column else {}))


def stated_conditions(series: Any) -> StatedConditions:
    """The adsorptive, temperature and pressure unit a measured isotherm (:func:`read_isotherm_file`) states."""
    meta = dict(getattr(series, "metadata", {}) or {})
    first = series[0] if hasattr(series, "labels") else series
    adsorptive = meta.get("exptl_adsorptive") or first.metadata.get("exptl_adsorptive")
    temperature = first.conditions.get("temperature_K")
    unit = meta.get("units_pressure")
    column = str(meta.get("pressure_column") or "")
    if unit is None and column.startswith("pressure_"):
        unit = column[len("pressure_"):]
    return StatedConditions(str(adsorptive).strip() if adsorptive else None,
                            float(temperature) if temperature is not None else None, unit or None)


# ---------------------------------------------------------------------------------------------- model
def apply_values(thermo: ThermoParams, sample: SampleParams, values: dict[str, Any], guest: str,
                 temperature_K: float) -> tuple[ThermoParams, SampleParams]:
    """Material and sample with the named parameter values set (traceable; names from :data:`PARAMETERS`)."""
    g = thermo.guest_index(guest)
    dt = thermo.volume_A3.dtype
    t = jnp.asarray(temperature_K, dt)
    sample = replace(sample, **{k: jnp.asarray(v, dt) for k, v in values.items() if k in _SAMPLE_FIELDS})
    if "delta_f_kj_mol" in values:  # U_open = ΔF(T) + U_closed + T (S_open − S_closed)
        s = thermo.host_entropy_kj_mol_K
        u_open = values["delta_f_kj_mol"] + thermo.host_energy_kj_mol[0] + t * (s[-1] - s[0])
        thermo = replace(thermo, host_energy_kj_mol=thermo.host_energy_kj_mol.at[-1].set(u_open))
    if "barrier_kj_mol" in values:
        thermo = replace(thermo, barrier_kj_mol=jnp.asarray(values["barrier_kj_mol"], dt))
    n_max, log_k = thermo.n_max, thermo.log_k_ref
    shift = thermo.enthalpy_kj_mol[:, g] / R_KJ_MOL_K * (1.0 / t - 1.0 / thermo.reference_temperature_K)
    for phase, row in (("closed", 0), ("open", thermo.n_phases - 1)):
        if f"n_max_{phase}" in values:
            n_max = n_max.at[row, g].set(values[f"n_max_{phase}"])
        if f"p_half_{phase}_bar" in values:  # ln K(T) = −ln(p_half / Pa), moved to T_ref with ΔH
            log_k = log_k.at[row, g].set(-jnp.log(values[f"p_half_{phase}_bar"] * 1e5) + shift[row])
    return replace(thermo, n_max=n_max, log_k_ref=log_k), sample


def current_value(name: str, thermo: ThermoParams, sample: SampleParams, guest: str, temperature_K: float) -> float:
    """The value a parameter has in the material/sample as given (natural units)."""
    if name in _SAMPLE_FIELDS:
        return float(getattr(sample, name))
    g = thermo.guest_index(guest)
    t = float(temperature_K)
    if name == "delta_f_kj_mol":
        f = np.asarray(thermo.host_energy_kj_mol, float) - t * np.asarray(thermo.host_entropy_kj_mol_K, float)
        return float(f[-1] - f[0])
    if name == "barrier_kj_mol":
        return float(thermo.barrier_kj_mol)
    row = 0 if "closed" in name else thermo.n_phases - 1
    if name.startswith("n_max"):
        return float(thermo.n_max[row, g])
    dh = float(thermo.enthalpy_kj_mol[row, g])
    log_k = float(thermo.log_k_ref[row, g]) - dh / R_KJ_MOL_K * (1.0 / t - 1.0 / float(thermo.reference_temperature_K))
    return math.exp(-log_k) / 1e5


@dataclass(frozen=True)
class IsothermProblem:
    """Everything a twin-level isotherm fit needs (host side).

    Attributes:
        thermo: the material's parameters (fixed parts), two phases.
        sample: sample defaults (fixed parts).
        guest: the gas; temperature_K: T of the measurement [K].
        data: :class:`IsothermData`.
        free: the freed parameters.
        coherent_size_nm: optional (value, sd) of a volume-weighted coherent size from XRD [nm].
        n_nodes: quadrature nodes over sizes.
    """

    thermo: ThermoParams
    sample: SampleParams
    guest: str
    temperature_K: float
    data: IsothermData
    free: tuple[FreeParameter, ...]
    coherent_size_nm: tuple[float, float] | None = None
    n_nodes: int = 24

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.free)

    def to_internal(self, x: np.ndarray) -> np.ndarray:
        return np.array([math.log(v) if PARAMETERS[p.name].log else v for p, v in zip(self.free, x, strict=True)])

    def internal_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = zip(*(p.bounds() for p in self.free), strict=True)
        return self.to_internal(np.array(lo)), self.to_internal(np.array(hi))

    def from_internal(self, u: Any) -> Any:
        logs = jnp.asarray([PARAMETERS[p.name].log for p in self.free])
        return jnp.where(logs, jnp.exp(u), u)

    def predict(self, u: Any) -> tuple[Any, Any]:
        """Uptake (ads, des) [molecules per cell] at internal coordinates u (traceable)."""
        x = self.from_internal(u)
        values = {p.name: x[i] for i, p in enumerate(self.free)}
        thermo, sample = apply_values(self.thermo, self.sample, values, self.guest, self.temperature_K)
        dt = thermo.volume_A3.dtype
        ads, des, _, _ = powder_branches(thermo, sample, self.guest, jnp.asarray(self.temperature_K, dt),
                                         jnp.asarray(self.data.p_ads_Pa, dt), jnp.asarray(self.data.p_des_Pa, dt),
                                         self.n_nodes)
        return ads, des

    def observed(self) -> np.ndarray:
        """Uptakes (ads, des) [molecules per cell], then the coherent size [nm] when given."""
        y = np.concatenate([self.data.n_ads, self.data.n_des])
        if self.coherent_size_nm is not None:
            y = np.concatenate([y, [self.coherent_size_nm[0]]])
        return y

    def prediction(self, u: Any) -> Any:
        """Model of :meth:`observed` at internal coordinates u (traceable)."""
        ads, des = self.predict(u)
        pred = jnp.concatenate([ads, des])
        if self.coherent_size_nm is not None:
            x = self.from_internal(u)
            values = {p.name: x[i] for i, p in enumerate(self.free)}
            _, sample = apply_values(self.thermo, self.sample, values, self.guest, self.temperature_K)
            pred = jnp.concatenate([pred, jnp.reshape(volume_weighted_size_nm(sample), (1,))])
        return pred

    def residual(self, u: Any, y: Any, sigma: Any) -> Any:
        """Weighted residual (y − model)/σ over :meth:`observed`."""
        return (y - self.prediction(u)) / sigma

    def log_prior(self, u: Any) -> Any:
        lo, hi = self.internal_bounds()
        dt = u.dtype
        inside = jnp.all((u >= jnp.asarray(lo, dt)) & (u <= jnp.asarray(hi, dt)))
        x = self.from_internal(u)
        lp = jnp.zeros((), dt)
        for i, p in enumerate(self.free):
            if p.prior is not None:
                mean, sd = p.prior
                lp = lp - 0.5 * ((x[i] - mean) / sd) ** 2
                if PARAMETERS[p.name].log:
                    lp = lp + u[i]  # density of a normal prior on x, expressed in u = ln x
        return jnp.where(inside, lp, -jnp.inf)


# ---------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class TwinFit:
    """Outcome of :func:`fit_isotherm` (host-side arrays).

    Attributes:
        names, units: free parameters.
        value: best fit (natural units); esd: from the LM covariance; stderr: posterior sd.
        interval_90: (n_params, 2) 5th–95th posterior percentiles; median: posterior median.
        correlation: posterior correlation (n_params, n_params).
        chi2, chi2_reduced, rwp, rexp: at the best fit with σ used; sigma: σ per point.
        warnings: identifiability and convergence warnings.
        convergence: LM and sampler diagnostics.
        predictive: posterior predictive bands per branch (:func:`posterior_predictive`).
        samples: posterior samples (n_samples, n_params) in natural units.
        undetermined: parameters whose 90 % posterior interval spans more than :data:`UNDETERMINED_SPAN` of
            their allowed range in the sampled coordinates: the data leave them where the prior puts them.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    value: np.ndarray
    esd: np.ndarray
    stderr: np.ndarray
    interval_90: np.ndarray
    median: np.ndarray
    correlation: np.ndarray
    chi2: float
    chi2_reduced: float
    rwp: float
    rexp: float
    sigma: np.ndarray
    warnings: tuple[str, ...]
    convergence: dict[str, Any]
    predictive: list[dict[str, Any]] = field(default_factory=list)
    samples: np.ndarray | None = None
    undetermined: tuple[str, ...] = ()


def _scaled_inverse_sqrt(a: Any) -> Any:
    """M with M Mᵀ = (AᵀA)⁻¹, from the thin SVD of the column-scaled A (never the normal equations, which
    square the condition number in float32); singular values are floored at 1e-6 of the largest."""
    norms = jnp.sqrt(jnp.sum(a * a, axis=0))
    scale = jnp.where(norms > 0.0, norms, jnp.ones_like(norms))
    _, s, vt = jnp.linalg.svd(a / scale[None, :], full_matrices=False)
    s = jnp.maximum(s, 1e-6 * s[0])
    return vt.T / s[None, :] / scale[:, None]


def _covariance(jac: Any) -> Any:
    """Laplace covariance (JᵀJ)⁻¹ of the internal coordinates at the best fit (unscaled: σ is the noise)."""
    m = _scaled_inverse_sqrt(jac)
    return m @ m.T


def laplace_start(key: Any, centre: Any, jac: Any, lower: Any, upper: Any) -> Any:
    r"""Walkers drawn from the Laplace approximation of the posterior around ``centre`` (n_walkers, n_params).

    u = u_opt + M z with M Mᵀ = (JᵀJ + Λ)⁻¹ and z standard normal: the full covariance of the linearised
    likelihood, so that the ensemble starts with the shape of the posterior (strong correlations included)
    instead of a diagonal ball that the stretch moves must first reshape. Λ = diag(20/(u_hi − u_lo))² is a
    Gaussian of 5 % of each bound range: it only keeps a direction the data do not constrain (a flat ridge, a
    parameter at its bound) from scattering the walkers over regions of negligible posterior mass, from which
    they return slowly and where they stall the moves of the others; the sampler widens such a direction
    itself. Points outside the bounds are reflected back inside (walkers stay distinct, unlike clipping).
    """
    dt = centre.dtype
    a = jnp.concatenate([jac, jnp.diag(20.0 / (upper - lower))], axis=0)
    m = _scaled_inverse_sqrt(a)
    z = jax.random.normal(key, centre.shape, dt)
    return _reflect(centre + z @ m.T, lower, upper)


def _reflect(w: Any, lower: Any, upper: Any) -> Any:
    """Points (n, n_params) folded back into the box [lower, upper] by reflection at its faces."""
    span = (upper - lower)[None, :]
    v = jnp.mod(w - lower[None, :], 2.0 * span)
    return lower[None, :] + span - jnp.abs(span - v)


def _core(problem: IsothermProblem, n_starts: int, n_walkers: int, n_steps: int, burn: int, max_iter: int,
          de_fraction: float = DE_FRACTION, thin: int = 1):
    """The pure, vmappable pipeline: (y, sigma or 0, key, u_start) → arrays. σ ≤ 0 means 'estimate'."""
    lo, hi = problem.internal_bounds()
    n_par = len(problem.free)
    n_obs = problem.data.n_points  # uptake points (the size term, if any, follows them)

    def pipeline(y, sigma_in, key, u_start):
        dt = y.dtype
        lo_j, hi_j = jnp.asarray(lo, dt), jnp.asarray(hi, dt)
        unit_sigma = jnp.ones_like(y)
        k_start, k_local, k_ball, k_mcmc = jax.random.split(key, 4)
        # the given start, perturbations of it (5 % of each range) and uniform draws inside the bounds
        n_local = (n_starts - 1) // 2
        local = u_start[None, :] + 0.05 * (hi_j - lo_j)[None, :] * jax.random.normal(k_local, (n_local, n_par), dt)
        far = jax.random.uniform(k_start, (n_starts - 1 - n_local, n_par), dt, lo_j, hi_j)
        starts = jnp.concatenate([u_start[None, :], _reflect(local, lo_j, hi_j), far])
        estimate = sigma_in <= 0.0  # points whose σ is estimated from the best fit
        sig0 = jnp.where(estimate, unit_sigma, sigma_in)
        fits = jax.vmap(lambda u0: levenberg_marquardt(problem.residual, u0, y, sig0, lower=lo_j, upper=hi_j,
                                                       max_iter=max_iter))(starts)
        best = jnp.argmin(jnp.where(jnp.isfinite(fits.chi2), fits.chi2, jnp.inf))
        n_est = jnp.sum(estimate.astype(dt))
        dof = jnp.maximum(n_est - n_par, 1.0)
        sigma_hat = jnp.sqrt(jnp.sum(jnp.where(estimate, fits.residual[best] ** 2, 0.0)) / dof)
        # where estimated and given uncertainties meet (an XRD size beside the uptakes), the unit weights of
        # the first pass misweigh the two: refine the best start with σ̂, then estimate σ̂ again from it
        sigma = jnp.where(estimate, sigma_hat, sigma_in)
        refined = levenberg_marquardt(problem.residual, fits.x[best], y, sigma, lower=lo_j, upper=hi_j,
                                      max_iter=max_iter)
        u_best = refined.x
        res_raw = refined.residual * sigma
        sigma_hat = jnp.sqrt(jnp.sum(jnp.where(estimate, res_raw**2, 0.0)) / dof)
        sigma = jnp.where(estimate, sigma_hat, sigma_in)
        r = problem.residual(u_best, y, sigma)
        jac = jax.jacfwd(problem.residual)(u_best, y, sigma)
        stats = fit_statistics(r[:n_obs], jac[:n_obs], y, sigma)
        # covariance in u from the full residual (with the size term), not χ²-rescaled (σ is the noise)
        cov_u = _covariance(jac)
        # walkers start from the Laplace approximation N(u_opt, C) of every least-squares optimum that is
        # plausible (−Δln L < 10 from the best): a posterior with two modes then has walkers in both
        chi_all = jnp.sum(jnp.where(estimate[None, :], (fits.residual * sig0[None, :] / sigma[None, :]) ** 2,
                                    fits.residual**2), axis=1)
        plausible = jnp.isfinite(chi_all) & (0.5 * (chi_all - jnp.min(jnp.where(jnp.isfinite(chi_all), chi_all, jnp.inf))) < 10.0)
        order = jnp.argsort(jnp.where(plausible, chi_all, jnp.inf))
        n_ok = jnp.maximum(jnp.sum(plausible.astype(jnp.int32)), 1)
        centre = fits.x[order[jnp.arange(n_walkers) % n_ok]]
        walkers = laplace_start(k_ball, centre, jac, lo_j, hi_j)

        def log_prob(u):
            rr = problem.residual(u, y, sigma)
            lp = problem.log_prior(u)
            return jnp.where(jnp.isfinite(lp), lp - 0.5 * jnp.sum(rr * rr), -jnp.inf)

        chain, _, acc = ensemble_sample(log_prob, walkers, k_mcmc, n_steps, de_fraction=de_fraction, thin=thin)
        kept = chain[burn:]
        rhat = split_rhat(kept)
        return dict(u_best=u_best, chi2_all=fits.chi2, converged=refined.converged, n_iter=fits.n_iter[best] + refined.n_iter,
                    sigma=sigma, rwp=stats.rwp, rexp=stats.rexp, chi2=stats.chi2, chi2_red=stats.chi2_reduced,
                    cov_u=cov_u, samples=kept.reshape(-1, n_par), acceptance=acc, rhat=rhat)

    return pipeline


def fit_isotherm(
    problem: IsothermProblem,
    *,
    seed: int = 0,
    n_starts: int = 6,
    n_walkers: int = 24,
    n_steps: int = 1200,
    burn: int = 400,
    max_iter: int = 200,
    sigma: float | None = None,
    de_fraction: float = DE_FRACTION,
    thin: int = 1,
) -> TwinFit:
    """Fit the free parameters of ``problem`` to its data with uncertainties (module docstring).

    Args:
        problem: :class:`IsothermProblem`.
        seed: seeds the random starts and the sampler (same seed → same result).
        n_starts: LM starts (the given start plus random ones inside the bounds).
        n_walkers, n_steps, burn: ensemble sampler settings (n_walkers even, ≥ 2·n_params); n_steps and burn
            count stored steps.
        max_iter: LM iterations per start.
        sigma: uptake uncertainty [molecules per cell] if known; else the data's, else estimated.
        de_fraction: share of differential-evolution moves (:func:`twin.fit.sampler.ensemble_sample`).
        thin: sampler moves per stored step (the chain is ``n_steps · thin`` moves long).
    """
    check_free(problem.free)
    n_par = len(problem.free)
    if n_walkers < 2 * n_par or n_walkers % 2:
        raise FitError(f"sampler: n_walkers must be even and ≥ 2 × {n_par} free parameters, got {n_walkers}")
    if not 0 <= burn < n_steps:
        raise FitError(f"sampler: burn-in {burn} must be below the number of steps {n_steps}")
    if problem.data.n_points <= n_par:
        raise FitError(f"isotherm fit: {problem.data.n_points} points cannot determine {n_par} free parameters")
    dt = problem.thermo.volume_A3.dtype
    y = jnp.asarray(problem.observed(), dt)
    n = problem.data.n_points
    if sigma is not None:
        sig = np.full(n, sigma)
    elif problem.data.sigma is not None:
        sig = np.asarray(problem.data.sigma, float)
    else:
        sig = np.zeros(n)  # estimated from the best fit
    if problem.coherent_size_nm is not None:
        sig = np.concatenate([sig, [problem.coherent_size_nm[1]]])
    sig = jnp.asarray(sig, dt)
    u0 = jnp.asarray(problem.to_internal(np.array([p.value for p in problem.free])), dt)
    pipeline = jax.jit(_core(problem, n_starts, n_walkers, n_steps, burn, max_iter, de_fraction, thin))
    out = jax.device_get(pipeline(y, sig, jax.random.PRNGKey(seed), u0))
    fit = summarise(problem, out)
    fit.convergence["sampler"].update({"n_walkers": n_walkers, "n_steps": n_steps, "burn": burn, "thin": thin,
                                       "de_fraction": de_fraction, "start": "Laplace approximation at the optima"})
    return fit


#: a parameter whose 90 % posterior interval covers more than this share of its allowed (sampled) range is
#: reported as not determined by the data (a flat prior over the range gives 0.9)
UNDETERMINED_SPAN = 0.6


def summarise(problem: IsothermProblem, out: dict[str, Any]) -> TwinFit:
    """Host-side summary of the pipeline's arrays (one data set)."""
    from twin.fit.stats import identifiability

    names = problem.names
    units = tuple(PARAMETERS[n].unit for n in names)
    logs = np.array([PARAMETERS[n].log for n in names])
    to_x = lambda u: np.where(logs, np.exp(u), u)  # noqa: E731
    u_best = np.asarray(out["u_best"], float)
    samples_u = np.asarray(out["samples"], float)
    samples = to_x(samples_u)
    value = to_x(u_best)
    cov_u = np.asarray(out["cov_u"], float)
    esd = np.sqrt(np.clip(np.diag(cov_u), 0, None)) * np.where(logs, value, 1.0)  # delta method
    lo, hi = problem.internal_bounds()
    q = np.percentile(samples, [5.0, 50.0, 95.0], axis=0)
    corr = np.asarray(correlation_matrix(jnp.asarray(np.cov(samples_u.T).reshape(len(names), len(names)))), float)
    width_u = np.percentile(samples_u, 95.0, axis=0) - np.percentile(samples_u, 5.0, axis=0)
    warns = identifiability(names, corr, width_u / 3.29, lo, hi, max_correlation=0.95, max_relative_width=0.3)
    span = width_u / np.where(np.isfinite(hi - lo) & (hi > lo), hi - lo, np.inf)
    undetermined = tuple(n for n, f in zip(names, span, strict=True) if f > UNDETERMINED_SPAN)
    for n, f in zip(names, span, strict=True):
        if f > UNDETERMINED_SPAN:
            warns.insert(0, f"{n}: not determined by these data: its 90 % posterior interval spans {100 * f:.0f} % of "
                            "its allowed range, so it follows the prior (e.g. a branch the file does not have)")
    rhat = np.asarray(out["rhat"], float)
    acc = float(out["acceptance"])
    for n, r in zip(names, rhat, strict=True):
        if not r < 1.1:
            warns.append(f"{n}: sampler not converged (split R-hat {r:.2f} ≥ 1.1); run longer")
    if not 0.1 <= acc <= 0.8:
        warns.append(f"sampler acceptance fraction {acc:.2f} outside 0.1–0.8")
    if not bool(out["converged"]):
        warns.append("least squares stopped at the iteration limit")
    predictive = posterior_predictive(problem, samples_u, np.asarray(out["sigma"], float)[: problem.data.n_points])
    return TwinFit(
        names=names, units=units, value=value, esd=esd, stderr=samples.std(axis=0, ddof=1),
        interval_90=np.stack([q[0], q[2]], axis=1), median=q[1], correlation=corr,
        chi2=float(out["chi2"]), chi2_reduced=float(out["chi2_red"]), rwp=float(out["rwp"]), rexp=float(out["rexp"]),
        sigma=np.asarray(out["sigma"], float)[: problem.data.n_points], warnings=tuple(warns),
        convergence={
            "least_squares": {"converged": bool(out["converged"]), "iterations": int(out["n_iter"]),
                              "chi2_of_starts": [float(c) for c in np.asarray(out["chi2_all"])]},
            "sampler": {"method": "affine-invariant ensemble (Goodman-Weare stretch move)",
                        "acceptance_fraction": acc, "split_rhat": dict(zip(names, map(float, rhat), strict=True)),
                        "n_samples": int(samples.shape[0])},
        },
        predictive=predictive,
        samples=samples,
        undetermined=undetermined,
    )


def posterior_predictive(problem: IsothermProblem, samples_u: np.ndarray, sigma: np.ndarray,
                         n_draws: int = 400) -> list[dict[str, Any]]:
    """90 % posterior predictive bands of the measured uptake on both branches, in the file's unit.

    Replicated data y_rep = model(u) + σ·ε over ``n_draws`` posterior draws u (ε standard normal, σ the
    noise of each point used in the likelihood), summarised by the 5th, 50th and 95th percentiles: a
    calibrated model puts about 90 % of the observed points inside (A. Gelman et al., *Bayesian Data
    Analysis*, 3rd ed., ch. 6). One item per branch, in the form the report draws (``docs/report.md``).
    """
    rng = np.random.default_rng(0)
    idx = rng.choice(samples_u.shape[0], size=min(n_draws, samples_u.shape[0]), replace=False)
    dt = problem.thermo.volume_A3.dtype
    curves = jax.jit(jax.vmap(lambda u: jnp.concatenate(problem.predict(u))))(jnp.asarray(samples_u[idx], dt))
    d = problem.data
    replicated = np.asarray(curves, float) + np.asarray(sigma, float)[None, :] * rng.standard_normal(curves.shape)
    q = np.percentile(replicated * d.per_cell_to_unit, [5.0, 50.0, 95.0], axis=0)
    observed = np.concatenate([d.n_ads, d.n_des]) * d.per_cell_to_unit
    n_ads = d.p_ads_Pa.size
    items = []
    for branch, sel, p in (("adsorption", slice(0, n_ads), d.p_ads_Pa), ("desorption", slice(n_ads, None), d.p_des_Pa)):
        if not np.size(p):
            continue  # a branch the file does not have
        items.append({"axis": {"name": "pressure", "unit": "bar", "values": (np.asarray(p) / 1e5).tolist()},
                      "observed": observed[sel].tolist(), "median": q[1][sel].tolist(), "lower": q[0][sel].tolist(),
                      "upper": q[2][sel].tolist(), "level": 0.9, "label": f"{branch} branch",
                      "quantity": f"uptake ({d.unit})"})
    return items


def default_sample(**kwargs: float) -> SampleParams:
    """Sample defaults of the surrogate (see :func:`twin.fit.surrogate.make_sample`)."""
    return make_sample(**kwargs)
