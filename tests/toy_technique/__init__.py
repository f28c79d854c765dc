"""A toy technique that lives only in the tests: one folder, one registry line (``register(TOY)``).

It shows that a technique plugs into ``twin observe``, ``twin fit`` and ``twin report`` without touching them
(docs/adding-a-technique.md walks through the same steps). The "instrument" records one band per phase on a
wavenumber axis, a Gaussian of the phase's position and width weighted by the phase fraction:

    I_f(ν) = Σ_p x_{p,f} · exp(−(ν − ν_p)² / 2w²)

Its fit recovers the open-phase fraction of every measured frame by linear least squares on the two phase bands
and reports their mean with its standard uncertainty.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from instruments.observable import Axis, Observable
from instruments.technique import Technique, TwinFrames
from mofcore.errors import DataFormatError

__all__ = ["TOY", "FIT"]


def load_settings(path: Path) -> dict[str, Any]:
    """``[band] positions_cm1 = [...]`` (one per phase), ``width_cm1``; ``[scan] range_cm1 = [lo, hi]``, ``points``."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return {"positions": np.asarray(doc["band"]["positions_cm1"], float), "width": float(doc["band"]["width_cm1"]),
                "axis": np.linspace(*doc["scan"]["range_cm1"], int(doc["scan"]["points"]))}
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as error:
        raise DataFormatError(f"{path}: not a toy instrument file ({error})") from None


def simulate(frames: TwinFrames, settings: dict[str, Any], axis: Any = None) -> Observable:
    nu = settings["axis"] if axis is None else np.asarray(axis, float)
    bands = np.exp(-0.5 * ((nu[None, :] - settings["positions"][:, None]) / settings["width"]) ** 2)
    fraction = frames.summary("phase_fraction", "the toy technique")
    return Observable(axis=Axis(nu, "wavenumber", "cm-1"), values=fraction @ bands, technique="toy",
                      conditions=dict(frames.conditions), source=frames.source)


def align(path: Path, settings: dict[str, Any]) -> Observable:
    """A measured series: a folder of two-column files with a conditions log, read by the package's readers."""
    from instruments.io import read_measurement

    series = read_measurement(path)
    values = np.stack([np.asarray(m.values, float) for m in series.items])
    times = np.asarray([m.conditions.get("time_s", np.nan) for m in series.items], float)
    return Observable(axis=Axis(np.asarray(series.items[0].axis.values, float), "wavenumber", "cm-1"), values=values,
                      technique="toy", conditions={"time_s": times}, labels=tuple(series.labels), source=str(path))


TOY = Technique(
    name="toy",
    title="Toy band spectra",
    axis_name="wavenumber",
    axis_unit="cm-1",
    load_settings=load_settings,
    simulate=simulate,
    align=align,
    fit="toy_technique.fit:FIT",
    summary="one Gaussian band per phase (tests only)",
)
