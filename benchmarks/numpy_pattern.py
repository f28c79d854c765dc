"""The refinement model of :func:`twin.fit.pattern.make_refinement` written in plain NumPy (float64), for the peer
of ``bench_fit.py``: what an lmfit or SciPy user writes for the same whole-pattern model.

Same equations as :mod:`instruments.xrd.pattern` (module docstrings there give the references): Bragg positions
from the reciprocal metric, structure factors with form factors, anomalous terms and Debye–Waller factors,
Lorentz–polarisation, Kα doublet, zero shift and sample displacement, Caglioti Gaussian width, microstrain, size
broadening of a log-normal distribution of box or sphere domains (7 Gauss–Hermite nodes, Gauss–Legendre column
lengths), TCH pseudo-Voigt, Chebyshev background. Evaluated densely on (size nodes × reflections × points)
arrays, no Python loop over reflections or points (only over the phases and the emission lines, as ours).
The March–Dollase factor is 1 here: the refinement holds the preferred-orientation ratio at 1.

The arrays of each phase (atoms, form-factor coefficients, reflection families) are read once from the
project's :class:`~instruments.xrd.PhaseStructure`, so both models see the same reflections and atoms; the
arithmetic below is independent of the JAX code. ``bench_fit.py`` reports the largest relative difference
between the two on the benchmark's parameter vectors.
"""

from __future__ import annotations

import numpy as np

_LN2 = np.log(2.0)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(4)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(7)
_GH_W = _GH_W / _GH_W.sum()


def _metric(lat):
    a, b, c = lat[:3]
    ca, cb, cg = np.cos(np.deg2rad(lat[3:]))
    return np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]])


class NumpyPattern:
    """``y_calc(x)`` [counts] of a :class:`~twin.fit.pattern.RefinementSetup`, in NumPy float64."""

    def __init__(self, setup):
        from instruments.xrd.form_factors import MOTT_BETHE_PREFACTOR_A
        from twin.fit.pattern import _LATTICE_FREE  # which lattice parameters the setup refines (its layout)

        self.lattice_free = _LATTICE_FREE

        self.mott = float(MOTT_BETHE_PREFACTOR_A)
        self.tth = np.asarray(setup.two_theta_deg, float)
        inst = setup.instrument
        g = lambda v: np.asarray(v, float)  # noqa: E731
        self.lam, self.line_w = g(inst.wavelengths_A), g(inst.line_weights)
        self.cag = (float(inst.caglioti_u), float(inst.caglioti_v), float(inst.caglioti_w))
        self.tch = (float(inst.tch_x), float(inst.tch_y))
        self.disp_over_r = float(inst.displacement_um) * 1e-3 / float(inst.goniometer_radius_mm)
        self.cm2 = np.cos(np.deg2rad(float(inst.monochromator_two_theta_deg))) ** 2
        self.pol = float(inst.polarisation_fraction)
        self.scale = float(inst.scale)
        self.layout, self.zero, self.bg = setup.layout, setup.zero_index, list(setup.background_index)
        self.shape = setup.domain_shape
        self.phases = []
        for p in setup.phases:
            ph = {k: np.asarray(getattr(p, k), float) for k in ("lattice", "frac_coords", "occupancy", "u_iso_A2",
                                                                  "u_star", "ff_a", "ff_b", "ff_c", "f_anomalous",
                                                                  "hkl", "multiplicity")}
            ph["species"] = np.asarray(p.species_index, int)
            ph["mott"] = p.table == "pymatgen"
            ph["system"] = p.crystal_system
            # the parts of F(h) that do not depend on the lattice: phases 2π h·x, anisotropic Debye–Waller
            hx = ph["hkl"] @ ph["frac_coords"].T
            arg = 2.0 * np.pi * (hx - np.floor(hx))
            ph["cos"], ph["sin"] = np.cos(arg), np.sin(arg)
            ph["dw_aniso"] = np.exp(-2.0 * np.pi**2 * np.einsum("pi,aij,pj->pa", ph["hkl"], ph["u_star"], ph["hkl"]))
            self.phases.append(ph)
        t = (2.0 * self.tth - (self.tth[0] + self.tth[-1])) / (self.tth[-1] - self.tth[0])
        self.cheb = np.polynomial.chebyshev.chebvander(t, max(len(self.bg) - 1, 0))[:, : len(self.bg)]

    def _f2(self, ph, d):
        s2 = (0.5 / d) ** 2
        gauss = np.sum(ph["ff_a"][None] * np.exp(-ph["ff_b"][None] * s2[:, None, None]), axis=-1)
        f0 = ph["ff_c"][None] - self.mott * s2[:, None] * gauss if ph["mott"] else ph["ff_c"][None] + gauss
        f_re = (f0 + ph["f_anomalous"][None, :, 0])[:, ph["species"]]
        f_im = np.broadcast_to(ph["f_anomalous"][None, :, 1], f0.shape)[:, ph["species"]]
        w = ph["occupancy"][None] * np.exp(-8.0 * np.pi**2 * ph["u_iso_A2"][None] * s2[:, None]) * ph["dw_aniso"]
        c, s = ph["cos"], ph["sin"]
        re_p, im_p = np.sum(w * (f_re * c - f_im * s), 1), np.sum(w * (f_re * s + f_im * c), 1)
        re_m, im_m = np.sum(w * (f_re * c + f_im * s), 1), np.sum(w * (f_im * c - f_re * s), 1)
        return 0.5 * (re_p**2 + im_p**2 + re_m**2 + im_m**2)

    def _column(self, direction):
        if self.shape == "sphere":
            return np.full(direction.shape[0], 0.75)
        n = np.abs(direction)
        tmax = np.min(1.0 / np.maximum(n, 1e-12), axis=1)
        t = 0.5 * tmax[:, None] * (_GL_X[None] + 1.0)
        cov = np.prod(np.maximum(1.0 - t[:, :, None] * n[:, None, :], 0.0), axis=-1)
        return tmax * np.sum(_GL_W[None] * cov, axis=1)  # 2 · (tmax/2) Σ w V(t) / V with V = 1

    def __call__(self, x):
        x = np.asarray(x, float)
        y = self.cheb @ x[self.bg] if self.bg else np.zeros_like(self.tth)
        for ph, (i_scale, i_lat, i_size, i_width, i_strain) in zip(self.phases, self.layout, strict=True):
            lat = ph["lattice"].copy()
            lat[list(self.lattice_free[ph["system"]])] = x[list(i_lat)]
            if ph["system"] == "cubic":
                lat[1] = lat[2] = lat[0]
            elif ph["system"] in ("tetragonal", "hexagonal", "trigonal"):
                lat[1] = lat[0]
            gmat = _metric(lat)
            gstar = np.linalg.inv(gmat)
            hkl = ph["hkl"]
            d = 1.0 / np.sqrt(np.einsum("pi,ij,pj->p", hkl, gstar, hkl))
            base = self.scale * x[i_scale] / np.sqrt(np.linalg.det(gmat)) * ph["multiplicity"] * self._f2(ph, d)
            gvec = hkl @ np.linalg.cholesky(gstar)
            column = self._column(gvec / np.linalg.norm(gvec, axis=1, keepdims=True))
            width = np.sqrt(x[i_width])
            median_A = 10.0 * x[i_size] * np.exp(-0.5 * width * width)
            sizes = median_A * np.exp(width * _GH_X)  # volume weights _GH_W
            strain = np.sqrt(max(x[i_strain], 0.0))  # the refined parameter is the variance ε²
            for lam, lw in zip(self.lam, self.line_w, strict=True):
                inside = lam < 2.0 * d
                tth = np.where(inside, 2.0 * np.rad2deg(np.arcsin(np.clip(lam / (2.0 * d), 0.0, 1.0))), 90.0)
                theta = np.deg2rad(tth) / 2.0
                center = tth + x[self.zero] - np.rad2deg(2.0 * self.disp_over_r * np.cos(theta))
                pol = (self.pol + (1 - self.pol) * self.cm2 * np.cos(2 * theta) ** 2) / (self.pol + (1 - self.pol) * self.cm2)
                inten = np.where(inside, base * lw * pol / (np.sin(theta) ** 2 * np.cos(theta)), 0.0)
                tan = np.tan(theta)
                u, v, w = self.cag
                g_inst2 = np.maximum(u * tan**2 + v * tan + w, 1e-8)
                g_strain = np.rad2deg(2.0 * np.sqrt(2.0 * _LN2) * 2.0 * strain * tan)
                gg = np.sqrt(g_inst2 + g_strain**2)[None, :]  # (1, n_peaks)
                l_size = np.rad2deg(2.0 / np.pi * lam / ((sizes[:, None] * column[None, :]) * np.cos(theta)[None, :]))
                ll = self.tch[0] * tan[None, :] + self.tch[1] / np.cos(theta)[None, :] + l_size  # (n_sizes, n_peaks)
                fwhm = (gg**5 + 2.69269 * gg**4 * ll + 2.42843 * gg**3 * ll**2 + 4.47163 * gg**2 * ll**3
                        + 0.07842 * gg * ll**4 + ll**5) ** 0.2
                q = ll / fwhm
                frac = 1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3
                uu = ((self.tth[None, None, :] - center[None, :, None]) / fwhm[:, :, None]) ** 2
                prof = (frac[:, :, None] * 2.0 / (np.pi * fwhm[:, :, None]) / (1.0 + 4.0 * uu)
                        + (1.0 - frac[:, :, None]) * 2.0 / fwhm[:, :, None] * np.sqrt(_LN2 / np.pi)
                        * np.exp(-4.0 * _LN2 * uu))
                y = y + np.einsum("s,p,spn->n", _GH_W, inten, prof)
        return y
