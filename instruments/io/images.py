"""Electron-microscope images: TIFF (tifffile), MRC (mrcfile), DM3/DM4 (rosettasciio or ncempy, optional).

Libraries:

* ``tifffile`` (C. Gohlke, BSD-3) reads every TIFF flavour microscopes write, including ImageJ
  hyperstacks; the pixel size is taken from, in order, ImageJ metadata (``unit`` + ``spacing`` or the
  resolution tags with the ImageJ unit), or the TIFF ``XResolution``/``YResolution`` tags with
  ``ResolutionUnit`` inch or centimetre (pixels per unit → Å per pixel). Without any, the axes
  are pixel indices (unit ``px``) and ``metadata['pixel_size']`` says ``unknown``.
* ``mrcfile`` (CCP-EM, BSD-3) validates the MRC2014 header; the voxel size is in Å.
* DM3/DM4 (Gatan) need ``rosettasciio`` or ``ncempy``, both GPL-licensed; they are an optional extra
  (``pip install operando-mof-twin[gpl-readers]``) and never imported unless such a file is read.

A 2-D image gives a :class:`Measurement` with ``axis`` = x (columns) and ``second_axis`` = y (rows),
both in Å when the pixel size is known. A stack (3-D) gives a :class:`MeasurementSeries` of frames.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import check_declared_size, fail, guard, number
from instruments.measurement import Measurement, MeasurementSeries
from instruments.observable import Axis

__all__ = ["read_tiff", "read_mrc", "read_dm", "image_measurement"]

_LENGTH_ANG = {"m": 1e10, "cm": 1e8, "mm": 1e7, "um": 1e4, "µm": 1e4, "micron": 1e4, "microns": 1e4, "\\u00B5m": 1e4,
               "nm": 10.0, "a": 1.0, "å": 1.0, "angstrom": 1.0, "pm": 1e-2}


def _axes(shape: tuple[int, ...], pixel_ang: tuple[float, float] | None) -> tuple[Axis, Axis]:
    ny, nx = shape[-2], shape[-1]
    if pixel_ang is None:
        return Axis(np.arange(nx, dtype=np.float64), "x", "px"), Axis(np.arange(ny, dtype=np.float64), "y", "px")
    py, px = pixel_ang
    return (Axis(np.arange(nx, dtype=np.float64) * px, "x", "Å"), Axis(np.arange(ny, dtype=np.float64) * py, "y", "Å"))


def image_measurement(path: Path, data: np.ndarray, pixel_ang: tuple[float, float] | None, fmt: str,
                      meta: dict[str, Any]) -> Measurement | MeasurementSeries:
    """Wrap a 2-D image or a 3-D stack with its pixel size (Å, (y, x)) into Measurement(s)."""
    arr = np.asarray(data)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
        meta = {**meta, "complex": "modulus taken"}
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        arr = arr[..., :3].mean(axis=-1)  # RGB(A) → grey
        meta = {**meta, "rgb": "averaged to grey"}
    if arr.ndim not in (2, 3) or min(arr.shape) < 1:
        raise fail(path, None, f"expected a 2-D image or a 3-D stack, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr.ravel()))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), arr.shape)
        raise fail(path, f"pixel {tuple(int(i) for i in idx)}", f"value {number(arr[idx])} is not finite")
    meta = {**meta, "pixel_size_ang": list(pixel_ang) if pixel_ang else "unknown"}
    xa, ya = _axes(arr.shape, pixel_ang)
    frames = [arr] if arr.ndim == 2 else list(arr)
    items = [
        Measurement(axis=xa, values=f, second_axis=ya, quantity="intensity", unit="counts" if fmt != "mrc" else "arb.",
                    technique="tem", metadata=meta, source=str(path), format=fmt)
        for f in frames
    ]
    if len(items) == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(f"frame {i}" for i in range(len(items))), format=fmt, source=str(path))


def read_tiff(path: Path) -> Measurement | MeasurementSeries:
    """Read a TIFF image or stack with its pixel size (see the module docstring)."""
    import tifffile

    def load() -> tuple[np.ndarray, tuple[float, float] | None, dict[str, Any]]:
        with tifffile.TiffFile(str(path)) as tif:
            if not tif.pages:
                raise fail(path, None, "not a readable TIFF: no image pages")
            page = tif.pages[0]
            series = tif.series[0] if tif.series else None
            if series is not None:  # compressed pages can declare far more than the file holds
                shape = tuple(int(n) for n in series.shape)
                check_declared_size(path, None, 8 * int(np.prod(shape, dtype=np.float64)),
                                    f"a {' × '.join(map(str, shape))} image read as float64")
            arr = tif.asarray()
            meta: dict[str, Any] = {"tiff_shape": list(arr.shape), "dtype": str(arr.dtype)}
            pixel = None
            ij = tif.imagej_metadata or {}
            tags = page.tags
            xres = tags.get("XResolution")
            yres = tags.get("YResolution")
            unit_tag = tags.get("ResolutionUnit")
            def per_unit(tag: Any) -> float | None:
                if tag is None:
                    return None
                num, den = tag.value if isinstance(tag.value, tuple) else (tag.value, 1)
                return float(num) / float(den) if den else None
            rx, ry = per_unit(xres), per_unit(yres)
            ij_unit = str(ij.get("unit", "")).strip().lower()
            if ij_unit in _LENGTH_ANG and rx and ry and rx > 0 and ry > 0:
                f = _LENGTH_ANG[ij_unit]
                pixel = (f / ry, f / rx)
                meta["pixel_size_from"] = f"ImageJ unit {ij_unit!r} and resolution tags"
            elif unit_tag is not None and rx and ry and rx > 0 and ry > 0 and int(unit_tag.value) in (2, 3) and not (rx == 1 and ry == 1) \
                    and not (rx in (72.0, 96.0, 300.0) and int(unit_tag.value) == 2):
                per = 2.54e8 if int(unit_tag.value) == 2 else 1e8  # Å per inch / per cm
                pixel = (per / ry, per / rx)
                meta["pixel_size_from"] = "TIFF resolution tags"
            desc = page.description
            if desc:
                meta["description"] = desc[:500]
            return arr, pixel, meta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr, pixel, meta = guard(path, load, "not a readable TIFF")
    return image_measurement(path, arr, pixel, "tiff", meta)


def read_mrc(path: Path) -> Measurement | MeasurementSeries:
    """Read an MRC/MRCS image or stack (MRC2014) with its voxel size in Å."""
    import mrcfile

    def load() -> tuple[np.ndarray, tuple[float, float] | None, dict[str, Any]]:
        with mrcfile.open(str(path), permissive=False, header_only=False) as mrc:
            arr = np.array(mrc.data)
            vs = mrc.voxel_size
            px, py = float(vs.x), float(vs.y)
            pixel = (py, px) if px > 0 and py > 0 else None
            h = mrc.header
            meta = {"mrc_shape": list(arr.shape), "mode": int(h.mode), "exttyp": bytes(h.exttyp).decode("latin-1").strip("\x00 ")}
            return arr, pixel, meta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr, pixel, meta = guard(path, load, "not a valid MRC file")
    return image_measurement(path, arr, pixel, "mrc", meta)


def read_dm(path: Path) -> Measurement | MeasurementSeries:
    """Read a Gatan DM3/DM4 image through rosettasciio or ncempy (optional GPL extra)."""
    try:
        from rsciio.digitalmicrograph import file_reader  # type: ignore[import-not-found]
    except ImportError:
        file_reader = None
    if file_reader is not None:
        def load_rsciio() -> tuple[np.ndarray, tuple[float, float] | None, dict[str, Any]]:
            d = file_reader(str(path))[0]
            axes = d["axes"]
            pixel = None
            if len(axes) >= 2:
                ay, ax = axes[-2], axes[-1]
                fy, fx = _LENGTH_ANG.get(str(ay.get("units", "")).lower()), _LENGTH_ANG.get(str(ax.get("units", "")).lower())
                if fx and fy:
                    pixel = (float(ay["scale"]) * fy, float(ax["scale"]) * fx)
            return np.asarray(d["data"]), pixel, {"reader": "rosettasciio"}
        arr, pixel, meta = guard(path, load_rsciio, "not a readable DM3/DM4 file")
        return image_measurement(path, arr, pixel, "dm", meta)
    try:
        from ncempy.io import dm as ncem_dm  # type: ignore[import-not-found]
    except ImportError:
        from mofcore.errors import NotAvailableError

        raise NotAvailableError(
            f"{path}: DM3/DM4 files need rosettasciio or ncempy (GPL, optional): "
            "pip install 'operando-mof-twin[gpl-readers]'"
        ) from None

    def load_ncem() -> tuple[np.ndarray, tuple[float, float] | None, dict[str, Any]]:
        with ncem_dm.fileDM(str(path)) as f:
            d = f.getDataset(0)
        units = [str(u).lower() for u in d.get("pixelUnit", [])]
        scale = list(d.get("pixelSize", []))
        pixel = None
        if len(units) >= 2 and all(u in _LENGTH_ANG for u in units[-2:]):
            pixel = (float(scale[-2]) * _LENGTH_ANG[units[-2]], float(scale[-1]) * _LENGTH_ANG[units[-1]])
        return np.asarray(d["data"]), pixel, {"reader": "ncempy"}

    arr, pixel, meta = guard(path, load_ncem, "not a readable DM3/DM4 file")
    return image_measurement(path, arr, pixel, "dm", meta)
