"""Axes with units and the observable series every technique produces, stores, fits and reports.

An :class:`Axis` is a named 1-D coordinate with its unit (``two_theta``/``deg``, ``q``/``1/Å``,
``wavenumber``/``cm-1``, ``shift``/``ppm``, ``frequency``/``kHz``, ``x``/``Å`` for image pixels).

An :class:`Observable` is the one type for "values on an axis, per frame, with the conditions of each frame",
from a forward model (``technique.simulate``) through the HDF5 observables file (:mod:`instruments.series_io`)
to the fits and the report: values (n_frames, n_points) on one axis, optional standard uncertainties, the
conditions of every frame (``time_s``, ``temperature_K``, ``pressure_bar`` …), frame labels, metadata of the
technique (``wavelength_A`` for X-rays) and, for a simulated series compared with an experiment, the measured
frames (themselves an :class:`Observable` on the same axis) with the simulated frame each one matches. A
single spectrum is a series of one frame (``values`` may also be (n_points,) inside a forward model).

Both are frozen pytrees so they pass through ``jit``/``vmap``: arrays are leaves; names, units, labels and the
source are static. :class:`~instruments.measurement.Measurement` uses the same :class:`Axis`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import numpy as np

__all__ = ["Axis", "Observable", "AXIS_UNITS", "AXIS_DECREASING", "AXIS_TECHNIQUE"]

#: canonical unit of each axis name used across the package
AXIS_UNITS: dict[str, str] = {
    "two_theta": "deg",
    "q": "1/Å",
    "d": "Å",
    "r": "Å",
    "wavenumber": "cm-1",
    "shift": "ppm",
    "frequency": "kHz",
    "x": "Å",
    "y": "Å",
    "pressure": "bar",
    "time": "s",
    "temperature": "K",
    "index": "1",
}

#: the technique a measured file on this axis most likely comes from (a reader's guess, named as in the registry)
AXIS_TECHNIQUE: dict[str, str] = {"two_theta": "xrd", "d": "xrd", "q": "xrd", "r": "total-scattering",
                                  "wavenumber": "ir", "shift": "nmr", "frequency": "nmr", "pressure": "isotherm"}

#: axes the community draws decreasing to the right (chemical shift, wavenumber, NMR frequency offset)
AXIS_DECREASING: frozenset[str] = frozenset({"shift", "wavenumber", "frequency"})

_PRETTY = {"two_theta": "2θ", "q": "Q", "wavenumber": "wavenumber", "shift": "δ"}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Axis:
    """A 1-D coordinate: ``values`` (n_points,) in ``unit``, called ``name``."""

    values: Any
    name: str = field(default="index", metadata={"static": True})
    unit: str = field(default="1", metadata={"static": True})

    def __len__(self) -> int:
        return int(np.shape(self.values)[0])

    @property
    def label(self) -> str:
        """Axis label for plots, e.g. ``2θ (deg)``."""
        return f"{_PRETTY.get(self.name, self.name)} ({self.unit})"

    @property
    def key(self) -> str:
        """Dataset-style name with the unit, e.g. ``two_theta_deg``, ``shift_ppm``, ``q_inv_ang``."""
        unit = {"1/Å": "inv_ang", "1/nm": "inv_nm", "Å": "ang", "cm-1": "cm1"}.get(self.unit, self.unit)
        return f"{self.name}_{unit}"

    @property
    def decreasing(self) -> bool:
        """Whether plots draw this axis decreasing to the right (ppm, cm⁻¹, kHz offsets)."""
        return self.name in AXIS_DECREASING


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Observable:
    """Values of a technique on its axis, for one frame or a series, with what is needed to compare them.

    Attributes:
        axis: the spectral/angular axis (last axis of ``values``).
        values: (n_frames, n_points) for a series, (n_points,) for one frame inside a forward model.
        sigma: standard uncertainties of ``values`` (same shape) or ``None`` (a simulation, or a file
            without them).
        conditions: per-frame conditions, each (n_frames,), in the units their names carry
            (``time_s``, ``temperature_K``, ``pressure_bar``, ``relative_pressure`` …).
        measured: measured frames on the same axis (an :class:`Observable`), or ``None``.
        measured_frame_index: (n_measured,) the simulated frame each measured frame matches, with ``measured``.
        technique: registry name of the technique (``"xrd"``, ``"total-scattering"``, ``"nmr"``), static.
        quantity: what ``values`` are (``"intensity"``, ``"F(Q)"``, ``"absorbance"``), static.
        unit: unit of ``values`` (``"counts"``, ``"arb."``), static.
        attrs: technique metadata as ``(name, value)`` pairs, e.g. ``(("wavelength_A", 1.5406),)``, static.
        labels: one label per frame (file names of a measured series), static.
        source: the file or folder read, or ``""``, static.
    """

    axis: Axis
    values: Any
    sigma: Any = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    measured: Observable | None = None
    measured_frame_index: Any = None
    technique: str = field(default="", metadata={"static": True})
    quantity: str = field(default="intensity", metadata={"static": True})
    unit: str = field(default="arb.", metadata={"static": True})
    attrs: tuple[tuple[str, Any], ...] = field(default=(), metadata={"static": True})
    labels: tuple[str, ...] = field(default=(), metadata={"static": True})
    source: str = field(default="", metadata={"static": True})

    @property
    def n_frames(self) -> int:
        """Frames in the series (1 for a single spectrum)."""
        shape = np.shape(self.values)
        return int(shape[0]) if len(shape) == 2 else 1

    @property
    def meta(self) -> dict[str, Any]:
        """``attrs`` as a dict."""
        return dict(self.attrs)

    def condition(self, name: str) -> np.ndarray:
        """The per-frame condition ``name`` as float64 (n_frames,), NaN where it was not recorded."""
        value = self.conditions.get(name)
        if value is None:
            return np.full(self.n_frames, np.nan)
        return np.asarray(value, dtype=np.float64)

    def with_measured(self, measured: Observable, frame_index: Any) -> Observable:
        """A copy that carries ``measured`` frames matched to the simulated frames ``frame_index``."""
        return replace(self, measured=measured, measured_frame_index=np.asarray(frame_index, dtype=np.int64))

    def with_attrs(self, **attrs: Any) -> Observable:
        """A copy with ``attrs`` added or replaced."""
        merged = dict(self.attrs) | attrs
        return replace(self, attrs=tuple(sorted(merged.items())))
