r"""Global fit of a variable-temperature series of static ²H solid-echo spectra: Arrhenius jump dynamics.

**Model** (forward part in :mod:`instruments.nmr`; ``docs/nmr.md``). Every spectrum i, at temperature :math:`T_i`, is

.. math::
    y_i(\nu) = s_i\,\mathrm{Re}\bigl[e^{i\phi_i}\,e^{-2\pi i\nu\,\delta t}\,S_i(\nu)\bigr] + o_i ,\qquad
    S_i = \mathcal F\Bigl[a(t)\Bigl((1 - f_r - f_f)\sum_n w_n(T_i)\,g_n(t) + f_r\,g_0(t) + f_f\,g_\infty(t)\Bigr)\Bigr]

— the powder solid-echo signals :math:`g_n` of one jump model (default: tetrahedral jumps of water, the
reorientation of D2O in ice; R. J. Wittebort et al., J. Am. Chem. Soc. 110, 5668 (1988)) at fixed rates
:math:`k_n` on a logarithmic grid (8 per decade, 10¹–10¹¹ s⁻¹), mixed with the weights of a Gaussian distribution of
:math:`\ln k` around the Arrhenius rate :math:`\ln k(T) = \ln k_{ref} - \frac{E_a}{R}\bigl(\frac1T - \frac1{T_{ref}}\bigr)`,
of width :math:`\sigma = \sigma_E/RT` (a Gaussian distribution of activation energies, default) or a constant σ
(``distribution = "log-normal"``); plus a rigid fraction :math:`f_r` (:math:`g_0`, k = 0) and a fast isotropic
fraction :math:`f_f` (:math:`g_\infty`, the motionally averaged line of liquid-like water); :math:`a(t)` a
Lorentzian apodisation of FWHM L; a per-spectrum scale :math:`s_i`, zero-order phase :math:`\phi_i` and baseline
:math:`o_i`; a common echo-top offset :math:`\delta t` (first-order phase: acquisition started off the echo top).

The weights are exact for spectra interpolated linearly in ln k between the grid nodes:
:math:`w_n = \mathrm E[\Lambda_n(X)]`, :math:`X \sim N(\mu, \sigma^2)`, with :math:`\Lambda_n` the hat functions of the grid
(end nodes take the tails), in closed form through :math:`F(a) = \mathrm E[(X-a)_+] = \sigma\varphi(z) + (\mu - a)\Phi(z)`,
:math:`z = (\mu-a)/\sigma`: :math:`w_n = [F(x_{n-1}) - 2F(x_n) + F(x_{n+1})]/h` — smooth in μ and σ down to σ = 0
(linear interpolation), so the least squares see no grid.

**Fit.** The linear parameters (:math:`s_i\cos\phi_i`, :math:`-s_i\sin\phi_i`, :math:`o_i`) are solved inside the
residual by weighted linear least squares (variable projection; G. H. Golub, V. Pereyra, SIAM J. Numer. Anal.
10, 413 (1973)); the global nonlinear ones by the project's Levenberg–Marquardt (:mod:`twin.fit.lm`) from several
starts. :math:`C_q` changes every basis signal, so it is profiled: a bounded Brent search of the minimised χ² over
:math:`C_q` (one basis per trial). Weights :math:`1/\sigma_i^2` with :math:`\sigma_i` the standard deviation of the
baseline outside the pattern (:func:`instruments.nmr.technique.align_nmr`).

**Uncertainties.** The covariance :math:`(J^\mathsf TJ)^{-1}\chi^2_\nu` of all parameters (:func:`twin.fit.stats.fit_statistics`)
at the optimum, J from forward-mode differentiation for everything but :math:`C_q`, whose column is a central
difference over two rebuilt bases (± 1 kHz). 90 % intervals: value ± 1.645 esd, clipped to the bounds (a
parameter on a bound is flagged). The per-point weights ignore the correlation of neighbouring points of
oversampled spectra, which makes the esd optimistic; the χ²_ν scaling absorbs part of it.

**Assumptions** for the D2O/graphene-oxide data of Futamura et al. (the defaults of this module): the jump model,
tetrahedral; :math:`\eta_Q = 0` (ice Ih has :math:`\eta_Q \approx 0.1` and :math:`C_q \approx 213\text{–}216` kHz:
D. T. Edmonds, A. L. Mackay, J. Magn. Reson. 20, 515 (1975); :math:`\eta_Q = 0` keeps the exact 4-site lumping, and
:math:`C_q` is fitted); the echo delay τ = 20 µs (not stated in the source files; docs/nmr.md shows how χ² moves with
τ); δ pulses (finite pulse widths would attenuate the shoulders at ±¾C_q and are not modelled).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy import constants as sc

from twin.errors import DataFormatError, FitError

__all__ = ["NMR_SERIES", "NmrSeries", "NmrFitSetup", "load_nmr_series", "make_setup", "build_basis", "fit_nmr_series",
           "leave_one_out", "predict_spectrum", "run_nmr_fit", "rate_weights", "parse_nmr_series"]

_Z90 = 1.6448536269514722
_R_KJ = sc.R / 1000.0
#: log10 of the rate grid [1/s]: 8 nodes per decade, 10¹ … 10¹¹
RATE_GRID_LOG10 = tuple(1.0 + 0.125 * n for n in range(81))
#: nonlinear parameters: name → (unit, start, lower, upper)
PARAMETERS: dict[str, tuple[str, float, float, float]] = {
    "log10_rate_ref_per_s": ("log10(1/s)", 7.0, 0.0, 13.0),
    "activation_energy_kJ_mol": ("kJ/mol", 30.0, 1.0, 150.0),
    "activation_energy_width_kJ_mol": ("kJ/mol", 2.0, 0.0, 30.0),
    "ln_rate_width": ("1", 1.0, 0.0, 10.0),
    "rigid_fraction": ("1", 0.02, 0.0, 1.0),
    "fast_fraction": ("1", 0.0, 0.0, 1.0),
    "lorentzian_kHz": ("kHz", 2.0, 0.05, 30.0),
    "echo_top_offset_us": ("us", 0.0, -10.0, 10.0),
}
_WIDTH = {"activation-energy": "activation_energy_width_kJ_mol", "log-normal": "ln_rate_width"}


# ------------------------------------------------------------------------------------------------ data and setup
@dataclass(frozen=True)
class NmrSeries:
    """A measured VT series on one grid: ν [Hz] (n_points,), values and σ (n_spectra, n_points), T [K], labels."""

    frequency_hz: np.ndarray
    values: np.ndarray
    sigma: np.ndarray
    temperature_K: np.ndarray
    labels: tuple[str, ...]
    files: tuple[Path, ...]
    source: str

    @property
    def n_spectra(self) -> int:
        return int(self.values.shape[0])

    def subset(self, keep: list[int]) -> NmrSeries:
        return NmrSeries(self.frequency_hz, self.values[keep], self.sigma[keep], self.temperature_K[keep],
                         tuple(self.labels[i] for i in keep), self.files, self.source)


def load_nmr_series(path: str | Path, cq_guess_hz: float | None = None) -> NmrSeries:
    """Read a measured series (:func:`instruments.nmr.technique.align_nmr`) and check it has temperatures.

    Raises:
        FitError: fewer than two spectra, or a spectrum without a temperature (names the frames).
        DataFormatError: unreadable files (from the readers).
    """
    from instruments.nmr.technique import align_nmr, baseline_sigma

    path = Path(path)
    observable = align_nmr(path)
    temperature = observable.condition("temperature_K")
    missing = [label for label, t in zip(observable.labels, temperature, strict=True) if not (np.isfinite(t) and t > 0)]
    if missing:
        raise FitError(f"{path}: no temperature for {', '.join(missing)}; the VT fit needs one per spectrum "
                       "(a temperature_K column in the conditions log, e.g. conditions.csv with file,temperature_K)")
    if observable.n_frames < 2:
        raise FitError(f"{path}: a VT fit needs at least two spectra, got {observable.n_frames}")
    nu = np.asarray(observable.axis.values, np.float64) * 1e3
    values = np.asarray(observable.values, np.float64)
    sigma = np.asarray(observable.sigma, np.float64)
    if cq_guess_hz is not None:
        sigma = baseline_sigma(nu, values, 0.75 * cq_guess_hz)[:, None] * np.ones_like(values)
    files = tuple(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))) \
        if path.is_dir() else (path,)
    return NmrSeries(nu, values, sigma, temperature, tuple(observable.labels), files, str(path))


@dataclass(frozen=True)
class NmrFitSetup:
    """What the fit file fixes: the jump model, the experiment, the parameterisation, starts, bounds and fixed values.

    ``starts`` are the (log10 k_ref, E_a) pairs the least squares start from (besides the previous optimum of the
    C_q profile); ``start``/``bounds``/``fixed`` hold the ``[parameters]`` of the fit file.
    """

    motion: str = "tetrahedral"
    asymmetry: float = 0.0
    angle_deg: float | None = None
    n_sites: int | None = None
    echo_delay_s: float = 20e-6
    distribution: str = "activation-energy"
    reference_temperature_K: float | None = None
    n_orientations: int = 987
    n_time: int = 2048
    cq_range_hz: tuple[float, float] = (120e3, 260e3)
    cq_hz: float | None = None
    starts: tuple[tuple[float, float], ...] = ((5.0, 25.0), (8.0, 40.0))
    start: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    fixed: dict[str, float] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The nonlinear parameters in model order (the width named by the distribution)."""
        return ("log10_rate_ref_per_s", "activation_energy_kJ_mol", _WIDTH[self.distribution], "rigid_fraction",
                "fast_fraction", "lorentzian_kHz", "echo_top_offset_us")

    @property
    def free(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.fixed)

    def value(self, name: str) -> float:
        return self.fixed.get(name, self.start.get(name, PARAMETERS[name][1]))

    def bound(self, name: str) -> tuple[float, float]:
        return self.bounds.get(name, PARAMETERS[name][2:])


def make_setup(**options: Any) -> NmrFitSetup:
    """An :class:`NmrFitSetup` from keyword options (checked)."""
    setup = NmrFitSetup(**options)
    if setup.distribution not in _WIDTH:
        raise FitError(f"distribution: expected one of {', '.join(_WIDTH)}, got {setup.distribution!r}")
    return setup


def rate_weights(ln_nodes: jax.Array, mean: jax.Array, width: jax.Array) -> jax.Array:
    r"""Weights :math:`w_n = \mathrm E[\Lambda_n(X)]`, :math:`X\sim N(\mu,\sigma^2)`, of a uniform grid of ln k (module docstring).

    Args:
        ln_nodes: uniform grid of ln k, (n_nodes,).
        mean: μ [ln(1/s)].
        width: σ ≥ 0 (values below 1e-4 are taken as 1e-4: linear interpolation).

    Returns:
        (n_nodes,), summing to 1.
    """
    h = ln_nodes[1] - ln_nodes[0]
    s = jnp.maximum(width, 1e-4)
    d = mean - ln_nodes
    z = d / s
    # F(a) = (μ − a)₊ + E(a), E small: its second differences carry no float32 cancellation, and those of (μ − a)₊
    # are the hat functions at μ (linear interpolation)
    excess = s * norm.pdf(z) - jnp.abs(d) * norm.cdf(-jnp.abs(z))
    hats = jnp.clip(1.0 - jnp.abs(d) / h, 0.0, 1.0)
    hats = hats.at[0].set(jnp.clip(1.0 - d[0] / h, 0.0, 1.0)).at[-1].set(jnp.clip(1.0 + d[-1] / h, 0.0, 1.0))
    inner = hats[1:-1] + (excess[:-2] - 2.0 * excess[1:-1] + excess[2:]) / h
    first = hats[0] - (excess[0] - excess[1]) / h
    last = hats[-1] + (excess[-2] - excess[-1]) / h
    return jnp.concatenate([first[None], inner, last[None]])


# ------------------------------------------------------------------------------------------------ the model
def build_basis(setup: NmrFitSetup, frequency_hz: np.ndarray, cq_hz: float) -> tuple[Any, Any, Any]:
    """The solid-echo FIDs at the grid rates, at k = 0 and in the fast limit: ((n_nodes, n_time), (n_time,), (n_time,))."""
    from instruments.nmr.deuterium import make_deuterium
    from instruments.nmr.exchange import spectrum_grid

    grid = spectrum_grid(frequency_hz)
    simulator = make_deuterium(setup.motion, setup.asymmetry, setup.angle_deg, setup.n_sites, grid,
                               setup.n_orientations, setup.n_time)
    rates = np.concatenate([10.0 ** np.asarray(RATE_GRID_LOG10), [0.0, 1e15]])
    fids = simulator.fids(cq_hz, rates, setup.echo_delay_s)
    return fids[:-2], fids[-2], fids[-1]


def _simulator(setup: NmrFitSetup, frequency_hz: np.ndarray) -> Any:
    from instruments.nmr.deuterium import make_deuterium
    from instruments.nmr.exchange import spectrum_grid

    return make_deuterium(setup.motion, setup.asymmetry, setup.angle_deg, setup.n_sites, spectrum_grid(frequency_hz),
                          setup.n_orientations, setup.n_time)


def _model_spectra(theta: jax.Array, basis: tuple[Any, Any, Any], temperature_K: jax.Array, frequency_hz: jax.Array,
                   t_ref: float, energy_width: bool, spectra_fn: Any) -> jax.Array:
    """Complex spectra (n_spectra, n_points) for the nonlinear parameters θ in model order (module docstring)."""
    nodes, rigid, fast = basis
    ln_nodes = jnp.asarray(np.log(10.0) * np.asarray(RATE_GRID_LOG10), nodes.dtype)
    log10_k, ea, width, f_rigid, f_fast, lorentz_khz, offset_us = (theta[i] for i in range(7))
    mean = log10_k * math.log(10.0) - ea / _R_KJ * (1.0 / temperature_K - 1.0 / t_ref)
    sigma = width / (_R_KJ * temperature_K) if energy_width else width * jnp.ones_like(temperature_K)
    weights = jax.vmap(lambda m, s: rate_weights(ln_nodes, m, s))(mean, sigma)
    distributed = jnp.maximum(1.0 - f_rigid - f_fast, 0.0)
    fid = distributed * (weights @ nodes) + f_rigid * rigid[None, :] + f_fast * fast[None, :]
    spectra = spectra_fn(fid, lorentz_khz * 1e3, jnp.zeros_like(lorentz_khz))
    angle = -2.0 * jnp.pi * frequency_hz * (offset_us * 1e-6)
    return spectra * jax.lax.complex(jnp.cos(angle), jnp.sin(angle))[None, :]


def _linear(spectrum: jax.Array, y: jax.Array, sigma: jax.Array) -> jax.Array:
    """Weighted least-squares (a, b, o) of y ≈ a Re S + b Im S + o: the 3 × 3 normal equations with unit diagonal,
    solved by the adjugate (no LAPACK call, so the residual fuses into one kernel)."""
    w = 1.0 / sigma**2
    cols = (jnp.real(spectrum), jnp.imag(spectrum), jnp.ones_like(y))
    g = [[jnp.sum(w * ci * cj) for cj in cols] for ci in cols]
    rhs = [jnp.sum(w * ci * y) for ci in cols]
    n = [jnp.sqrt(g[k][k]) for k in range(3)]
    m = [[g[i][j] / (n[i] * n[j]) for j in range(3)] for i in range(3)]
    v = [rhs[i] / n[i] for i in range(3)]
    c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1]
    c01 = m[0][2] * m[2][1] - m[0][1] * m[2][2]
    c02 = m[0][1] * m[1][2] - m[0][2] * m[1][1]
    c11 = m[0][0] * m[2][2] - m[0][2] * m[2][0]
    c12 = m[0][2] * m[1][0] - m[0][0] * m[1][2]
    c22 = m[0][0] * m[1][1] - m[0][1] * m[1][0]
    det = m[0][0] * c00 + m[0][1] * (m[1][2] * m[2][0] - m[1][0] * m[2][2]) \
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    inv = [[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]]  # symmetric matrix: symmetric adjugate
    return jnp.stack([sum(inv[i][j] * v[j] for j in range(3)) / (det * n[i]) for i in range(3)])


class _Config(NamedTuple):
    """The static part of the residual (hashable: one compiled solver per configuration and data shape)."""

    base: tuple[float, ...]
    free_index: tuple[int, ...]
    t_ref: float
    energy_width: bool
    grid: Any


def _config(setup: NmrFitSetup, data: NmrSeries, t_ref: float) -> _Config:
    from instruments.nmr.exchange import spectrum_grid

    names = setup.names
    return _Config(tuple(float(setup.value(n)) for n in names), tuple(names.index(n) for n in setup.free),
                   float(t_ref), setup.distribution == "activation-energy", spectrum_grid(data.frequency_hz))


def _theta(x: jax.Array, config: _Config) -> jax.Array:
    return jnp.asarray(config.base, x.dtype).at[jnp.asarray(config.free_index, jnp.int32)].set(x)


def _spectra_of(theta: jax.Array, basis: Any, temperature: jax.Array, config: _Config) -> jax.Array:
    from instruments.nmr.exchange import spectrum_from_fid

    grid = config.grid

    def spectra_fn(fid: jax.Array, lorentzian_hz: jax.Array, gaussian_hz: jax.Array) -> jax.Array:
        return jax.vmap(lambda f: spectrum_from_fid(f, grid, lorentzian_hz, gaussian_hz))(fid)

    nu = jnp.asarray(grid.frequency_hz, theta.dtype)
    return _model_spectra(theta, basis, temperature, nu, config.t_ref, config.energy_width, spectra_fn)


def _projected_residual(x: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array, temperature: jax.Array,
                        config: _Config) -> jax.Array:
    """(y − ŷ)/σ of all spectra with the linear parameters solved for (variable projection)."""
    model = _spectra_of(_theta(x, config), basis, temperature, config)

    def one(spectrum: jax.Array, yy: jax.Array, ss: jax.Array) -> jax.Array:
        a, b, o = _linear(spectrum, yy, ss)
        return (yy - (a * jnp.real(spectrum) + b * jnp.imag(spectrum) + o)) / ss

    return jax.vmap(one)(model, y, sigma).reshape(-1)


@functools.partial(jax.jit, static_argnames=("config", "max_iter"))
def _solve(starts: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array, temperature: jax.Array,
           lower: jax.Array, upper: jax.Array, config: _Config, max_iter: int = 80) -> Any:
    from twin.fit.lm import levenberg_marquardt

    def residual(x: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array, temperature: jax.Array) -> jax.Array:
        return _projected_residual(x, basis, y, sigma, temperature, config)

    return jax.vmap(lambda x0: levenberg_marquardt(residual, x0, basis, y, sigma, temperature, lower=lower,
                                                   upper=upper, max_iter=max_iter))(starts)


def _starts(setup: NmrFitSetup, data: NmrSeries, previous: np.ndarray | None) -> np.ndarray:
    free = setup.free
    rows = []
    for log10_k, ea in setup.starts:
        x = np.asarray([setup.value(n) for n in free], np.float64)
        for name, value in (("log10_rate_ref_per_s", log10_k), ("activation_energy_kJ_mol", ea)):
            if name in free and name not in setup.start:
                x[free.index(name)] = value
        rows.append(x)
    if previous is not None:
        rows.append(previous)
    lo = np.asarray([setup.bound(n)[0] for n in free])
    hi = np.asarray([setup.bound(n)[1] for n in free])
    return np.clip(np.stack(rows), lo, hi)


def _arrays(data: NmrSeries) -> tuple[jax.Array, jax.Array, jax.Array]:
    dt = jnp.result_type(float)
    return jnp.asarray(data.values, dt), jnp.asarray(data.sigma, dt), jnp.asarray(data.temperature_K, dt)


def _fit_at(setup: NmrFitSetup, data: NmrSeries, cq_hz: float, t_ref: float,
            previous: np.ndarray | None = None) -> dict[str, Any]:
    """Least squares at one C_q: the best of several starts; returns x (free), χ², converged, iterations, basis."""
    dt = jnp.result_type(float)
    config = _config(setup, data, t_ref)
    basis = build_basis(setup, data.frequency_hz, cq_hz)
    free = setup.free
    lo = jnp.asarray([setup.bound(n)[0] for n in free], dt)
    hi = jnp.asarray([setup.bound(n)[1] for n in free], dt)
    y, sigma, temperature = _arrays(data)
    result = _solve(jnp.asarray(_starts(setup, data, previous), dt), basis, y, sigma, temperature, lo, hi, config)
    chi2 = np.asarray(result.chi2, np.float64)
    best = int(np.nanargmin(np.where(np.isfinite(chi2), chi2, np.inf)))
    return {"x": np.asarray(result.x[best], np.float64), "chi2": float(chi2[best]),
            "converged": bool(result.converged[best]), "n_iter": int(result.n_iter[best]), "basis": basis,
            "config": config}


@functools.partial(jax.jit, static_argnames=("config",))
def _model_and_linear(x: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array, temperature: jax.Array,
                      config: _Config) -> tuple[jax.Array, jax.Array]:
    """Complex model spectra and their linear parameters (a, b, o) per spectrum."""
    model = _spectra_of(_theta(x, config), basis, temperature, config)
    return model, jax.vmap(_linear)(model, y, sigma)


def _full_residual_impl(params: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array, temperature: jax.Array,
                        config: _Config) -> jax.Array:
    """(y − ŷ)/σ with every parameter explicit: the free nonlinear ones, then scales, phases [rad], baselines."""
    n_free, n_s = len(config.free_index), y.shape[0]
    spectra = _spectra_of(_theta(params[:n_free], config), basis, temperature, config)
    s, p, o = params[n_free:n_free + n_s], params[n_free + n_s:n_free + 2 * n_s], params[n_free + 2 * n_s:]
    rotated = spectra * jax.lax.complex(jnp.cos(p), jnp.sin(p))[:, None]
    return ((y - (s[:, None] * jnp.real(rotated) + o[:, None])) / sigma).reshape(-1)


_full_residual = jax.jit(_full_residual_impl, static_argnames=("config",))
_spectra_jit = jax.jit(_spectra_of, static_argnames=("config",))


@functools.partial(jax.jit, static_argnames=("config",))
def _full_residual_and_jacobian(params: jax.Array, basis: Any, y: jax.Array, sigma: jax.Array,
                                temperature: jax.Array, config: _Config) -> tuple[jax.Array, jax.Array]:
    residual = _full_residual_impl(params, basis, y, sigma, temperature, config)
    jac = jax.jacfwd(_full_residual_impl)(params, basis, y, sigma, temperature, config)
    return residual, jac


def reference_temperature(setup: NmrFitSetup, temperature_K: np.ndarray) -> float:
    """T_ref: the fit file's, else the harmonic mean of the measured temperatures (decorrelates k_ref and E_a)."""
    if setup.reference_temperature_K is not None:
        return float(setup.reference_temperature_K)
    return float(1.0 / np.mean(1.0 / np.asarray(temperature_K)))


def fit_nmr_series(data: NmrSeries, setup: NmrFitSetup) -> dict[str, Any]:
    """The global fit (no I/O): C_q profiled (or fixed), everything else by least squares; covariance of all.

    Returns:
        A dict with ``names``/``units``/``values``/``esd``/``lower``/``upper`` of the reported parameters,
        ``correlation`` (of the global ones), ``chi2``/``chi2_reduced``/``rwp``/``rexp``, per-spectrum ``model``
        (absorption after scale, phase, baseline), ``per_spectrum`` statistics, ``cq_profile``, ``converged``,
        ``n_iter``, ``model_settings`` (for :func:`predict_spectrum`), ``warnings``, ``wall_time_s``.
    """
    from scipy.optimize import minimize_scalar

    from twin.fit.stats import fit_statistics, identifiability

    t0 = time.perf_counter()
    t_ref = reference_temperature(setup, data.temperature_K)
    profile: list[tuple[float, float]] = []
    cache: dict[float, dict[str, Any]] = {}
    state: dict[str, Any] = {"previous": None}

    def at(cq_khz: float) -> dict[str, Any]:
        key = round(float(cq_khz), 6)
        if key not in cache:
            cache[key] = _fit_at(setup, data, key * 1e3, t_ref, state["previous"])
            state["previous"] = cache[key]["x"]
            profile.append((key, cache[key]["chi2"]))
        return cache[key]

    if setup.cq_hz is not None:
        cq_khz = setup.cq_hz / 1e3
    else:
        lo, hi = (v / 1e3 for v in setup.cq_range_hz)
        search = minimize_scalar(lambda c: at(c)["chi2"], bounds=(lo, hi), method="bounded",
                                 options={"xatol": 1.0, "maxiter": 25})
        cq_khz = float(search.x)
    best = at(cq_khz)
    x = best["x"]
    dt = jnp.result_type(float)
    config = best["config"]
    y, sigma, temperature = _arrays(data)
    model, coef = _model_and_linear(jnp.asarray(x, dt), best["basis"], y, sigma, temperature, config)
    theta = _theta(jnp.asarray(x, dt), config)
    coef = np.asarray(coef, np.float64)
    scale = np.hypot(coef[:, 0], coef[:, 1])
    phase = np.arctan2(-coef[:, 1], coef[:, 0])

    free = setup.free
    n_free, n_s = len(free), data.n_spectra
    params = jnp.asarray(np.concatenate([x, scale, phase, coef[:, 2]]), dt)
    r, jac = _full_residual_and_jacobian(params, best["basis"], y, sigma, temperature, config)
    names = list(free) + [f"scale_{_tag(t)}" for t in data.temperature_K] + \
        [f"phase_deg_{_tag(t)}" for t in data.temperature_K] + [f"baseline_{_tag(t)}" for t in data.temperature_K]
    if setup.cq_hz is None:
        step = 1.0  # kHz
        plus = _full_residual(params, build_basis(setup, data.frequency_hz, (cq_khz + step) * 1e3), y, sigma,
                              temperature, config)
        minus = _full_residual(params, build_basis(setup, data.frequency_hz, (cq_khz - step) * 1e3), y, sigma,
                               temperature, config)
        jac = jnp.concatenate([jac, ((plus - minus) / (2.0 * step))[:, None]], axis=1)
        names.append("cq_kHz")
    stats = fit_statistics(r, jac, y.reshape(-1), sigma.reshape(-1))
    cov = np.asarray(stats.covariance, np.float64)
    esd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    values = np.concatenate([x, scale, np.degrees(phase), coef[:, 2]] + ([[cq_khz]] if setup.cq_hz is None else []))
    esd[n_free + n_s:n_free + 2 * n_s] = np.degrees(esd[n_free + n_s:n_free + 2 * n_s])
    units = [PARAMETERS[n][0] for n in free] + ["arb."] * n_s + ["deg"] * n_s + ["arb."] * n_s + \
        (["kHz"] if setup.cq_hz is None else [])
    bounds = [setup.bound(n) for n in free] + [(0.0, math.inf)] * n_s + [(-180.0, 180.0)] * n_s + \
        [(-math.inf, math.inf)] * n_s + ([tuple(v / 1e3 for v in setup.cq_range_hz)] if setup.cq_hz is None else [])
    lower = np.asarray([max(v - _Z90 * e, b[0]) for v, e, b in zip(values, esd, bounds, strict=True)])
    upper = np.asarray([min(v + _Z90 * e, b[1]) for v, e, b in zip(values, esd, bounds, strict=True)])

    global_index = list(range(n_free)) + ([len(names) - 1] if setup.cq_hz is None else [])
    corr = np.asarray(stats.correlation, np.float64)[np.ix_(global_index, global_index)]
    global_names = [names[i] for i in global_index]

    # derived: log10 k0 = log10 k_ref + E_a/(R T_ref ln 10), delta method on (log10 k_ref, E_a)
    derived: dict[str, tuple[float, float, str]] = {}
    theta_np = np.asarray(theta, np.float64)
    if "log10_rate_ref_per_s" in free and "activation_energy_kJ_mol" in free:
        i, j = free.index("log10_rate_ref_per_s"), free.index("activation_energy_kJ_mol")
        g = np.array([1.0, 1.0 / (_R_KJ * t_ref * math.log(10.0))])
        sub = cov[np.ix_([i, j], [i, j])]
        derived["log10_k0_per_s"] = (float(theta_np[0] + g[1] * theta_np[1]), float(math.sqrt(max(g @ sub @ g, 0.0))),
                                     "log10(1/s)")

    warnings: list[str] = []
    if not best["converged"]:
        warnings.append("Levenberg–Marquardt stopped at the iteration limit")
    for k, name in enumerate(free):
        lo_b, hi_b = setup.bound(name)
        if min(abs(x[k] - lo_b), abs(hi_b - x[k])) <= 1e-4 * max(1.0, abs(x[k])):
            warnings.append(f"{name} = {x[k]:.4g} sits on a bound ({lo_b:g}..{hi_b:g}): the data push it there; "
                            "its interval is one-sided")
    if setup.cq_hz is None and (abs(cq_khz - setup.cq_range_hz[0] / 1e3) < 1.5 or
                                abs(cq_khz - setup.cq_range_hz[1] / 1e3) < 1.5):
        warnings.append(f"cq_kHz = {cq_khz:.1f} is at the edge of the profiled range; widen cq_range")
    warnings += identifiability(global_names, corr, esd[global_index],
                                np.asarray([bounds[i][0] for i in global_index]),
                                np.asarray([bounds[i][1] for i in global_index]))

    rotated = np.asarray(model, np.complex128) * np.exp(1j * phase)[:, None]
    fitted = scale[:, None] * rotated.real + coef[:, 2][:, None]
    res = (data.values - fitted) / data.sigma
    per = {"temperature_K": data.temperature_K.tolist(), "label": list(data.labels),
           "chi2_reduced": (np.sum(res**2, axis=1) / data.values.shape[1]).tolist(),
           "Rwp": np.sqrt(np.sum(res**2, axis=1) / np.sum((data.values / data.sigma) ** 2, axis=1)).tolist(),
           "sigma": data.sigma[:, 0].tolist()}
    t = data.temperature_K
    mean = theta_np[0] * math.log(10.0) - theta_np[1] / _R_KJ * (1.0 / t - 1.0 / t_ref)
    width = theta_np[2] / (_R_KJ * t) if setup.distribution == "activation-energy" else np.full(t.size, theta_np[2])
    per["log10_rate_median_per_s"] = (mean / math.log(10.0)).tolist()
    per["ln_rate_width"] = np.asarray(width).tolist()
    settings = {"kind": "2h-exchange-series", "motion": setup.motion, "asymmetry": setup.asymmetry,
                "angle_deg": setup.angle_deg, "n_sites": setup.n_sites, "echo_delay_s": setup.echo_delay_s,
                "distribution": setup.distribution, "reference_temperature_K": t_ref,
                "n_orientations": setup.n_orientations, "n_time": setup.n_time, "cq_hz": cq_khz * 1e3,
                "rate_grid_log10": [RATE_GRID_LOG10[0], RATE_GRID_LOG10[-1], len(RATE_GRID_LOG10)],
                "parameters": {n: float(v) for n, v in zip(setup.names, theta_np, strict=True)}}
    return {"names": names, "units": units, "values": values, "esd": esd, "lower": lower, "upper": upper,
            "bounds": bounds, "global_names": global_names, "correlation": corr, "derived": derived,
            "chi2": float(stats.chi2), "chi2_reduced": float(stats.chi2_reduced), "rwp": float(stats.rwp),
            "rexp": float(stats.rexp), "n_points": int(r.size), "n_parameters": int(jac.shape[1]),
            "model": fitted, "per_spectrum": per, "cq_profile": sorted(profile), "cq_kHz": cq_khz,
            "converged": best["converged"], "n_iter": best["n_iter"], "model_settings": settings,
            "warnings": warnings, "wall_time_s": time.perf_counter() - t0}


def _tag(temperature_K: float) -> str:
    return f"{temperature_K:g}K"


# ------------------------------------------------------------------------------------------------ checks and predictions
def leave_one_out(data: NmrSeries, setup: NmrFitSetup, index: int) -> dict[str, float]:
    """Fit without spectrum ``index`` and predict it; compare with its two measured neighbours.

    The prediction gets the left-out spectrum's own scale, phase and baseline (the nuisance parameters of every
    spectrum); the neighbour predictor gets as many linear parameters: :math:`a\\,y_{i-1} + b\\,y_{i+1} + o`, more
    freedom than their average. Both are scored by χ² = Σ((y − ŷ)/σ)² on the left-out spectrum.

    Returns:
        ``{"temperature_K", "chi2_model", "chi2_neighbours", "points"}``.

    Raises:
        FitError: ``index`` is not an interior spectrum (it needs a neighbour on each side in temperature).
    """
    order = np.argsort(data.temperature_K)
    position = int(np.where(order == index)[0][0])
    if not 0 < position < data.n_spectra - 1:
        raise FitError(f"leave-one-out: spectrum {data.labels[index]} has no neighbour on both sides in temperature")
    keep = [i for i in range(data.n_spectra) if i != index]
    fit = fit_nmr_series(data.subset(keep), setup)
    cq = fit["cq_kHz"] * 1e3
    spectrum = predict_spectrum(fit["model_settings"] | {"cq_hz": cq}, float(data.temperature_K[index]),
                                data.frequency_hz, complex_output=True)
    dt = jnp.result_type(float)
    y, s = jnp.asarray(data.values[index], dt), jnp.asarray(data.sigma[index], dt)
    a, b, o = (float(v) for v in jax.jit(_linear)(
        jnp.asarray(spectrum, jnp.complex64 if dt == jnp.float32 else jnp.complex128), y, s))
    predicted = a * spectrum.real + b * spectrum.imag + o
    chi2_model = float(np.sum(((data.values[index] - predicted) / data.sigma[index]) ** 2))
    low, high = data.values[order[position - 1]], data.values[order[position + 1]]
    design = np.stack([low, high, np.ones_like(low)], axis=1) / data.sigma[index][:, None]
    coef, *_ = np.linalg.lstsq(design, data.values[index] / data.sigma[index], rcond=None)
    chi2_neighbours = float(np.sum((data.values[index] / data.sigma[index] - design @ coef) ** 2))
    return {"temperature_K": float(data.temperature_K[index]), "chi2_model": chi2_model,
            "chi2_neighbours": chi2_neighbours, "points": int(data.values.shape[1])}


def predict_spectrum(model: dict[str, Any], temperature_K: float, frequency_hz: np.ndarray, *,
                     complex_output: bool = False) -> np.ndarray:
    """The fitted model's spectrum at any temperature on any uniform grid [Hz] (scale 1, phase 0, no baseline).

    Args:
        model: the ``model`` entry of ``fit_result.json`` (or :func:`fit_nmr_series`'s ``model_settings``).
        temperature_K: T [K] > 0.
        frequency_hz: uniform grid [Hz] holding ±¾·C_q.

    Returns:
        The absorption [1/Hz] (area: the echo amplitude), or the complex spectrum, on ``frequency_hz``.

    Raises:
        FitError: a ``model`` that is not from an NMR series fit.
    """
    if not isinstance(model, dict) or model.get("kind") != "2h-exchange-series":
        raise FitError("--from-fit: the fit result holds no ²H series model (model.kind = '2h-exchange-series')")
    from instruments.nmr.deuterium import check_window
    from instruments.nmr.exchange import spectrum_grid

    setup = make_setup(motion=model["motion"], asymmetry=float(model["asymmetry"]), angle_deg=model["angle_deg"],
                       n_sites=model["n_sites"], echo_delay_s=float(model["echo_delay_s"]),
                       distribution=model["distribution"], reference_temperature_K=model["reference_temperature_K"],
                       n_orientations=int(model["n_orientations"]))
    nu = np.asarray(frequency_hz, np.float64)
    ascending = nu if nu[0] <= nu[-1] else nu[::-1]
    grid = spectrum_grid(ascending, where="--frequency")
    n_time = min(int(model.get("n_time", grid.n_points)), grid.n_points)
    setup = NmrFitSetup(**{**setup.__dict__, "n_time": n_time})
    simulator = _simulator(setup, ascending)
    check_window(grid, simulator.model, float(model["cq_hz"]), where="--frequency")
    basis = build_basis(setup, ascending, float(model["cq_hz"]))
    dt = jnp.result_type(float)
    theta = tuple(float(model["parameters"][n]) for n in setup.names)
    config = _Config(theta, (), float(model["reference_temperature_K"]), setup.distribution == "activation-energy",
                     grid)
    spectrum = _spectra_jit(jnp.asarray(theta, dt), basis, jnp.asarray([temperature_K], dt), config)[0]
    out = np.asarray(spectrum, np.complex128)
    out = out if nu[0] <= nu[-1] else out[::-1]
    return out if complex_output else out.real


# ------------------------------------------------------------------------------------------------ fit file and run
def parse_nmr_series(root: Any, fit: Any, file: Any) -> Any:
    """The ``nmr-series`` fit file (docs/nmr.md): one measured series folder, the model options, parameters."""
    from twin.fit.config import FitConfig, _path, parse_parameters

    source, base_dir, text = file
    options: dict[str, Any] = {}
    from instruments.nmr.motion import MOTIONS

    options["motion"] = fit.string("motion", "tetrahedral", choices=MOTIONS)
    options["asymmetry"] = fit.number("asymmetry", 0.0, check=lambda v: 0.0 <= v <= 1.0, expected="η_Q in [0, 1]")
    options["angle_deg"] = fit.quantity("angle", "angle", None) if fit.has("angle") else None
    options["n_sites"] = fit.integer("sites", None, minimum=3) if fit.has("sites") else None
    options["echo_delay_s"] = fit.quantity("echo_delay", "time", 20e-6, check=lambda v: 0.0 <= v < 1e-2,
                                           expected="an echo delay between 0 and 10 ms")
    options["distribution"] = fit.string("distribution", "activation-energy", choices=tuple(_WIDTH))
    if fit.has("reference_temperature"):
        options["reference_temperature_K"] = fit.quantity("reference_temperature", "temperature",
                                                          check=lambda v: v > 0, expected="a positive temperature")
    options["n_orientations"] = fit.integer("orientations", 987, minimum=8)
    if fit.has("cq"):
        options["cq_hz"] = fit.quantity("cq", "rate", check=lambda v: 1e3 <= v <= 1e7,
                                        expected="a quadrupole coupling such as \"180 kHz\"")
    if fit.has("cq_range"):
        value = fit.raw("cq_range")
        if not isinstance(value, list) or len(value) != 2:
            raise fit.fail("cq_range", f"expected [low, high] such as [\"150 kHz\", \"250 kHz\"], got {value!r}")
        lo = fit.convert(value[0], "rate", fit.key_path("cq_range"))
        hi = fit.convert(value[1], "rate", fit.key_path("cq_range"))
        if not 1e3 <= lo < hi:
            raise fit.fail("cq_range", f"expected 1 kHz ≤ low < high, got {value!r}")
        options["cq_range_hz"] = (lo, hi)
    fit.finish()
    root.expect_keys(("fit", "measurements", "parameters"))
    entries = root.tables("measurements", required=True)
    if len(entries) != 1:
        raise root.fail("measurements", f"the nmr-series fit takes one series folder, got {len(entries)}")
    path = _path(entries[0], "path", base_dir, "measured series", folder_ok=True)
    entries[0].finish()
    names = ("log10_rate_ref_per_s", "activation_energy_kJ_mol", _WIDTH[options["distribution"]], "rigid_fraction",
             "fast_fraction", "lorentzian_kHz", "echo_top_offset_us")
    start, fixed, bounds = parse_parameters(root, names, lambda name: PARAMETERS[name][2:],
                                            unit=lambda name: PARAMETERS[name][0])
    options.update({"start": start, "fixed": fixed, "bounds": bounds})
    return FitConfig("nmr-series", "", None, None, ((path, None),), (), {}, None, 0, 0, source, text, options=options)


def run_nmr_fit(path: str | Path, out_dir: str | Path, setup: NmrFitSetup | None = None, *,
                source_text: str | None = None, plot: bool = True) -> dict[str, Any]:
    """Read the series, fit it, write ``OUT/fit_result.json`` (and ``OUT/fit_nmr.png``); returns the result with
    ``path``. Attaches the measured spectra to ``OUT/observables/nmr.h5`` when the run has one on the same grid."""
    from twin import __version__
    from twin.datasets import file_sha256
    from twin.fit.result import write_fit_result
    from twin.fit.workflow import relative_path

    setup = setup or NmrFitSetup()
    data = load_nmr_series(path)
    fit = fit_nmr_series(data, setup)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params: dict[str, Any] = {}
    for k, name in enumerate(fit["names"]):
        lo, hi = fit["bounds"][k]
        esd = float(fit["esd"][k])
        if not math.isfinite(esd) or (math.isfinite(hi - lo) and esd > hi - lo):
            # not constrained (e.g. a width at 0, where the model is flat in it): no esd, the whole range
            params[name] = {"value": float(fit["values"][k]), "stderr": None, "interval_90": [lo, hi],
                            "unit": fit["units"][k], "constrained": False}
            continue
        params[name] = {"value": float(fit["values"][k]), "stderr": esd,
                        "interval_90": [float(fit["lower"][k]), float(fit["upper"][k])], "unit": fit["units"][k]}
    for name, (value, esd, unit) in fit["derived"].items():
        params[name] = {"value": value, "stderr": esd, "interval_90": [value - _Z90 * esd, value + _Z90 * esd],
                        "unit": unit, "derived": True}
    for name, value in setup.fixed.items():
        params[name] = {"value": value, "stderr": 0.0, "interval_90": [value, value], "unit": PARAMETERS[name][0],
                        "fixed": True}
    if setup.cq_hz is not None:
        params["cq_kHz"] = {"value": setup.cq_hz / 1e3, "stderr": 0.0, "interval_90": [setup.cq_hz / 1e3] * 2,
                            "unit": "kHz", "fixed": True}
    nu_khz = (data.frequency_hz / 1e3).tolist()
    predictive = [{"axis": {"name": "frequency", "unit": "kHz", "values": nu_khz},
                   "observed": data.values[i].tolist(), "median": fit["model"][i].tolist(),
                   "lower": (fit["model"][i] - _Z90 * data.sigma[i]).tolist(),
                   "upper": (fit["model"][i] + _Z90 * data.sigma[i]).tolist(), "level": 0.9,
                   "label": f"{data.labels[i]} ({data.temperature_K[i]:g} K)", "quantity": "intensity (arb.)"}
                  for i in range(data.n_spectra)]
    temps = {label: float(t) for label, t in zip(data.labels, data.temperature_K, strict=True)}
    result = {
        "parameters": params,
        "figures_of_merit": {"Rwp": fit["rwp"], "Rexp": fit["rexp"], "chi2": fit["chi2"],
                             "chi2_reduced": fit["chi2_reduced"], "n_points": float(fit["n_points"]),
                             "n_parameters": float(fit["n_parameters"])},
        "correlations": {"names": fit["global_names"], "matrix": fit["correlation"].tolist(),
                         "note": "global parameters; scales, phases and baselines of the spectra left out"},
        "measurements": [{"path": relative_path(p, out), "sha256": file_sha256(p), "technique": "nmr",
                          **({"temperature_K": temps[p.name]} if temps.get(p.name) is not None else {})}
                         for p in data.files],
        "techniques": ["nmr"],
        "posterior_predictive": predictive,
        "convergence": {"method": "variable projection + Levenberg–Marquardt (twin.fit.lm), C_q by a bounded "
                                  "Brent search of the profile", "converged": fit["converged"],
                        "iterations": fit["n_iter"], "cq_profile_kHz_chi2": fit["cq_profile"],
                        "wall_time_s": fit["wall_time_s"]},
        "provenance": {"twin_version": __version__, "command": "twin fit", "fit_file": source_text,
                       "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "warnings": fit["warnings"],
        "model": fit["model_settings"],
        "series": fit["per_spectrum"],
    }
    from mofcore.outputs import new_run_id, output_set
    from twin.fit.workflow import png_metadata

    run_id = new_run_id()
    result["run_id"], result["outputs"] = run_id, ["fit_nmr.png"] if plot else []
    with output_set(out, run_id=run_id, last=("fit_result.json",)) as staged:  # the result and its figure, one set
        if plot:
            _plot(staged.path("fit_nmr.png"), data, fit, png_metadata(run_id))
        write_fit_result(result, staged.staging)
    target = out / "fit_result.json"
    observables = out / "observables" / "nmr.h5"
    if observables.is_file():
        from instruments.nmr.technique import align_nmr
        from twin.observe import attach_measured

        try:
            attach_measured(observables, align_nmr(path))
        except DataFormatError:
            result["warnings"].append(f"{observables}: the measured spectra were not attached (another grid)")
    result["path"] = str(target)
    return result


def _plot(path: Path, data: NmrSeries, fit: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Measured and fitted spectra, whole window and centre, with the residual (measured − fit) offset below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nu = data.frequency_hz / 1e3
    fig, axes = plt.subplots(data.n_spectra, 2, figsize=(10, 2.0 * data.n_spectra), squeeze=False)
    for i in range(data.n_spectra):
        for ax, window in zip(axes[i], (np.ones(nu.size, bool), np.abs(nu) < 40.0), strict=True):
            measured, model = data.values[i][window], fit["model"][i][window]
            ax.plot(nu[window], measured, lw=0.5, color="0.4", label="measured")
            ax.plot(nu[window], model, lw=1.0, color="C3", label="fit")
            base = float(np.min(measured)) - 0.15 * float(np.ptp(measured))
            ax.plot(nu[window], measured - model + base, lw=0.5, color="C0", label="measured − fit (offset)")
            ax.invert_xaxis()
            ax.set_yticks([])
        axes[i, 0].set_ylabel(f"{data.temperature_K[i]:g} K")
    axes[-1, 0].set_xlabel("frequency (kHz)")
    axes[-1, 1].set_xlabel("frequency (kHz), centre")
    axes[0, 0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png", metadata=metadata or {})
    plt.close(fig)


def _run(cfg: Any, out: Path) -> dict[str, Any]:
    (path, _), = cfg.measurements
    return run_nmr_fit(path, out, make_setup(**cfg.options), source_text=cfg.text)


def _print_summary(result: dict[str, Any]) -> None:
    """The global parameters on the terminal (the per-spectrum ones are in fit_result.json)."""
    for name, entry in result["parameters"].items():
        if name.startswith(("scale_", "phase_deg_", "baseline_")):
            continue
        lo, hi = entry["interval_90"]
        print(f"{name:32s} {entry['value']:.5g} {entry['unit']}  (90 %: {lo:.4g} .. {hi:.4g})")
    fom = result["figures_of_merit"]
    print(f"chi2_reduced {fom['chi2_reduced']:.3f}  Rwp {fom['Rwp']:.4f}  ({int(fom['n_points'])} points)")
    for warning in result["warnings"]:
        print(f"warning: {warning}")


def _fit_problem() -> Any:
    from twin.fit.problems import FitProblem

    return FitProblem(parse=parse_nmr_series, run=_run, print_summary=_print_summary)


NMR_SERIES = _fit_problem()
