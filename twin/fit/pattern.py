r"""Whole-pattern (Rietveld-type) refinement of one powder pattern and of an in situ series, in JAX.

The forward model is the XRD instrument of :mod:`instruments.xrd` (reflection families from the CIFs,
structure factors, Lorentz–polarisation, TCH pseudo-Voigt with Caglioti instrument width, Kα doublet,
size and microstrain broadening, Chebyshev background). Refined, per phase p: the scale (number of unit
cells N_p, which gives the phase fractions), the lattice parameters allowed by the crystal system, the
coherent domain size (spheres, volume-weighted column length 3D/4, Scherrer constant 4/3) and an isotropic
microstrain; globally: the zero shift and the Chebyshev background. Atom positions and displacement
parameters stay at the CIF values (a "structure-fixed" Rietveld refinement, as in sequential in situ work).

Weighted residual :math:`r_i = (y_{o,i} - y_{c,i})/\sigma_i` with Poisson σ (√counts, 1 for zero counts
as GSAS-II and TOPAS do) minimised by :func:`twin.fit.lm.levenberg_marquardt`; statistics by
:func:`twin.fit.stats.fit_statistics`. A series is refined either independently (``vmap`` over frames,
all from the same start) or sequentially (``lax.scan``: frame k starts from the result of frame k−1, the
"sequential refinement" of GSAS-II, B. H. Toby & R. B. Von Dreele, J. Appl. Cryst. 46, 544 (2013), and
TOPAS), which follows lattice parameters and fractions through a transition without re-guessing.

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
from jaxtyping import Array, Float

from instruments.xrd import (
    Instrument,
    PhaseStructure,
    make_phase_state,
    powder_pattern,
)
from instruments.xrd.profiles import chebyshev_background
from twin.errors import FitError
from twin.fit.lm import levenberg_marquardt
from twin.fit.stats import fit_statistics

__all__ = ["RefinementSetup", "PatternFit", "make_refinement", "refine_pattern", "refine_series", "poisson_sigma"]

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


def poisson_sigma(counts: Float[Array, "..."]) -> Float[Array, "..."]:
    """Counting uncertainty √N, with σ = 1 for N < 1 (GSAS-II/TOPAS convention)."""
    return jnp.sqrt(jnp.maximum(counts, 1.0))


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
    layout: tuple[tuple[int, tuple[int, ...], int, int], ...] = field(default=())
    zero_index: int = 0
    background_index: tuple[int, ...] = ()
    compiled: dict = field(default_factory=dict, repr=False)

    def model(self) -> Any:
        """The pure function ``y_calc(x_full) -> (n_points,)`` of this setup."""
        return partial(_calculate, self.phases, self.instrument, jnp.asarray(self.two_theta_deg, _dtype()),
                       self.layout, self.zero_index, self.background_index)

    def with_start(self, x0: np.ndarray) -> "RefinementSetup":
        return RefinementSetup(self.phases, self.instrument, self.two_theta_deg, self.names, self.units,
                               np.asarray(x0, float), self.lower, self.upper, self.free, self.layout,
                               self.zero_index, self.background_index, self.compiled)


def _dtype() -> Any:
    return jnp.zeros(()).dtype


def _calculate(phases, instrument, tth, layout, zero_index, background_index, x) -> Array:
    inst = Instrument(**{**instrument.__dict__, "zero_shift_deg": x[zero_index], "background": jnp.zeros((0,), x.dtype)})
    states = []
    for phase, (i_scale, i_lat, i_size, i_strain) in zip(phases, layout, strict=True):
        lattice = phase.lattice
        for k, i in zip(_LATTICE_FREE[phase.crystal_system], i_lat, strict=True):
            lattice = lattice.at[k].set(x[i])
        states.append(make_phase_state(lattice, cell_count=x[i_scale], size_A=10.0 * x[i_size],
                                       microstrain=x[i_strain], domain_shape="sphere"))
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
    microstrain: float | list[float] = 1e-4,
    scale: float | list[float] = 1.0,
    fix: tuple[str, ...] = (),
    size_bounds_nm: tuple[float, float] = (2.0, 5000.0),
    lattice_window: float = 0.05,
) -> RefinementSetup:
    """Describe a refinement: parameter names, start values and bounds (everything free unless in ``fix``).

    ``fix`` holds parameter names or suffixes (``"microstrain"`` fixes every phase's strain). Lattice
    parameters may move ±``lattice_window`` (relative) from the CIF values; scales are ≥ 0.

    Raises:
        FitError: no phases, an empty grid, or a name in ``fix`` that matches no parameter.
    """
    phases = tuple(phases)
    tth = np.asarray(two_theta_deg, float)
    if not phases:
        raise FitError("pattern refinement: expected at least one phase, got none")
    if tth.ndim != 1 or tth.size < 10:
        raise FitError(f"pattern refinement: expected a 1-D 2θ grid of at least 10 points, got shape {tth.shape}")
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * len(phases)  # noqa: E731
    sizes, strains, scales = as_list(size_nm), as_list(microstrain), as_list(scale)
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
        i_strain = add(f"{label}.microstrain", "1", float(strains[p]), 0.0, 0.05)
        layout.append((i_scale, i_lat, i_size, i_strain))
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
                           np.array(hi), free, tuple(layout), i_zero, i_bg)


def linear_start(setup: RefinementSetup, y_obs: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Start values of the scales and background by weighted linear least squares (the pattern is linear
    in N_p and the Chebyshev coefficients), the other parameters at ``setup.x0``."""
    model = jax.jit(setup.model())
    x = np.asarray(setup.x0, float).copy()
    basis = []
    for i_scale, *_ in setup.layout:
        xb = x.copy()
        for j_scale, *_ in setup.layout:
            xb[j_scale] = 0.0
        xb[i_scale] = 1.0
        xb[list(setup.background_index)] = 0.0
        basis.append(np.asarray(model(jnp.asarray(xb, _dtype())), float))
    tth = np.asarray(setup.two_theta_deg)
    t = (2 * tth - tth[0] - tth[-1]) / (tth[-1] - tth[0])
    for k in range(len(setup.background_index)):
        basis.append(np.cos(k * np.arccos(np.clip(t, -1, 1))))
    a = np.stack(basis, axis=1) / sigma[:, None]
    coef, *_ = np.linalg.lstsq(a, y_obs / sigma, rcond=None)
    for (i_scale, *_), c in zip(setup.layout, coef, strict=False):
        x[i_scale] = max(float(c), 1e-6 * max(abs(coef).max(), 1e-30))
    for i, c in zip(setup.background_index, coef[len(setup.layout):], strict=True):
        x[i] = float(c)
    return x


@dataclass(frozen=True)
class PatternFit:
    """Result of a refinement (one frame: leading axis of length 1).

    Attributes:
        names, units: parameter names and units (all parameters, fixed ones included).
        free: indices of refined parameters.
        values: (n_frames, n_params); esd: (n_frames, n_params) (0 for fixed parameters).
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


def _solver(setup: RefinementSetup, max_iter: int):
    model = setup.model()
    free = jnp.asarray(setup.free)
    dt = _dtype()
    lo = jnp.asarray(setup.lower[list(setup.free)], dt)
    hi = jnp.asarray(setup.upper[list(setup.free)], dt)
    masses = jnp.asarray([float(p.cell_mass_amu) for p in setup.phases], dt)
    scale_idx = jnp.asarray([lay[0] for lay in setup.layout])

    def residual(x_free, base, y, sigma):
        return (y - model(base.at[free].set(x_free))) / sigma

    def one(base, y, sigma):
        res = levenberg_marquardt(residual, base[free], base, y, sigma, lower=lo, upper=hi, max_iter=max_iter)
        stats = fit_statistics(res.residual, res.jacobian, y, sigma)
        x_full = base.at[free].set(res.x)
        esd_full = jnp.zeros_like(base).at[free].set(stats.esd)
        cov_full = jnp.zeros((base.shape[0], base.shape[0]), dt).at[free[:, None], free[None, :]].set(stats.covariance)

        def wf(x):
            m = x[scale_idx] * masses
            return m / jnp.sum(m)

        w = wf(x_full)
        dw = jax.jacfwd(wf)(x_full)
        w_esd = jnp.sqrt(jnp.clip(jnp.diagonal(dw @ cov_full @ dw.T), 0.0, None))
        return x_full, esd_full, stats, res.converged, res.n_iter, model(x_full), w, w_esd

    return one


def _compiled(setup: RefinementSetup, max_iter: int, sequential: bool) -> Any:
    """One jitted solver per (setup, options), cached on the setup (shared by :meth:`with_start` copies)."""
    key = (max_iter, sequential)
    if key not in setup.compiled:
        one = _solver(setup, max_iter)

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
    start: str = "linear",
    max_iter: int = 60,
) -> PatternFit:
    """Refine every frame of a series (n_frames, n_points); one compiled call for the whole series.

    Args:
        setup: from :func:`make_refinement`.
        y_obs: observed intensities [counts], (n_frames, n_points) or (n_points,).
        sigma: standard uncertainties, same shape; default Poisson (:func:`poisson_sigma`).
        sequential: seed frame k with the result of frame k−1 (``lax.scan``); else all frames start from
            the same point (``vmap``).
        start: ``"linear"``: scales and background of the start from a linear least-squares fit to the
            first frame; ``"given"``: ``setup.x0`` as is.
        max_iter: LM iteration limit per frame.

    Raises:
        FitError: shape mismatch between the data and the setup's grid, or non-positive σ.
    """
    y = np.atleast_2d(np.asarray(y_obs, float))
    if y.shape[-1] != setup.two_theta_deg.size:
        raise FitError(
            f"pattern refinement: the data have {y.shape[-1]} points but the model grid has {setup.two_theta_deg.size}"
        )
    s = np.sqrt(np.maximum(y, 1.0)) if sigma is None else np.atleast_2d(np.asarray(sigma, float))
    if s.shape != y.shape or not np.all(s > 0):
        raise FitError(f"pattern refinement: σ must be positive with the shape of the data {y.shape}, got {s.shape}")
    if start == "linear":
        setup = setup.with_start(linear_start(setup, y[0], s[0]))
    elif start != "given":
        raise FitError(f"pattern refinement: start must be 'linear' or 'given', got {start!r}")
    dt = _dtype()
    run = _compiled(setup, max_iter, sequential)
    outs = run(jnp.asarray(setup.x0, dt), jnp.asarray(y, dt), jnp.asarray(s, dt))
    x, esd, stats, conv, nit, ycalc, w, w_esd = jax.device_get(outs)
    return PatternFit(
        names=setup.names,
        units=setup.units,
        free=setup.free,
        values=np.asarray(x, float),
        esd=np.asarray(esd, float),
        correlation=np.asarray(stats.correlation, float),
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
