"""In situ series: a folder of pattern files, or one HDF5/NeXus file, joined with a conditions log.

Folder
    Every measurement file in the folder that matches ``pattern`` (a glob, default ``*``; natural sort
    order: ``run_2`` before ``run_10``) is one frame. Files that are clearly not measurements are
    skipped and listed in ``metadata['skipped']``: licence, readme, notes, copying, authors, citation
    and changelog files by name (``LICENSE-CC-BY-4.0.txt``, ``README_upstream.md``), and documents,
    pictures and scripts by extension (``.json``, ``.md``, ``.pdf``, ``.png``, ``.py``, ...). A conditions log — a CSV/TSV file named ``*log*``, ``*conditions*`` or given as
    ``conditions=`` — with columns such as ``file``/``index``/``time_s``, ``temperature_K`` (or
    ``T``, ``temperature_C``), ``pressure_bar``/``pressure_kPa``, ``rh``/``relative_humidity`` is
    joined to the frames by file name when it has a file column, else by the frame index
    (``join="index"``), or by time (``join="time"``: each frame takes the log row nearest to its own
    ``time_s`` condition).

HDF5/NeXus (h5py)
    The default ``NXdata`` group (``/@default`` → entry ``@default``) or the first group with
    ``NX_class = NXdata``: its ``@signal`` dataset (n_frames, n_points) or (n_points,) and its
    ``@axes`` (the last one is the spectral axis; its ``@units`` attribute names the unit). Conditions
    are read from datasets of length n_frames named ``temperature``, ``pressure``, ``time``,
    ``relative_humidity`` anywhere in the entry (``@units`` converted; NXlog ``value`` datasets
    included). Files without NeXus attributes are read when they hold a 2-D ``intensity`` (or
    ``data``) dataset and a 1-D ``two_theta``/``q`` dataset. Datasets are read whole only after
    their declared shapes were checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from instruments.io._base import (
    MAX_PARSED_FILE_BYTES,
    check_axis,
    check_declared_size,
    check_finite,
    decode_text,
    fail,
    number,
    parse_float,
    read_bytes,
)
from instruments.io._quantities import PRESSURE_PA, TIME_S, axis_from_label, scale, to_kelvin
from instruments.measurement import Measurement, MeasurementSeries
from instruments.observable import AXIS_TECHNIQUE, Axis
from mofcore.errors import UnitError

__all__ = ["read_folder", "read_hdf5", "read_conditions_log"]

_LOG_NAME = re.compile(r"log|conditions", re.I)
#: files in a series folder that are clearly not measurements: licence, readme, notes by name ...
_NOT_MEASUREMENT_NAME = re.compile(r"^(licen[cs]e|readme|notes?|copying|authors|citation|changelog)([-_. ]|$)", re.I)
#: ... and documents, pictures and scripts by extension (no reader reads them)
_NOT_MEASUREMENT_EXT = (".json", ".md", ".rst", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".html", ".htm",
                        ".py", ".ipynb", ".sh", ".doc", ".docx", ".toml", ".yaml", ".yml")


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _condition_column(name: str) -> tuple[str, Callable[[float], float]] | None:
    low = name.strip().lower()
    if low in ("t", "temp", "temperature") or low.startswith(("temperature", "temp_", "t_")):
        unit = "c" if re.search(r"(_|\()(c|degc|°c)\)?$", low) else "f" if low.endswith(("_f", "(f)")) else "k"
        return ("temperature_K", lambda v, u=unit: to_kelvin(v, u))  # type: ignore[misc]
    if low in ("rh", "relative_humidity", "humidity") or low.startswith(("rh_", "relative_humidity", "humidity")):
        pct = "percent" in low or "%" in low or low.endswith("_pct")
        return ("relative_humidity", lambda v, p=pct: v / 100.0 if p else v)
    if low.startswith(("time", "t_s", "elapsed")):
        unit = next((u for u in TIME_S if re.search(rf"[_(]{u}\)?$", low)), "s")
        return ("time_s", lambda v, f=TIME_S[unit]: v * f)
    if low.startswith(("pressure", "p_", "p(")) or low == "p":
        found = axis_from_label(name)
        factor = found[2] * 1e5 if found and found[0] == "pressure" else 1e5
        return ("pressure_Pa", lambda v, f=factor: v * f)
    return None


def read_conditions_log(path: Path) -> tuple[list[str] | None, list[dict[str, float]]]:
    """Parse a conditions log: (file names per row or None, conditions per row in internal units)."""
    text = decode_text(path, read_bytes(path, limit=MAX_PARSED_FILE_BYTES))
    rows = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")]
    if len(rows) < 2:
        raise fail(path, f"line {rows[0][0] if rows else 1}", "a conditions log needs a header row and at least one data row")
    hline, header = rows[0]
    delim = "\t" if "\t" in header else "," if "," in header else ";" if ";" in header else None
    names = [c.strip() for c in (header.split(delim) if delim else header.split())]
    conv = {i: c for i, n in enumerate(names) if (c := _condition_column(n)) is not None}
    file_col = next((i for i, n in enumerate(names) if n.lower() in ("file", "filename", "name", "frame_file")), None)
    if not conv:
        raise fail(path, f"line {hline}", f"no condition column (temperature, pressure, rh, time) among {names}")
    files: list[str] = []
    out: list[dict[str, float]] = []
    for lineno, line in rows[1:]:
        cells = [c.strip() for c in (line.split(delim) if delim else line.split())]
        if len(cells) != len(names):
            raise fail(path, f"line {lineno}", f"expected {len(names)} cells like the header, got {len(cells)}")
        row: dict[str, float] = {}
        for i, (key, f) in conv.items():
            v = f(parse_float(cells[i], path, f"line {lineno}", f"a number for {names[i]}"))
            if v is None or not np.isfinite(v):
                raise fail(path, f"line {lineno}", f"{names[i]} = {cells[i]} is not usable")
            if key == "relative_humidity" and not 0.0 <= v <= 1.0:
                raise fail(path, f"line {lineno}", f"relative humidity {cells[i]} outside 0..1 (or 0..100 %)")
            if key == "temperature_K" and v <= 0:
                raise fail(path, f"line {lineno}", f"temperature {cells[i]} is not above 0 K")
            row[key] = v
        out.append(row)
        if file_col is not None:
            files.append(cells[file_col])
    return (files if file_col is not None else None), out


def _join(series_items: list[Measurement], names: list[str], log: Path, join: str) -> list[Measurement]:
    from dataclasses import replace

    files, rows = read_conditions_log(log)
    out = []
    if join == "time":
        times = np.array([r.get("time_s", np.nan) for r in rows])
        if not np.all(np.isfinite(times)):
            raise fail(log, None, "join='time' needs a time column in every row")
        for m in series_items:
            t = m.conditions.get("time_s")
            if t is None:
                raise fail(Path(m.source), None, "join='time' needs a time_s condition in every frame")
            k = int(np.argmin(np.abs(times - t)))
            out.append(replace(m, conditions={**m.conditions, **rows[k]}))
        return out
    if files is not None and join in ("auto", "file"):
        lookup = {f: r for f, r in zip(files, rows, strict=True)}
        for m, name in zip(series_items, names, strict=True):
            key = name if name in lookup else Path(name).stem if Path(name).stem in lookup else None
            if key is None:
                raise fail(log, None, f"no row for frame file {name!r} (the log names {len(files)} files)")
            out.append(replace(m, conditions={**m.conditions, **lookup[key]}))
        return out
    if len(rows) != len(series_items):
        raise fail(log, None, f"{len(rows)} condition rows for {len(series_items)} frames (join by index needs one per frame)")
    return [replace(m, conditions={**m.conditions, **r}) for m, r in zip(series_items, rows, strict=True)]


def read_folder(path: Path, *, conditions: str | Path | None = None, join: str = "auto", pattern: str = "*",
                **options: Any) -> MeasurementSeries:
    """Read every measurement file of a folder as one series, joined with its conditions log."""
    from instruments.io import read_measurement

    if join not in ("auto", "file", "index", "time"):
        raise fail(path, None, f"join must be 'auto', 'file', 'index' or 'time', got {join!r}")
    log = Path(conditions) if conditions is not None else None
    files = sorted((p for p in path.glob(pattern) if p.is_file() and not p.name.startswith(".")), key=lambda p: _natural(p.name))
    if log is None:
        logs = [p for p in files if _LOG_NAME.search(p.stem) and p.suffix.lower() in (".csv", ".tsv", ".txt", ".log")]
        if len(logs) > 1:
            raise fail(path, None, f"several conditions logs {[p.name for p in logs]}; pass conditions=")
        log = logs[0] if logs else None
    frames = [p for p in files if log is None or p.resolve() != log.resolve()]
    skipped = [p.name for p in frames if _NOT_MEASUREMENT_NAME.match(p.name) or p.suffix.lower() in _NOT_MEASUREMENT_EXT]
    frames = [p for p in frames if p.name not in skipped]
    if not frames:
        shown = f" (skipped as not measurements: {', '.join(skipped[:5])})" if skipped else ""
        raise fail(path, None, f"no measurement files matching {pattern!r} in the folder{shown}")
    items: list[Measurement] = []
    for p in frames:
        m = read_measurement(p, **options)
        if isinstance(m, MeasurementSeries):
            raise fail(p, None, "a folder series needs one measurement per file; this file holds a series")
        items.append(m)
    names = [p.name for p in frames]
    if log is not None:
        items = _join(items, names, log, join)
    return MeasurementSeries(tuple(items), tuple(names), format="folder", source=str(path),
                             metadata={"conditions_log": log.name if log else None, "join": join if log else None,
                                       "pattern": pattern, "skipped": skipped})


# ------------------------------------------------------------------------------------ HDF5 --
def _attr_str(obj: Any, name: str) -> str | None:
    v = obj.attrs.get(name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        v = v.tolist()
        if isinstance(v, list):
            return [x.decode() if isinstance(x, bytes) else str(x) for x in v]  # type: ignore[return-value]
    return str(v)


def _find_nxdata(h5: Any) -> Any:
    import h5py

    entry_name = _attr_text(h5, "default")
    if entry_name and entry_name in h5 and isinstance(h5[entry_name], h5py.Group):
        entry = h5[entry_name]
        data_name = _attr_text(entry, "default")
        if data_name and data_name in entry:
            return entry[data_name]
    found = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _attr_text(obj, "NX_class") == "NXdata" and not found:
            found.append(obj)

    h5.visititems(visit)
    return found[0] if found else None


def _unit_axis(name: str, units: str | None, path: Path | None = None, where: str | None = None) -> tuple[str, str, float]:
    """(axis, internal unit, factor) of an axis dataset from its name and ``@units``; a known axis with a unit
    the header parser does not know raises (``q`` with ``@units = "1/pm"``)."""
    label = f"{name} ({units})" if units else name
    try:
        found = axis_from_label(label) or axis_from_label(name)
    except UnitError as exc:
        raise fail(path or Path(name), where, f"@units: {exc}") from None
    if found is None:
        return (name, units or "1", 1.0)
    return found


def _numbers(path: Path, ds: Any, what: str) -> np.ndarray:
    """A dataset's values as float64, or a DataFormatError naming the dataset (strings, compounds, bad chunks)."""
    try:
        return np.asarray(ds[()], dtype=np.float64)
    except (TypeError, ValueError):
        kind = "text" if ds.dtype.kind in "SUO" else f"type {ds.dtype}"
        raise fail(path, f"dataset {ds.name}", f"expected numbers for {what}, got {kind}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


def _index(shape: tuple[int, ...], i: int) -> str:
    """``[2]`` or ``[1, 3]``: the element of a dataset of ``shape`` at flat index ``i``."""
    return "[" + ", ".join(str(int(k)) for k in np.unravel_index(i, shape)) + "]"


#: wavelength unit (lower case) → factor to Å
_WAVELENGTH_ANG = {"": 1.0, "a": 1.0, "å": 1.0, "ang": 1.0, "angstrom": 1.0, "angstroms": 1.0, "nm": 10.0, "pm": 0.01, "m": 1e10}


def _wavelength(path: Path, ds: Any) -> float:
    """λ [Å] from a scalar ``wavelength`` dataset (``@units`` Å, nm, pm or m)."""
    units = (_attr_text(ds, "units") or "").strip()
    factor = _WAVELENGTH_ANG.get(units.lower())
    if factor is None:
        raise fail(path, f"dataset {ds.name}", f"wavelength units {units!r} are not a length unit (expected angstrom, nm, pm or m)")
    value = float(_numbers(path, ds, "the wavelength").ravel()[0]) * factor
    if not np.isfinite(value) or value <= 0:
        raise fail(path, f"dataset {ds.name}", f"wavelength {number(value)} Å is not a positive finite number")
    return value


def _attr_text(obj: Any, name: str) -> str | None:
    """An attribute as one string (the first element of an array attribute)."""
    v = _attr_str(obj, name)
    if isinstance(v, list):
        return str(v[0]) if v else None
    return v


def read_hdf5(path: Path, *, signal: str | None = None, axis: str | None = None) -> Measurement | MeasurementSeries:
    """Read an HDF5/NeXus series (see the module docstring).

    Signal and uncertainty values must be finite, uncertainties non-negative, and a signal whose
    ``@units`` says counts non-negative; a wavelength or condition dataset that is not numeric (or not
    finite, or in an unknown unit) is refused. Every error names the file and the dataset (with the
    element index where one value is wrong).
    """
    import h5py

    try:
        h5 = h5py.File(str(path), "r")
    except (OSError, ValueError) as exc:
        raise fail(path, None, f"not a readable HDF5 file ({exc})") from None
    try:
        with h5:
            if _attr_text(h5, "format") in _OBSERVABLE_FORMATS:
                if signal is not None or axis is not None:
                    raise fail(path, None, "signal= and axis= choose datasets of an HDF5/NeXus file; this is a "
                                           "twin observables file, read whole")
                h5.close()
                return _observable_series(path)
            return _read_hdf5_open(path, h5, signal, axis)
    except (OSError, KeyError, RuntimeError) as exc:  # h5py: damaged object headers, chunks or links
        raise fail(path, None, f"damaged HDF5 content ({_first_line(exc)})") from None


#: the ``format`` attribute of the twin's own observables files (:mod:`instruments.series_io`, versions 2 and 1)
_OBSERVABLE_FORMATS = ("operando-mof-twin-observable", "operando-mof-twin-xrd-series", "operando-mof-twin-spectral-series")


def _observable_series(path: Path) -> Measurement | MeasurementSeries:
    """A twin observables file (``OUT/observables/<technique>.h5``) read by
    :func:`instruments.series_io.read_observable`, as the simulated frames (one Measurement each); how many
    measured frames are stored beside them is in the metadata."""
    from instruments.series_io import read_observable

    obs = read_observable(path)
    x = np.asarray(obs.axis.values, dtype=np.float64)
    values = np.asarray(obs.values, dtype=np.float64).reshape(-1, x.size)
    sigma = None if obs.sigma is None else np.asarray(obs.sigma, dtype=np.float64).reshape(values.shape)
    from instruments.measurement import CONDITION_KEYS

    conds: dict[str, np.ndarray] = {}
    other: dict[str, np.ndarray] = {}  # per-frame values a Measurement has no condition for (kept in metadata)
    for key, v in obs.conditions.items():
        values_ = np.asarray(v, dtype=np.float64).reshape(-1)
        if key in CONDITION_KEYS:
            conds[key] = values_
        elif key.endswith("_bar") and key[:-4] + "_Pa" in CONDITION_KEYS:
            conds[key[:-4] + "_Pa"] = values_ * 1e5
        else:
            other[key] = values_
    attrs = {k: v for k, v in obs.attrs if isinstance(v, str | int | float | bool)}
    lam = attrs.get("wavelength_A")
    n = values.shape[0]
    labels = tuple(obs.labels) if len(obs.labels) == n else tuple(f"frame {k}" for k in range(n))
    meta: dict[str, Any] = {"observables": f"simulated {obs.technique or path.stem} series written by twin observe",
                            "measured_frames": 0 if obs.measured is None else int(obs.measured.n_frames), **attrs}
    items = [
        Measurement(
            axis=Axis(x, obs.axis.name, obs.axis.unit), values=values[k],
            uncertainties=None if sigma is None else sigma[k], quantity=obs.quantity, unit=obs.unit,
            technique=obs.technique, uncertainty_kind="file" if sigma is not None else "unknown",
            conditions={key: float(v[k]) for key, v in conds.items() if v.size == n},
            wavelength_ang=float(lam) if isinstance(lam, int | float) and lam > 0 else None,
            metadata={**meta, **{key: float(v[k]) for key, v in other.items() if v.size == n}},
            source=str(path), format="twin-observable",
        )
        for k in range(n)
    ]
    if n == 1:
        return items[0]
    return MeasurementSeries(tuple(items), labels, format="twin-observable", source=str(path), metadata=meta)


def _read_hdf5_open(path: Path, h5: Any, signal: str | None, axis: str | None) -> Measurement | MeasurementSeries:
    import h5py

    group = _find_nxdata(h5)
    if group is None:
        group = h5
    sig_name = signal or _attr_text(group, "signal") or next((n for n in ("intensity", "data", "counts", "I") if n in group), None)
    if sig_name is None or sig_name not in group or not isinstance(group[sig_name], h5py.Dataset):
        raise fail(path, f"group {group.name}", f"no signal dataset (looked for @signal, intensity, data); has {list(group.keys())[:10]}")
    sig = group[sig_name]
    if sig.ndim not in (1, 2) or sig.size == 0:
        raise fail(path, f"dataset {sig.name}", f"expected a (n_points,) or (n_frames, n_points) signal, shape {sig.shape}")
    axes_attr = _attr_str(group, "axes")
    axes_list = axes_attr if isinstance(axes_attr, list) else [axes_attr] if axes_attr else []
    ax_name = axis or (axes_list[-1] if axes_list and axes_list[-1] != "." else None) or next(
        (n for n in ("two_theta", "2theta", "tth", "q", "Q", "wavenumber", "x") if n in group), None)
    if ax_name is None or ax_name not in group or not isinstance(group[ax_name], h5py.Dataset):
        raise fail(path, f"group {group.name}", "no axis dataset (looked for @axes, two_theta, q, wavenumber)")
    ax_ds = group[ax_name]
    n_points = sig.shape[-1]
    if ax_ds.ndim != 1 or ax_ds.shape[0] != n_points:
        raise fail(path, f"dataset {ax_ds.name}", f"axis of shape {ax_ds.shape} does not match {n_points} signal points")
    err_ds = next((group[n] for n in (f"{sig_name}_errors", "errors")
                   if n in group and isinstance(group[n], h5py.Dataset) and group[n].shape == sig.shape), None)
    # the declared sizes, before anything is read: a few kB of compressed chunks can declare gigabytes. The signal
    # (and its uncertainties) are read as float64 and copied once more into the frames.
    shape = " × ".join(str(int(n)) for n in sig.shape)
    check_declared_size(path, f"dataset {sig.name}", 8 * sig.size * (2 if err_ds is not None else 1),
                        f"a {shape} signal{' with its uncertainties' if err_ds is not None else ''} read as float64")
    x = _numbers(path, ax_ds, "the axis")
    y = _numbers(path, sig, "the signal")
    name, unit, factor = _unit_axis(ax_name, _attr_text(ax_ds, "units"), path, f"dataset {ax_ds.name}")
    x = scale(x, factor)
    order = check_axis(path, x, f"the axis {ax_ds.name}", lambda i: f"dataset {ax_ds.name}[{i}]")
    reverse = x.size > 1 and order[0] > order[-1]  # identity or reversal: the frames are views, not copies
    ordered = (lambda a: a[::-1]) if reverse else (lambda a: a)  # noqa: E731
    y2 = y.reshape(-1, n_points)
    check_finite(path, y2, "a signal value", lambda i: f"dataset {sig.name}{_index(sig.shape, i)}")
    sig_units = _attr_text(sig, "units") or "arb."
    if sig_units.strip().lower() in ("counts", "count", "cts"):
        neg = np.flatnonzero(y2 < 0)
        if neg.size:
            i = int(neg[0])
            raise fail(path, f"dataset {sig.name}{_index(sig.shape, i)}", f"negative count {number(y2.flat[i])} (@units = {sig_units!r})")
    err = None
    if err_ds is not None:
        err = _numbers(path, err_ds, "the uncertainties").reshape(y2.shape)
        check_finite(path, err, "an uncertainty", lambda i: f"dataset {err_ds.name}{_index(err_ds.shape, i)}")
        neg = np.flatnonzero(err < 0)
        if neg.size:
            i = int(neg[0])
            raise fail(path, f"dataset {err_ds.name}{_index(err_ds.shape, i)}", f"negative uncertainty {number(err.flat[i])}")
    n_frames = y2.shape[0]
    conds = _conditions_hdf5(path, h5, n_frames)
    lam = None
    for key in ("wavelength", "incident_wavelength"):
        hit = _find_dataset(h5, key)
        if hit is not None and hit.size == 1:
            lam = _wavelength(path, hit)
    technique = AXIS_TECHNIQUE.get(name, "")
    items = [
        Measurement(
            axis=Axis(ordered(x), name, unit), values=ordered(y2[k]),
            uncertainties=None if err is None else ordered(err[k]),
            quantity=sig_name, unit=sig_units, technique=technique,
            uncertainty_kind="file" if err is not None else "unknown",
            conditions={key: float(v[k]) for key, v in conds.items()}, wavelength_ang=lam,
            metadata={"group": group.name, "signal": sig.name}, source=str(path), format="nexus" if group is not h5 else "hdf5",
        )
        for k in range(n_frames)
    ]
    if sig.ndim == 1:
        return items[0]
    return MeasurementSeries(tuple(items), tuple(f"frame {k}" for k in range(n_frames)),
                             format=items[0].format, source=str(path))


def _find_dataset(h5: Any, name: str) -> Any:
    import h5py

    hits = []

    def visit(n: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and n.rsplit("/", 1)[-1].lower() == name and not hits:
            hits.append(obj)

    h5.visititems(visit)
    return hits[0] if hits else None


def _conditions_hdf5(path: Path, h5: Any, n_frames: int) -> dict[str, np.ndarray]:
    """Conditions per frame from datasets of length n_frames named like a condition (see the module docstring).

    A dataset whose name says it is a condition must hold finite numbers in a known unit; a string
    dataset, a NaN or an unknown temperature unit is refused naming the dataset (and element).
    """
    import h5py

    out: dict[str, np.ndarray] = {}

    def visit(n: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset) or obj.ndim != 1 or obj.shape[0] != n_frames:
            return
        parts = n.lower().split("/")
        leaf = parts[-1]
        label = parts[-2] if leaf == "value" and len(parts) > 1 else leaf
        units = (_attr_text(obj, "units") or "").strip()
        conv = _condition_column(f"{label}_{units}" if units else label)
        if conv is None or conv[0] in out:
            return
        key, f = conv
        if key == "pressure_Pa" and units.lower() in PRESSURE_PA:
            f = lambda v, u=units.lower(): v * PRESSURE_PA[u]  # noqa: E731
        if key == "temperature_K" and units:
            if to_kelvin(0.0, units) is None:
                raise fail(path, f"dataset {obj.name}", f"temperature units {units!r} are not K, °C or °F")
            f = lambda v, u=units: to_kelvin(v, u)  # noqa: E731
        vals = _numbers(path, obj, f"the condition {key}")
        conv_vals = np.array([f(v) for v in vals], dtype=np.float64)
        check_finite(path, conv_vals, f"the condition {key}", lambda i: f"dataset {obj.name}[{i}]")
        out[key] = conv_vals

    h5.visititems(visit)
    return out
