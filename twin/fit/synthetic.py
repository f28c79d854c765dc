r"""Synthetic measurements with known truth: what a diffractometer would have recorded from a simulated run.

:func:`write_synthetic_xrd` takes every ``every``-th frame of a run's simulated XRD series
(``OUT/observables/xrd.h5``), scales it so that the strongest peak of the series has ``peak_counts`` counts,
adds a flat background of ``background_fraction`` × ``peak_counts`` and draws Poisson counts (seeded):

.. math::  y_i \sim \mathrm{Poisson}(k\,I_i + b)

It writes one ``.xye`` file per frame (2θ, counts, σ = √max(y, 1)) with the wavelength, temperature and
pressure in the header, and a ``conditions_log.csv`` (file, time, pressure, temperature), the layout of
an in situ series as :mod:`instruments.io.series` reads it. The files go through the same readers as
measured data.

:func:`series_truth` computes, from the trajectory itself, the sample-level quantities that
:func:`twin.fit.xrd_series.fit_xrd_series` infers: the switching pressures and hysteresis from the twin's
phase fractions at every frame (not only the measured ones), and the volume-weighted coherent-domain size of
each phase from the domain-size distribution the XRD forward model used (:func:`twin.observe.xrd_phase_states`),
averaged over the measured frames where that phase is alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mofcore.stats import poisson_sigma
from twin.atomic import atomic_path, write_text_atomic
from twin.errors import FitError

__all__ = ["SyntheticSeries", "write_synthetic_xrd", "series_truth"]


@dataclass(frozen=True)
class SyntheticSeries:
    """What :func:`write_synthetic_xrd` wrote.

    Attributes:
        folder: the folder of frame files and the conditions log.
        frames: simulated frame index of each measured frame, (n_meas,).
        files: the frame files.
        scale: counts per unit of simulated intensity (k).
        background_counts: flat background b.
    """

    folder: Path
    frames: np.ndarray
    files: tuple[Path, ...]
    scale: float
    background_counts: float


def write_synthetic_xrd(
    run_dir: str | Path,
    folder: str | Path,
    *,
    every: int = 5,
    peak_counts: float = 2.0e4,
    background_fraction: float = 0.02,
    seed: int = 0,
) -> SyntheticSeries:
    """Write a noisy "measured" series from the run's simulated XRD series (model in the module docstring).

    Raises:
        FitError: no simulated series in the run, or bad settings.
    """
    from instruments.series_io import read_observable

    run_dir, folder = Path(run_dir), Path(folder)
    source = run_dir / "observables" / "xrd.h5"
    if not source.is_file():
        raise FitError(f"{run_dir}: no observables/xrd.h5 to draw a synthetic measurement from (run `twin observe "
                       f"{run_dir} --xrd INSTRUMENT.toml` first)")
    if every < 1 or not peak_counts > 0 or not background_fraction >= 0:
        raise FitError(f"synthetic measurement: expected every ≥ 1, peak_counts > 0, background_fraction ≥ 0; got "
                       f"{every}, {peak_counts}, {background_fraction}")
    series = read_observable(source)
    wavelength_A = series.meta["wavelength_A"]
    temperature_K, pressure_bar, time_s = (series.condition(k) for k in ("temperature_K", "pressure_bar", "time_s"))
    frames = np.arange(0, series.n_frames, every)
    if frames[-1] != series.n_frames - 1:
        frames = np.append(frames, series.n_frames - 1)
    clean = np.clip(series.values[frames], 0.0, None)
    scale = peak_counts / float(np.max(clean))
    background = background_fraction * peak_counts
    rng = np.random.default_rng(seed)
    counts = rng.poisson(scale * clean + background).astype(np.float64)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    rows = [["file", "time_s", "pressure_bar", "temperature_K"]]
    for j, k in enumerate(frames):
        name = f"frame_{int(k):04d}.xye"
        header = (f"# synthetic measurement drawn from simulated frame {int(k)} of {run_dir.name} (seed {seed})\n"
                  f"# wavelength = {wavelength_A:.6f} A\n"
                  f"# temperature_K = {temperature_K[k]:.6g}, pressure_bar = {pressure_bar[k]:.6g}, "
                  f"time_s = {time_s[k]:.6g}\n"
                  "# two_theta_deg counts sigma\n")
        sigma = poisson_sigma(counts[j])
        body = "\n".join(f"{x:.5f} {y:.0f} {s:.4f}" for x, y, s in zip(series.axis.values, counts[j], sigma, strict=True))
        path = folder / name
        write_text_atomic(path, header + body + "\n")
        files.append(path)
        rows.append([name, f"{time_s[k]:.6g}", f"{pressure_bar[k]:.8g}", f"{temperature_K[k]:.6g}"])
    log = folder / "conditions_log.csv"
    with atomic_path(log) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return SyntheticSeries(folder, frames, tuple(files), scale, background)


def series_truth(trajectory_path: str | Path, frames: np.ndarray, *, pure_fraction: float = 0.98) -> dict[str, float]:
    """The twin's own values of the sample-level quantities of :func:`twin.fit.xrd_series.fit_xrd_series`.

    Args:
        trajectory_path: the run's ``trajectory.h5``.
        frames: simulated frame of each measured frame.
        pure_fraction: as in the fit.
    """
    from instruments.xrd import phase_from_cif
    from twin.fit.xrd_series import coherent_size_truth, switching_summary
    from twin.material import load_material
    from instruments.xrd.technique import xrd_phase_states
    from twin.observe import twin_frames
    from twin.trajectory import Trajectory

    with Trajectory(trajectory_path) as traj:
        material = load_material(str(traj.provenance.get("material", "")))
        frames_state = twin_frames(traj, material)
    fraction = frames_state.summaries["phase_fraction"]
    pressure = frames_state.conditions["pressure_bar"]
    structures = tuple(phase_from_cif(p, 2.0) for p in frames_state.structure_paths)
    states = xrd_phase_states(frames_state, structures)
    truth: dict[str, float] = {}
    open_fraction = fraction[:, -1]
    summary = switching_summary(open_fraction, np.zeros_like(open_fraction), pressure, n_draws=1)
    truth.update({n: float(v) for n, v in zip(summary["names"], summary["values"], strict=True)})
    for p, phase in enumerate(material.phases):
        pure = frames[fraction[frames, p] >= pure_fraction]
        if pure.size:
            sizes = coherent_size_truth(np.asarray(states[p].size_A)[pure], np.asarray(states[p].size_weight)[pure])
            truth[f"coherent_size_{phase.name}"] = float(np.mean(sizes))
    return truth
