r"""Powder XRD and X-ray total scattering on the technique seam (:mod:`instruments.technique`).

**Powder XRD from a run** (:func:`simulate_xrd`). Per phase p and frame f, from :class:`TwinFrames`:

* **amount** — number of unit cells in the phase, :math:`N_{p,f} = x_{p,f}\,N_{sites}\,b^3` (phase fraction x,
  sites inside the crystals, block factor b); the forward model weights each phase by its cells, so
  intensities follow the weight fractions through the cell masses in the structure factors.
* **lattice** — each phase keeps its own structure (CIF) and setting; its lattice parameters follow the mean η
  of its sites through the cell volume of the breathing path,
  :math:`V(\eta) = V_c + (V_o - V_c)\,h(\eta)`, :math:`h = \eta^2(3-2\eta)`. When the two endpoint cells are
  the ends of one wine-rack (MIL-53: :func:`instruments.xrd.breathing_lattice.is_wine_rack_pair`) the cell follows
  the anisotropic path of :mod:`instruments.xrd.breathing_lattice` (the channel's rhombus angle set by V(η): one
  diagonal shrinks while the other grows, the chain axis stays); otherwise (DUT-8, a rigid cell) the endpoint
  cell is scaled isotropically by :math:`(V(\bar\eta_p)/V(\eta^{(0)}_p))^{1/3}`. Either moves peaks *inside* a
  phase; the phase-coexistence peaks come from the two endpoint structures.
* **microstrain** — the spread of η inside the phase, through :math:`\partial a/\partial\eta` of the isotropic
  scaling, for wine-rack hosts too (the forward model turns :math:`\sigma_\eta\,\partial\ln d/\partial\eta` into
  Gaussian strain broadening). Along the wine-rack the short diagonal of the np cell is about three times more
  sensitive to η, which broadens its lines more and hkl-dependently; the pattern refinement of :mod:`twin.fit`
  models microstrain isotropically, and that broadening biased the demo's recovered domain sizes, so it waits
  for an anisotropic strain model there.
* **coherent domains** — the engine's histogram of coherent-domain sizes (bins of :math:`2^k` … :math:`2^{k+1}-1`
  sites, cut by phase boundaries and broken links) becomes a size distribution of cube-shaped domains of edge
  :math:`(n\,V_{site})^{1/3}` at the geometric bin centre :math:`n = 2^{k+1/2}`, so size broadening follows
  the whole distribution, not one Scherrer number.

The whole series is one jitted, batched call (:func:`instruments.xrd.pattern_series`).

**Measured series** (:func:`align_xrd`): a folder of pattern files with a conditions log, or one HDF5/NeXus
file, read through :func:`instruments.io.read_measurement`; a Q axis is converted to 2θ with the instrument's
wavelength; every frame must share one grid; uncertainties are the file's or Poisson's. :func:`align_xrd_q`
keeps (or makes) a Q axis instead, which needs no wavelength when the files are on Q (the layered-stack fit,
:mod:`instruments.xrd.layered`). Series driven by vapour are accepted: a conditions log with a relative-pressure
column (``relative_pressure``, ``p_p0``, ``P/P0``; :data:`RELATIVE_PRESSURE_COLUMNS`) gives every frame a
``relative_pressure`` condition (P/P0, 0..1.2), beside ``relative_humidity`` from an ``rh`` column.

**Total scattering** is fitted from measured F(Q) series (:mod:`twin.fit.total_scattering`, settings in the fit
file); a forward model of F(Q) from a run is not part of this version, so ``twin observe`` does not offer it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from instruments.measurement import common_grid
from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from instruments.xrd.breathing_lattice import is_wine_rack_pair, phase_lattice_on_path
from instruments.xrd.instrument import load_instrument
from instruments.xrd.pattern import Instrument, make_phase_state, pattern_series
from instruments.xrd.structure import d_min_for, phase_from_cif
from mofcore.breathing import breathing_path, breathing_path_derivative
from mofcore.errors import DataFormatError
from mofcore.stats import poisson_sigma

__all__ = ["XRD", "TOTAL_SCATTERING", "XrdSettings", "load_xrd_settings", "xrd_phase_states", "simulate_xrd",
           "align_xrd", "align_xrd_q", "read_relative_pressure_log", "RELATIVE_PRESSURE_COLUMNS"]

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
        closed_cell, open_cell = structures[0].lattice, structures[-1].lattice
        if len(structures) > 1 and p in (0, len(structures) - 1) and is_wine_rack_pair(closed_cell, open_cell):
            lattice = phase_lattice_on_path(eta_p, closed_cell, open_cell, structure.lattice, 0 if p == 0 else 1)[0]
        dlat = np.zeros_like(lattice)  # η-spread broadening: isotropic for every host (module docstring)
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


#: conditions-log column names read as relative pressure P/P0 (lower case, spaces and brackets removed)
RELATIVE_PRESSURE_COLUMNS = ("relative_pressure", "p_p0", "p/p0", "pp0", "relative_pressure_p_p0", "p_over_p0")


def _conditions_log(folder: Path) -> Path | None:
    logs = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt", ".log")
            and any(key in p.stem.lower() for key in ("log", "conditions"))]
    return logs[0] if len(logs) == 1 else None


def read_relative_pressure_log(folder: str | Path) -> tuple[list[str] | None, np.ndarray] | None:
    """The relative pressure P/P0 of every row of a series folder's conditions log, or ``None`` when the folder
    has no single log or its log no relative-pressure column.

    Returns:
        (the frame file names of the log's ``file`` column, or ``None`` when it has none; P/P0 per row).

    Raises:
        DataFormatError: a row with a missing or non-numeric value, or P/P0 outside 0..1.2 (the file and line named).
    """
    folder = Path(folder)
    if not folder.is_dir() or (log := _conditions_log(folder)) is None:
        return None
    lines = [(i, ln.strip()) for i, ln in enumerate(log.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) < 2:
        return None
    delim = "\t" if "\t" in lines[0][1] else "," if "," in lines[0][1] else ";" if ";" in lines[0][1] else None
    names = [c.strip() for c in (lines[0][1].split(delim) if delim else lines[0][1].split())]
    keys = [n.lower().replace(" ", "").replace("(", "").replace(")", "") for n in names]
    col = next((i for i, k in enumerate(keys) if k in RELATIVE_PRESSURE_COLUMNS), None)
    if col is None:
        return None
    file_col = next((i for i, k in enumerate(keys) if k in ("file", "filename", "name", "frame_file")), None)
    files, values = [], []
    for lineno, line in lines[1:]:
        cells = [c.strip() for c in (line.split(delim) if delim else line.split())]
        if len(cells) != len(names):
            raise DataFormatError(f"{log}, line {lineno}: expected {len(names)} cells like the header, got {len(cells)}")
        try:
            value = float(cells[col])
        except ValueError:
            raise DataFormatError(f"{log}, line {lineno}: expected a number for {names[col]}, got {cells[col]!r}") from None
        if not 0.0 <= value <= 1.2:
            raise DataFormatError(f"{log}, line {lineno}: relative pressure {cells[col]} outside 0..1.2 (P/P0)")
        values.append(value)
        if file_col is not None:
            files.append(cells[file_col])
    return (files if file_col is not None else None), np.asarray(values, dtype=np.float64)


def _read_series(path: Path) -> tuple[list[Any], tuple[str, ...], np.ndarray]:
    """The frames of a measured series, their labels and P/P0 per frame (NaN where the log gives none).

    A folder whose conditions log has only a relative-pressure column (which the generic reader does not join)
    is read frame by frame, the frames being the files the log names (else the folder's files with the frames'
    extension, in natural order, joined by index)."""
    from instruments.io import read_measurement
    from instruments.measurement import MeasurementSeries

    relative = read_relative_pressure_log(path)
    try:
        series = read_measurement(path)
    except DataFormatError:
        if relative is None:
            raise
        series = None
    if series is None:
        files, values = relative
        if files is None:
            import re

            log = _conditions_log(path)
            key = lambda p: [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]  # noqa: E731
            candidates = [p for p in path.iterdir() if p.is_file() and p != log and not p.name.startswith(".")
                          and p.suffix.lower() in (".xy", ".xye", ".dat", ".txt", ".csv", ".chi", ".asc")]
            files = [p.name for p in sorted(candidates, key=key)]
            if len(files) != values.size:
                raise DataFormatError(f"{log}: {values.size} relative pressures for {len(files)} frame files "
                                      "(join by index needs one row per frame, or give the log a file column)")
        missing = [f for f in files if not (path / f).is_file()]
        if missing:
            raise DataFormatError(f"{_conditions_log(path)}: names frame files that are not in the folder: "
                                  f"{', '.join(missing[:5])}")
        items = [read_measurement(path / f) for f in files]
        return items, tuple(files), values
    if not isinstance(series, MeasurementSeries):
        raise DataFormatError(f"{path}: one pattern, but an in situ series needs several (a folder of frames with "
                              "a conditions log, or an HDF5/NeXus file with n_frames × n_points)")
    items = list(series.items)
    labels = tuple(series.labels or [str(i) for i in range(len(items))])
    p_rel = np.full(len(items), np.nan)
    if relative is not None:
        files, values = relative
        if files is None and values.size == len(items):
            p_rel = values
        elif files is not None:
            lookup = dict(zip(files, values, strict=True))
            p_rel = np.asarray([lookup.get(lab, lookup.get(Path(lab).stem, np.nan)) for lab in labels])
    return items, labels, p_rel


def _series_observable(path: Path, items: list[Any], labels: tuple[str, ...], p_rel: np.ndarray, axis: Axis) -> Observable:
    values = np.stack([np.asarray(m.values, dtype=np.float64) for m in items])
    sigma = np.stack([poisson_sigma(np.asarray(m.values, dtype=np.float64)) if m.uncertainties is None
                      else np.asarray(m.uncertainties, dtype=np.float64) for m in items])
    if np.any(~(sigma > 0)):
        raise DataFormatError(f"{path}: standard uncertainties must be positive")

    def condition(name: str, scale: float = 1.0) -> np.ndarray:
        return np.asarray([float(m.conditions.get(name, np.nan)) * scale for m in items])

    stated = next((m.wavelength_ang for m in items if m.wavelength_ang), None)
    return Observable(
        axis=axis, values=values, sigma=sigma,
        conditions={"time_s": condition("time_s"), "pressure_bar": condition("pressure_Pa", 1e-5),
                    "temperature_K": condition("temperature_K"),
                    "relative_humidity": condition("relative_humidity"),
                    "relative_pressure": np.asarray(p_rel, dtype=np.float64)},
        technique="xrd", quantity="intensity", unit="counts",
        attrs=(("wavelength_A", float(stated)),) if stated else (),
        labels=labels, source=str(path),
    )


def align_xrd(path: str | Path, settings: XrdSettings | None = None, *, wavelength_A: float | None = None) -> Observable:
    """A measured in situ series on one 2θ grid [deg], with the conditions of each frame.

    The wavelength that converts a Q axis to 2θ is ``wavelength_A``, else the instrument's (``settings``), else
    the one the files state. Conditions: ``time_s``, ``pressure_bar``, ``temperature_K``, ``relative_humidity``
    and ``relative_pressure`` (P/P0), NaN where not recorded.

    Raises:
        DataFormatError: unreadable files (from the readers), a single pattern instead of a series, frames on
            different grids, an axis that is neither 2θ nor Q, a Q axis without a wavelength, or uncertainties
            that are not positive.
    """
    path = Path(path)
    items, labels, p_rel = _read_series(path)
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
    grid = common_grid(path, labels, [np.asarray(m.axis.values, dtype=np.float64) for m in items], "2θ", "°")
    return _series_observable(path, items, labels, p_rel, Axis(grid, "two_theta", "deg"))


def _header_axis(measurement: Any) -> tuple[str, str, float] | None:
    """The axis a commented column header names (``# q_inv_nm intensity_counts``) when the reader assumed one."""
    from instruments.io._quantities import axis_from_label

    comments = measurement.metadata.get("comments") or ()
    for line in reversed(tuple(comments)):
        tokens = str(line).replace(",", " ").replace("\t", " ").split()
        if len(tokens) >= 2 and (found := axis_from_label(tokens[0])) is not None:
            return found
    return None


def align_xrd_q(path: str | Path, *, wavelength_A: float | None = None) -> Observable:
    r"""A measured in situ series on one Q grid [Å⁻¹], with the conditions of each frame.

    Files on Q need no wavelength. A frame whose axis the reader had to assume (2θ by default) while a commented
    column header names Q (``# q_inv_nm intensity_counts``) is taken on that Q axis with the header's unit.
    A 2θ series is converted with ``wavelength_A`` (or the wavelength the files state):
    :math:`Q = 4\pi\sin\theta/\lambda`.

    Raises:
        DataFormatError: as :func:`align_xrd`; a 2θ series without a wavelength.
    """
    from dataclasses import replace

    from instruments.observable import Axis as _Axis

    path = Path(path)
    items, labels, p_rel = _read_series(path)
    converted = []
    for label, m in zip(labels, items, strict=True):
        if m.axis.name == "two_theta" and m.metadata.get("axis_assumed") and (found := _header_axis(m)) is not None \
                and found[0] == "q":
            m = replace(m, axis=_Axis(np.asarray(m.axis.values, dtype=np.float64) * found[2], "q", "1/Å"))
        if m.axis.name == "two_theta":
            lam = wavelength_A or m.wavelength_ang
            if not lam:
                raise DataFormatError(f"{path}: frame {label} is on a 2θ axis"
                                      + (" (assumed: no header names it)" if m.metadata.get("axis_assumed") else "")
                                      + "; a Q axis is needed, or give the wavelength to convert 2θ to Q")
            tth = np.asarray(m.axis.values, dtype=np.float64)
            m = replace(m, axis=_Axis(4.0 * np.pi * np.sin(np.radians(tth) / 2.0) / lam, "q", "1/Å"))
        elif m.axis.name != "q":
            raise DataFormatError(f"{path}: expected a Q or 2θ axis for powder XRD, got {m.axis.name} ({m.axis.unit})")
        elif m.axis.unit not in ("1/Å", "1/A"):
            factor = {"1/nm": 0.1, "nm-1": 0.1, "1/m": 1e-10}.get(m.axis.unit)
            if factor is None:
                raise DataFormatError(f"{path}: frame {label}: Q axis unit {m.axis.unit!r}, expected 1/Å or 1/nm")
            m = replace(m, axis=_Axis(np.asarray(m.axis.values, dtype=np.float64) * factor, "q", "1/Å"))
        converted.append(m)
    grid = common_grid(path, labels, [np.asarray(m.axis.values, dtype=np.float64) for m in converted], "Q", "1/Å")
    return _series_observable(path, converted, labels, p_rel, Axis(grid, "q", "1/Å"))


XRD = Technique(
    name="xrd",
    title="Powder X-ray diffraction",
    axis_name="two_theta",
    axis_unit="deg",
    fit_names=("xrd-series",),
    load_settings=load_xrd_settings,
    simulate=simulate_xrd,
    align=align_xrd,
    fit="twin.fit.layered:XRD_SERIES",  # model = "phases" (twin.fit.problems) or "layered"
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


def align_native(path: str | Path) -> Observable:
    """A measured in situ series on its own axis (2θ in deg or Q, one grid), with the conditions of each frame:
    for fits that need no wavelength (peak positions, widths and areas; :mod:`twin.fit.peak_series`).

    Raises:
        DataFormatError: as :func:`align_xrd`; an axis that is neither 2θ nor Q.
    """
    path = Path(path)
    items, labels, p_rel = _read_series(path)
    axis = items[0].axis
    if axis.name not in ("two_theta", "q") or any(m.axis.name != axis.name or m.axis.unit != axis.unit for m in items):
        found = sorted({f"{m.axis.name} ({m.axis.unit})" for m in items})
        raise DataFormatError(f"{path}: expected every frame on one 2θ or Q axis, got {', '.join(found)}")
    grid = common_grid(path, labels, [np.asarray(m.axis.values, dtype=np.float64) for m in items], axis.name,
                        axis.unit)
    return _series_observable(path, items, labels, p_rel, Axis(grid, axis.name, axis.unit))
