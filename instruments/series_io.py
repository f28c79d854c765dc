"""Observable series files in a run directory: ``OUT/observables/<technique>.h5``.

``twin observe`` writes one HDF5 file per technique; the report reads them. This module (in ``instruments``,
which both the twin and the reports may import) is the one
writer/reader pair for those files, so that producer and consumer agree on one layout.

XRD (``observables/xrd.h5``, format ``operando-mof-twin-xrd-series`` version 1)::

    attrs        format, format_version, wavelength_A, intensity_unit (default "arb.")
    two_theta_deg          (n_points,)           float64  2θ grid [deg], increasing
    intensity              (n_frames, n_points)  float64  simulated intensity
    time_s                 (n_frames,)           float64  time of each frame [s]
    pressure_bar           (n_frames,)           float64  total dry-gas pressure [bar]
    temperature_K          (n_frames,)           float64  temperature [K]
    measured_intensity     (n_meas, n_points)    optional, measured pattern on the same grid
    measured_sigma         (n_meas, n_points)    optional, standard uncertainties of the measured points
    measured_frame_index   (n_meas,)             required with measured_intensity: simulated frame it matches

Other techniques (``nmr.h5``, ``ir.h5``, ``raman.h5``) use the generic spectral layout: one axis dataset
named after the axis with its unit (``shift_ppm``, ``wavenumber_cm1``, ``frequency_kHz``), ``intensity``
(n_frames, n_points), ``time_s``, ``pressure_bar``, ``temperature_K`` and optional ``measured_intensity`` +
``measured_frame_index`` as for XRD. TEM (``tem.h5``) stores ``image`` (n_images, ny, nx), ``pixel_size_A``
(attribute) and ``frame_index`` (n_images,). :func:`read_spectral_series` and :func:`read_image_series` read
them; the report shows what is present.

Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mofcore.atomic import atomic_path
from mofcore.errors import DataFormatError

__all__ = [
    "XRD_FORMAT",
    "SPECTRAL_AXES",
    "SpectralSeries",
    "ImageSeries",
    "write_xrd_series",
    "read_xrd_series",
    "write_spectral_series",
    "read_spectral_series",
    "write_image_series",
    "read_image_series",
]

XRD_FORMAT = "operando-mof-twin-xrd-series"
SPECTRAL_FORMAT = "operando-mof-twin-spectral-series"
IMAGE_FORMAT = "operando-mof-twin-image-series"
FORMAT_VERSION = 1

#: axis dataset name → (axis name, unit, whether the community plots it decreasing to the right)
SPECTRAL_AXES: dict[str, tuple[str, str, bool]] = {
    "two_theta_deg": ("2θ", "deg", False),
    "shift_ppm": ("δ", "ppm", True),
    "wavenumber_cm1": ("wavenumber", "cm⁻¹", True),
    "frequency_kHz": ("frequency", "kHz", True),
}


@dataclass(frozen=True)
class SpectralSeries:
    """A simulated series on one axis, with optional measured frames on the same axis.

    Attributes:
        technique: ``"xrd"``, ``"nmr"``, ``"ir"``, ``"raman"``.
        axis_key: name of the axis dataset (``"two_theta_deg"``, ``"shift_ppm"`` …; see :data:`SPECTRAL_AXES`).
        axis: axis values, (n_points,), increasing.
        intensity: simulated values, (n_frames, n_points).
        time_s, pressure_bar, temperature_K: per simulated frame, (n_frames,).
        measured_intensity: (n_meas, n_points) or ``None``.
        measured_sigma: (n_meas, n_points) standard uncertainties or ``None`` (then counting weights are used).
        measured_frame_index: (n_meas,) simulated frame matched by each measured pattern, or ``None``.
        wavelength_A: X-ray wavelength [Å] (XRD only, else ``None``).
        intensity_unit: unit of the intensities.
        path: the file read.
    """

    technique: str
    axis_key: str
    axis: np.ndarray
    intensity: np.ndarray
    time_s: np.ndarray
    pressure_bar: np.ndarray
    temperature_K: np.ndarray
    measured_intensity: np.ndarray | None
    measured_sigma: np.ndarray | None
    measured_frame_index: np.ndarray | None
    wavelength_A: float | None
    intensity_unit: str
    path: Path

    @property
    def n_frames(self) -> int:
        return int(self.intensity.shape[0])

    @property
    def axis_label(self) -> str:
        name, unit, _ = SPECTRAL_AXES[self.axis_key]
        return f"{name} ({unit})"

    @property
    def axis_decreasing(self) -> bool:
        """Whether the community convention draws this axis decreasing to the right (ppm, cm⁻¹)."""
        return SPECTRAL_AXES[self.axis_key][2]


@dataclass(frozen=True)
class ImageSeries:
    """Images (e.g. simulated TEM) with pixel size: ``image`` (n_images, ny, nx), ``frame_index`` (n_images,)."""

    image: np.ndarray
    pixel_size_A: float
    frame_index: np.ndarray
    kind: str
    path: Path


def _write_series(
    path: Path,
    fmt: str,
    axis_key: str,
    axis: np.ndarray,
    intensity: np.ndarray,
    time_s: np.ndarray,
    pressure_bar: np.ndarray,
    temperature_K: np.ndarray,
    measured_intensity: np.ndarray | None,
    measured_frame_index: np.ndarray | None,
    measured_sigma: np.ndarray | None,
    attrs: dict,
) -> Path:
    axis = np.asarray(axis, dtype=np.float64)
    intensity = np.asarray(intensity, dtype=np.float64)
    n_frames = intensity.shape[0]
    if intensity.ndim != 2 or intensity.shape[1] != axis.shape[0]:
        raise DataFormatError(
            f"{path}: intensity must have shape (n_frames, {axis.shape[0]}) to match {axis_key}, got {intensity.shape}"
        )
    per_frame = {"time_s": time_s, "pressure_bar": pressure_bar, "temperature_K": temperature_K}
    for name, value in per_frame.items():
        if np.shape(value) != (n_frames,):
            raise DataFormatError(f"{path}: {name} must have shape ({n_frames},), got {np.shape(value)}")
    if (measured_intensity is None) != (measured_frame_index is None):
        raise DataFormatError(f"{path}: measured_intensity and measured_frame_index must be given together")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = fmt
        h5.attrs["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            h5.attrs[key] = value
        h5.create_dataset(axis_key, data=axis)
        h5.create_dataset("intensity", data=intensity, compression="gzip", chunks=(1, axis.shape[0]))
        for name, value in per_frame.items():
            h5.create_dataset(name, data=np.asarray(value, dtype=np.float64))
        if measured_intensity is not None:
            meas = np.asarray(measured_intensity, dtype=np.float64)
            index = np.asarray(measured_frame_index, dtype=np.int64)
            if meas.ndim != 2 or meas.shape[1] != axis.shape[0] or index.shape != (meas.shape[0],):
                raise DataFormatError(
                    f"{path}: measured_intensity must be (n_meas, {axis.shape[0]}) and measured_frame_index (n_meas,),"
                    f" got {meas.shape} and {index.shape}"
                )
            h5.create_dataset("measured_intensity", data=meas)
            h5.create_dataset("measured_frame_index", data=index)
            if measured_sigma is not None:
                sigma = np.asarray(measured_sigma, dtype=np.float64)
                if sigma.shape != meas.shape:
                    raise DataFormatError(f"{path}: measured_sigma must have shape {meas.shape}, got {sigma.shape}")
                h5.create_dataset("measured_sigma", data=sigma)
    return path


def write_xrd_series(
    path: str | Path,
    *,
    two_theta_deg: np.ndarray,
    intensity: np.ndarray,
    time_s: np.ndarray,
    pressure_bar: np.ndarray,
    temperature_K: np.ndarray,
    wavelength_A: float,
    measured_intensity: np.ndarray | None = None,
    measured_frame_index: np.ndarray | None = None,
    measured_sigma: np.ndarray | None = None,
    intensity_unit: str = "arb.",
) -> Path:
    """Write ``observables/xrd.h5`` (layout in the module docstring) atomically; returns the path."""
    return _write_series(
        Path(path),
        XRD_FORMAT,
        "two_theta_deg",
        two_theta_deg,
        intensity,
        time_s,
        pressure_bar,
        temperature_K,
        measured_intensity,
        measured_frame_index,
        measured_sigma,
        {"wavelength_A": float(wavelength_A), "intensity_unit": intensity_unit},
    )


def write_spectral_series(
    path: str | Path,
    *,
    technique: str,
    axis_key: str,
    axis: np.ndarray,
    intensity: np.ndarray,
    time_s: np.ndarray,
    pressure_bar: np.ndarray,
    temperature_K: np.ndarray,
    measured_intensity: np.ndarray | None = None,
    measured_frame_index: np.ndarray | None = None,
    measured_sigma: np.ndarray | None = None,
    intensity_unit: str = "arb.",
) -> Path:
    """Write ``observables/<technique>.h5`` for NMR/IR/Raman in the generic spectral layout."""
    if axis_key not in SPECTRAL_AXES:
        raise DataFormatError(f"{path}: axis_key must be one of {', '.join(SPECTRAL_AXES)}, got {axis_key!r}")
    return _write_series(
        Path(path),
        SPECTRAL_FORMAT,
        axis_key,
        axis,
        intensity,
        time_s,
        pressure_bar,
        temperature_K,
        measured_intensity,
        measured_frame_index,
        measured_sigma,
        {"technique": technique, "intensity_unit": intensity_unit},
    )


def _read(h5: h5py.File, path: Path, name: str, shape_hint: str) -> np.ndarray:
    if name not in h5:
        raise DataFormatError(f"{path}: dataset {name!r} is missing (expected {shape_hint}); present: {', '.join(h5)}")
    return np.asarray(h5[name][...], dtype=np.float64)


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


def read_spectral_series(path: str | Path) -> SpectralSeries:
    """Read an XRD or generic spectral series file, checking every shape against the axis and frame count."""
    path = Path(path)
    with _open(path, (XRD_FORMAT, SPECTRAL_FORMAT)) as h5:
        is_xrd = h5.attrs["format"] == XRD_FORMAT
        axis_keys = [k for k in SPECTRAL_AXES if k in h5]
        if len(axis_keys) != 1:
            raise DataFormatError(
                f"{path}: expected exactly one axis dataset among {', '.join(SPECTRAL_AXES)}, found {axis_keys or 'none'}"
            )
        axis_key = axis_keys[0]
        axis = _read(h5, path, axis_key, "(n_points,)")
        intensity = _read(h5, path, "intensity", "(n_frames, n_points)")
        if intensity.ndim != 2 or intensity.shape[1] != axis.shape[0]:
            raise DataFormatError(
                f"{path}: intensity has shape {intensity.shape}, expected (n_frames, {axis.shape[0]}) to match {axis_key}"
            )
        if axis.ndim != 1 or axis.shape[0] < 2 or not np.all(np.diff(axis) > 0):
            raise DataFormatError(f"{path}: {axis_key} must be a strictly increasing 1-D grid of ≥ 2 points")
        n = intensity.shape[0]
        per_frame = {}
        for name in ("time_s", "pressure_bar", "temperature_K"):
            value = _read(h5, path, name, f"({n},)")
            if value.shape != (n,):
                raise DataFormatError(f"{path}: {name} has shape {value.shape}, expected ({n},) (one per frame)")
            per_frame[name] = value
        measured = sigma = index = None
        if "measured_intensity" in h5:
            measured = _read(h5, path, "measured_intensity", "(n_meas, n_points)")
            if "measured_frame_index" not in h5:
                raise DataFormatError(f"{path}: measured_intensity is present but measured_frame_index is missing")
            index = np.asarray(h5["measured_frame_index"][...], dtype=np.int64)
            if measured.ndim != 2 or measured.shape[1] != axis.shape[0] or index.shape != (measured.shape[0],):
                raise DataFormatError(
                    f"{path}: measured_intensity {measured.shape} / measured_frame_index {index.shape} do not match "
                    f"(n_meas, {axis.shape[0]}) / (n_meas,)"
                )
            if index.size and (index.min() < 0 or index.max() >= n):
                raise DataFormatError(
                    f"{path}: measured_frame_index must lie in 0..{n - 1}, got {index.min()}..{index.max()}"
                )
            if "measured_sigma" in h5:
                sigma = _read(h5, path, "measured_sigma", "(n_meas, n_points)")
                if sigma.shape != measured.shape:
                    raise DataFormatError(f"{path}: measured_sigma has shape {sigma.shape}, expected {measured.shape}")
        technique = "xrd" if is_xrd else str(h5.attrs.get("technique", path.stem))
        wavelength = float(h5.attrs["wavelength_A"]) if "wavelength_A" in h5.attrs else None
        if is_xrd and wavelength is None:
            raise DataFormatError(f"{path}: attribute wavelength_A (X-ray wavelength in Å) is missing")
        unit = h5.attrs.get("intensity_unit", "arb.")
        unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    return SpectralSeries(
        technique=technique,
        axis_key=axis_key,
        axis=axis,
        intensity=intensity,
        measured_intensity=measured,
        measured_sigma=sigma,
        measured_frame_index=index,
        wavelength_A=wavelength,
        intensity_unit=unit,
        path=path,
        **per_frame,
    )


def read_xrd_series(path: str | Path) -> SpectralSeries:
    """Read ``observables/xrd.h5``; raises :class:`~twin.errors.DataFormatError` naming the file and dataset."""
    series = read_spectral_series(path)
    if series.technique != "xrd":
        raise DataFormatError(f"{path}: not an XRD series (technique {series.technique!r})")
    return series


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
