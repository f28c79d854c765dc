"""What a run directory holds, read and checked once for the report.

``OUT/trajectory.h5`` (required; read lazily through :class:`twin.trajectory.Trajectory`),
``OUT/observables/xrd.h5`` and other ``OUT/observables/<technique>.h5`` (optional; :mod:`instruments.series_io`),
``OUT/fit_result.json`` (optional; validated here, including that every measurement file it names still
exists with the recorded SHA-256). Every problem raises a :class:`~twin.errors.TwinError` that names the
file, the key and what was expected.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.observable import Observable
from instruments.registry import techniques
from instruments.series_io import ImageSeries, read_image_series, read_observable
from twin.errors import DataFormatError
from twin.fit.result import FitParameter, FitResult, load_fit_result
from twin.trajectory import Trajectory

__all__ = ["RunData", "FitResult", "FitParameter", "load_run", "load_fit_result"]


@dataclass
class RunData:
    """Everything the report sections read. ``trajectory`` stays open until :meth:`close`."""

    out_dir: Path
    trajectory: Trajectory | None  # None: a fit-only directory (``twin fit -o OUT`` of measured data, no run)
    spectra: dict[str, Observable]
    images: dict[str, ImageSeries]
    fit: FitResult | None
    scenario_name: str
    scenario: dict[str, Any]
    observables_present: tuple[str, ...]

    def close(self) -> None:
        if self.trajectory is not None:
            self.trajectory.close()


def _scenario(provenance: dict[str, Any], out_dir: Path) -> tuple[str, dict[str, Any]]:
    text = provenance.get("scenario_toml")
    doc: dict[str, Any] = {}
    if isinstance(text, str) and text.strip():
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            doc = {}
    name = doc.get("name") or provenance.get("scenario_name") or out_dir.resolve().name
    return str(name), doc


def _fit_title(fit: FitResult) -> str:
    """The title of a fit-only report: what was fitted to which data (``layered fit of xrd_insitu_h2o``)."""
    model = fit.extra.get("model", {}) if isinstance(fit.extra.get("model"), dict) else {}
    kind = str(model.get("kind") or fit.extra.get("technique") or "fit").replace("-", " ")
    files = [Path(str(m.get("path", ""))) for m in fit.measurements]
    folders = sorted({f.parent.name for f in files if f.parent.name} if len(files) > 1 else {f.name for f in files})
    return f"{kind} of {', '.join(folders[:2])}" if folders else kind


def load_run(out_dir: str | Path, check_measurements: bool = True) -> RunData:
    """Open the run directory ``out_dir`` for reporting.

    Raises:
        DataFormatError: ``out_dir`` is not a directory or holds neither ``trajectory.h5`` nor ``fit_result.json``
            (the message lists what it does hold), or any present file is malformed. A directory with a
            ``fit_result.json`` and no trajectory (a fit of measured data, ``twin fit … -o OUT``) opens with
            ``trajectory = None``: its report has the fit's sections only.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DataFormatError(f"{out_dir}: run directory not found (expected the OUT of `twin run SCENARIO -o OUT`)")
    traj_path = out_dir / "trajectory.h5"
    fit_path = out_dir / "fit_result.json"
    if not traj_path.is_file() and fit_path.is_file() and not (out_dir / "trajectory.h5.partial").exists():
        fit = load_fit_result(fit_path, check_measurements)  # a fit of measured data alone: its own report
        return RunData(out_dir, None, {}, {}, fit, _fit_title(fit), {}, ())
    if not traj_path.is_file() and (out_dir / "hrtem.h5").is_file():  # `twin tem image -o OUT`: its micrographs
        images = {"hrtem": read_image_series(out_dir / "hrtem.h5")}
        return RunData(out_dir, None, {}, images, None, images["hrtem"].kind, {}, ())
    if not traj_path.is_file():
        held = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
        from twin.analysis import interrupted_run_message

        partial = f" ({interrupted_run_message(out_dir)})"
        raise DataFormatError(
            f"{out_dir}: no trajectory.h5 to report on (run `twin run SCENARIO.toml -o {out_dir}` first); the "
            f"directory holds: {', '.join(held) or 'nothing'}" + (partial if "trajectory.h5.partial" in held else "")
        )
    trajectory = Trajectory(traj_path)
    try:
        spectra: dict[str, Observable] = {}
        images: dict[str, ImageSeries] = {}
        obs_dir = out_dir / "observables"
        present = tuple(sorted(p.stem for p in obs_dir.glob("*.h5"))) if obs_dir.is_dir() else ()
        for technique in techniques():
            file = obs_dir / f"{technique.name}.h5"
            if file.is_file():
                spectra[technique.name] = read_observable(file)
        if (obs_dir / "tem.h5").is_file() and "tem" not in spectra:  # an image series of an earlier version
            images["tem"] = read_image_series(obs_dir / "tem.h5")
        fit_path = out_dir / "fit_result.json"
        fit = load_fit_result(fit_path, check_measurements) if fit_path.is_file() else None
        name, scenario = _scenario(trajectory.provenance, out_dir)
    except BaseException:
        trajectory.close()
        raise
    return RunData(out_dir, trajectory, spectra, images, fit, name, scenario, present)
