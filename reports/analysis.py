r"""Numbers the report derives from a run: protocol branches, switching points, agreement indices, domain sizes.

Everything here is vectorised NumPy on per-frame series or one field frame (the report is an I/O edge, not
a hot loop); no Python loop runs over frames, points or sites.

* **Branches of a protocol.** Each frame is assigned to the rising (adsorption / heating) or falling
  (desorption / cooling) branch of its driving condition by the sign of the last non-zero change; frames on
  a hold inherit the branch they were reached on. A new *cycle* starts at every falling → rising turn.
* **Switching points.** The driving value at which a phase fraction crosses ½, linearly interpolated
  between the two frames that bracket the crossing, with the branch and cycle it happened on. The
  hysteresis width is the difference between the mean rising-branch and falling-branch switching value
  (the usual definition for breathing MOFs, e.g. Boutin et al., Angew. Chem. Int. Ed. 48, 8314 (2009)).
* **Agreement indices** of a measured powder pattern against a simulated one, as defined for Rietveld
  refinement (L. B. McCusker, R. B. Von Dreele, D. E. Cox, D. Louër, P. Scardi, J. Appl. Cryst. 32, 36
  (1999), eqs. 5–7; B. H. Toby, Powder Diffr. 21, 67 (2006)).
* **Coherent domains** in a field frame: face-connected clusters of sites of one phase (η ≥ ½ open,
  η < ½ closed) or, when the run stores a ``domain`` id field, its labels; size as the equivalent-sphere
  diameter :math:`d = (6 N V_\mathrm{site}/\pi)^{1/3}` of a domain of N sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "Crossing",
    "branches",
    "cycle_index",
    "crossings",
    "hysteresis_width",
    "agreement_indices",
    "domain_sizes_nm",
    "choose_driving",
]


def branches(x: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Branch of every frame of a driving series: +1 rising, −1 falling (holds inherit the last direction).

    Args:
        x: driving condition per frame (pressure, temperature…), (n_frames,).
        rtol: changes smaller than ``rtol`` × range count as a hold.

    Returns:
        int array (n_frames,) of ±1. The frames before the first change take the first change's sign;
        a series that never changes is all +1.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.ptp(x)) if x.size else 0.0
    step = np.diff(x, prepend=x[:1])
    sign = np.where(np.abs(step) > rtol * max(span, np.finfo(float).tiny), np.sign(step), 0).astype(np.int64)
    nonzero = np.nonzero(sign)[0]
    if nonzero.size == 0:
        return np.ones_like(sign)
    # forward fill: index of the last non-zero sign at or before each frame (first one for the leading holds)
    last = np.maximum.accumulate(np.where(sign != 0, np.arange(sign.size), -1))
    last = np.where(last < 0, nonzero[0], last)
    return sign[last]


def cycle_index(branch: np.ndarray) -> np.ndarray:
    """Cycle number (0, 1, …) of every frame: increments at each falling → rising turn of ``branch``."""
    branch = np.asarray(branch)
    turns = np.concatenate([[0], (branch[1:] > 0) & (branch[:-1] < 0)]).astype(np.int64)
    return np.cumsum(turns)


@dataclass(frozen=True)
class Crossing:
    """A phase fraction crossing ½: where (driving value, time), on which branch and cycle, rising or falling."""

    value: float
    time_s: float
    frame: int
    branch: int
    cycle: int
    fraction_rising: bool


def crossings(
    fraction: np.ndarray, x: np.ndarray, time_s: np.ndarray, level: float = 0.5
) -> list[Crossing]:
    """Every crossing of ``fraction`` through ``level`` with the driving value and time interpolated linearly.

    Args:
        fraction: phase fraction per frame, (n_frames,).
        x: driving condition per frame, (n_frames,).
        time_s: frame times [s], (n_frames,).
        level: threshold (½: equal amounts of both phases).

    Returns:
        Crossings in time order; ``frame`` is the first frame at or past the level.
    """
    f = np.asarray(fraction, dtype=np.float64) - level
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    if f.size < 2:
        return []
    branch = branches(x)
    cycle = cycle_index(branch)
    above = f >= 0
    hits = np.nonzero(above[1:] != above[:-1])[0]
    f0, f1 = f[hits], f[hits + 1]
    w = np.where(f1 != f0, -f0 / np.where(f1 != f0, f1 - f0, 1.0), 0.0)
    xv = x[hits] + w * (x[hits + 1] - x[hits])
    tv = t[hits] + w * (t[hits + 1] - t[hits])
    return [
        Crossing(float(a), float(b), int(i + 1), int(branch[i + 1]), int(cycle[i + 1]), bool(f1_ > f0_))
        for a, b, i, f1_, f0_ in zip(xv, tv, hits, f1, f0)
    ]


def hysteresis_width(found: list[Crossing]) -> float | None:
    """Mean rising-branch minus mean falling-branch switching value, or ``None`` without both branches."""
    up = [c.value for c in found if c.branch > 0]
    down = [c.value for c in found if c.branch < 0]
    if not up or not down:
        return None
    return float(np.mean(up) - np.mean(down))


def agreement_indices(
    y_obs: np.ndarray, y_calc: np.ndarray, sigma: np.ndarray | None = None, fit_scale: bool = True, n_params: int = 1
) -> dict[str, float]:
    r"""Rietveld agreement indices of one observed pattern against a calculated one.

    .. math::
        R_{wp} = \sqrt{\frac{\sum_i w_i (y_i^o - c\,y_i^c)^2}{\sum_i w_i (y_i^o)^2}},\quad
        R_{exp} = \sqrt{\frac{N - P}{\sum_i w_i (y_i^o)^2}},\quad
        R_p = \frac{\sum_i |y_i^o - c\,y_i^c|}{\sum_i y_i^o},\quad \chi^2 = (R_{wp}/R_{exp})^2

    with :math:`w_i = 1/\sigma_i^2` (counting statistics :math:`\sigma_i^2 = \max(y_i^o, 1)` when no
    uncertainties are given) and the weighted least-squares scale
    :math:`c = \sum w y^o y^c / \sum w (y^c)^2` when ``fit_scale`` (else c = 1). Reference: McCusker et al.,
    J. Appl. Cryst. 32, 36 (1999), eqs. 5–7.

    Args:
        y_obs: observed intensities, (n_points,) (counts, or the same arbitrary units as ``sigma``).
        y_calc: calculated intensities, (n_points,).
        sigma: standard uncertainties of ``y_obs``, (n_points,), or ``None``.
        fit_scale: refine one scale factor (counted in ``n_params``).
        n_params: P, the number of refined parameters for R_exp.

    Returns:
        ``{"Rwp", "Rp", "Rexp", "chi2", "scale"}`` (the R values as fractions, not percent).
    """
    yo = np.asarray(y_obs, dtype=np.float64)
    yc = np.asarray(y_calc, dtype=np.float64)
    var = np.maximum(yo, 1.0) if sigma is None else np.square(np.asarray(sigma, dtype=np.float64))
    w = 1.0 / var
    scale = float(np.sum(w * yo * yc) / np.sum(w * yc * yc)) if fit_scale and np.any(yc) else 1.0
    resid = yo - scale * yc
    denom = float(np.sum(w * yo * yo))
    rwp = float(np.sqrt(np.sum(w * resid * resid) / denom))
    rexp = float(np.sqrt(max(yo.size - n_params, 1) / denom))
    rp = float(np.sum(np.abs(resid)) / np.sum(np.abs(yo)))
    return {"Rwp": rwp, "Rp": rp, "Rexp": rexp, "chi2": (rwp / rexp) ** 2, "scale": scale}


def domain_sizes_nm(
    eta: np.ndarray,
    mask: np.ndarray,
    cell_A: np.ndarray,
    domain: np.ndarray | None = None,
    threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    r"""Equivalent-sphere diameters of the coherent domains of each phase in one field frame.

    Domains are face-connected (6-neighbour) clusters of sites with η ≥ ``threshold`` ("open") or
    η < ``threshold`` ("closed") inside ``mask``; with a ``domain`` id field, sites sharing an id form a
    domain and take the phase of their mean η. For a powder (4-D ``site_shape``) crystals are labelled
    separately (no connection across the crystal axis). :math:`d = (6 N a b c/\pi)^{1/3}` [nm].

    Args:
        eta: order parameter, ``site_shape``.
        mask: bool, ``site_shape``.
        cell_A: site edge lengths (a, b, c) [Å].
        domain: optional integer domain ids, ``site_shape``.
        threshold: η separating the phases.

    Returns:
        ``{"closed": d_nm, "open": d_nm}``, each 1-D (one entry per domain, unsorted).
    """
    eta = np.asarray(eta)
    mask = np.asarray(mask, dtype=bool)
    v_site_nm3 = float(np.prod(np.asarray(cell_A, dtype=np.float64))) * 1e-3

    def diameter(counts: np.ndarray) -> np.ndarray:
        return (6.0 * counts.astype(np.float64) * v_site_nm3 / np.pi) ** (1.0 / 3.0)

    if domain is not None:
        ids = np.asarray(domain).astype(np.int64)[mask]
        _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        mean_eta = np.bincount(inverse, weights=eta[mask].astype(np.float64)) / counts
        return {"closed": diameter(counts[mean_eta < threshold]), "open": diameter(counts[mean_eta >= threshold])}
    structure = ndimage.generate_binary_structure(3, 1)
    if eta.ndim == 4:  # no connection along the crystal axis
        structure = np.stack([np.zeros_like(structure), structure, np.zeros_like(structure)])
    elif eta.ndim != 3:
        structure = ndimage.generate_binary_structure(eta.ndim, 1)
    result = {}
    for name, sel in (("closed", mask & (eta < threshold)), ("open", mask & (eta >= threshold))):
        labels, n = ndimage.label(sel, structure=structure)
        counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        result[name] = diameter(counts[counts > 0])
    return result


def choose_driving(
    time_s: np.ndarray, pressure_bar: np.ndarray, temperature_K: np.ndarray, relative_humidity: np.ndarray
) -> tuple[str, np.ndarray, str]:
    """The condition that drives the protocol: the one with the largest relative variation.

    Returns:
        ``(name, values, unit)`` with name ``"pressure"`` (bar), ``"temperature"`` (K), ``"humidity"`` (%)
        or ``"time"`` (s) when no condition changes.
    """
    candidates = [
        ("pressure", np.asarray(pressure_bar, dtype=np.float64), "bar"),
        ("temperature", np.asarray(temperature_K, dtype=np.float64), "K"),
        ("humidity", 100.0 * np.asarray(relative_humidity, dtype=np.float64), "%"),
    ]
    best, best_score = None, 0.0
    for name, values, unit in candidates:
        if values.size == 0:
            continue
        span = float(np.ptp(values))
        scale = max(float(np.max(np.abs(values))), 1e-12)
        score = span / scale
        if score > 1e-6 and score > best_score:
            best, best_score = (name, values, unit), score
    return best if best is not None else ("time", np.asarray(time_s, dtype=np.float64), "s")
