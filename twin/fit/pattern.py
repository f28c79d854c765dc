r"""Whole-pattern (Rietveld-type) refinement of one powder pattern and of an in situ series, in JAX.

The forward model is the XRD instrument of :mod:`instruments.xrd` (reflection families from the CIFs,
structure factors, Lorentz–polarisation, TCH pseudo-Voigt with Caglioti instrument width, Kα doublet,
size and microstrain broadening, Chebyshev background). Refined, per phase p: the scale (number of unit
cells N_p, which gives the phase fractions), the lattice parameters allowed by the crystal system, the
coherent domain size (spheres of diameter D, volume-weighted column length 3D/4, or cubes of edge L with the
column length of each reflection direction, ``domain_shape``) as a log-normal distribution of volume-weighted
mean ⟨L⟩_V (``size_nm``) and variance s² of ln L (``size_log_variance``; :func:`lognormal_sizes_A`), and an isotropic
microstrain ε (refined as its square ``strain_variance`` = ε², on which the Gaussian FWHM² depends linearly); globally: the zero shift and the Chebyshev background. Atom positions and displacement
parameters stay at the CIF values (a "structure-fixed" Rietveld refinement, as in sequential in situ work).

Weighted residual :math:`r_i = (y_{o,i} - y_{c,i})/\sigma_i` with Poisson σ (√counts, 1 for zero counts
as GSAS-II and TOPAS do; :func:`mofcore.stats.poisson_sigma`) minimised by
:func:`twin.fit.lm.levenberg_marquardt`; statistics by :func:`twin.fit.stats.fit_statistics`. The scales and
the background of every start come from :func:`mofcore.stats.solve_scale_background`. A series is refined
either independently (``vmap`` over frames, all from the same start) or sequentially (``lax.scan``: frame k
starts from the result of frame k−1, the "sequential refinement" of GSAS-II, B. H. Toby & R. B. Von Dreele,
J. Appl. Cryst. 46, 544 (2013), and TOPAS), which follows lattice parameters and fractions through a
transition without re-guessing.

Phase fractions: weight fraction :math:`W_p = N_p M_p/\sum_q N_q M_q` (M_p the cell mass; Hill & Howard,
J. Appl. Cryst. 20, 467 (1987)) with its esd propagated from the covariance through ∂W/∂N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from instruments.xrd import (
    Instrument,
    PhaseStructure,
    make_phase_state,
    powder_pattern,
)
from instruments.xrd.profiles import chebyshev_background
from mofcore.stats import poisson_sigma, solve_scale_background
from twin.errors import FitError
from twin.fit.lm import levenberg_marquardt
from twin.fit.stats import fit_statistics

__all__ = ["RefinementSetup", "PatternFit", "make_refinement", "refine_pattern", "refine_series", "poisson_sigma",
           "lognormal_sizes_A"]

_LATTICE_FREE = {
    "cubic": (0,),
    "tetragonal": (0, 2),
    "hexagonal": (0, 2),
    "trigonal": (0, 2),
    "orthorhombic": (0, 1, 2),
    "monoclinic": (0, 1, 2, 4),
    "triclinic": (0, 1, 2, 3, 4, 5),
}
_LATTICE_NAMES = ("a_A", "b_A", "c_A", "alpha_deg", "beta_deg", "gamma_deg")


@dataclass(frozen=True, eq=False)
class RefinementSetup:
    """What is refined and how (host side; built by :func:`make_refinement`).

    Attributes:
        phases: phase structures (reflection families fixed at the CIF lattice).
        instrument: diffractometer settings; its zero shift and background are overwritten by parameters.
        two_theta_deg: the 2θ grid of the data [deg], (n_points,).
        names: parameter names, e.g. ``"lp.scale"``, ``"lp.a_A"``, ``"lp.size_nm"``, ``"zero_shift_deg"``.
        units: unit of each parameter.
        x0, lower, upper: start and bounds of every parameter (n_params,).
        free: indices of refined parameters (the others stay at ``x0``).
        slices: per phase, the parameter indices of (scale, lattice…, size, strain); then background.
    """

    phases: tuple[PhaseStructure, ...]
    instrument: Instrument
    two_theta_deg: np.ndarray
    names: tuple[str, ...]
    units: tuple[str, ...]
    x0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    free: tuple[int, ...]
    layout: tuple[tuple[int, tuple[int, ...], int, int, int], ...] = field(default=())
    zero_index: int = 0
    background_index: tuple[int, ...] = ()
    domain_shape: str = "sphere"
    compiled: dict = field(default_factory=dict, repr=False)

    def model(self) -> Any:
        """The pure function ``y_calc(x_full) -> (n_points,)`` of this setup."""
        return partial(_calculate, self.phases, self.instrument, jnp.asarray(self.two_theta_deg, _dtype()),
                       self.layout, self.zero_index, self.background_index, self.domain_shape)

    def with_start(self, x0: np.ndarray) -> "RefinementSetup":
        return RefinementSetup(self.phases, self.instrument, self.two_theta_deg, self.names, self.units,
                               np.asarray(x0, float), self.lower, self.upper, self.free, self.layout,
                               self.zero_index, self.background_index, self.domain_shape, self.compiled)


def _dtype() -> Any:
    return jnp.zeros(()).dtype


_HERMITE_X, _HERMITE_W = np.polynomial.hermite_e.hermegauss(7)  # probabilists' nodes, Σw = √(2π)
_HERMITE_W = _HERMITE_W / _HERMITE_W.sum()


def lognormal_sizes_A(mean_size_nm: Array, width: Array) -> tuple[Array, Array]:
    r"""Quadrature of a log-normal distribution of domain sizes: (sizes [Å], number weights), 7 nodes each.

    The *volume-weighted* distribution of the size L (sphere diameter or cube edge) is log-normal,
    ln L ~ N(ln m_V, s²), with volume-weighted mean :math:`\langle L\rangle_V = m_V e^{s^2/2}`; the
    parameters are ⟨L⟩_V (``mean_size_nm``) and s (``width``; 0 is a single size). Nodes
    :math:`L_k = m_V e^{s x_k}` at the Gauss–Hermite points x_k carry volume weights w_k, i.e. number
    weights w_k/L_k³, as :func:`instruments.xrd.make_phase_state` expects. A log-normal size distribution
    in whole-powder-pattern modelling: P. Scardi, M. Leoni, Acta Cryst. A 58, 190 (2002); for the moments,
    J. I. Langford, D. Louër, P. Scardi, J. Appl. Cryst. 33, 964 (2000).
    """
    dt = mean_size_nm.dtype
    x = jnp.asarray(_HERMITE_X, dt)
    median_A = 10.0 * mean_size_nm * jnp.exp(-0.5 * width * width)
    sizes = median_A * jnp.exp(width * x)
    rel = sizes / median_A
    return sizes, jnp.asarray(_HERMITE_W, dt) / rel**3


def _lattice_from_free(reference: Array, crystal_system: str, values: Array) -> Array:
    """The six lattice parameters from the refined ones (``_LATTICE_FREE``), with the tied ones following:
    b = c = a (cubic), b = a (tetragonal, hexagonal, trigonal); the others stay at ``reference``."""
    lattice = reference
    for k, v in zip(_LATTICE_FREE[crystal_system], values, strict=True):
        lattice = lattice.at[k].set(v)
    if crystal_system == "cubic":
        lattice = lattice.at[1].set(values[0]).at[2].set(values[0])
    elif crystal_system in ("tetragonal", "hexagonal", "trigonal"):
        lattice = lattice.at[1].set(values[0])
    return lattice


def _safe_sqrt(v: Array) -> Array:
    """√(v + 10⁻²⁰): the model sees ε² = v + 10⁻²⁰, so ∂y/∂v stays finite and non-zero at v = 0 (a clamp such as
    max(v, 10⁻²⁰) would have zero derivative there and trap the refinement at its lower bound)."""
    return jnp.sqrt(v + jnp.asarray(1e-20, v.dtype))


def _calculate(phases, instrument, tth, layout, zero_index, background_index, domain_shape, x) -> Array:
    inst = Instrument(**{**instrument.__dict__, "zero_shift_deg": x[zero_index], "background": jnp.zeros((0,), x.dtype)})
    states = []
    for phase, (i_scale, i_lat, i_size, i_width, i_strain) in zip(phases, layout, strict=True):
        lattice = _lattice_from_free(phase.lattice, phase.crystal_system, x[jnp.asarray(i_lat)])
        size_A, number_weight = lognormal_sizes_A(x[i_size], jnp.sqrt(x[i_width]))
        states.append(make_phase_state(lattice, cell_count=x[i_scale], size_A=size_A, size_weight=number_weight,
                                       microstrain=_safe_sqrt(x[i_strain]), domain_shape=domain_shape))
    y = powder_pattern(tuple(phases), tuple(states), inst, tth)
    if background_index:
        coeffs = x[jnp.asarray(background_index)]
        y = y + chebyshev_background(tth, coeffs, tth[0], tth[-1])
    return y


def make_refinement(
    phases: tuple[PhaseStructure, ...] | list[PhaseStructure],
    instrument: Instrument,
    two_theta_deg: Any,
    *,
    n_background: int = 3,
    size_nm: float | list[float] = 100.0,
    size_width: float | list[float] = 0.0,
    microstrain: float | list[float] = 1e-4,
    scale: float | list[float] = 1.0,
    fix: tuple[str, ...] = (),
    size_bounds_nm: tuple[float, float] = (2.0, 5000.0),
    lattice_window: float = 0.05,
    domain_shape: str = "sphere",
) -> RefinementSetup:
    """Describe a refinement: parameter names, start values and bounds (everything free unless in ``fix``).

    ``fix`` holds parameter names or suffixes (``"strain_variance"`` fixes every phase's strain). Lattice
    parameters may move ±``lattice_window`` (relative) from the CIF values; scales are ≥ 0.
    ``domain_shape``: ``"sphere"`` (size = diameter) or ``"box"`` (size = cube edge). ``size_width`` is the start
    value of s (standard deviation of ln L); the refined parameter is ``size_log_variance`` = s² in [10⁻⁴, 1.44].
    ``microstrain`` is the start value of ε; the refined parameter is ``strain_variance`` = ε² in [0, 0.05²].

    Raises:
        FitError: no phases, an empty grid, or a name in ``fix`` that matches no parameter.
    """
    phases = tuple(phases)
    tth = np.asarray(two_theta_deg, float)
    if domain_shape not in ("sphere", "box"):
        raise FitError(f"pattern refinement: domain_shape must be 'sphere' or 'box', got {domain_shape!r}")
    if not phases:
        raise FitError("pattern refinement: expected at least one phase, got none")
    if tth.ndim != 1 or tth.size < 10:
        raise FitError(f"pattern refinement: expected a 1-D 2θ grid of at least 10 points, got shape {tth.shape}")
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * len(phases)  # noqa: E731
    sizes, widths, strains, scales = as_list(size_nm), as_list(size_width), as_list(microstrain), as_list(scale)
    names, units, x0, lo, hi, layout = [], [], [], [], [], []

    def add(name, unit, v, a, b):
        names.append(name), units.append(unit), x0.append(v), lo.append(a), hi.append(b)
        return len(names) - 1

    for p, phase in enumerate(phases):
        label = phase.name or f"phase{p}"
        i_scale = add(f"{label}.scale", "cells", float(scales[p]), 0.0, np.inf)
        lat = np.asarray(phase.lattice, float)
        i_lat = tuple(
            add(f"{label}.{_LATTICE_NAMES[k]}", "Å" if k < 3 else "deg", lat[k],
                lat[k] * (1 - lattice_window), lat[k] * (1 + lattice_window))
            for k in _LATTICE_FREE[phase.crystal_system]
        )
        i_size = add(f"{label}.size_nm", "nm", float(sizes[p]), *size_bounds_nm)
        # refined as s² ≥ 10⁻⁴: the pattern is even in s, so ∂/∂s vanishes at s = 0 and would trap the fit there
        i_width = add(f"{label}.size_log_variance", "1", max(float(widths[p]) ** 2, 1e-4), 1e-4, 1.44)
        # refined as ε² ≥ 0 for the same reason: the pattern is even in the microstrain ε (Gaussian widths add in
        # quadrature, Γ² = Γ_inst² + (k ε tanθ)², linear in ε²), so ∂/∂ε vanishes at 0 and would trap the fit there
        i_strain = add(f"{label}.strain_variance", "1", float(strains[p]) ** 2, 0.0, 0.05**2)
        layout.append((i_scale, i_lat, i_size, i_width, i_strain))
    i_zero = add("zero_shift_deg", "deg", float(instrument.zero_shift_deg), -1.0, 1.0)
    i_bg = tuple(add(f"background_{k}", "counts", 0.0, -np.inf, np.inf) for k in range(n_background))
    fixed = set()
    for pattern in fix:
        hits = [i for i, n in enumerate(names) if n == pattern or n.endswith("." + pattern)]
        if not hits:
            raise FitError(f"pattern refinement: fix: {pattern!r} matches no parameter; parameters: {', '.join(names)}")
        fixed.update(hits)
    free = tuple(i for i in range(len(names)) if i not in fixed)
    return RefinementSetup(phases, instrument, tth, tuple(names), tuple(units), np.array(x0), np.array(lo),
                           np.array(hi), free, tuple(layout), i_zero, i_bg, domain_shape)


def _linear_stage(setup: RefinementSetup, model: Any, x: Array, y: Array, sigma: Array) -> Array:
    """Scales and background by weighted linear least squares at the current nonlinear parameters.

    The pattern is linear in the cell counts N_p and the Chebyshev coefficients, so their best values for
    given lattices, sizes and strains solve one small least-squares problem (one unit-scale pattern per
    phase plus the Chebyshev basis: :func:`mofcore.stats.solve_scale_background`). Negative scales are clipped
    to 0. Traceable; used for the start of every frame.
    """
    scale_idx = [lay[0] for lay in setup.layout]
    bg_idx = list(setup.background_index)
    columns = []
    for i in scale_idx:
        xb = x.at[jnp.asarray(scale_idx)].set(0.0).at[i].set(1.0)
        if bg_idx:
            xb = xb.at[jnp.asarray(bg_idx)].set(0.0)
        columns.append(model(xb))
    tth = jnp.asarray(setup.two_theta_deg, x.dtype)
    coef = solve_scale_background(jnp.stack(columns), y, sigma, tth, tth[0], tth[-1], len(bg_idx))
    x = x.at[jnp.asarray(scale_idx)].set(jnp.maximum(coef[: len(scale_idx)], 0.0))
    if bg_idx:
        x = x.at[jnp.asarray(bg_idx)].set(coef[len(scale_idx):])
    return x


@dataclass(frozen=True)
class PatternFit:
    """Result of a refinement (one frame: leading axis of length 1).

    Attributes:
        names, units: parameter names and units (all parameters, fixed ones included).
        free: indices of refined parameters.
        values: (n_frames, n_params); esd: (n_frames, n_params) (0 for parameters not refined in a frame).
        refined: (n_frames, n_params) bool: refined in that frame (free, and its phase present).
        correlation: (n_frames, n_free, n_free) between free parameters.
        rwp, rexp, chi2, chi2_reduced: (n_frames,).
        converged: (n_frames,) bool; n_iter: (n_frames,).
        y_calc: (n_frames, n_points) calculated patterns.
        weight_fraction, weight_fraction_esd: (n_frames, n_phases).
        phase_names: label of each phase.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    free: tuple[int, ...]
    values: np.ndarray
    esd: np.ndarray
    refined: np.ndarray
    correlation: np.ndarray
    rwp: np.ndarray
    rexp: np.ndarray
    chi2: np.ndarray
    chi2_reduced: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    y_calc: np.ndarray
    weight_fraction: np.ndarray
    weight_fraction_esd: np.ndarray
    phase_names: tuple[str, ...]

    def value(self, name: str, frame: int = 0) -> tuple[float, float]:
        """(value, esd) of one parameter in one frame."""
        if name not in self.names:
            raise FitError(f"no parameter {name!r}; parameters: {', '.join(self.names)}")
        k = self.names.index(name)
        return float(self.values[frame, k]), float(self.esd[frame, k])


def _solver(setup: RefinementSetup, max_iter: int, min_fraction: float):
    """The per-frame refinement ``(x_start, y, σ) -> outputs`` (pure, traceable).

    1. Phases whose weight fraction in ``x_start`` is below ``min_fraction`` get their lattice, size and
       strain reset to the setup's start (a phase that vanished carries no information about them).
    2. Scales and background from :func:`_linear_stage`.
    3. Levenberg–Marquardt over the free parameters; the lattice, size and strain of a phase still below
       ``min_fraction`` stay fixed (their Jacobian columns vanish with the phase and would only make the
       normal matrix singular), and are reported with esd 0 and ``refined = False``; so is a parameter
       that ends on one of its bounds.
    """
    model = setup.model()
    free = jnp.asarray(setup.free)
    dt = _dtype()
    lo = jnp.asarray(setup.lower[list(setup.free)], dt)
    hi = jnp.asarray(setup.upper[list(setup.free)], dt)
    masses = jnp.asarray([float(p.cell_mass_amu) for p in setup.phases], dt)
    scale_idx = jnp.asarray([lay[0] for lay in setup.layout])
    reference = jnp.asarray(setup.x0, dt)
    n_params = len(setup.names)
    # per phase: a 0/1 vector over all parameters marking its lattice, size and strain
    own = np.zeros((len(setup.layout), n_params))
    for p, (_, i_lat, i_size, i_width, i_strain) in enumerate(setup.layout):
        own[p, list(i_lat) + [i_size, i_width, i_strain]] = 1.0
    own = jnp.asarray(own, dt)

    def fractions(x):
        m = x[scale_idx] * masses
        return m / jnp.maximum(jnp.sum(m), jnp.finfo(dt).tiny)

    def residual(x_free, base, mask, y, sigma):
        x_free = jnp.where(mask, x_free, base[free])  # frozen parameters: no column in the Jacobian
        return (y - model(base.at[free].set(x_free))) / sigma

    def one(x_start, y, sigma):
        absent = (fractions(x_start) < min_fraction).astype(dt) @ own > 0.0
        x = jnp.where(absent, reference, x_start)
        x = _linear_stage(setup, model, x, y, sigma)
        frozen = (fractions(x) < min_fraction).astype(dt) @ own > 0.0
        mask = ~frozen[free]
        res = levenberg_marquardt(residual, x[free], x, mask, y, sigma, lower=lo, upper=hi, max_iter=max_iter)
        # a parameter that ends on a bound (a strain of 0, a vanished scale) is held there: it leaves the
        # covariance (its one-sided curvature would give a meaningless esd), as Rietveld programs report it
        x_full = x.at[free].set(jnp.where(mask, res.x, x[free]))  # the LM result, bound values included
        mask = mask & (res.x > lo) & (res.x < hi)
        jac = jnp.where(mask[None, :], res.jacobian, 0.0)
        stats = fit_statistics(res.residual, jac, y, sigma)
        esd_free = jnp.where(mask, stats.esd, 0.0)
        cov_free = jnp.where(mask[:, None] & mask[None, :], stats.covariance, 0.0)
        esd_full = jnp.zeros_like(x).at[free].set(esd_free)
        refined = jnp.zeros(x.shape, bool).at[free].set(mask)
        cov_full = jnp.zeros((n_params, n_params), dt).at[free[:, None], free[None, :]].set(cov_free)
        w = fractions(x_full)
        dw = jax.jacfwd(fractions)(x_full)
        w_esd = jnp.sqrt(jnp.clip(jnp.diagonal(dw @ cov_full @ dw.T), 0.0, None))
        corr = jnp.where(mask[:, None] & mask[None, :], stats.correlation, 0.0)
        return x_full, esd_full, refined, corr, stats, res.converged, res.n_iter, model(x_full), w, w_esd

    return one


def _compiled(setup: RefinementSetup, max_iter: int, sequential: bool, min_fraction: float) -> Any:
    """One jitted solver per (setup, options), cached on the setup (shared by :meth:`with_start` copies)."""
    key = (max_iter, sequential, min_fraction)
    if key not in setup.compiled:
        one = _solver(setup, max_iter, min_fraction)

        def run(base, y, sigma):
            if sequential:
                def step(x_prev, data):
                    out = one(x_prev, *data)
                    return out[0], out

                return jax.lax.scan(step, base, (y, sigma))[1]
            return jax.vmap(one, in_axes=(None, 0, 0))(base, y, sigma)

        setup.compiled[key] = jax.jit(run)
    return setup.compiled[key]


def refine_series(
    setup: RefinementSetup,
    y_obs: Any,
    sigma: Any | None = None,
    *,
    sequential: bool = True,
    max_iter: int = 60,
    min_fraction: float = 0.01,
) -> PatternFit:
    """Refine every frame of a series (n_frames, n_points); one compiled call for the whole series.

    Every frame starts with the linear stage (scales and background by linear least squares) and then
    runs Levenberg–Marquardt (:func:`_solver`).

    Args:
        setup: from :func:`make_refinement`.
        y_obs: observed intensities [counts], (n_frames, n_points) or (n_points,).
        sigma: standard uncertainties, same shape; default Poisson (:func:`poisson_sigma`).
        sequential: seed frame k with the result of frame k−1 (``lax.scan``, the sequential refinement of
            GSAS-II and TOPAS); else every frame starts from ``setup.x0`` (``vmap``).
        max_iter: LM iteration limit per frame.
        min_fraction: weight fraction below which a phase's lattice, size and strain are not refined.

    Raises:
        FitError: shape mismatch between the data and the setup's grid, or non-positive σ.
    """
    y = np.atleast_2d(np.asarray(y_obs, float))
    if y.shape[-1] != setup.two_theta_deg.size:
        raise FitError(
            f"pattern refinement: the data have {y.shape[-1]} points but the model grid has {setup.two_theta_deg.size}"
        )
    s = poisson_sigma(y) if sigma is None else np.atleast_2d(np.asarray(sigma, float))
    if s.shape != y.shape or not np.all(s > 0):
        raise FitError(f"pattern refinement: σ must be positive with the shape of the data {y.shape}, got {s.shape}")
    if not 0.0 <= min_fraction < 1.0:
        raise FitError(f"pattern refinement: min_fraction must lie in [0, 1), got {min_fraction}")
    dt = _dtype()
    run = _compiled(setup, max_iter, sequential, float(min_fraction))
    outs = run(jnp.asarray(setup.x0, dt), jnp.asarray(y, dt), jnp.asarray(s, dt))
    x, esd, refined, corr, stats, conv, nit, ycalc, w, w_esd = jax.device_get(outs)
    return PatternFit(
        names=setup.names,
        units=setup.units,
        free=setup.free,
        values=np.asarray(x, float),
        esd=np.asarray(esd, float),
        refined=np.asarray(refined, bool),
        correlation=np.asarray(corr, float),
        rwp=np.asarray(stats.rwp, float),
        rexp=np.asarray(stats.rexp, float),
        chi2=np.asarray(stats.chi2, float),
        chi2_reduced=np.asarray(stats.chi2_reduced, float),
        converged=np.asarray(conv, bool),
        n_iter=np.asarray(nit, int),
        y_calc=np.asarray(ycalc, float),
        weight_fraction=np.asarray(w, float),
        weight_fraction_esd=np.asarray(w_esd, float),
        phase_names=tuple(p.name for p in setup.phases),
    )


def refine_pattern(setup: RefinementSetup, y_obs: Any, sigma: Any | None = None, **kwargs: Any) -> PatternFit:
    """Refine one pattern (n_points,); see :func:`refine_series` for the arguments."""
    return refine_series(setup, np.asarray(y_obs, float)[None, :],
                         None if sigma is None else np.asarray(sigma, float)[None, :], sequential=False, **kwargs)
