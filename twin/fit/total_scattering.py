r"""Fitting a measured X-ray total-scattering series F(Q, T) for the loss of crystalline order.

Model (forward part in :mod:`instruments.xrd.total_scattering`; see ``docs/fit.md``): every frame is

.. math::
    F(Q) = s\,\big[F_{<r_0}(Q; u^2_{bond}, u^2_{local})
           + e^{-Q^2u^2}F_{\ge r_0}(Q;\,c\,\gamma_{D_c} + (1-c)\,\gamma_{D_a},\,\varepsilon)\big]
           + \sum_{k<n_{bg}} b_k T_k(t),

the Debye sum over the bulk pair histogram of the crystal structure with two coherence envelopes: a
crystalline component (fraction c, coherence diameter D_c, several nm) and an amorphous one (1 − c) that keeps
only the local structure (D_a ≈ 1 nm). Both share the local units below r₀ (imidazolate rings, Zn–N, Zn–C),
which stay intact: the stated model is that amorphous and liquid ZIF-4 keep the Zn–Im–Zn local connectivity
(T. D. Bennett et al., J. Am. Chem. Soc. 138, 3484 (2016); R. Gaillac et al., Nature Mater. 16, 1149 (2017)) and
lose correlations beyond. The envelope is linear, so the mixture is one Debye sum. Free per frame: s, c ∈ [0, 1],
D_c, D_a, u²_bond (r < 1.7 Å), u²_local (1.7 Å ≤ r < r₀), u² (beyond), ε (expansion beyond r₀) and a Chebyshev
background (default 3 terms); any of them can be fixed (e.g. a shared D_a) or bounded.

Each frame is fitted by :func:`twin.fit.lm.levenberg_marquardt` from several starts (c = 0.1, 0.9 and the
previous frame's result; scale and background of each start by linear least squares), vmapped over the starts,
one compiled solver for the series (frames in sequence, each seeded by the last); the best χ² wins.
The default fitted range starts at Q = 1.6 Å⁻¹, above the first sharp diffraction peak of an amorphous network,
which a truncated crystal does not reproduce (docs/fit.md).
Uncertainties: the covariance of :func:`twin.fit.stats.fit_statistics` (scaled by χ²_ν), from the measured
error column of the files. c is the share of the *long-coherence* component: with D_c bounded below
(default 3 nm) it stands for Bragg-diffracting crystal, but it cannot tell nanocrystals of D_c from a
glass with medium-range order of that length. When c → 0, D_c is not determined (flagged).
"""

from __future__ import annotations

import glob as _glob
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from instruments.observable import Axis, Observable
from mofcore.stats import pooled_figures_of_merit, solve_scale_background
from twin.errors import FitError

__all__ = [
    "PARAMETER_NAMES",
    "PARAMETER_UNITS",
    "DEFAULT_TEMPERATURE_PATTERN",
    "TotalScatteringSetup",
    "load_total_scattering_series",
    "make_total_scattering_setup",
    "model_fq",
    "fit_total_scattering_series",
    "run_total_scattering_fit",
]

PARAMETER_NAMES = ("scale", "crystalline_fraction", "coherent_size_nm", "amorphous_size_nm", "u2_bond_A2",
                   "u2_local_A2", "u2_A2", "expansion")
PARAMETER_UNITS = {"scale": "1", "crystalline_fraction": "1", "coherent_size_nm": "nm", "amorphous_size_nm": "nm",
                   "u2_bond_A2": "Å²", "u2_local_A2": "Å²", "u2_A2": "Å²", "expansion": "1"}
#: covalent bonds (C–N, C–C, C–H ≤ 1.45 Å) below this distance get u²_bond; the rest of the local unit u²_local
BOND_SHELL_A = 1.7
_N_STRUCT = len(PARAMETER_NAMES)
#: default start values and bounds (the coherent size's upper bound is set by the histogram's r_max)
DEFAULT_START = {"scale": 1.0, "crystalline_fraction": 0.5, "coherent_size_nm": 4.0, "amorphous_size_nm": 1.0,
                 "u2_bond_A2": 0.002, "u2_local_A2": 0.005, "u2_A2": 0.02, "expansion": 0.0}
DEFAULT_BOUNDS = {"scale": (0.01, 5.0), "crystalline_fraction": (0.0, 1.0), "coherent_size_nm": (3.0, np.inf),
                  "amorphous_size_nm": (0.1, 2.5), "u2_bond_A2": (0.0, 0.05), "u2_local_A2": (0.0, 0.05),
                  "u2_A2": (0.0005, 0.3), "expansion": (-0.08, 0.05)}
#: the number after the last underscore of the file stem, e.g. ``ZIF4glassa_301.int01`` → 301 (°C by default)
DEFAULT_TEMPERATURE_PATTERN = r"_(?P<T>[-+]?\d+(?:\.\d+)?)(?:C|degC|K)?$"
_Z90 = 1.6448536269514722
#: files a folder contributes (other names through a glob)
FQ_EXTENSIONS = (".int01", ".fq", ".sq")


def _expand(measurements: Any) -> list[tuple[Path, float | None]]:
    """Paths (and explicit temperatures in K) from a folder, a glob, one file, or a list of those / of pairs."""
    if isinstance(measurements, (str, Path)):
        measurements = [measurements]
    out: list[tuple[Path, float | None]] = []
    for item in measurements:
        temperature = None
        if isinstance(item, tuple):
            item, temperature = item
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                           and f.suffix.lower() in FQ_EXTENSIONS)
            if not found:
                raise FitError(f"{p}: the folder holds no F(Q) files ({', '.join(FQ_EXTENSIONS)}); for other "
                               "names give a glob such as 'folder/*.xy'")
            out += [(f, None) for f in found]
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(Path(f) for f in _glob.glob(str(item)))
            if not found:
                raise FitError(f"{item}: no file matches this pattern")
            out += [(f, None) for f in found]
        else:
            if not p.is_file():
                raise FitError(f"{p}: measurement file not found")
            out.append((p, None if temperature is None else float(temperature)))
    return out


def _temperature_from(path: Path, measurement: Any, pattern: str | None, unit: str) -> float | None:
    t = measurement.conditions.get("temperature_K") if measurement.conditions else None
    if t is not None and np.isfinite(float(t)):
        return float(t)
    if pattern is None:
        return None
    m = re.search(pattern, path.stem)
    if m is None:
        return None
    value = float(m.group("T") if "T" in m.groupdict() else m.group(1))
    return value + 273.15 if unit in ("degC", "°C", "C") else value


def _label(temperature_K: float) -> str:
    return f"{temperature_K - 273.15:g} °C"


def load_total_scattering_series(
    measurements: Any,
    *,
    temperature_pattern: str | None = DEFAULT_TEMPERATURE_PATTERN,
    temperature_unit: str = "degC",
    q_range_inv_ang: tuple[float, float] = (1.6, 22.0),
) -> Observable:
    """Read F(Q) files through :func:`instruments.io.read_measurement` into one :class:`Observable` series on the
    fitted Q range [Å⁻¹], one frame per temperature (sorted; ``conditions["temperature_K"]``), labels such as
    ``"31 °C"``, the files in ``meta["files"]``.

    Args:
        measurements: a folder, a glob, a file, or a list of files or of ``(file, temperature_K)`` pairs.
        temperature_pattern: regular expression on the file stem with a group ``T`` (or group 1), used when
            neither an explicit temperature nor the file's own conditions give one; ``None`` disables it.
        temperature_unit: ``"degC"`` or ``"K"`` for numbers taken from the name.
        q_range_inv_ang: fitted Q range [Å⁻¹].

    Raises:
        FitError: a file not on a Q axis (e.g. a 2θ pattern), a frame without a temperature, frames on different
            Q grids, no uncertainty column, a non-positive uncertainty inside the range, two frames at one
            temperature.
    """
    from instruments.io import read_measurement
    from instruments.measurement import MeasurementSeries
    items = _expand(measurements)
    rows = []
    for path, temperature in items:
        m = read_measurement(path)  # DataFormatError naming the file and line
        if isinstance(m, MeasurementSeries):
            raise FitError(f"{path}: a series in one file; give one F(Q) file per temperature")
        if m.axis.name != "q":
            raise FitError(f"{path}: expected F(Q) on a Q axis (1/Å) for a total-scattering fit, got "
                           f"{m.axis.name} ({m.axis.unit}); give the reduced F(Q) (e.g. GudrunX .int01), not a "
                           "diffraction pattern")
        if m.uncertainties is None:
            raise FitError(f"{path}: no uncertainty column; the fit weights every point by its measured error")
        t = temperature if temperature is not None else _temperature_from(path, m, temperature_pattern,
                                                                        temperature_unit)
        if t is None:
            raise FitError(f"{path}: no temperature for this frame (not in the file, and the name "
                           f"{path.name!r} does not match the pattern {temperature_pattern!r}); give the "
                           "temperatures explicitly (measurements = [{path, temperature}]) or a name pattern")
        rows.append((t, path, m))
    rows.sort(key=lambda r: r[0])
    temps = np.array([r[0] for r in rows])
    if np.any(np.diff(temps) == 0.0):
        k = int(np.nonzero(np.diff(temps) == 0.0)[0][0])
        raise FitError(f"{rows[k][1].name} and {rows[k + 1][1].name}: two frames at {_label(temps[k])}")
    q0 = np.asarray(rows[0][2].axis.values, dtype=np.float64)
    lo, hi = q_range_inv_ang
    sel = (q0 >= lo) & (q0 <= hi)
    if np.count_nonzero(sel) < 20:
        raise FitError(f"{rows[0][1]}: fewer than 20 points in the fitted range Q = {lo:g}..{hi:g} 1/Å "
                       f"(the file covers {q0[0]:g}..{q0[-1]:g} 1/Å)")
    fq, sigma = [], []
    for t, path, m in rows:
        q = np.asarray(m.axis.values, dtype=np.float64)
        if q.shape != q0.shape or not np.allclose(q, q0, rtol=0.0, atol=1e-5):
            raise FitError(f"{path}: on a different Q grid than {rows[0][1].name} ({q.size} points {q[0]:g}..{q[-1]:g} "
                           f"against {q0.size} points {q0[0]:g}..{q0[-1]:g} 1/Å); a series fit needs one grid")
        s = np.asarray(m.uncertainties, dtype=np.float64)[sel]
        if np.any(~(s > 0.0)):
            bad = q0[sel][~(s > 0.0)][0]
            raise FitError(f"{path}: uncertainty {s[~(s > 0.0)][0]:g} at Q = {bad:g} 1/Å inside the fitted range; "
                           "expected positive errors (narrow q_range)")
        fq.append(np.asarray(m.values, dtype=np.float64)[sel])
        sigma.append(s)
    return Observable(axis=Axis(q0[sel], "q", "1/Å"), values=np.stack(fq), sigma=np.stack(sigma),
                      conditions={"temperature_K": temps}, technique="total-scattering", quantity="F(Q)", unit="1",
                      attrs=(("files", tuple(str(r[1]) for r in rows)),), labels=tuple(_label(t) for t in temps),
                      source=str(rows[0][1].parent))


# ------------------------------------------------------------------------------------------------ model
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TotalScatteringSetup:
    """Everything the per-frame model needs that does not change during the fit (a pytree).

    Attributes:
        q_inv_ang: fitted grid (n_q,).
        kernel: :class:`instruments.xrd.total_scattering.DebyeKernel` of the structure on that grid.
        fixed: values of every parameter (n_all,), used where a parameter is not free.
        lower, upper: bounds of the free parameters (n_free,).
        free: indices of the free parameters in :meth:`names` (static).
        n_background: Chebyshev terms (static).
        q_min, q_max: background domain [Å⁻¹] (static).
    """

    q_inv_ang: Float[Array, "n_q"]
    kernel: Any
    fixed: Float[Array, "n_all"]
    lower: Float[Array, "n_free"]
    upper: Float[Array, "n_free"]
    free: tuple[int, ...] = field(metadata={"static": True})
    n_background: int = field(metadata={"static": True})
    q_min: float = field(metadata={"static": True})
    q_max: float = field(metadata={"static": True})
    r_max_A: float = field(default=0.0, metadata={"static": True})
    bin_width_A: float = field(default=0.0, metadata={"static": True})
    form_factor_table: str = field(default="pymatgen", metadata={"static": True})
    normalisation: str = field(default="<f>^2", metadata={"static": True})

    def names(self) -> tuple[str, ...]:
        return PARAMETER_NAMES + tuple(f"background_{k}" for k in range(self.n_background))

    def free_names(self) -> tuple[str, ...]:
        all_names = self.names()
        return tuple(all_names[k] for k in self.free)

    def units(self) -> tuple[str, ...]:
        return tuple(PARAMETER_UNITS.get(n, "1") for n in self.names())


def make_total_scattering_setup(
    structure: Any,
    q_inv_ang: np.ndarray,
    *,
    r_max_A: float = 60.0,
    bin_width_A: float = 0.04,
    local_radius_A: float = 3.6,
    form_factor_table: str = "pymatgen",
    normalisation: str = "<f>^2",
    n_background: int = 3,
    fixed: dict[str, float] | None = None,
    start: dict[str, float] | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
    histograms: Any = None,
) -> TotalScatteringSetup:
    """Histograms, weights and bounds for a Q grid (host side; the histogram is built once here).

    Args:
        structure: pymatgen ``Structure`` of the crystal (e.g. ``datasets/structures/zif4_park2006.cif``).
        q_inv_ang: the measured grid inside the fitted range.
        r_max_A, bin_width_A, local_radius_A: histogram
            (:func:`~instruments.xrd.total_scattering.bulk_pair_histograms`);
            the coherent size is bounded by r_max − r₀.
        form_factor_table: ``"pymatgen"`` or ``"cromer_mann"`` (:mod:`instruments.xrd.form_factors`).
        normalisation: of the measured F(Q): ``"<f>^2"`` (Faber–Ziman) or ``"<f^2>"``.
        fixed: parameters held at a value (name → value in its unit), e.g. ``{"amorphous_size_nm": 1.0}``.
        start, bounds: overrides of :data:`DEFAULT_START` / :data:`DEFAULT_BOUNDS`.
        histograms: reuse prebuilt histograms (same structure) instead of building them.

    Raises:
        FitError: an unknown parameter name, a start outside its bounds, inverted bounds.
    """
    from instruments.xrd.total_scattering import NORMALISATIONS, bulk_pair_histograms, debye_kernel

    if normalisation not in NORMALISATIONS:
        raise FitError(f"normalisation: expected one of {', '.join(NORMALISATIONS)}, got {normalisation!r}")
    if histograms is None:
        try:
            histograms = bulk_pair_histograms(structure, r_max_A=r_max_A, bin_width_A=bin_width_A,
                                              local_radius_A=local_radius_A)
        except ValueError as error:
            raise FitError(f"structure: {error}") from None
    names = PARAMETER_NAMES + tuple(f"background_{k}" for k in range(n_background))
    starts = {**DEFAULT_START, **{f"background_{k}": 0.0 for k in range(n_background)}}
    lims = {**DEFAULT_BOUNDS, **{f"background_{k}": (-2.0, 2.0) for k in range(n_background)}}
    d_max_nm = (histograms.r_max_A - histograms.local_radius_A) / 10.0
    lims["coherent_size_nm"] = (lims["coherent_size_nm"][0], d_max_nm)
    for given, what in ((fixed, "fixed"), (start, "start"), (bounds, "bounds")):
        for key in given or {}:
            if key not in names:
                raise FitError(f"{what}: unknown parameter {key!r}; known: {', '.join(names)}")
    starts.update(start or {})
    lims.update(bounds or {})
    if lims["coherent_size_nm"][1] > d_max_nm + 1e-9:
        raise FitError(f"bounds.coherent_size_nm: upper {lims['coherent_size_nm'][1]:g} nm exceeds r_max − r₀ = "
                       f"{d_max_nm:g} nm of the pair histogram; raise r_max")
    for key, (lo, hi) in lims.items():
        if not lo < hi:
            raise FitError(f"bounds.{key}: lower bound {lo:g} is not below upper {hi:g}")
    values = np.array([float((fixed or {}).get(n, starts[n])) for n in names])
    free = tuple(k for k, n in enumerate(names) if n not in (fixed or {}))
    for k in free:  # a default start follows user bounds (a user's start is checked below)
        if names[k] not in (start or {}):
            lo, hi = lims[names[k]]
            values[k] = 0.5 * (lo + hi) if not lo <= values[k] <= hi else values[k]
    for k in free:
        lo, hi = lims[names[k]]
        if not lo <= values[k] <= hi:
            raise FitError(f"start.{names[k]}: {values[k]:g} lies outside the bounds {lo:g}..{hi:g}")
    dt = jnp.zeros(()).dtype
    q = jnp.asarray(q_inv_ang, dt)
    try:
        kernel = debye_kernel(q, histograms, form_factor_table, normalisation, local_shells_A=(BOND_SHELL_A,))
    except KeyError as error:
        raise FitError(f"form_factor_table: {form_factor_table!r} has no entry {error}") from None
    return TotalScatteringSetup(
        q_inv_ang=q, kernel=kernel, fixed=jnp.asarray(values, dt),
        lower=jnp.asarray([lims[names[k]][0] for k in free], dt),
        upper=jnp.asarray([lims[names[k]][1] for k in free], dt), free=free, n_background=n_background,
        q_min=float(np.min(q_inv_ang)), q_max=float(np.max(q_inv_ang)), r_max_A=histograms.r_max_A,
        bin_width_A=histograms.bin_width_A, form_factor_table=form_factor_table, normalisation=normalisation)


def _full(x: Array, setup: TotalScatteringSetup) -> Array:
    return setup.fixed.at[jnp.asarray(setup.free, dtype=jnp.int32)].set(x)


def model_fq(x_all: Float[Array, "n_all"], setup: TotalScatteringSetup) -> Float[Array, "n_q"]:
    """F(Q) of one frame for the full parameter vector (order :meth:`TotalScatteringSetup.names`)."""
    from instruments.xrd.profiles import chebyshev_background
    from instruments.xrd.total_scattering import enveloped_interference, shifted_envelope

    scale, c, d_c, d_a, u2b, u2l, u2, eps = (x_all[k] for k in range(_N_STRUCT))
    k = setup.kernel
    r = k.r_A * (1.0 + eps)
    env = c * shifted_envelope(r, 10.0 * d_c, k.local_radius_A) + (1.0 - c) * shifted_envelope(r, 10.0 * d_a,
                                                                                               k.local_radius_A)
    f = enveloped_interference(k, env, jnp.stack([u2b, u2l]), u2, eps)
    bg = chebyshev_background(setup.q_inv_ang, x_all[_N_STRUCT:], setup.q_min, setup.q_max)
    return scale * f + bg


def _residual(x: Array, setup: TotalScatteringSetup, y: Array, sigma: Array) -> Array:
    return (y - model_fq(_full(x, setup), setup)) / sigma


def _linear_start(x: Array, setup: TotalScatteringSetup, y: Array, sigma: Array) -> Array:
    """Scale and background of a start by weighted linear least squares at its nonlinear values (the scale and
    the background enter linearly; a start at s = 1 against data on another scale would otherwise let LM damp the
    oscillations away through u² before it finds the scale): :func:`mofcore.stats.solve_scale_background`."""
    from instruments.xrd.profiles import chebyshev_background

    names = setup.names()
    full = _full(x, setup)
    lin = [k for k, n in enumerate(names) if (n == "scale" or n.startswith("background_")) and k in setup.free]
    if not lin:
        return x
    unit = full.at[jnp.asarray(lin, dtype=jnp.int32)].set(0.0)
    unit = unit.at[0].set(jnp.where(0 in lin, 1.0, full[0]))
    base = model_fq(unit, setup)  # with unit scale (or the fixed one) and the fixed background terms
    patterns = jnp.zeros((0,) + y.shape, y.dtype)
    if 0 in lin:  # the structural part alone: the fixed background terms taken off again
        patterns = (base - chebyshev_background(setup.q_inv_ang, unit[_N_STRUCT:], setup.q_min, setup.q_max))[None, :]
    orders = tuple(k - _N_STRUCT for k in lin if k != 0)
    coef = solve_scale_background(patterns, y, sigma, setup.q_inv_ang, setup.q_min, setup.q_max, orders,
                                  offset=None if 0 in lin else base)
    out = full.at[jnp.asarray(lin, dtype=jnp.int32)].set(coef)
    xs = out[jnp.asarray(setup.free, dtype=jnp.int32)]
    return jnp.clip(xs, setup.lower, setup.upper)


@jax.jit
def _solve_starts(x0: Array, setup: TotalScatteringSetup, y: Array, sigma: Array) -> Any:
    from twin.fit.lm import levenberg_marquardt

    def one(x_start: Array) -> Any:
        return levenberg_marquardt(_residual, _linear_start(x_start, setup, y, sigma), setup, y, sigma,
                                   lower=setup.lower, upper=setup.upper, max_iter=80)

    return jax.vmap(one)(x0)


def fit_total_scattering_series(
    data: Observable,
    setup: TotalScatteringSetup,
    *,
    fraction_starts: tuple[float, ...] = (0.1, 0.9),
) -> dict[str, Any]:
    """Fit every frame (no I/O); returns per-frame arrays.

    Returns:
        ``{"names", "units", "free", "values" (n_frames, n_all), "esd" (n_frames, n_all; 0 for fixed),
        "y_calc" (n_frames, n_q), "rwp", "rexp", "chi2", "chi2_reduced", "converged", "n_iter", "correlation"
        (n_frames, n_free, n_free), "warnings", "wall_time_s"}``.
    """
    from twin.fit.stats import fit_statistics, identifiability

    names, free = setup.names(), setup.free
    ci = names.index("crystalline_fraction")
    dt = setup.fixed.dtype
    base = np.asarray(setup.fixed, dtype=np.float64)[list(free)]
    lower, upper = np.asarray(setup.lower, np.float64), np.asarray(setup.upper, np.float64)
    out: dict[str, list] = {k: [] for k in ("values", "esd", "y_calc", "rwp", "rexp", "chi2", "chi2_reduced",
                                            "converged", "n_iter", "correlation")}
    warnings: list[str] = []
    previous = None
    t0 = time.perf_counter()
    for i in range(data.n_frames):
        starts = []
        for c in fraction_starts:
            x = base.copy()
            if ci in free:
                x[free.index(ci)] = c
            starts.append(x)
        if previous is not None:
            starts.append(previous)
        x0 = jnp.asarray(np.clip(np.stack(starts), lower, upper), dt)
        y, s = jnp.asarray(data.values[i], dt), jnp.asarray(data.sigma[i], dt)
        res = _solve_starts(x0, setup, y, s)
        chi2 = np.asarray(res.chi2, np.float64)
        best = int(np.nanargmin(np.where(np.isfinite(chi2), chi2, np.inf)))
        x_best = np.asarray(res.x[best], np.float64)
        previous = x_best
        st = fit_statistics(res.residual[best], res.jacobian[best], y, s)
        full = np.asarray(_full(res.x[best], setup), np.float64)
        esd = np.zeros(len(names))
        esd[list(free)] = np.asarray(st.esd, np.float64)
        # a parameter on a bound: its esd from the covariance is the one-sided curvature; report it, flag it
        at_bound = [names[free[k]] for k in range(len(free))
                    if min(abs(x_best[k] - lower[k]), abs(upper[k] - x_best[k])) <= 1e-6 * max(1.0, abs(x_best[k]))]
        out["values"].append(full)
        out["esd"].append(esd)
        out["y_calc"].append(np.asarray(model_fq(jnp.asarray(full, dt), setup), np.float64))
        out["rwp"].append(float(st.rwp))
        out["rexp"].append(float(st.rexp))
        out["chi2"].append(float(st.chi2))
        out["chi2_reduced"].append(float(st.chi2_reduced))
        out["converged"].append(bool(res.converged[best]))
        out["n_iter"].append(int(res.n_iter[best]))
        out["correlation"].append(np.asarray(st.correlation, np.float64))
        label = data.labels[i]
        if not bool(res.converged[best]):
            warnings.append(f"frame {label}: Levenberg–Marquardt stopped at the iteration limit")
        if at_bound:
            warnings.append(f"frame {label}: on a bound: {', '.join(at_bound)}")
        for w in identifiability(setup.free_names(), np.asarray(st.correlation), np.asarray(st.esd), lower, upper):
            warnings.append(f"frame {label}: {w}")
    result = {k: np.asarray(v) for k, v in out.items()}
    result.update({"names": names, "units": setup.units(), "free": free, "warnings": warnings,
                   "wall_time_s": time.perf_counter() - t0})
    return result


# ------------------------------------------------------------------------------------------------ edge: files
def _summary(data: Observable, fit: dict[str, Any], setup: TotalScatteringSetup) -> dict[str, Any]:
    """The ``fit_result.json`` content (without provenance): per-frame parameters as NAME_<T>C entries."""
    names, units = fit["names"], fit["units"]
    report = ("crystalline_fraction", "coherent_size_nm", "amorphous_size_nm", "u2_A2", "u2_local_A2", "u2_bond_A2",
              "expansion", "scale")
    lims = dict(zip(setup.free_names(), zip(np.asarray(setup.lower), np.asarray(setup.upper), strict=True),
                    strict=True))
    params: dict[str, Any] = {}
    for i, t in enumerate(data.condition("temperature_K")):
        tag = f"{t - 273.15:g}C"
        for name in report:
            k = names.index(name)
            if k not in fit["free"]:
                continue
            v, e = float(fit["values"][i, k]), float(fit["esd"][i, k])
            lo, hi = lims[name]
            params[f"{name}_{tag}"] = {"value": v, "stderr": e,
                                       "interval_90": [float(max(v - _Z90 * e, lo)), float(min(v + _Z90 * e, hi))],
                                       "unit": units[k], "temperature_C": float(t - 273.15)}
    dof = np.full(data.n_frames, max(len(data.axis) - len(fit["free"]), 1))
    fom = {**pooled_figures_of_merit(fit["chi2"], dof, data.values, data.sigma).as_dict(),
           "Rwp_worst_frame": float(np.max(fit["rwp"])), "n_frames": float(data.n_frames)}
    free_names = list(setup.free_names())
    corr = np.mean(fit["correlation"], axis=0)
    series = {"temperature_C": (data.condition("temperature_K") - 273.15).tolist(), "label": list(data.labels),
              "Rwp": fit["rwp"].tolist(), "Rexp": fit["rexp"].tolist(), "chi2_reduced": fit["chi2_reduced"].tolist(),
              "converged": fit["converged"].tolist(), "n_iter": fit["n_iter"].tolist(),
              "values": {n: fit["values"][:, k].tolist() for k, n in enumerate(names)},
              "esd": {n: fit["esd"][:, k].tolist() for k, n in enumerate(names)}}
    picks = sorted({0, data.n_frames // 2, data.n_frames - 1})
    predictive = [{"axis": {"name": "Q", "unit": "1/Å", "values": np.asarray(data.axis.values).tolist()},
                   "observed": np.asarray(data.values)[k].tolist(), "median": fit["y_calc"][k].tolist(),
                   "lower": (fit["y_calc"][k] - _Z90 * data.sigma[k]).tolist(),
                   "upper": (fit["y_calc"][k] + _Z90 * data.sigma[k]).tolist(), "level": 0.9,
                   "label": f"{data.labels[k]}", "quantity": "F(Q)"} for k in picks]
    return {"parameters": params, "figures_of_merit": fom,
            "correlations": {"names": free_names, "matrix": corr.tolist(),
                             "note": "mean over frames of the per-frame correlation matrices"},
            "series": series, "posterior_predictive": predictive,
            "convergence": {"converged": fit["converged"].tolist(), "iterations": fit["n_iter"].tolist(),
                            "wall_time_s": fit["wall_time_s"]},
            "warnings": list(fit["warnings"])}


def run_total_scattering_fit(
    measurements: Any,
    structure_path: str | Path,
    out_dir: str | Path,
    *,
    temperature_pattern: str | None = DEFAULT_TEMPERATURE_PATTERN,
    temperature_unit: str = "degC",
    q_range_inv_ang: tuple[float, float] = (1.6, 22.0),
    r_max_A: float = 60.0,
    bin_width_A: float = 0.04,
    local_radius_A: float = 3.6,
    form_factor_table: str = "pymatgen",
    normalisation: str = "<f>^2",
    n_background: int = 3,
    fixed: dict[str, float] | None = None,
    start: dict[str, float] | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
    source_text: str | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Read the series, fit it, write ``OUT/fit_result.json``, ``OUT/fit_series.csv`` and
    ``OUT/fit_total_scattering.png`` (c(T), D(T), three frames measured vs fitted). Returns the result dict
    with ``path`` added.

    Raises:
        FitError/DataFormatError: bad input, named.
    """
    from instruments.xrd import load_structure
    from mofcore.outputs import new_run_id, output_set
    from twin import __version__
    from twin.datasets import file_sha256
    from twin.fit.result import write_fit_result
    from twin.fit.workflow import relative_path

    data = load_total_scattering_series(measurements, temperature_pattern=temperature_pattern,
                                        temperature_unit=temperature_unit, q_range_inv_ang=q_range_inv_ang)
    structure = load_structure(structure_path)
    setup = make_total_scattering_setup(structure, np.asarray(data.axis.values), r_max_A=r_max_A, bin_width_A=bin_width_A,
                                        local_radius_A=local_radius_A, form_factor_table=form_factor_table,
                                        normalisation=normalisation, n_background=n_background, fixed=fixed,
                                        start=start, bounds=bounds)
    fit = fit_total_scattering_series(data, setup)
    result = _summary(data, fit, setup)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in data.meta["files"]]
    result["measurements"] = [{"path": relative_path(p, out), "sha256": h, "technique": "total-scattering",
                               "temperature_C": float(t - 273.15)}
                              for p, h, t in zip(files, (file_sha256(f) for f in files), data.condition("temperature_K"),
                                                 strict=True)]
    result["model"] = {
        "kind": "total-scattering-two-component", "structure": str(structure_path),
        "structure_sha256": file_sha256(Path(structure_path)), "form_factor_table": form_factor_table,
        "normalisation": setup.normalisation, "r_max_A": setup.r_max_A, "bin_width_A": setup.bin_width_A,
        "local_radius_A": setup.kernel.local_radius_A,
        "q_range_inv_ang": [float(data.axis.values[0]), float(data.axis.values[-1])], "n_background": n_background,
        "fixed": dict(fixed or {}), "free": list(setup.free_names()),
        "envelope": "spherical characteristic function gamma0(r - r0; D) beyond r0 (instruments.xrd.total_scattering)",
        "uniform_density_term": "subtracted (h = g - 1 enveloped), fit starts at the first point of the range"}
    result["provenance"] = {"twin_version": __version__, "command": "twin fit", "fit_file": source_text,
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    run_id = new_run_id()  # one set: moved into OUT only when complete, each file stamped (twin.fit.workflow)
    result["run_id"], result["outputs"] = run_id, ["fit_series.csv"] + (["fit_total_scattering.png"] if plot else [])
    with output_set(out, run_id=run_id, last=("fit_result.json",)) as staged:
        write_fit_result(result, staged.staging)
        _write_csv(staged.path("fit_series.csv"), result["series"], run_id)
        if plot:
            _plot(staged.path("fit_total_scattering.png"), data, fit, run_id=run_id)
    result["path"] = str(out / "fit_result.json")
    return result


def _write_csv(path: Path, series: dict[str, Any], run_id: str | None = None) -> None:
    from twin.fit.workflow import write_columns_csv

    v, e = series["values"], series["esd"]
    columns: dict[str, Any] = {"temperature_C": series["temperature_C"],
                               "crystalline_fraction": v["crystalline_fraction"],
                               "crystalline_fraction_esd": e["crystalline_fraction"],
                               "coherent_size_nm": v["coherent_size_nm"], "coherent_size_nm_esd": e["coherent_size_nm"],
                               "amorphous_size_nm": v["amorphous_size_nm"],
                               "amorphous_size_nm_esd": e["amorphous_size_nm"]}
    for name in v:
        if name not in columns:
            columns[name] = v[name]
            columns[f"{name}_esd"] = e[name]
    columns.update({"Rwp": series["Rwp"], "Rexp": series["Rexp"], "chi2_reduced": series["chi2_reduced"],
                    "converged": series["converged"]})
    write_columns_csv(path, columns, run_id=run_id)


def _plot(path: Path, data: Observable, fit: dict[str, Any], *, run_id: str | None = None) -> None:
    import matplotlib

    from twin.fit.workflow import png_metadata

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = fit["names"]
    t = data.condition("temperature_K") - 273.15
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    k = names.index("crystalline_fraction")
    axes[0].errorbar(t, fit["values"][:, k], yerr=fit["esd"][:, k], fmt="o-", ms=3, lw=0.8, color="#0072B2")
    axes[0].set_xlabel("temperature (°C)")
    axes[0].set_ylabel("long-coherence (crystalline) fraction c")
    axes[0].set_ylim(-0.05, 1.05)
    c = fit["values"][:, names.index("crystalline_fraction")]
    for name, colour, label in (("coherent_size_nm", "#D55E00", "D_cryst (where c > 0.05)"),
                                ("amorphous_size_nm", "#009E73", "D_amorph (where c < 0.95)")):
        k = names.index(name)
        shown = c > 0.05 if name == "coherent_size_nm" else c < 0.95  # a component's size means nothing without it
        if np.any(shown):
            axes[1].errorbar(t[shown], fit["values"][shown, k], yerr=fit["esd"][shown, k], fmt="o-", ms=3, lw=0.8,
                             color=colour, label=label)
    axes[1].set_xlabel("temperature (°C)")
    axes[1].set_ylabel("coherence diameter (nm)")
    axes[1].legend(fontsize=8)
    picks = sorted({0, data.n_frames // 2, data.n_frames - 1})
    q = np.asarray(data.axis.values)
    for j, i in enumerate(picks):
        off = 1.5 * j
        axes[2].plot(q, data.values[i] + off, ".", ms=1.5, color="#555555")
        axes[2].plot(q, fit["y_calc"][i] + off, "-", lw=0.8, color="#CC3311",
                     label="fit" if j == 0 else None)
        axes[2].text(q[-1], off + 0.1, data.labels[i], ha="right", fontsize=8)
    axes[2].set_xlabel("Q (1/Å)")
    axes[2].set_ylabel("F(Q) (offset)")
    axes[2].legend(fontsize=8)
    fig.suptitle("total-scattering fit: two-component coherence model (docs/fit.md)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata=png_metadata(run_id))
    plt.close(fig)
