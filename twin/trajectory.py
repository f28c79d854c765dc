"""Trajectories on HDF5: an atomic, resumable writer and a lazy reader.

Layout (format ``operando-mof-twin-trajectory``, version 1; full description in ``docs/trajectory-format.md``)::

    /                      attrs: format, format_version, complete (1 only once finalised), n_frames
    /provenance            attrs: package_version, scenario_toml, seed, material, material_sha256, host, …
    /lattice               attrs: shape, cell_A, block, site_shape; dataset mask (uint8, site_shape)
    /frames/time_s         (n_frames,) float64, attr unit = "s"
    /conditions/…          temperature_K (n_frames,), partial_pressure_Pa (n_frames, n_guests), relative_humidity
    /summaries/<name>      (n_frames, …) every frame, attrs unit, description
    /fields/<name>         (n_field_frames, *site_shape) chunked and gzip-compressed, attr unit
    /fields/frame_index    (n_field_frames,) frame number of each stored field frame

Writes are atomic: the writer fills ``<name>.partial`` and renames it to ``<name>`` only in
:meth:`TrajectoryWriter.finalize`, after setting ``complete = 1``; an interrupted run leaves only the
``.partial`` file (which ``twin run --resume`` continues) and never a file that looks complete, and a good
trajectory from an earlier run is replaced only by a complete new one. Checkpoints are separate files written
to a temporary name and renamed (:func:`save_checkpoint`).

The reader opens datasets on demand: a field frame is read only when asked for, by chunks, so a
trajectory larger than memory can be analysed frame by frame.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twin import __version__
from twin.atomic import atomic_path
from twin.errors import DataFormatError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FieldSpec",
    "SummarySpec",
    "TrajectoryWriter",
    "Trajectory",
    "save_checkpoint",
    "load_checkpoint",
    "default_provenance",
    "partial_path",
]

FORMAT_NAME = "operando-mof-twin-trajectory"
FORMAT_VERSION = 1
_CHUNK_EDGE = 64


@dataclass(frozen=True)
class FieldSpec:
    """A per-site field stored every ``field_stride``-th frame: dtype, unit and meaning."""

    dtype: str = "float32"
    unit: str = "1"
    description: str = ""


@dataclass(frozen=True)
class SummarySpec:
    """A per-frame summary: trailing shape (e.g. ``(n_phases,)``), dtype, unit and meaning."""

    shape: tuple[int, ...] = ()
    dtype: str = "float64"
    unit: str = "1"
    description: str = ""


def partial_path(path: str | Path) -> Path:
    """The name a trajectory has while it is being written."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def default_provenance(**extra: Any) -> dict[str, Any]:
    """Package version, host, time and library versions, plus ``extra`` (scenario text, seed, material hash…)."""
    import jax

    info: dict[str, Any] = {
        "package_version": __version__,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jax": jax.__version__,
        "h5py": h5py.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    info.update(extra)
    return info


def _field_chunks(site_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunk of one field frame: the leading (crystal) axes one at a time, the last three in 64³ blocks."""
    lead = tuple(1 for _ in site_shape[:-3])
    tail = tuple(min(_CHUNK_EDGE, n) for n in site_shape[-3:])
    return (1, *lead, *tail)


class TrajectoryWriter:
    """Writes a trajectory frame by frame into ``<path>.partial`` and renames it when finalised.

    Use :meth:`create` for a new run and :meth:`resume` to continue a partial file from a checkpoint. As a
    context manager, an exception leaves the partial file in place (for resume) and never finalises it.
    """

    def __init__(self, path: Path, handle: h5py.File) -> None:
        self.path = path
        self._h5 = handle
        self._n_frames = int(handle.attrs["n_frames"])
        self._n_field_frames = int(handle["fields/frame_index"].shape[0])
        self.field_stride = int(handle["fields"].attrs["field_stride"])
        self.guests = tuple(json.loads(handle["conditions"].attrs["guests"]))

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        guests: tuple[str, ...],
        phases: tuple[str, ...],
        site_shape: tuple[int, ...],
        cell_A: tuple[float, float, float],
        mask: np.ndarray | None,
        fields: Mapping[str, FieldSpec],
        summaries: Mapping[str, SummarySpec],
        provenance: Mapping[str, Any],
        field_stride: int = 1,
        block: int = 1,
        compression: str | None = "gzip",
    ) -> "TrajectoryWriter":
        """Start a new trajectory (any earlier ``.partial`` of the same name is discarded).

        Args:
            path: final file name (``OUT/trajectory.h5``).
            guests: guest names, the order of ``partial_pressure_Pa`` columns.
            phases: phase names, the order of per-phase summary columns.
            site_shape: shape of one field frame, e.g. ``(nx, ny, nz)`` or ``(n_crystals, nx, ny, nz)``.
            cell_A: site-cell edge lengths (a, b, c) [Å] times the block factor.
            mask: boolean array of ``site_shape`` marking sites inside the crystal(s) (``None``: all).
            fields: per-site fields to store every ``field_stride``-th frame.
            summaries: per-frame summaries.
            provenance: JSON-serialisable metadata (see :func:`default_provenance`).
        """
        path = Path(path)
        partial = partial_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():
            partial.unlink()
        h5 = h5py.File(partial, "w")
        h5.attrs["format"] = FORMAT_NAME
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["complete"] = 0
        h5.attrs["n_frames"] = 0
        prov = h5.create_group("provenance")
        for key, value in provenance.items():
            prov.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
        lat = h5.create_group("lattice")
        lat.attrs["site_shape"] = np.asarray(site_shape, dtype=np.int64)
        lat.attrs["cell_A"] = np.asarray(cell_A, dtype=np.float64)
        lat.attrs["block"] = int(block)
        lat.attrs["phases"] = json.dumps(list(phases))
        mask_array = np.ones(site_shape, dtype=np.uint8) if mask is None else np.asarray(mask, dtype=np.uint8)
        if mask_array.shape != tuple(site_shape):
            h5.close()
            partial.unlink()
            raise ValueError(f"mask shape {mask_array.shape} does not match site_shape {tuple(site_shape)}")
        lat.create_dataset("mask", data=mask_array, chunks=_field_chunks(site_shape)[1:], compression=compression)
        frames = h5.create_group("frames")
        _series(frames, "time_s", (), "float64", "s", "simulated time of the frame")
        cond = h5.create_group("conditions")
        cond.attrs["guests"] = json.dumps(list(guests))
        _series(cond, "temperature_K", (), "float64", "K", "temperature")
        _series(cond, "partial_pressure_Pa", (len(guests),), "float64", "Pa", "partial pressure of each dry guest")
        _series(cond, "relative_humidity", (), "float64", "1", "relative humidity (0-1)")
        summ = h5.create_group("summaries")
        for name, spec in summaries.items():
            _series(summ, name, spec.shape, spec.dtype, spec.unit, spec.description)
        fld = h5.create_group("fields")
        fld.attrs["field_stride"] = int(field_stride)
        fld.create_dataset("frame_index", shape=(0,), maxshape=(None,), dtype="int64", chunks=(1024,))
        for name, spec in fields.items():
            ds = fld.create_dataset(
                name,
                shape=(0, *site_shape),
                maxshape=(None, *site_shape),
                dtype=spec.dtype,
                chunks=_field_chunks(site_shape),
                compression=compression,
                shuffle=compression is not None,
            )
            ds.attrs["unit"] = spec.unit
            ds.attrs["description"] = spec.description
        h5.flush()
        return cls(path, h5)

    @classmethod
    def resume(cls, path: str | Path, n_frames: int) -> "TrajectoryWriter":
        """Reopen ``<path>.partial`` and drop every frame after the first ``n_frames`` (the checkpoint's)."""
        path = Path(path)
        partial = partial_path(path)
        if not partial.is_file():
            raise DataFormatError(f"{partial}: no partial trajectory to resume")
        try:
            h5 = h5py.File(partial, "r+")
        except OSError as error:
            raise DataFormatError(f"{partial}: cannot reopen the partial trajectory ({error})") from None
        have = int(h5.attrs["n_frames"])
        if n_frames > have:
            h5.close()
            raise DataFormatError(f"{partial}: the checkpoint is at frame {n_frames} but the file holds only {have}")
        for group in ("frames", "conditions", "summaries"):
            for ds in h5[group].values():
                ds.resize(n_frames, axis=0)
        index = h5["fields/frame_index"]
        keep = int(np.searchsorted(index[...], n_frames, side="left"))
        for ds in h5["fields"].values():
            ds.resize(keep, axis=0)
        h5.attrs["n_frames"] = n_frames
        h5.flush()
        return cls(path, h5)

    # -- writing -------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self._n_frames

    def wants_fields(self, frame: int | None = None) -> bool:
        """Whether frame ``frame`` (default: the next one) stores full fields."""
        frame = self._n_frames if frame is None else frame
        return frame % self.field_stride == 0

    def append(
        self,
        time_s: float,
        temperature_K: float,
        partial_pressure_Pa: np.ndarray,
        relative_humidity: float,
        summaries: Mapping[str, np.ndarray | float],
        fields: Mapping[str, np.ndarray] | None = None,
    ) -> int:
        """Append one frame; ``fields`` must be given exactly on frames where :meth:`wants_fields` is true."""
        h5 = self._h5
        n = self._n_frames
        _put(h5["frames/time_s"], n, time_s)
        _put(h5["conditions/temperature_K"], n, temperature_K)
        _put(h5["conditions/partial_pressure_Pa"], n, np.asarray(partial_pressure_Pa, dtype=np.float64))
        _put(h5["conditions/relative_humidity"], n, relative_humidity)
        expected = set(h5["summaries"].keys())
        if set(summaries) != expected:
            raise ValueError(f"summaries {sorted(summaries)} do not match the declared {sorted(expected)}")
        for name, value in summaries.items():
            _put(h5["summaries"][name], n, value)
        if self.wants_fields(n):
            declared = set(h5["fields"].keys()) - {"frame_index"}
            if fields is None or set(fields) != declared:
                raise ValueError(f"frame {n} stores fields {sorted(declared)}, got {sorted(fields or {})}")
            k = self._n_field_frames
            _put(h5["fields/frame_index"], k, n)
            for name, value in fields.items():
                _put(h5["fields"][name], k, value)
            self._n_field_frames += 1
        self._n_frames = n + 1
        h5.attrs["n_frames"] = self._n_frames
        return n

    def flush(self) -> None:
        """Push buffered data to disk (done before every checkpoint)."""
        self._h5.flush()

    def finalize(self) -> Path:
        """Mark the file complete, close it and rename it to its final name (atomic); returns that path."""
        self._h5.attrs["complete"] = 1
        self._h5.flush()
        self._h5.close()
        os.replace(partial_path(self.path), self.path)
        return self.path

    def close(self) -> None:
        """Close without finalising (the partial file stays for resume)."""
        if self._h5.id.valid:
            self._h5.close()

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _series(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: str, unit: str, description: str) -> None:
    ds = group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(256, *shape) if shape else (1024,)
    )
    ds.attrs["unit"] = unit
    ds.attrs["description"] = description


def _put(ds: h5py.Dataset, index: int, value: Any) -> None:
    if ds.shape[0] <= index:
        ds.resize(index + 1, axis=0)
    ds[index] = value


# ---------------------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically (temporary file, then rename): raw state arrays plus JSON metadata.

    Arrays are stored bit-exactly (no lossy compression, dtypes kept), so a resumed run continues bit for bit.
    """
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = FORMAT_NAME + "-checkpoint"
        h5.attrs["meta"] = json.dumps(dict(meta))
        for name, value in arrays.items():
            h5.create_dataset(name, data=np.asarray(value))
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("format") != FORMAT_NAME + "-checkpoint":
                raise DataFormatError(f"{path}: not a twin checkpoint file")
            meta = json.loads(h5.attrs["meta"])
            arrays = {name: ds[()] for name, ds in h5.items()}
    except (OSError, KeyError) as error:
        raise DataFormatError(f"{path}: unreadable checkpoint ({error})") from None
    return arrays, meta


# ---------------------------------------------------------------------------------------------------
class Trajectory:
    """Lazy reader of a trajectory file.

    Small per-frame arrays (time, conditions, summaries) are read on first access; per-site fields are read
    one frame (or one slice of a frame) at a time. Use as a context manager or call :meth:`close`.

    Raises:
        DataFormatError: missing file, not a trajectory, unsupported version, or an incomplete (interrupted)
            file unless ``allow_incomplete``.
    """

    def __init__(self, path: str | Path, allow_incomplete: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            hint = ""
            if partial_path(self.path).is_file():
                from twin.analysis import interrupted_run_message

                advice = interrupted_run_message(self.path.parent) if self.path.name == "trajectory.h5" else None
                hint = f" (an interrupted run left a .partial file: {advice or 'see `twin run --help` on --resume'})"
            raise DataFormatError(f"{self.path}: trajectory not found{hint}")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as error:
            raise DataFormatError(f"{self.path}: not an HDF5 file ({error})") from None
        attrs = self._h5.attrs
        if attrs.get("format") != FORMAT_NAME:
            self._h5.close()
            raise DataFormatError(f"{self.path}: not a twin trajectory (attribute format = {attrs.get('format')!r})")
        if int(attrs.get("format_version", -1)) > FORMAT_VERSION:
            self._h5.close()
            raise DataFormatError(
                f"{self.path}: trajectory format version {attrs.get('format_version')} is newer than this package reads"
                f" ({FORMAT_VERSION})"
            )
        if int(attrs.get("complete", 0)) != 1 and not allow_incomplete:
            self._h5.close()
            raise DataFormatError(f"{self.path}: incomplete trajectory (the run was interrupted)")
        self._cache: dict[str, np.ndarray] = {}

    # -- metadata ------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(self._h5.attrs["n_frames"])

    @property
    def complete(self) -> bool:
        return int(self._h5.attrs["complete"]) == 1

    @property
    def guests(self) -> tuple[str, ...]:
        return tuple(json.loads(self._h5["conditions"].attrs["guests"]))

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(json.loads(self._h5["lattice"].attrs["phases"]))

    @property
    def site_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self._h5["lattice"].attrs["site_shape"])

    @property
    def cell_A(self) -> np.ndarray:
        return np.asarray(self._h5["lattice"].attrs["cell_A"])

    @property
    def block(self) -> int:
        """Cells per site along each axis (the coarse-graining factor b)."""
        return int(self._h5["lattice"].attrs.get("block", 1))

    @property
    def mask(self) -> np.ndarray:
        return self._h5["lattice/mask"][...].astype(bool)

    @property
    def provenance(self) -> dict[str, Any]:
        return {key: _plain(value) for key, value in self._h5["provenance"].attrs.items()}

    # -- per-frame series ----------------------------------------------------------------------
    def _series(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._h5[name][...]
        return self._cache[name]

    @property
    def time_s(self) -> np.ndarray:
        return self._series("frames/time_s")

    @property
    def temperature_K(self) -> np.ndarray:
        return self._series("conditions/temperature_K")

    @property
    def partial_pressure_Pa(self) -> np.ndarray:
        return self._series("conditions/partial_pressure_Pa")

    @property
    def relative_humidity(self) -> np.ndarray:
        return self._series("conditions/relative_humidity")

    @property
    def summary_names(self) -> tuple[str, ...]:
        return tuple(self._h5["summaries"].keys())

    def summary(self, name: str) -> np.ndarray:
        """Per-frame summary ``name``, shape (n_frames, …)."""
        if name not in self._h5["summaries"]:
            raise DataFormatError(f"{self.path}: no summary {name!r}; present: {', '.join(self.summary_names)}")
        return self._series(f"summaries/{name}")

    def unit(self, dataset: str) -> str:
        """Unit attribute of a dataset (``"summaries/phase_fraction"``, ``"fields/eta"`` …)."""
        return str(self._h5[dataset].attrs.get("unit", ""))

    # -- per-site fields -----------------------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(k for k in self._h5["fields"].keys() if k != "frame_index")

    @property
    def field_frames(self) -> np.ndarray:
        """Frame numbers at which full fields are stored."""
        return self._series("fields/frame_index")

    def field(self, name: str, frame: int, region: tuple[slice, ...] | None = None) -> np.ndarray:
        """One field at one stored frame (``frame`` is the frame number), optionally a sub-region only."""
        if name not in self.field_names:
            raise DataFormatError(f"{self.path}: no field {name!r}; present: {', '.join(self.field_names) or 'none'}")
        frames = self.field_frames
        hits = np.nonzero(frames == frame)[0]
        if hits.size == 0:
            raise DataFormatError(
                f"{self.path}: field {name!r} is not stored at frame {frame}; stored frames: "
                f"{frames[:5].tolist()}{'…' if frames.size > 5 else ''} (every {self._h5['fields'].attrs['field_stride']}th)"
            )
        ds = self._h5["fields"][name]
        return ds[(int(hits[0]), *(region or ()))]

    def iter_field(self, name: str) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame, field)`` for every stored frame, one at a time."""
        for frame in self.field_frames:
            yield int(frame), self.field(name, int(frame))

    def close(self) -> None:
        if self._h5.id.valid:
            self._h5.close()

    def __enter__(self) -> "Trajectory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value
