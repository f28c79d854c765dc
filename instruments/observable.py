"""Axes with units and the observable a forward model returns.

An :class:`Axis` is a named 1-D coordinate with its unit (``two_theta``/``deg``, ``q``/``1/Å``,
``wavenumber``/``cm-1``, ``shift``/``ppm``, ``frequency``/``kHz``, ``x``/``Å`` for image pixels).
An :class:`Observable` is values on one or more axes plus, for series, the frame axis and per-frame
metadata. Both are frozen pytrees so they pass through ``jit``/``vmap`` (names and units are static).
:class:`~instruments.measurement.Measurement` uses the same :class:`Axis`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

__all__ = ["Axis", "Observable", "AXIS_UNITS"]

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
        pretty = {"two_theta": "2θ", "q": "Q", "wavenumber": "wavenumber", "shift": "δ"}.get(self.name, self.name)
        return f"{pretty} ({self.unit})"


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Observable:
    """Values of a forward model on its axes.

    Attributes:
        axis: the spectral/angular axis (last axis of ``values``).
        values: intensities, shape (n_points,) for one frame or (n_frames, n_points) for a series.
        quantity: what ``values`` are (``"intensity"``, ``"absorbance"``), static.
        unit: unit of ``values`` (``"counts"``, ``"arb."``), static.
        technique: ``"xrd"``, ``"nmr"``, ``"ir"``, ``"raman"``, ``"tem"`` (static).
    """

    axis: Axis
    values: Any
    quantity: str = field(default="intensity", metadata={"static": True})
    unit: str = field(default="arb.", metadata={"static": True})
    technique: str = field(default="", metadata={"static": True})
