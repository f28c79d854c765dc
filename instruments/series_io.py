"""Observable series files in a run directory: ``OUT/observables/<technique>.h5``, one writer and one reader.

``twin observe`` writes one HDF5 file per technique of the registry (:mod:`instruments.techniques`); a fit
attaches measured frames to it; the report reads it. Every technique's file has the same layout (format
``operando-mof-twin-observable`` version 2), the HDF5 image of one :class:`~instruments.observable.Observable`::

    attrs        format, format_version, technique, axis_name, axis_unit, quantity, unit, source
    attrs/       group whose attributes are the technique's metadata (e.g. wavelength_A)
    axis               (n_points,)           float64  the axis, strictly increasing, in axis_unit
    values             (n_frames, n_points)  float64  simulated values
    sigma              (n_frames, n_points)  optional standard uncertainties
    labels             (n_frames,)           optional frame labels (UTF-8 strings)
    conditions/NAME    (n_frames,)           float64  per-frame conditions (time_s, temperature_K, pressure_bar …)
    measured/          optional group: the measured frames, the same layout on the same axis (values, sigma,
                       labels, conditions/, attrs quantity/unit/source), plus
    measured/frame_index (n_measured,)       int64    the simulated frame each measured frame matches

Files of format version 1 (``operando-mof-twin-xrd-series`` and ``operando-mof-twin-spectral-series``, written
before version 2) are read too. TEM images (``tem.h5``: ``image`` (n_images, ny, nx), ``pixel_size_A``,
``frame_index``) have their own pair, :func:`write_image_series` / :func:`read_image_series`.

Writes are atomic (temporary file, then rename). Every shape is checked against the axis and the frame count
on writing and on reading; a problem raises :class:`~mofcore.errors.DataFormatError` naming file and dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from instruments.observable import Axis, Observable
from mofcore.atomic import atomic_path
from mofcore.errors import DataFormatError

__all__ = [
    "OBSERVABLE_FORMAT",
    "ImageSeries",
    "write_observable",
    "read_observable",
    "write_image_series",
    "read_image_series",
]

OBSERVABLE_FORMAT = "operando-mof-twin-observable"
FORMAT_VERSION = 2
IMAGE_FORMAT = "operando-mof-twin-image-series"
_V1_XRD = "operando-mof-twin-xrd-series"
_V1_SPECTRAL = "operando-mof-twin-spectral-series"
#: version-1 axis dataset → (axis name, unit)
_V1_AXES = {"two_theta_deg": ("two_theta", "deg"), "shift_ppm": ("shift", "ppm"),
            "wavenumber_cm1": ("wavenumber", "cm-1"), "frequency_kHz": ("frequency", "kHz")}


@dataclass(frozen=True)
class ImageSeries:
    """Images (e.g. simulated TEM) with pixel size: ``image`` (n_images, ny, nx), ``frame_index`` (n_images,)."""

    image: np.ndarray
    pixel_size_A: float
    frame_index: np.ndarray
    kind: str
    path: Path


def _checked(obs: Observable, path: Path, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    axis = np.asarray(obs.axis.values, dtype=np.float64)
    values = np.asarray(obs.values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if axis.ndim != 1 or axis.shape[0] < 2 or not np.all(np.diff(axis) > 0):
        raise DataFormatError(f"{path}: {where}axis must be a strictly increasing 1-D grid of ≥ 2 points")
    if values.ndim != 2 or values.shape[1] != axis.shape[0]:
        raise DataFormatError(f"{path}: {where}values must have shape (n_frames, {axis.shape[0]}) to match the "
                              f"{obs.axis.name} axis, got {np.shape(obs.values)}")
    sigma = None
    if obs.sigma is not None:
        sigma = np.asarray(obs.sigma, dtype=np.float64).reshape(values.shape) if np.size(obs.sigma) == values.size \
            else None
        if sigma is None:
            raise DataFormatError(f"{path}: {where}sigma must have the shape of the values {values.shape}, got "
                                  f"{np.shape(obs.sigma)}")
    n = values.shape[0]
    for name, value in obs.conditions.items():
        if np.shape(value) != (n,):
            raise DataFormatError(f"{path}: {where}conditions/{name} must have shape ({n},), got {np.shape(value)}")
    if obs.labels and len(obs.labels) != n:
        raise DataFormatError(f"{path}: {where}labels must have {n} entries (one per frame), got {len(obs.labels)}")
    return axis, values, sigma


def _write_frames(group: h5py.Group, obs: Observable, values: np.ndarray, sigma: np.ndarray | None) -> None:
    group.attrs["quantity"] = obs.quantity
    group.attrs["unit"] = obs.unit
    group.attrs["source"] = obs.source
    group.create_dataset("values", data=values, compression="gzip", chunks=(1, values.shape[1]))
    if sigma is not None:
        group.create_dataset("sigma", data=sigma, compression="gzip", chunks=(1, values.shape[1]))
    if obs.labels:
        group.create_dataset("labels", data=np.asarray(obs.labels, dtype=h5py.string_dtype()))
    cond = group.create_group("conditions")
    for name, value in obs.conditions.items():
        cond.create_dataset(name, data=np.asarray(value, dtype=np.float64))


def write_observable(path: str | Path, obs: Observable) -> Path:
    """Write ``obs`` (with its measured frames, if any) to ``path`` atomically (layout in the module docstring).

    Raises:
        DataFormatError: a shape that does not match the axis or the frame count, or no technique name.
    """
    path = Path(path)
    if not obs.technique:
        raise DataFormatError(f"{path}: the observable names no technique")
    axis, values, sigma = _checked(obs, path, "")
    measured = None
    if obs.measured is not None:
        m_axis, m_values, m_sigma = _checked(obs.measured, path, "measured/")
        if m_axis.shape != axis.shape or not np.allclose(m_axis, axis, rtol=0.0, atol=1e-9 * np.ptp(axis)):
            raise DataFormatError(f"{path}: the measured frames are on another {obs.axis.name} grid than the simulated "
                                  f"ones ({m_axis.size} against {axis.size} points)")
        index = np.asarray(obs.measured_frame_index, dtype=np.int64)
        if index.shape != (m_values.shape[0],):
            raise DataFormatError(f"{path}: measured/frame_index must have shape ({m_values.shape[0]},), got {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= values.shape[0]):
            raise DataFormatError(f"{path}: measured/frame_index must lie in 0..{values.shape[0] - 1}, got "
                                  f"{index.min()}..{index.max()}")
        measured = (m_values, m_sigma, index)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = OBSERVABLE_FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["technique"] = obs.technique
        h5.attrs["axis_name"] = obs.axis.name
        h5.attrs["axis_unit"] = obs.axis.unit
        meta = h5.create_group("attrs")
        for key, value in obs.attrs:
            meta.attrs[key] = value
        h5.create_dataset("axis", data=axis)
        _write_frames(h5, obs, values, sigma)
        if measured is not None:
            group = h5.create_group("measured")
            _write_frames(group, obs.measured, measured[0], measured[1])
            group.create_dataset("frame_index", data=measured[2])
    return path


def _read(group: h5py.Group, path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    where = f"{group.name.rstrip('/')}/{name}".lstrip("/")
    if name not in group:
        raise DataFormatError(f"{path}: dataset {where!r} is missing (expected shape {shape})")
    value = np.asarray(group[name][...])
    if value.shape != shape:
        raise DataFormatError(f"{path}: dataset {where!r} has shape {value.shape}, expected {shape}")
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_frames(group: h5py.Group, path: Path, axis: Axis, technique: str, attrs: tuple) -> Observable:
    if "values" not in group:
        raise DataFormatError(f"{path}: dataset {(group.name.rstrip('/') + '/values').lstrip('/')!r} is missing "
                              f"(expected shape (n_frames, {len(axis)}))")
    n = int(group["values"].shape[0]) if group["values"].ndim == 2 else -1
    values = _read(group, path, "values", (n, len(axis))).astype(np.float64)
    sigma = _read(group, path, "sigma", values.shape).astype(np.float64) if "sigma" in group else None
    labels = tuple(_text(v) for v in _read(group, path, "labels", (n,))) if "labels" in group else ()
    cond = group.get("conditions")
    conditions = {name: _read(cond, path, name, (n,)).astype(np.float64) for name in cond} if cond is not None else {}
    return Observable(axis=axis, values=values, sigma=sigma, conditions=conditions, technique=technique,
                      quantity=_text(group.attrs.get("quantity", "intensity")), unit=_text(group.attrs.get("unit", "arb.")),
                      attrs=attrs, labels=labels, source=_text(group.attrs.get("source", "")))


def read_observable(path: str | Path) -> Observable:
    """Read an observables file (this version or version 1); every shape is checked.

    Raises:
        DataFormatError: missing file, not HDF5, another format, a newer version, or a dataset of the wrong
            shape (the message names the file and the dataset).
    """
    path = Path(path)
    with _open(path, (OBSERVABLE_FORMAT, _V1_XRD, _V1_SPECTRAL)) as h5:
        if h5.attrs["format"] != OBSERVABLE_FORMAT:
            return _read_v1(h5, path)
        technique = _text(h5.attrs.get("technique", path.stem))
        axis_values = np.asarray(h5["axis"][...], dtype=np.float64) if "axis" in h5 else None
        if axis_values is None or axis_values.ndim != 1 or axis_values.size < 2 or not np.all(np.diff(axis_values) > 0):
            raise DataFormatError(f"{path}: dataset 'axis' must be a strictly increasing 1-D grid of ≥ 2 points")
        axis = Axis(axis_values, _text(h5.attrs.get("axis_name", "index")), _text(h5.attrs.get("axis_unit", "1")))
        attrs = tuple(sorted((k, v.item() if isinstance(v, np.generic) else _text(v) if isinstance(v, bytes) else v)
                             for k, v in h5["attrs"].attrs.items())) if "attrs" in h5 else ()
        obs = _read_frames(h5, path, axis, technique, attrs)
        if "measured" in h5:
            group = h5["measured"]
            measured = _read_frames(group, path, axis, technique, attrs)
            index = _read(group, path, "frame_index", (measured.n_frames,)).astype(np.int64)
            if index.size and (index.min() < 0 or index.max() >= obs.n_frames):
                raise DataFormatError(f"{path}: measured/frame_index must lie in 0..{obs.n_frames - 1}, got "
                                      f"{index.min()}..{index.max()}")
            obs = obs.with_measured(measured, index)
    return obs


def _read_v1(h5: h5py.File, path: Path) -> Observable:
    """A version-1 file (one axis dataset named with its unit, per-frame datasets at the top level)."""
    keys = [k for k in _V1_AXES if k in h5]
    if len(keys) != 1:
        raise DataFormatError(f"{path}: expected exactly one axis dataset among {', '.join(_V1_AXES)}, found "
                              f"{keys or 'none'}")
    axis_values = np.asarray(h5[keys[0]][...], dtype=np.float64)
    if axis_values.ndim != 1 or axis_values.size < 2 or not np.all(np.diff(axis_values) > 0):
        raise DataFormatError(f"{path}: {keys[0]} must be a strictly increasing 1-D grid of ≥ 2 points")
    axis = Axis(axis_values, *_V1_AXES[keys[0]])
    if "intensity" not in h5:
        raise DataFormatError(f"{path}: dataset 'intensity' is missing (expected shape (n_frames, {axis_values.size}))")
    n = int(h5["intensity"].shape[0])
    values = _read(h5, path, "intensity", (n, axis_values.size)).astype(np.float64)
    conditions = {k: _read(h5, path, k, (n,)).astype(np.float64) for k in ("time_s", "pressure_bar", "temperature_K")}
    is_xrd = h5.attrs["format"] == _V1_XRD
    if is_xrd and "wavelength_A" not in h5.attrs:
        raise DataFormatError(f"{path}: attribute wavelength_A (X-ray wavelength in Å) is missing")
    attrs = (("wavelength_A", float(h5.attrs["wavelength_A"])),) if is_xrd else ()
    unit = _text(h5.attrs.get("intensity_unit", "arb."))
    technique = "xrd" if is_xrd else _text(h5.attrs.get("technique", path.stem))
    obs = Observable(axis=axis, values=values, conditions=conditions, technique=technique, unit=unit, attrs=attrs)
    if "measured_intensity" in h5:
        meas = np.asarray(h5["measured_intensity"][...], dtype=np.float64)
        m = meas.shape[0] if meas.ndim == 2 else -1
        meas = _read(h5, path, "measured_intensity", (m, axis_values.size)).astype(np.float64)
        index = _read(h5, path, "measured_frame_index", (m,)).astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise DataFormatError(f"{path}: measured_frame_index must lie in 0..{n - 1}, got {index.min()}..{index.max()}")
        sigma = _read(h5, path, "measured_sigma", meas.shape).astype(np.float64) if "measured_sigma" in h5 else None
        measured = Observable(axis=axis, values=meas, sigma=sigma, technique=technique, unit=unit, attrs=attrs)
        obs = obs.with_measured(measured, index)
    return obs


def _open(path: Path, formats: tuple[str, ...]) -> h5py.File:
    if not path.is_file():
        raise DataFormatError(f"{path}: observable file not found")
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise DataFormatError(f"{path}: not an HDF5 file ({error})") from None
    fmt = h5.attrs.get("format")
    if fmt not in formats:
        h5.close()
        raise DataFormatError(f"{path}: attribute format: expected one of {', '.join(formats)}, got {fmt!r}")
    if int(h5.attrs.get("format_version", -1)) > FORMAT_VERSION:
        h5.close()
        raise DataFormatError(f"{path}: format_version {h5.attrs.get('format_version')} is newer than this reader")
    return h5


def write_image_series(
    path: str | Path, *, image: np.ndarray, pixel_size_A: float, frame_index: np.ndarray, kind: str = "HRTEM"
) -> Path:
    """Write ``observables/tem.h5``: images (n_images, ny, nx), pixel size [Å], simulated frame of each image."""
    image = np.asarray(image, dtype=np.float32)
    frame_index = np.asarray(frame_index, dtype=np.int64)
    if image.ndim != 3 or frame_index.shape != (image.shape[0],) or not pixel_size_A > 0:
        raise DataFormatError(
            f"{path}: expected image (n_images, ny, nx), frame_index (n_images,) and pixel_size_A > 0, got "
            f"{image.shape}, {frame_index.shape}, {pixel_size_A}"
        )
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = IMAGE_FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["pixel_size_A"] = float(pixel_size_A)
        h5.attrs["kind"] = kind
        h5.create_dataset("image", data=image, compression="gzip")
        h5.create_dataset("frame_index", data=frame_index)
    return path


def read_image_series(path: str | Path) -> ImageSeries:
    """Read ``observables/tem.h5`` written by :func:`write_image_series`."""
    path = Path(path)
    with _open(path, (IMAGE_FORMAT,)) as h5:
        image = np.asarray(h5["image"][...]) if "image" in h5 else None
        if image is None or image.ndim != 3:
            raise DataFormatError(f"{path}: dataset 'image' must exist with shape (n_images, ny, nx)")
        index = np.asarray(h5["frame_index"][...], dtype=np.int64) if "frame_index" in h5 else None
        if index is None or index.shape != (image.shape[0],):
            raise DataFormatError(f"{path}: dataset 'frame_index' must have shape ({image.shape[0]},)")
        pixel = float(h5.attrs.get("pixel_size_A", 0.0))
        if not pixel > 0:
            raise DataFormatError(f"{path}: attribute pixel_size_A must be > 0 (Å per pixel), got {pixel}")
        kind = h5.attrs.get("kind", "image")
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    return ImageSeries(image=image, pixel_size_A=pixel, frame_index=index, kind=kind, path=path)
