"""Edge of the fitting package: measured files + material → fit → ``OUT/fit_result.json`` (+ figures).

Used by ``twin fit --isotherm FILE`` and ``twin fit FIT.toml`` (techniques ``isotherm`` and ``xrd-series``).

A fit's files are one set (:func:`mofcore.outputs.output_set`): written into a temporary directory beside OUT
and moved in only when all are complete, ``fit_result.json`` last; each carries the same run id
(``fit_result.json``: ``"run_id"``, with the other files of the set under ``"outputs"``; ``fit_series.csv``: a
``# run_id=…`` first line; figures: the PNG text entry ``run_id``), which the report checks
(:func:`mofcore.outputs.check_run_set`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mofcore.outputs import new_run_id, output_set
from twin.atomic import atomic_path
from twin.errors import FitError, TwinError
from twin.fit.isotherm import (
    PARAMETERS,
    FreeParameter,
    IsothermProblem,
    check_free,
    current_value,
    fit_isotherm,
    load_isotherm,
)
from twin.fit.progress import stage
from twin.fit.result import twin_fit_to_dict, write_fit_result
from twin.fit.surrogate import make_sample

__all__ = ["DEFAULT_FREE", "DEFAULT_SAMPLE", "SIZE_FREE", "closed_phase_resolved", "default_free", "run_isotherm_fit",
           "run_xrd_series_fit", "relative_path", "write_columns_csv", "png_metadata"]

#: freed by ``twin fit --isotherm`` on every material: the host (ΔF, W), both Langmuir phases and one width of
#: the crystals' switching offsets, the size-independent σ_0 (crystal-to-crystal heterogeneity: defects
#: correlated over a crystal). The defect strength σ_d and length ξ act only through the crystal average
#: σ_d²ξ³/(ξ³ + L³): with the size scale unknown they form a ridge with L_med that runs to the bounds (the
#: sampler cannot converge on it), so they stay fixed; see docs/fit.md.
DEFAULT_FREE = ("delta_f_kj_mol", "barrier_kj_mol", "n_max_closed", "n_max_open", "p_half_closed_bar",
                "p_half_open_bar", "intrinsic_sigma_kj_mol")
#: freed in addition when the material file gives Δγ (``[thermo] surface_energy_difference``): the spread of
#: crystal sizes, which the isotherm sees through the surface term Δγ·6V/L. The size median stays fixed:
#: only Δγ/L_med enters, and with ΔF free it is absorbed in ΔF (docs/fit.md).
SIZE_FREE = ("size_width",)
#: fixed sample values unless freed: Δγ is the material file's value when it has one, else this estimate
#: (order of MOF surface energies, 0.01–0.1 J/m²); from an isotherm alone only Δγ/L_med is determined, so the
#: size scale rests on it (see docs/fit.md)
DEFAULT_SAMPLE = {"size_median_nm": 500.0, "size_width": 0.4, "surface_energy_J_m2": 0.05,
                  "defect_sigma_kj_mol": 0.5, "defect_correlation_nm": 50.0, "intrinsic_sigma_kj_mol": 0.05,
                  "uptake_scale": 1.0}
#: least-squares start of a freed width: a step a few tenths of a kJ/mol wide (at 0.05 kJ/mol the modelled
#: step is sharper than the spacing of the points and the least-squares gradient vanishes)
DEFAULT_START = {"intrinsic_sigma_kj_mol": 0.5}
#: walkers per free parameter of the ensemble sampler (at least 32)
WALKERS_PER_PARAMETER = 4
#: sampler moves per stored step: ``--steps 1500`` runs 6000 moves. The posterior of a measured isotherm has
#: two kinds of optimum (a step as wide as the data show, and a step sharper than the spacing of the points,
#: placed on one point in the middle of it) between which walkers pass about once per 400 moves; compiling the
#: model costs more than these moves on a CPU
THIN = 4
#: posterior draws kept in an isotherm fit's result (``model.posterior_draws``) for predictions with a band
N_POSTERIOR_DRAWS = 200


#: the closed phase's Langmuir pair is freed only when its uptake before the step reaches this share of the top
CLOSED_PLATEAU_SHARE = 0.1


def closed_phase_resolved(data) -> bool:
    """Whether the adsorption branch shows the closed phase's isotherm well enough to fit n_max and p_half.

    Before the step (pressures below 0.9 × the pressure where the branch first reaches half its top uptake)
    the uptake must reach :data:`CLOSED_PLATEAU_SHARE` of the top uptake: MIL-53(Al)/CO2 has its np plateau
    at 2.7 of 8.6 molecules per cell; DUT-8(Zn)/ethanol only 0.57 of 17.8 below the gate, where the closed
    phase is in its Henry regime and only n_max/p_half shows — the pair then forms a ridge that runs into the
    bounds (n_max → 0, p_half → ∞) and stalls the sampler, so it stays at the material file's values.
    """
    p, n = np.asarray(data.p_ads_Pa, float), np.asarray(data.n_ads, float)
    top = float(np.max(n))
    if not top > 0.0:
        return True
    p_half_top = float(p[np.argmax(n >= 0.5 * top)])
    before = n[p < 0.9 * p_half_top]
    return before.size > 0 and float(np.max(before)) >= CLOSED_PLATEAU_SHARE * top


def default_free(material, data=None) -> tuple[str, ...]:
    """Names freed by ``twin fit --isotherm`` on ``material`` with ``data`` (:data:`DEFAULT_FREE`; without the
    closed phase's Langmuir pair unless :func:`closed_phase_resolved`; plus :data:`SIZE_FREE` when the material
    file gives a surface-energy difference)."""
    names = DEFAULT_FREE
    if data is not None and not closed_phase_resolved(data):
        names = tuple(n for n in names if n not in ("n_max_closed", "p_half_closed_bar"))
    return names + (SIZE_FREE if material.surface_energy_difference_J_m2 is not None else ())


def run_isotherm_fit(
    path: str | Path,
    material_name: str,
    guest: str | None,
    temperature_K: float | None,
    out_dir: str | Path,
    *,
    free: tuple[FreeParameter, ...] | None = None,
    sample: dict[str, float] | None = None,
    y_column: str | None = None,
    coherent_size_nm: tuple[float, float] | None = None,
    seed: int = 0,
    n_steps: int = 1500,
    burn: int = 500,
    n_walkers: int | None = None,
    thin: int = THIN,
    source_text: str | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Fit a measured isotherm with both branches and write ``out_dir/fit_result.json``; returns the dict.

    ``n_steps`` and ``burn`` count stored steps; the sampler makes ``thin`` moves per stored step. ``guest`` and
    ``temperature_K`` may be ``None`` when the file states them (AIF ``_exptl_adsorptive``, ``_exptl_temperature``);
    the guest may be given by formula or another name (``C2H5OH``, ``EtOH``: :func:`twin.thermo.gases.gas_name`).
    The result keeps :data:`N_POSTERIOR_DRAWS` posterior draws (``model.posterior_draws``), from which
    ``twin isotherm --from-fit`` draws its prediction band.

    Raises:
        FitError/MaterialError/DataFormatError: bad input (unknown material or guest, file without two
        branches, unit that cannot be converted, inverted bounds, no pressure overlap).
    """
    from twin import __version__
    from twin.fit.isotherm import read_isotherm_file, stated_conditions
    from twin.material import load_material
    from twin.thermo.gases import gas

    stage(f"reading {Path(path).name}")
    series = read_isotherm_file(path, y_column=y_column)  # once: its notices are printed once
    stated = stated_conditions(series)
    guest, temperature_K = _guest_and_temperature(Path(path).name, stated, guest, temperature_K)
    material = load_material(material_name)
    if material.thermo.n_phases != 2:
        raise FitError(f"--material: the isotherm fit needs a two-phase (flexible) material, "
                       f"{material.name!r} has phases {', '.join(material.phase_names)}")
    g = material.thermo.guest_index(guest)  # MaterialError for an unknown guest
    del g
    material.check_temperature(temperature_K, where="--temperature")
    data = load_isotherm(path, material.mass_g_per_mol, gas(guest).molar_mass_g_per_mol, series=series)
    material_sample = ({} if material.surface_energy_difference_J_m2 is None
                       else {"surface_energy_J_m2": material.surface_energy_difference_J_m2})
    sample_values = {**DEFAULT_SAMPLE, **material_sample, **(sample or {})}
    base_sample = make_sample(**sample_values)
    if free is None:
        free = tuple(
            FreeParameter(n, _start(n, material.thermo, base_sample, guest, temperature_K, given=sample))
            for n in default_free(material, data)
        )
    check_free(free)
    problem = IsothermProblem(material.thermo, base_sample, guest, temperature_K, data, tuple(free), coherent_size_nm)
    n_par = len(free)
    walkers = n_walkers or max(32, 2 * ((WALKERS_PER_PARAMETER * n_par + 1) // 2))
    t0 = time.perf_counter()
    stage(f"compiling the model, least squares from several starts ({n_par} free parameters)")
    fit = fit_isotherm(problem, seed=seed, n_walkers=walkers, n_steps=n_steps, burn=burn, thin=thin)
    stage("writing the result")
    elapsed = time.perf_counter() - t0
    result = twin_fit_to_dict(fit)
    values = {n: current_value(n, material.thermo, base_sample, guest, temperature_K) for n in PARAMETERS}
    values.update({n: float(v) for n, v in zip(fit.names, fit.value, strict=True)})
    result["measurements"] = [{"path": str(path), "sha256": data.sha256, "technique": "isotherm",
                               "unit": data.unit, "pressure_unit": stated.pressure_unit or "bar",
                               "n_points": data.n_points}]
    draws = np.random.default_rng(seed).choice(fit.samples.shape[0], size=min(N_POSTERIOR_DRAWS, fit.samples.shape[0]),
                                               replace=False)
    result["model"] = {"kind": "isotherm-powder-surrogate", "material": material.name, "material_sha256": material.sha256,
                       "guest": guest, "temperature_K": temperature_K, "values": values,
                       "posterior_draws": {n: fit.samples[draws, i].tolist() for i, n in enumerate(fit.names)},
                       "fixed": {n: values[n] for n in PARAMETERS if n not in fit.names},
                       "surrogate": "twin.fit.surrogate.powder_branches (see docs/fit.md for its assumptions)"}
    result["convergence"]["wall_time_s"] = elapsed
    worst = max(result["convergence"]["sampler"]["split_rhat"].values(), default=1.0)
    result["convergence"]["final"] = bool(worst < 1.1)
    if not result["convergence"]["final"]:
        result["warnings"].insert(0, f"not final: the sampler has not converged (largest split R-hat {worst:.2f} ≥ 1.1), "
                                     f"so the intervals are preliminary; rerun with --steps {2 * n_steps} (or more) and "
                                     f"--seed {seed}")
    result["provenance"] = {"twin_version": __version__, "seed": seed, "command": "twin fit",
                            "fit_file": source_text, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    run_id = new_run_id()
    result["run_id"], result["outputs"] = run_id, ["fit_isotherm.png"] if plot else []
    with output_set(out_dir, run_id=run_id, last=("fit_result.json",)) as staged:
        write_fit_result(result, staged.staging)
        if plot:
            _plot(staged.path("fit_isotherm.png"), result, material.name, guest, temperature_K, run_id=run_id,
                  pressure_unit=stated.pressure_unit)
    result["path"] = str(Path(out_dir) / "fit_result.json")
    return result


def _guest_and_temperature(name: str, stated: Any, guest: str | None, temperature_K: float | None) -> tuple[str, float]:
    """The guest and temperature of an isotherm fit: the options, else what the file states; both given and
    different → :class:`FitError` (a file measured with ethanol at 298 K is not fitted as CO2 at 273 K)."""
    from twin.thermo.gases import gas_name

    file_guest = None
    if stated.adsorptive:
        try:
            file_guest = gas_name(stated.adsorptive)
        except TwinError:
            if guest is None:
                raise FitError(f"{name}: the file's adsorptive {stated.adsorptive!r} is not a gas this package knows; "
                               "give --guest") from None
    if guest is None and file_guest is None:
        raise FitError(f"{name}: the file does not state its adsorptive; give --guest (e.g. --guest CO2)")
    chosen = gas_name(guest, where="--guest") if guest is not None else file_guest
    if file_guest is not None and chosen != file_guest:
        raise FitError(f"{name}: the file was measured with {stated.adsorptive} ({file_guest}) but --guest is {guest!r}")
    if temperature_K is None and stated.temperature_K is None:
        raise FitError(f"{name}: the file does not state its temperature; give --temperature (e.g. \"298 K\")")
    if temperature_K is not None and stated.temperature_K is not None and abs(stated.temperature_K - temperature_K) > 0.5:
        raise FitError(f"{name}: the file states {stated.temperature_K:g} K but --temperature is {temperature_K:g} K")
    return str(chosen), float(temperature_K if temperature_K is not None else stated.temperature_K)


def _start(name: str, thermo, sample, guest: str, temperature_K: float, given: dict[str, float] | None = None) -> float:
    v = current_value(name, thermo, sample, guest, temperature_K)
    if name in DEFAULT_START and name not in (given or {}):
        v = DEFAULT_START[name]
    lo, hi = PARAMETERS[name].bounds
    return float(np.clip(v, lo, hi))


def _plot(path: Path, result: dict[str, Any], material: str, guest: str, temperature_K: float, *,
          run_id: str | None = None, pressure_unit: str | None = None) -> None:
    """The measured branches with the model's median and 90 % posterior predictive band, the pressure in the
    file's unit (kPa for a BELSORP AIF file) when it is a known pressure unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit, scale = _pressure_unit(pressure_unit)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for item, colour in zip(result["posterior_predictive"], ("C0", "C3"), strict=False):
        x = np.asarray(item["axis"]["values"]) * scale
        ax.plot(x, item["observed"], "o", ms=3, color=colour, label=f"measured, {item['label']}")
        ax.plot(x, item["median"], "-", color=colour, lw=1, label=f"model median, {item['label']}")
        ax.fill_between(x, item["lower"], item["upper"], color=colour, alpha=0.25, lw=0, label="90 % predictive band")
        ax.set_ylabel(item["quantity"])
    ax.set_xlabel(f"pressure ({unit})")
    ax.set_title(f"{material} + {guest}, {temperature_K:.0f} K: twin fit\n(90 % posterior predictive band)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata=png_metadata(run_id))
    plt.close(fig)


def _pressure_unit(unit: str | None) -> tuple[str, float]:
    """``(unit, factor from bar to it)`` for a file's pressure unit; ``("bar", 1.0)`` when it is none or not a
    pressure this package converts (``p/p0`` needs the saturation pressure, so it stays in bar)."""
    from mofcore.units import parse_quantity

    if unit:
        try:
            return unit, 1e5 / parse_quantity(f"1 {unit}", "pressure")
        except TwinError:
            pass
    return "bar", 1.0


def png_metadata(run_id: str | None) -> dict[str, str]:
    """PNG text entries of a figure of a fit's set: its ``run_id`` (read back by mofcore.outputs.read_run_id)."""
    return {"run_id": run_id} if run_id else {}


# ----------------------------------------------------------------------------------------- XRD series
def relative_path(path: str | Path, base: Path) -> str:
    """A measurement path relative to OUT, as the report builder expects (absolute on another drive)."""
    try:
        return os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:  # another drive
        return str(Path(path).resolve())


def write_columns_csv(path: Path, columns: dict[str, Any], *, run_id: str | None = None) -> None:
    """Write equal-length columns as a CSV through a temporary file renamed over ``path`` (never half a file).

    With ``run_id`` the first line is ``# run_id=<id>`` (read it with ``pandas.read_csv(path, comment="#")``).
    """
    import pandas as pd

    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            if run_id:
                handle.write(f"# run_id={run_id}\n")
            pd.DataFrame(columns).to_csv(handle, index=False, lineterminator="\n")


def measurement_entries(path: str | Path, out: Path, technique: str) -> list[dict[str, Any]]:
    """The ``measurements`` entries of a fit of a series: every file of the folder (or the one file), its path
    relative to OUT and its SHA-256."""
    from twin.datasets import file_sha256

    return [{"path": relative_path(f, out), "sha256": file_sha256(f), "technique": technique}
            for f in _measurement_files(Path(path))]


def write_series_fit(out: Path, result: dict[str, Any], columns: dict[str, Any], figure: str | None,
                     draw: Any = None) -> Path:
    """Write a per-frame fit as one output set: ``OUT/fit_series.csv`` first (the per-frame results survive
    whatever fails after them), then the figure ``OUT/<figure>`` drawn by ``draw(path, result, run_id)``, then
    ``OUT/fit_result.json`` (:func:`mofcore.outputs.output_set`, one run id in each). Sets ``result["run_id"]``,
    ``result["outputs"]`` and ``result["path"]``; returns the path of ``fit_result.json``."""
    run_id = new_run_id()
    result["run_id"] = run_id
    result["outputs"] = ["fit_series.csv"] + ([figure] if figure else [])
    with output_set(out, run_id=run_id, last=("fit_result.json",)) as staged:
        write_columns_csv(staged.path("fit_series.csv"), columns, run_id=run_id)
        if figure:
            draw(staged.path(figure), result, run_id)
        write_fit_result(result, staged.staging)
    result["path"] = str(out / "fit_result.json")
    return out / "fit_result.json"


def _measurement_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return [path]


def run_xrd_series_fit(
    path: str | Path,
    material_name: str,
    instrument_path: str | Path,
    out_dir: str | Path,
    *,
    truth: dict[str, float] | None = None,
    seed: int = 0,
    source_text: str | None = None,
    plot: bool = True,
) -> dict[str, Any]:
    """Fit a measured in situ XRD series (:mod:`twin.fit.xrd_series`) and write ``out_dir/fit_result.json``,
    ``out_dir/fit_series.csv`` (per-frame results) and ``out_dir/fit_xrd_series.png`` as one set.

    When the sample-level step fails after the frames were refined (no switching and no single-phase frame),
    the per-frame results are still written to ``out_dir/fit_series.csv`` before the error is raised (it names
    the file), provided the error carries them (a ``series`` attribute, the table of
    :func:`twin.fit.xrd_series._series_table`).

    When ``out_dir`` is a run directory whose ``observables/xrd.h5`` is on the same 2θ grid, the measured
    frames are stored there too (matched to the simulated frame nearest in time), so that the report overlays
    measured and simulated patterns.

    Raises:
        FitError/MaterialError/DataFormatError: bad input, named.
    """
    from instruments.xrd import load_instrument
    from twin import __version__
    from twin.datasets import file_sha256
    from twin.fit.xrd_series import fit_xrd_series, load_xrd_series
    from twin.material import load_material

    path, out = Path(path), Path(out_dir)
    material = load_material(material_name)
    instrument, _ = load_instrument(instrument_path)
    data = load_xrd_series(path, wavelength_A=float(np.min(np.asarray(instrument.wavelengths_A))))
    try:
        result, fit = fit_xrd_series(data, material, instrument, seed=seed)
    except FitError as error:
        series = getattr(error, "series", None)
        if series is None:
            raise
        with output_set(out) as staged:
            _write_series_csv(staged.path("fit_series.csv"), series, staged.run_id)
        raise FitError(f"{error}; the per-frame refinement is in {out / 'fit_series.csv'}") from None
    for name, value in (truth or {}).items():
        if name in result["parameters"]:
            result["parameters"][name]["truth"] = float(value)
        else:
            result["warnings"].append(f"truth given for {name}, which the fit did not estimate")
    out.mkdir(parents=True, exist_ok=True)
    result["measurements"] = [{"path": relative_path(f, out), "sha256": file_sha256(f), "technique": "xrd"}
                              for f in _measurement_files(path)]
    result["provenance"] = {"twin_version": __version__, "seed": seed, "command": "twin fit",
                            "fit_file": source_text, "instrument": str(instrument_path),
                            "instrument_sha256": file_sha256(Path(instrument_path)),
                            "material_sha256": material.sha256, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    run_id = new_run_id()
    result["run_id"], result["outputs"] = run_id, ["fit_series.csv"] + (["fit_xrd_series.png"] if plot else [])
    with output_set(out, run_id=run_id, last=("fit_result.json",)) as staged:
        write_fit_result(result, staged.staging)
        _write_series_csv(staged.path("fit_series.csv"), result["series"], run_id)
        if plot:
            _plot_series(staged.path("fit_xrd_series.png"), result, material.name, run_id=run_id)
    target = out / "fit_result.json"
    attached = None
    if (out / "observables" / "xrd.h5").is_file():
        from twin.observe import attach_measured

        attached = attach_measured(out / "observables" / "xrd.h5", data)
    if attached:
        result["attached_to"] = str(attached)
    result["path"] = str(target)
    return result


def _write_series_csv(path: Path, series: dict[str, Any], run_id: str | None = None) -> None:
    columns: dict[str, Any] = {"frame": series["frame"], "time_s": series["time_s"]}
    for name in ("pressure_bar", "relative_pressure", "relative_humidity", "temperature_K"):  # the conditions given
        values = np.asarray(series.get(name, []), dtype=np.float64)
        if name in ("pressure_bar", "temperature_K") or (values.size and np.any(np.isfinite(values))):
            columns[name] = series.get(name, [np.nan] * len(series["frame"]))
    for phase, values in series["weight_fraction"].items():
        columns[f"weight_fraction_{phase}"] = values
        columns[f"weight_fraction_{phase}_esd"] = series["weight_fraction_esd"][phase]
    for name, entry in series["refined"].items():
        columns[name] = entry["value"]
        columns[f"{name}_esd"] = entry["esd"]
    columns.update({"Rwp": series["Rwp"], "Rexp": series["Rexp"], "chi2_reduced": series["chi2_reduced"]})
    write_columns_csv(path, columns, run_id=run_id)


def _plot_series(path: Path, result: dict[str, Any], material: str, *, run_id: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["series"]
    driver = result["model"].get("driving_condition", "pressure_bar")
    p = np.asarray(series[driver], dtype=np.float64)
    axis_label = {"pressure_bar": "pressure (bar)", "relative_pressure": "relative pressure P/P0",
                  "relative_humidity": "relative humidity"}.get(driver, driver)
    branch = np.asarray(result["model"]["branches"])
    phase = list(series["weight_fraction"])[-1]
    w = np.asarray(series["weight_fraction"][phase])
    e = np.asarray(series["weight_fraction_esd"][phase])
    fig, ax = plt.subplots(figsize=(6, 4))
    for sign, label, colour in ((1, "adsorption", "#0072B2"), (-1, "desorption", "#D55E00")):
        sel = branch == sign
        ax.errorbar(p[sel], w[sel], yerr=e[sel], fmt="o-", ms=3, lw=0.8, color=colour, label=f"refined, {label}")
    for name, entry in result["parameters"].items():
        if name.startswith("switching_pressure"):
            ax.axvspan(*entry["interval_90"], color="#999999", alpha=0.25, lw=0)
            if entry.get("truth") is not None:
                ax.axvline(entry["truth"], color="#000000", lw=0.8, ls=":")
    ax.set_xlabel(axis_label)
    ax.set_ylabel(f"weight fraction {phase}")
    ax.set_title(f"{material}: sequential refinement (grey: 90 % switching intervals; dotted: truth)", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata=png_metadata(run_id))
    plt.close(fig)
