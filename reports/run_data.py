"""What a run directory holds, read and checked once for the report.

``OUT/trajectory.h5`` (required; read lazily through :class:`twin.trajectory.Trajectory`),
``OUT/observables/xrd.h5`` and other ``OUT/observables/<technique>.h5`` (optional; :mod:`instruments.series_io`),
``OUT/fit_result.json`` (optional; validated here, including that every measurement file it names still
exists with the recorded SHA-256). Every problem raises a :class:`~twin.errors.TwinError` that names the
file, the key and what was expected.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.series_io import ImageSeries, SpectralSeries, read_image_series, read_spectral_series
from twin.datasets import file_sha256
from twin.errors import DataFormatError, FitError
from twin.trajectory import Trajectory

__all__ = ["RunData", "FitResult", "FitParameter", "load_run", "load_fit_result", "SPECTRAL_TECHNIQUES"]

#: observable files read as spectral series, in report order
SPECTRAL_TECHNIQUES: tuple[str, ...] = ("xrd", "nmr", "ir", "raman")


@dataclass(frozen=True)
class FitParameter:
    """One inferred parameter: value, standard uncertainty, 90 % interval, unit and (synthetic data) truth."""

    name: str
    value: float
    stderr: float | None
    interval_90: tuple[float, float] | None
    unit: str
    truth: float | None


@dataclass(frozen=True)
class FitResult:
    """``fit_result.json`` after validation (see :func:`load_fit_result`)."""

    path: Path
    parameters: tuple[FitParameter, ...]
    figures_of_merit: dict[str, float]
    correlation_names: tuple[str, ...]
    correlation_matrix: list[list[float]] | None
    measurements: tuple[dict[str, str], ...]
    posterior_predictive: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunData:
    """Everything the report sections read. ``trajectory`` stays open until :meth:`close`."""

    out_dir: Path
    trajectory: Trajectory
    spectra: dict[str, SpectralSeries]
    images: dict[str, ImageSeries]
    fit: FitResult | None
    scenario_name: str
    scenario: dict[str, Any]
    observables_present: tuple[str, ...]

    def close(self) -> None:
        self.trajectory.close()


def _number(value: Any, where: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FitError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def load_fit_result(path: str | Path, check_measurements: bool = True) -> FitResult:
    """Read and validate ``fit_result.json``.

    Measurement paths are taken relative to the file's directory unless absolute. With
    ``check_measurements`` every listed file must exist and match its recorded SHA-256.

    Raises:
        FitError: malformed content (names the key and what was expected).
        DataFormatError: unreadable JSON, or a measurement file that moved or changed (names the file).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataFormatError(f"{path}: not a readable JSON fit result ({error})") from None
    if not isinstance(doc, dict):
        raise FitError(f"{path}: expected a JSON object at the top level, got {type(doc).__name__}")
    params_doc = doc.get("parameters")
    if not isinstance(params_doc, dict):
        raise FitError(f"{path}: parameters: expected an object {{NAME: {{value, stderr, unit}}}}, got {params_doc!r}")
    params = []
    for name, entry in params_doc.items():
        where = f"{path}: parameters.{name}"
        if not isinstance(entry, dict) or "value" not in entry:
            raise FitError(f"{where}: expected an object with at least 'value', got {entry!r}")
        interval = entry.get("interval_90")
        if interval is not None:
            if not (isinstance(interval, list) and len(interval) == 2):
                raise FitError(f"{where}.interval_90: expected [low, high], got {interval!r}")
            lo = _number(interval[0], f"{where}.interval_90[0]")
            hi = _number(interval[1], f"{where}.interval_90[1]")
            if lo > hi:
                raise FitError(f"{where}.interval_90: low {lo} exceeds high {hi}")
            interval = (lo, hi)
        stderr = _number(entry.get("stderr"), f"{where}.stderr", allow_none=True)
        if stderr is not None and stderr < 0:
            raise FitError(f"{where}.stderr: expected ≥ 0, got {stderr}")
        params.append(
            FitParameter(
                name=str(name),
                value=_number(entry["value"], f"{where}.value"),
                stderr=stderr,
                interval_90=interval,
                unit=str(entry.get("unit", "1")),
                truth=_number(entry.get("truth"), f"{where}.truth", allow_none=True),
            )
        )
    fom_doc = doc.get("figures_of_merit", {})
    if not isinstance(fom_doc, dict):
        raise FitError(f"{path}: figures_of_merit: expected an object of numbers, got {fom_doc!r}")
    fom = {k: _number(v, f"{path}: figures_of_merit.{k}") for k, v in fom_doc.items() if v is not None}
    corr_names: tuple[str, ...] = ()
    corr_matrix = None
    corr = doc.get("correlations")
    if corr is not None:
        if not isinstance(corr, dict) or "names" not in corr or "matrix" not in corr:
            raise FitError(f"{path}: correlations: expected {{\"names\": [...], \"matrix\": [[...]]}}, got {corr!r}")
        corr_names = tuple(str(n) for n in corr["names"])
        matrix = corr["matrix"]
        n = len(corr_names)
        if not (isinstance(matrix, list) and len(matrix) == n and all(isinstance(r, list) and len(r) == n for r in matrix)):
            raise FitError(f"{path}: correlations.matrix: expected a {n}×{n} list of lists to match names")
        corr_matrix = [[_number(v, f"{path}: correlations.matrix[{i}][{j}]") for j, v in enumerate(r)] for i, r in enumerate(matrix)]
    meas_doc = doc.get("measurements", [])
    if not isinstance(meas_doc, list):
        raise FitError(f"{path}: measurements: expected a list of {{path, sha256}}, got {meas_doc!r}")
    measurements = []
    for i, entry in enumerate(meas_doc):
        where = f"{path}: measurements[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise FitError(f"{where}: expected {{\"path\": \"...\", \"sha256\": \"...\"}}, got {entry!r}")
        file = Path(entry["path"])
        resolved = file if file.is_absolute() else path.parent / file
        item = {"path": entry["path"], "sha256": str(entry.get("sha256", "")), "resolved": str(resolved)}
        if check_measurements:
            if not resolved.is_file():
                raise DataFormatError(
                    f"{where}.path: measurement file {entry['path']} not found (looked for {resolved}); the fit "
                    "cannot be reproduced: move the file back or run `twin fit` again"
                )
            if item["sha256"]:
                found = file_sha256(resolved)
                if found != item["sha256"]:
                    raise DataFormatError(
                        f"{where}.sha256: measurement file {entry['path']} changed since the fit (recorded sha256 "
                        f"{item['sha256'][:12]}…, found {found[:12]}…)"
                    )
        measurements.append(item)
    known = {"parameters", "figures_of_merit", "correlations", "measurements", "posterior_predictive"}
    return FitResult(
        path=path,
        parameters=tuple(params),
        figures_of_merit=fom,
        correlation_names=corr_names,
        correlation_matrix=corr_matrix,
        measurements=tuple(measurements),
        posterior_predictive=doc.get("posterior_predictive"),
        extra={k: v for k, v in doc.items() if k not in known},
    )


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


def load_run(out_dir: str | Path, check_measurements: bool = True) -> RunData:
    """Open the run directory ``out_dir`` for reporting.

    Raises:
        DataFormatError: ``out_dir`` is not a directory or holds no ``trajectory.h5`` (the message lists what
            it does hold), or any present file is malformed.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DataFormatError(f"{out_dir}: run directory not found (expected the OUT of `twin run SCENARIO -o OUT`)")
    traj_path = out_dir / "trajectory.h5"
    if not traj_path.is_file():
        held = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
        partial = " (trajectory.h5.partial is there: the run was interrupted; continue it with `twin run --resume`)"
        raise DataFormatError(
            f"{out_dir}: no trajectory.h5 to report on (run `twin run SCENARIO.toml -o {out_dir}` first); the "
            f"directory holds: {', '.join(held) or 'nothing'}" + (partial if "trajectory.h5.partial" in held else "")
        )
    trajectory = Trajectory(traj_path)
    try:
        spectra: dict[str, SpectralSeries] = {}
        images: dict[str, ImageSeries] = {}
        obs_dir = out_dir / "observables"
        present = tuple(sorted(p.stem for p in obs_dir.glob("*.h5"))) if obs_dir.is_dir() else ()
        for technique in SPECTRAL_TECHNIQUES:
            file = obs_dir / f"{technique}.h5"
            if file.is_file():
                spectra[technique] = read_spectral_series(file)
        if (obs_dir / "tem.h5").is_file():
            images["tem"] = read_image_series(obs_dir / "tem.h5")
        fit_path = out_dir / "fit_result.json"
        fit = load_fit_result(fit_path, check_measurements) if fit_path.is_file() else None
        name, scenario = _scenario(trajectory.provenance, out_dir)
    except BaseException:
        trajectory.close()
        raise
    return RunData(out_dir, trajectory, spectra, images, fit, name, scenario, present)
