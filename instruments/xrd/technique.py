r"""Powder XRD and X-ray total scattering on the technique seam (:mod:`instruments.technique`).

**Powder XRD from a run** (:func:`simulate_xrd`). Per phase p and frame f, from :class:`TwinFrames`:

* **amount** — number of unit cells in the phase, :math:`N_{p,f} = x_{p,f}\,N_{sites}\,b^3` (phase fraction x,
  sites inside the crystals, block factor b); the forward model weights each phase by its cells, so
  intensities follow the weight fractions through the cell masses in the structure factors.
* **lattice** — each phase keeps its own structure (CIF) and setting; its lattice parameters follow the mean η
  of its sites through the cell volume of the breathing path,
  :math:`V(\eta) = V_c + (V_o - V_c)\,h(\eta)`, :math:`h = \eta^2(3-2\eta)`, scaling the endpoint cell
  isotropically by :math:`(V(\bar\eta_p)/V(\eta^{(0)}_p))^{1/3}`. The anisotropy of the real breathing
  (MIL-53: b shrinks while c grows) is not carried by this scaling; it affects peak *shifts inside* a phase,
  not the phase-coexistence peaks, which come from the two endpoint structures.
* **microstrain** — the spread of η inside the phase, through :math:`\partial a/\partial\eta` of the same scaling
  (the forward model turns :math:`\sigma_\eta\,\partial\ln d/\partial\eta` into Gaussian strain broadening).
* **coherent domains** — the engine's histogram of coherent-domain sizes (bins of :math:`2^k` … :math:`2^{k+1}-1`
  sites, cut by phase boundaries and broken links) becomes a size distribution of cube-shaped domains of edge
  :math:`(n\,V_{site})^{1/3}` at the geometric bin centre :math:`n = 2^{k+1/2}`, so size broadening follows
  the whole distribution, not one Scherrer number.

The whole series is one jitted, batched call (:func:`instruments.xrd.pattern_series`).

**Measured series** (:func:`align_xrd`): a folder of pattern files with a conditions log, or one HDF5/NeXus
file, read through :func:`instruments.io.read_measurement`; a Q axis is converted to 2θ with the instrument's
wavelength; every frame must share one grid; uncertainties are the file's or Poisson's.

**Total scattering** is fitted from measured F(Q) series (:mod:`twin.fit.total_scattering`, settings in the fit
file); a forward model of F(Q) from a run is not part of this version, so ``twin observe`` does not offer it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from instruments.xrd.instrument import load_instrument
from instruments.xrd.pattern import Instrument, make_phase_state, pattern_series
from instruments.xrd.structure import d_min_for, phase_from_cif
from mofcore.breathing import breathing_path, breathing_path_derivative
from mofcore.errors import DataFormatError
from mofcore.stats import poisson_sigma

__all__ = ["XRD", "TOTAL_SCATTERING", "XrdSettings", "load_xrd_settings", "xrd_phase_states", "simulate_xrd",
           "align_xrd"]

#: trajectory summaries the XRD forward model reads
XRD_SUMMARIES = ("phase_fraction", "eta_mean", "eta_std", "domain_size_histogram")


class XrdSettings:
    """A diffractometer: the :class:`Instrument` (wavelengths, profile, geometry, background) and its 2θ scan [deg]."""

    def __init__(self, instrument: Instrument, two_theta_deg: np.ndarray, source: str) -> None:
        self.instrument = instrument
        self.two_theta_deg = np.asarray(two_theta_deg, dtype=np.float64)
        self.source = source

    @property
    def wavelength_A(self) -> float:
        """The shortest wavelength of the source (Kα1) [Å]."""
        return float(np.min(np.asarray(self.instrument.wavelengths_A)))


def load_xrd_settings(path: str | Path) -> XrdSettings:
    """An instrument TOML file (docs/xrd.md) → :class:`XrdSettings`."""
    instrument, grid = load_instrument(path)
    return XrdSettings(instrument, grid, str(path))


def xrd_phase_states(frames: TwinFrames, structures: tuple) -> tuple:
    """One :class:`~instruments.xrd.PhaseState` per phase with a leading (n_frames,) axis on every leaf."""
    fraction = frames.summary("phase_fraction", "XRD")
    eta_mean = frames.summary("eta_mean", "XRD")
    eta_std = frames.summary("eta_std", "XRD")
    histogram = frames.summary("domain_size_histogram", "XRD").astype(np.float64)
    if fraction.shape[1] != len(frames.phase_names):
        raise DataFormatError(f"{frames.source}: the trajectory has {fraction.shape[1]} phases but material "
                              f"{frames.material} has {frames.phase_names}")
    n_frames, block = fraction.shape[0], frames.block
    volumes = list(frames.volume_A3)
    v_closed, v_open = volumes[0], volumes[-1]
    site_volume = [v * block**3 for v in volumes]
    bin_sites = 2.0 ** (np.arange(histogram.shape[-1]) + 0.5)
    states = []
    for p, structure in enumerate(structures):
        endpoint_eta = 0.0 if p == 0 else 1.0
        eta_p = np.where(np.isfinite(eta_mean[:, p]), eta_mean[:, p], endpoint_eta)
        volume = breathing_path(eta_p, v_closed, v_open)
        dvolume = breathing_path_derivative(eta_p, v_closed, v_open)
        scale = (volume / volumes[p]) ** (1.0 / 3.0)
        lattice = np.tile(np.asarray(structure.lattice, dtype=np.float64), (n_frames, 1))
        lattice[:, :3] *= scale[:, None]
        dlat = np.zeros_like(lattice)
        dlat[:, :3] = lattice[:, :3] * (dvolume / (3.0 * volume))[:, None]
        weights = histogram[:, p, :].copy()
        weights[weights.sum(axis=1) == 0, -1] = 1.0  # a phase with no sites: any size (its cell count is zero)
        states.append(make_phase_state(
            lattice,
            cell_count=fraction[:, p] * frames.n_sites * block**3,
            dlattice_deta=dlat,
            eta_std=np.nan_to_num(eta_std[:, p]),
            size_A=np.tile((bin_sites * site_volume[p]) ** (1.0 / 3.0), (n_frames, 1)),
            size_weight=weights,
            domain_aspect=np.ones((n_frames, 3)),
            march_dollase_ratio=np.ones(n_frames),
            preferred_hkl=np.tile([0.0, 0.0, 1.0], (n_frames, 1)),
            microstrain=np.zeros(n_frames),
        ))
    return tuple(states)


def simulate_xrd(frames: TwinFrames, settings: XrdSettings, two_theta_deg: Any = None, *,
                 batch_size: int = 16) -> Observable:
    """The pattern of every frame of a run on the instrument's scan, or on ``two_theta_deg`` [deg]."""
    grid = settings.two_theta_deg if two_theta_deg is None else np.asarray(two_theta_deg, dtype=np.float64)
    lam_max, tth_max = float(np.max(np.asarray(settings.instrument.wavelengths_A))), float(grid[-1])
    origin = f"{settings.source}: λ = {lam_max:g} Å with 2θ up to {tth_max:g}°"
    d_min = d_min_for(lam_max, tth_max)
    structures = tuple(phase_from_cif(path, d_min, d_min_origin=origin) for path in frames.structure_paths)
    states = xrd_phase_states(frames, structures)
    observable = pattern_series(structures, states, settings.instrument, jnp.asarray(grid), batch_size=batch_size)
    return Observable(
        axis=Axis(np.asarray(grid), "two_theta", "deg"),
        values=np.asarray(observable.values, dtype=np.float64),
        conditions={k: np.asarray(v, dtype=np.float64) for k, v in frames.conditions.items()},
        technique="xrd", quantity="intensity", unit="arb.",
        attrs=(("wavelength_A", settings.wavelength_A),),
        source=frames.source,
    )


def align_xrd(path: str | Path, settings: XrdSettings | None = None, *, wavelength_A: float | None = None) -> Observable:
    """A measured in situ series on one 2θ grid [deg], with the conditions of each frame.

    The wavelength that converts a Q axis to 2θ is ``wavelength_A``, else the instrument's (``settings``), else
    the one the files state.

    Raises:
        DataFormatError: unreadable files (from the readers), a single pattern instead of a series, frames on
            different grids, an axis that is neither 2θ nor Q, a Q axis without a wavelength, or uncertainties
            that are not positive.
    """
    from instruments.io import read_measurement
    from instruments.measurement import MeasurementSeries

    path = Path(path)
    series = read_measurement(path)
    if not isinstance(series, MeasurementSeries):
        raise DataFormatError(f"{path}: one pattern, but an in situ series needs several (a folder of frames with "
                              "a conditions log, or an HDF5/NeXus file with n_frames × n_points)")
    items = list(series.items)
    wavelength = wavelength_A or (settings.wavelength_A if settings is not None else None)
    if items[0].axis.name == "q":
        wavelength = wavelength or next((m.wavelength_ang for m in items if m.wavelength_ang), None)
        if wavelength is None:
            raise DataFormatError(f"{path}: the series is on a Q axis; the instrument's wavelength is needed to "
                                  "convert it")
        items = [m.to_two_theta(wavelength) for m in items]
    if items[0].axis.name != "two_theta":
        raise DataFormatError(f"{path}: expected a 2θ (deg) or Q axis for powder XRD, got {items[0].axis.name} "
                              f"({items[0].axis.unit})")
    grid = np.asarray(items[0].axis.values, dtype=np.float64)
    labels = tuple(series.labels or [str(i) for i in range(len(items))])
    for label, m in zip(labels, items, strict=True):
        other = np.asarray(m.axis.values, dtype=np.float64)
        if other.shape != grid.shape or not np.allclose(other, grid, rtol=0.0, atol=1e-6):
            raise DataFormatError(f"{path}: frame {label} is on a different 2θ grid than the first frame "
                                  f"({other.size} points {other[0]:g}..{other[-1]:g}° against {grid.size} points "
                                  f"{grid[0]:g}..{grid[-1]:g}°); a series needs one grid")
    values = np.stack([np.asarray(m.values, dtype=np.float64) for m in items])
    sigma = np.stack([poisson_sigma(np.asarray(m.values, dtype=np.float64)) if m.uncertainties is None
                      else np.asarray(m.uncertainties, dtype=np.float64) for m in items])
    if np.any(~(sigma > 0)):
        raise DataFormatError(f"{path}: standard uncertainties must be positive")

    def condition(name: str, scale: float = 1.0) -> np.ndarray:
        return np.asarray([float(m.conditions.get(name, np.nan)) * scale for m in items])

    stated = next((m.wavelength_ang for m in items if m.wavelength_ang), None)
    return Observable(
        axis=Axis(grid, "two_theta", "deg"), values=values, sigma=sigma,
        conditions={"time_s": condition("time_s"), "pressure_bar": condition("pressure_Pa", 1e-5),
                    "temperature_K": condition("temperature_K"),
                    "relative_humidity": condition("relative_humidity")},
        technique="xrd", quantity="intensity", unit="counts",
        attrs=(("wavelength_A", float(stated)),) if stated else (),
        labels=labels, source=str(path),
    )


XRD = Technique(
    name="xrd",
    title="Powder X-ray diffraction",
    axis_name="two_theta",
    axis_unit="deg",
    fit_names=("xrd-series",),
    load_settings=load_xrd_settings,
    simulate=simulate_xrd,
    align=align_xrd,
    fit="twin.fit.problems:XRD_SERIES",
    panel="reports.sections.spectra:spectral_section",
    summary="powder pattern of every frame (instrument file: docs/xrd.md)",
)

TOTAL_SCATTERING = Technique(
    name="total-scattering",
    title="X-ray total scattering",
    axis_name="q",
    axis_unit="1/Å",
    fit="twin.fit.problems:TOTAL_SCATTERING",
    panel="reports.sections.spectra:spectral_section",
    summary="F(Q) series fitted through the Debye equation (docs/fit.md)",
)
