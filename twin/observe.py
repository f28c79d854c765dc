"""From a run to what the instruments would record at every frame: ``twin observe``, for any technique.

The glue between the twin and the technique registry (:mod:`instruments.registry`): it reads a trajectory
lazily into :class:`~instruments.technique.TwinFrames` (per-frame summaries and conditions as plain arrays, the
phases' structures and volumes from the material), hands them to the technique's pure ``simulate`` and writes
the :class:`~instruments.observable.Observable` it returns to ``OUT/observables/<technique>.h5``
(:func:`instruments.series_io.write_observable`). With a measured series the technique's ``align`` reads it on
the technique's axis, the simulation runs on the measured points, and every measured frame is stored beside the
simulated one nearest in time, for the report's overlay. Nothing here names a technique.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from instruments.observable import Observable
from instruments.registry import get, techniques
from instruments.series_io import read_observable, write_observable
from instruments.technique import Technique, TwinFrames
from twin.atomic import atomic_path
from twin.errors import DataFormatError, TwinError
from twin.material import Material, load_material
from twin.trajectory import Trajectory

__all__ = ["twin_frames", "shipped_instruments", "resolve_instrument", "observable_path", "observe", "match_frames", "attach_measured",
           "write_first_last_csv"]


def twin_frames(traj: Trajectory, material: Material) -> TwinFrames:
    """The run's per-frame state as plain arrays (every summary, the conditions, the phases' structures)."""
    if len(material.phases) != len(traj.phases):
        raise DataFormatError(
            f"{traj.path}: the trajectory has phases {traj.phases} but material {material.name} has "
            f"{tuple(p.name for p in material.phases)}"
        )
    pressure = traj.partial_pressure_Pa.sum(axis=1) if traj.partial_pressure_Pa.size else np.zeros(traj.n_frames)
    return TwinFrames(
        material=material.name,
        phase_names=tuple(p.name for p in material.phases),
        structure_paths=tuple(Path(p.structure) for p in material.phases),
        volume_A3=tuple(float(p.volume_A3) for p in material.phases),
        n_sites=float(traj.mask.sum()),
        block=traj.block,
        summaries={name: traj.summary(name) for name in traj.summary_names},
        conditions={"time_s": np.asarray(traj.time_s, dtype=np.float64),
                    "temperature_K": np.asarray(traj.temperature_K, dtype=np.float64),
                    "pressure_bar": np.asarray(pressure, dtype=np.float64) / 1e5,
                    "relative_humidity": np.asarray(traj.relative_humidity, dtype=np.float64)},
        source=str(traj.path),
    )


def shipped_instruments() -> dict[str, Path]:
    """The instrument files that ship with the package (``datasets/instruments/NAME.toml``), by name."""
    from twin.datasets import dataset_path

    folder = dataset_path("instruments")
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def resolve_instrument(ref: str | Path, *, where: str = "instrument") -> Path:
    """An instrument file: a path, or the name of a shipped instrument (``lab_cuka``).

    Raises:
        TwinError: neither a file nor a shipped name (the message lists the shipped ones).
    """
    path = Path(ref)
    if path.is_file():
        return path
    shipped = shipped_instruments()
    if str(ref) in shipped:
        return shipped[str(ref)]
    if path.exists():
        raise TwinError(f"{where}: {ref!r} is not a regular file")
    raise TwinError(f"{where}: {ref!r} is neither an instrument file nor a shipped instrument (shipped: "
                    f"{', '.join(shipped) or 'none'}; `twin observe --list` shows them)")


def observable_path(out_dir: str | Path, technique: str) -> Path:
    """``OUT/observables/<technique>.h5``."""
    return Path(out_dir) / "observables" / f"{technique}.h5"


def _observable(name: str) -> Technique:
    technique = get(name, where="--technique")
    if not technique.observable:
        raise TwinError(f"--technique {name}: {technique.title} has no forward model from a run in this version "
                        f"({technique.summary}); observable techniques: "
                        f"{', '.join(t.name for t in techniques() if t.observable)}")
    return technique


def observe(out_dir: str | Path, technique: str, instrument_path: str | Path,
            measured_path: str | Path | None = None, *, say: Callable[[str], None] | None = None) -> Path:
    """Write ``OUT/observables/<technique>.h5`` for the run in ``out_dir``; returns its path.

    With ``measured_path`` (a measured series in any format the technique's ``align`` reads) the series is
    simulated on the measured points and the measured frames are stored beside it (:func:`attach_measured`).
    Without it, measured frames already stored in the file being replaced (by ``twin fit`` or an earlier
    ``--measured``) are kept, matched again by time, when the new axis is the same as theirs; otherwise they
    are dropped and ``say`` (default: a :class:`UserWarning`) is told which and why.

    Raises:
        TwinError: unknown technique, or one without a forward model; DataFormatError: bad files, measured
            frames without a time (checked before anything is written).
    """
    out_dir = Path(out_dir)
    tech = _observable(technique)
    settings = tech.load_settings(Path(instrument_path))
    measured = None
    if measured_path is not None:
        if tech.align is None:
            raise TwinError(f"--measured: {tech.title} cannot read a measured series in this version")
        measured = tech.align(Path(measured_path), settings)
        _check_times(measured)
    with Trajectory(out_dir / "trajectory.h5") as traj:
        frames = twin_frames(traj, load_material(str(traj.provenance.get("material", ""))))
        simulated = tech.simulate(frames, settings, None if measured is None else measured.axis.values)
    target = observable_path(out_dir, tech.name)
    if measured is not None:
        simulated = simulated.with_measured(measured, match_frames(simulated, measured))
    else:
        simulated = _keep_measured(target, simulated, say or _warn)
    return write_observable(target, simulated)


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def _keep_measured(path: Path, simulated: Observable, say: Callable[[str], None]) -> Observable:
    """``simulated`` with the measured frames of the file it replaces, when they still fit on its axis."""
    if not path.is_file():
        return simulated
    try:
        previous = read_observable(path)
    except TwinError as error:
        say(f"{path}: the file being replaced could not be read ({error}); measured frames it may hold are not kept")
        return simulated
    if previous.measured is None:
        return simulated
    reason = _mismatch(simulated, previous.measured)
    if reason:
        say(f"{path}: the {previous.measured.n_frames} measured frames stored there were dropped: {reason}; attach "
            f"them again with `twin observe {path.parent.parent} --technique {simulated.technique or path.stem} "
            f"INSTRUMENT.toml --measured PATH` or by running `twin fit` again")
        return simulated
    return simulated.with_measured(previous.measured, match_frames(simulated, previous.measured))


def _mismatch(simulated: Observable, measured: Observable) -> str | None:
    """Why measured frames cannot go beside a simulated series (another axis grid, no times), or ``None``."""
    grid, sim_grid = np.asarray(measured.axis.values, np.float64), np.asarray(simulated.axis.values, np.float64)
    if sim_grid.shape != grid.shape or not np.allclose(sim_grid, grid, atol=1e-6):
        unit = f" {measured.axis.unit}" if measured.axis.unit else ""
        return (f"their {measured.axis.name} grid ({grid.size} points, {grid[0]:g}..{grid[-1]:g}{unit}) differs from "
                f"the new simulated one ({sim_grid.size} points, {sim_grid[0]:g}..{sim_grid[-1]:g}{unit})")
    if not np.all(np.isfinite(measured.condition("time_s"))):
        return "they have no times to match them to the simulated frames"
    return None


def _check_times(measured: Observable) -> None:
    if not np.all(np.isfinite(measured.condition("time_s"))):
        raise DataFormatError(f"{measured.source}: frames without a time; the conditions log needs a time column "
                              "(e.g. time_s) to match measured and simulated frames")


def match_frames(simulated: Observable, measured: Observable) -> np.ndarray:
    """For each measured frame, the simulated frame nearest in time, (n_measured,)."""
    sim_t, meas_t = simulated.condition("time_s"), measured.condition("time_s")
    return np.argmin(np.abs(sim_t[None, :] - meas_t[:, None]), axis=1)


def attach_measured(path: str | Path, measured: Observable, *, strict: bool = False) -> Path | None:
    """Store a measured series in a run's observables file, each frame matched to the simulated frame nearest
    in time; the file is replaced atomically.

    Args:
        path: the simulated series file.
        measured: measured frames on the technique's axis.
        strict: raise when the axes differ or the measured frames have no times (else return ``None``).

    Raises:
        DataFormatError: (strict) different axes, or frames without a time.
    """
    simulated = read_observable(path)
    grid, sim_grid = np.asarray(measured.axis.values, np.float64), np.asarray(simulated.axis.values, np.float64)
    if _mismatch(simulated, measured):
        if not strict:
            return None
        if sim_grid.shape != grid.shape or not np.allclose(sim_grid, grid, atol=1e-6):
            raise DataFormatError(f"{measured.source}: the measured {measured.axis.name} grid ({grid.size} points) "
                                  f"differs from the simulated one in {path} ({sim_grid.size} points)")
        _check_times(measured)
    return write_observable(path, simulated.with_measured(measured, match_frames(simulated, measured)))


def write_first_last_csv(path: str | Path) -> list[Path]:
    """CSV files of the first and last simulated frame beside the observables file
    (``<technique>_first.csv``, ``<technique>_last.csv``; columns: the axis with its unit, then the values)."""
    import pandas as pd

    series = read_observable(path)
    written = []
    for label, index in (("first", 0), ("last", -1)):
        target = Path(path).with_name(f"{series.technique}_{label}.csv")
        table = pd.DataFrame({series.axis.key: np.asarray(series.axis.values),
                              series.quantity: np.asarray(series.values)[index]})
        with atomic_path(target) as tmp:
            table.to_csv(tmp, index=False)
        written.append(target)
    return written
