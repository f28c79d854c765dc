r"""Numbers the report derives from a run: protocol branches, switching points, agreement indices, domain sizes.

Everything here is vectorised NumPy on per-frame series or one field frame (the report is an I/O edge, not
a hot loop); no Python loop runs over frames, points or sites.

* **Branches, cycles, switching points, hysteresis and the driving condition** come from
  :mod:`twin.analysis` (re-exported here), the same code ``twin analyze`` and the fits use.
* **Agreement indices** of a measured powder pattern against a simulated one, as defined for Rietveld
  refinement (L. B. McCusker, R. B. Von Dreele, D. E. Cox, D. Louër, P. Scardi, J. Appl. Cryst. 32, 36
  (1999), eqs. 5–7; B. H. Toby, Powder Diffr. 21, 67 (2006)).
* **Coherent domains** in a field frame: face-connected clusters of sites of one phase (η ≥ ½ open,
  η < ½ closed) or, when the run stores a ``domain`` id field, its labels; size as the equivalent-sphere
  diameter :math:`d = (6 N V_\mathrm{site}/\pi)^{1/3}` of a domain of N sites.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mofcore.stats import chebyshev_basis, figures_of_merit, poisson_sigma, solve_scale_background
from twin.analysis import Crossing, branches, choose_driving, crossings, cycle_index, hysteresis_width

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


def agreement_indices(
    y_obs: np.ndarray,
    y_calc: np.ndarray,
    sigma: np.ndarray | None = None,
    fit_scale: bool = True,
    n_params: int = 0,
    n_background: int = 0,
) -> dict[str, float]:
    r"""Rietveld agreement indices of one observed pattern against a calculated one.

    .. math::
        R_{wp} = \sqrt{\frac{\sum_i w_i (y_i^o - y_i)^2}{\sum_i w_i (y_i^o)^2}},\quad
        R_{exp} = \sqrt{\frac{N - P}{\sum_i w_i (y_i^o)^2}},\quad
        R_p = \frac{\sum_i |y_i^o - y_i|}{\sum_i y_i^o},\quad \chi^2_\nu = (R_{wp}/R_{exp})^2,
        \qquad y_i = c\,y_i^c + \sum_{k<K} b_k T_k(t_i)

    with :math:`w_i = 1/\sigma_i^2` (counting statistics :math:`\sigma_i^2 = \max(y_i^o, 1)` when no
    uncertainties are given). The scale c (when ``fit_scale``, else c = 1) and K = ``n_background``
    Chebyshev background coefficients (t the point index mapped to [−1, 1]) are the weighted linear
    least-squares solution — a simulation knows neither the counting time nor the sample's background — and
    count in P together with ``n_params``. Reference: McCusker et al., J. Appl. Cryst. 32, 36 (1999), eqs. 5–7.
    σ, the solve and R_wp, R_exp, χ²_ν are those of :mod:`mofcore.stats` (:func:`~mofcore.stats.poisson_sigma`,
    :func:`~mofcore.stats.solve_scale_background`, :func:`~mofcore.stats.figures_of_merit`); R_p is local.

    Args:
        y_obs: observed intensities, (n_points,) (counts, or the same arbitrary units as ``sigma``).
        y_calc: calculated intensities, (n_points,).
        sigma: standard uncertainties of ``y_obs``, (n_points,), or ``None``.
        fit_scale: refine one scale factor.
        n_params: further refined parameters counted in P.
        n_background: K, the number of Chebyshev background terms refined with the scale.

    Returns:
        ``{"Rwp", "Rp", "Rexp", "chi2", "scale", "background"}`` (R values as fractions, not percent;
        ``chi2`` is χ²_ν; ``background`` the fitted curve, (n_points,)).
    """
    yo = np.asarray(y_obs, dtype=np.float64)
    yc = np.asarray(y_calc, dtype=np.float64)
    s = poisson_sigma(yo) if sigma is None else np.asarray(sigma, dtype=np.float64)
    t = np.linspace(-1.0, 1.0, yo.size)
    scaled = bool(fit_scale and np.any(yc))
    patterns = yc[None, :] if scaled else np.zeros((0, yo.size))
    coef = solve_scale_background(patterns, yo, s, t, -1.0, 1.0, n_background, offset=None if scaled else yc)
    scale = float(coef[0]) if scaled else 1.0
    background = chebyshev_basis(t, n_background, -1.0, 1.0) @ coef[len(patterns):]
    resid = yo - (scale * yc + background)
    fom = figures_of_merit(resid / s, yo, s, len(coef) + n_params)
    rp = float(np.sum(np.abs(resid)) / np.sum(np.abs(yo)))
    return {"Rwp": float(fom.rwp), "Rp": rp, "Rexp": float(fom.rexp), "chi2": float(fom.chi2_reduced), "scale": scale,
            "background": background}


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
