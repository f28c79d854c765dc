r"""From a trajectory to what a powder diffractometer records at every frame.

This is the glue between the twin and :mod:`instruments.xrd`: it reads the per-frame summaries of a
trajectory lazily and turns them into one :class:`~instruments.xrd.PhaseState` per phase with a leading
frame axis, then evaluates the whole series in one jitted, batched call
(:func:`instruments.xrd.pattern_series`).

Per phase p and frame f:

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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from instruments.series_io import write_xrd_series
from instruments.xrd import load_instrument, make_phase_state, pattern_series, phase_from_cif
from instruments.xrd.structure import d_min_for
from twin.atomic import atomic_path
from twin.errors import DataFormatError
from twin.material import Material, load_material
from twin.trajectory import Trajectory

__all__ = ["XrdSeries", "xrd_phase_states", "simulate_xrd_series", "observe_xrd", "attach_measured_xrd",
           "write_first_last_csv"]


@dataclass(frozen=True)
class XrdSeries:
    """Simulated pattern of every frame with the frame conditions."""

    two_theta_deg: np.ndarray
    intensity: np.ndarray  # (n_frames, n_points)
    time_s: np.ndarray
    pressure_bar: np.ndarray
    temperature_K: np.ndarray
    wavelength_A: float


def _volume_path(eta: np.ndarray, v_closed: float, v_open: float) -> np.ndarray:
    h = eta**2 * (3.0 - 2.0 * eta)
    return v_closed + (v_open - v_closed) * h


def _dvolume_deta(eta: np.ndarray, v_closed: float, v_open: float) -> np.ndarray:
    return (v_open - v_closed) * 6.0 * eta * (1.0 - eta)


def xrd_phase_states(traj: Trajectory, material: Material, structures) -> tuple:
    """One :class:`PhaseState` per phase with a leading (n_frames,) axis on every leaf."""
    needed = ("phase_fraction", "eta_mean", "eta_std", "domain_size_histogram")
    missing = [name for name in needed if name not in traj.summary_names]
    if missing:
        raise DataFormatError(f"{traj.path}: the trajectory lacks the summaries {', '.join(missing)} needed for XRD")
    if len(material.phases) != len(traj.phases):
        raise DataFormatError(
            f"{traj.path}: the trajectory has phases {traj.phases} but material {material.name} has "
            f"{tuple(p.name for p in material.phases)}"
        )
    block = int(traj._h5["lattice"].attrs.get("block", 1))
    n_sites = float(traj.mask.sum())
    fraction = traj.summary("phase_fraction")
    eta_mean = traj.summary("eta_mean")
    eta_std = traj.summary("eta_std")
    histogram = traj.summary("domain_size_histogram").astype(np.float64)
    n_frames = fraction.shape[0]
    volumes = [p.volume_A3 for p in material.phases]
    v_closed, v_open = volumes[0], volumes[-1]
    site_volume = [v * block**3 for v in volumes]
    n_bins = histogram.shape[-1]
    bin_sites = 2.0 ** (np.arange(n_bins) + 0.5)
    states = []
    for p, structure in enumerate(structures):
        endpoint_eta = 0.0 if p == 0 else 1.0
        eta_p = np.where(np.isfinite(eta_mean[:, p]), eta_mean[:, p], endpoint_eta)
        scale = (_volume_path(eta_p, v_closed, v_open) / volumes[p]) ** (1.0 / 3.0)
        lattice0 = np.asarray(structure.lattice, dtype=np.float64)
        lattice = np.tile(lattice0, (n_frames, 1))
        lattice[:, :3] *= scale[:, None]
        dlat = np.zeros_like(lattice)
        dlat[:, :3] = lattice[:, :3] * (_dvolume_deta(eta_p, v_closed, v_open) / (3.0 * _volume_path(eta_p, v_closed, v_open)))[:, None]
        weights = histogram[:, p, :]
        empty = weights.sum(axis=1) == 0
        weights[empty, -1] = 1.0  # a phase with no sites: any size (its cell count is zero)
        sizes = np.tile((bin_sites * site_volume[p]) ** (1.0 / 3.0), (n_frames, 1))
        states.append(
make_phase_state(
                lattice,
                cell_count=fraction[:, p] * n_sites * block**3,
                dlattice_deta=dlat,
                eta_std=np.nan_to_num(eta_std[:, p]),
                size_A=sizes,
                size_weight=weights,
                domain_aspect=np.ones((n_frames, 3)),
                march_dollase_ratio=np.ones(n_frames),
                preferred_hkl=np.tile([0.0, 0.0, 1.0], (n_frames, 1)),
                microstrain=np.zeros(n_frames),
            )
        )
    return tuple(states)


def simulate_xrd_series(trajectory_path: str | Path, instrument_path: str | Path, *, two_theta_deg=None,
                        batch_size: int = 16) -> XrdSeries:
    """Pattern of every frame of a trajectory for the diffractometer described by an instrument file, on the
    instrument's scan or on ``two_theta_deg`` [deg] (e.g. the points of a measured series)."""
    instrument, grid = load_instrument(instrument_path)
    if two_theta_deg is not None:
        grid = np.asarray(two_theta_deg, dtype=np.float64)
    with Trajectory(trajectory_path) as traj:
        material_name = str(traj.provenance.get("material", ""))
        material = load_material(material_name)
        wavelength = float(np.min(np.asarray(instrument.wavelengths_A)))
        lam_max, tth_max = float(np.max(np.asarray(instrument.wavelengths_A))), float(grid[-1])
        d_min = d_min_for(lam_max, tth_max)
        origin = f"{instrument_path}: λ = {lam_max:g} Å with 2θ up to {tth_max:g}°"
        structures = tuple(phase_from_cif(phase.structure, d_min, d_min_origin=origin) for phase in material.phases)
        states = xrd_phase_states(traj, material, structures)
        observable = pattern_series(structures, states, instrument, jnp.asarray(grid), batch_size=batch_size)
        guests_pressure = traj.partial_pressure_Pa.sum(axis=1) if traj.partial_pressure_Pa.size else np.zeros(traj.n_frames)
        return XrdSeries(
            two_theta_deg=np.asarray(grid),
            intensity=np.asarray(observable.values, dtype=np.float64),
            time_s=np.asarray(traj.time_s),
            pressure_bar=np.asarray(guests_pressure) / 1e5,
            temperature_K=np.asarray(traj.temperature_K),
            wavelength_A=wavelength,
        )


def observe_xrd(out_dir: str | Path, instrument_path: str | Path, measured=None) -> Path:
    """Write ``OUT/observables/xrd.h5`` for the run in ``out_dir``; returns its path.

    With ``measured`` (a :class:`twin.fit.xrd_series.XrdSeriesData`) the series is simulated on the measured
    2θ points and the measured frames are stored beside it, each matched to the simulated frame nearest in
    time (:func:`attach_measured_xrd`), for the report's overlay.
    """
    out_dir = Path(out_dir)
    if measured is not None and not np.all(np.isfinite(np.asarray(measured.time_s, dtype=np.float64))):
        raise DataFormatError(f"{measured.source}: frames without a time; the conditions log needs a time column "
                              "(e.g. time_s) to match measured and simulated frames")  # before anything is written
    series = simulate_xrd_series(out_dir / "trajectory.h5", instrument_path,
                                 two_theta_deg=None if measured is None else measured.two_theta_deg)
    path = write_xrd_series(
        out_dir / "observables" / "xrd.h5",
        two_theta_deg=series.two_theta_deg,
        intensity=series.intensity,
        time_s=series.time_s,
        pressure_bar=series.pressure_bar,
        temperature_K=series.temperature_K,
        wavelength_A=series.wavelength_A,
    )
    if measured is not None:
        attach_measured_xrd(path, measured, strict=True)
    return path


def attach_measured_xrd(xrd_path: str | Path, measured, *, strict: bool = False) -> Path | None:
    """Store a measured series in a run's ``observables/xrd.h5``, each frame matched to the simulated frame
    nearest in time.

    Args:
        xrd_path: the simulated series file.
        measured: :class:`twin.fit.xrd_series.XrdSeriesData` on the same 2θ grid.
        strict: raise when the grids differ or the measured frames have no times (else return ``None``).

    Raises:
        DataFormatError: (strict) different grids, or frames without a time.
    """
    from instruments.series_io import read_xrd_series

    sim = read_xrd_series(xrd_path)
    grid = np.asarray(measured.two_theta_deg, dtype=np.float64)
    if sim.axis.shape != grid.shape or not np.allclose(sim.axis, grid, atol=1e-6):
        if strict:
            raise DataFormatError(f"{measured.source}: the measured 2θ grid ({grid.size} points) differs from the "
                                  f"simulated one in {xrd_path} ({sim.axis.size} points)")
        return None
    times = np.asarray(measured.time_s, dtype=np.float64)
    if not np.all(np.isfinite(times)):
        if strict:
            raise DataFormatError(f"{measured.source}: frames without a time; the conditions log needs a time "
                                  "column (e.g. time_s) to match measured and simulated frames")
        return None
    index = np.argmin(np.abs(sim.time_s[None, :] - times[:, None]), axis=1)
    return write_xrd_series(xrd_path, two_theta_deg=sim.axis, intensity=sim.intensity, time_s=sim.time_s,
                            pressure_bar=sim.pressure_bar, temperature_K=sim.temperature_K,
                            wavelength_A=sim.wavelength_A, measured_intensity=measured.counts,
                            measured_frame_index=index, measured_sigma=measured.sigma)


def write_first_last_csv(xrd_path: str | Path) -> list[Path]:
    """CSV files of the first and last simulated pattern beside ``xrd.h5`` (columns two_theta_deg, intensity)."""
    import pandas as pd

    from instruments.series_io import read_xrd_series

    series = read_xrd_series(xrd_path)
    written = []
    for label, index in (("first", 0), ("last", -1)):
        path = Path(xrd_path).with_name(f"xrd_{label}.csv")
        with atomic_path(path) as tmp:
            pd.DataFrame({"two_theta_deg": series.axis, "intensity": series.intensity[index]}).to_csv(tmp, index=False)
        written.append(path)
    return written
