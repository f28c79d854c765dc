r"""The technique seam: what every technique provides, and what the twin hands it.

A technique (powder XRD, total scattering, NMR, IR, Raman, TEM, isotherms) is one folder that provides a
:class:`Technique` — a small frozen object of pure functions — and one line in the registry
(:mod:`instruments.registry`). ``twin observe``, ``twin fit`` and ``twin report`` look techniques up there by
name and never branch on one; adding a technique touches its folder and the registry line
(``docs/adding-a-technique.md``).

The parts, in the order data flow through them:

* ``axis_name``/``axis_unit`` — the axis the technique records on (2θ in deg, Q in Å⁻¹, δ in ppm …);
* ``load_settings(path) -> settings`` — the instrument from an instrument TOML file, validated at the edge;
* ``simulate(frames, settings, axis) -> Observable`` — pure: the series an instrument would record for every
  frame of a run, from :class:`TwinFrames` (plain arrays; the twin builds them from a trajectory), on the
  instrument's axis or on ``axis`` (the points of a measured series);
* ``align(path, settings) -> Observable`` — a measured series read through :mod:`instruments.io` and put on the
  technique's axis (unit conversion, one common grid, conditions per frame);
* ``fit`` — the technique's fit problem, a ``"module:attribute"`` reference to a
  :class:`twin.fit.problem.FitProblem` (parsing its fit-file section and running the fit);
* ``panel`` — its report panel, a ``"module:attribute"`` reference to a function
  ``(ReportContext, technique_name) -> Section | None``.

``fit`` and ``panel`` are references by name, resolved by the layer that uses them (the twin, the report),
so that this package imports nothing from those above it. A technique may lack parts: total scattering has
no instrument to observe a trajectory with yet, an isotherm has no per-frame spectrum; the commands say so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments.observable import Observable
from mofcore.errors import DataFormatError

__all__ = ["TwinFrames", "Technique", "resolve"]


@dataclass(frozen=True)
class TwinFrames:
    """The state of a simulated run, per frame and per phase, as plain arrays: what a forward model may read.

    Attributes:
        material: material name (for messages and provenance).
        phase_names: names of the phases, closed (η = 0) first, open (η = 1) last, (n_phases,).
        structure_paths: the structure file (CIF) of each phase, (n_phases,).
        volume_A3: unit-cell volume of each phase's endpoint structure [Å³], (n_phases,).
        n_sites: lattice sites inside the crystals (a powder's crystals together).
        block: cells per site along each axis (the declared coarse-graining factor b; a site is b³ cells).
        summaries: the run's per-frame summaries by name, each with a leading (n_frames,) axis
            (``phase_fraction`` (n_frames, n_phases), ``eta_mean``, ``eta_std``, ``domain_size_histogram``
            (n_frames, n_phases, n_bins) of coherent domains with 2^k … 2^(k+1)−1 sites, ``loading`` …).
        conditions: per-frame conditions (n_frames,) each: ``time_s``, ``temperature_K``, ``pressure_bar`` (total
            dry-gas pressure) and, when the protocol sets them, ``relative_humidity``.
        source: the trajectory file, for messages.
    """

    material: str
    phase_names: tuple[str, ...]
    structure_paths: tuple[Path, ...]
    volume_A3: tuple[float, ...]
    n_sites: float
    block: int
    summaries: Mapping[str, np.ndarray]
    conditions: Mapping[str, np.ndarray]
    source: str = ""

    @property
    def n_frames(self) -> int:
        return int(np.shape(self.conditions["time_s"])[0])

    def summary(self, name: str, needed_by: str) -> np.ndarray:
        """A summary by name; :class:`DataFormatError` naming the trajectory and the technique when absent."""
        if name not in self.summaries:
            raise DataFormatError(f"{self.source}: the trajectory lacks the summary {name!r} needed for {needed_by} "
                                  f"(it has {', '.join(sorted(self.summaries)) or 'none'})")
        return np.asarray(self.summaries[name])


def resolve(ref: Any) -> Any:
    """The object a ``"package.module:attribute"`` reference names (anything else is returned as is)."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    if not module or not attribute:
        raise ValueError(f"technique part reference {ref!r}: expected 'package.module:attribute'")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Technique:
    """One technique's parts (see the module docstring). Only ``name``, ``title`` and the axis are required.

    Attributes:
        name: registry name, also the observables file ``OUT/observables/<name>.h5`` (``"xrd"``).
        title: section title in the report (``"Powder X-ray diffraction"``).
        axis_name, axis_unit: the recorded axis (see :data:`instruments.observable.AXIS_UNITS`).
        fit_names: the names a fit file may give as ``[fit] technique`` for this technique (default: ``name``).
        load_settings: instrument TOML path → settings object, or ``None``.
        simulate: ``(TwinFrames, settings, axis values or None) -> Observable``, or ``None``.
        align: ``(measured path, settings) -> Observable`` on the technique's axis, or ``None``.
        fit: reference to the fit problem, or ``None``.
        panel: reference to the report panel, or ``None`` (then the generic spectral-series panel).
        summary: one line for ``twin observe --help`` and docs.
    """

    name: str
    title: str
    axis_name: str
    axis_unit: str
    fit_names: tuple[str, ...] = ()
    load_settings: Callable[[Path], Any] | None = None
    simulate: Callable[[TwinFrames, Any, Any], Observable] | None = None
    align: Callable[[Path, Any], Observable] | None = None
    fit: str | Any | None = None
    panel: str | Callable[..., Any] | None = None
    summary: str = ""

    @property
    def names_in_fit_files(self) -> tuple[str, ...]:
        return self.fit_names or (self.name,)

    @property
    def observable(self) -> bool:
        """Whether ``twin observe`` can produce this technique from a trajectory."""
        return self.simulate is not None and self.load_settings is not None
