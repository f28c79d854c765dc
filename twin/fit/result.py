"""``fit_result.json``: the one file every fit writes, typed once for its writer and its readers.

:class:`FitResult` is the validated content: every fit's ``run`` returns a plain dict, :func:`write_fit_result`
turns it into a :class:`FitResult` (so a malformed result is an error at the writer, not a surprise in the
report) and writes it; the report (:func:`load_fit_result`) and ``twin isotherm --from-fit`` read it back
through the same class. The JSON form is documented in ``docs/fit-result.md``; in short::

    {"parameters": {"NAME": {"value": v, "stderr": s, "interval_90": [lo, hi], "unit": "nm", "truth": optional,
                             "median": optional, "esd_least_squares": optional}},
     "figures_of_merit": {"Rwp": ..., "Rexp": ..., "chi2": ..., "chi2_reduced": ...},
     "correlations": {"names": [...], "matrix": [[...]]},
     "measurements": [{"path": "...", "sha256": "...", "technique": optional}],
     "techniques": ["xrd"],
     "convergence": {...}, "provenance": {...}, "warnings": [...],
     "posterior_predictive": [{"axis": {"name": "2θ", "unit": "deg", "values": [...]}, "observed": [...],
                               "median": [...], "lower": [...], "upper": [...], "level": 0.9,
                               "label": "...", "quantity": "counts"}, ...],
     "model": {...}, "series": {...}}   # technique-specific, kept as they are

Written atomically (temporary file in the same folder, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin._json import jsonable
from twin.atomic import atomic_path
from twin.datasets import file_sha256
from twin.errors import DataFormatError, FitError

__all__ = ["FitParameter", "PredictiveCheck", "FitResult", "write_fit_result", "read_fit_result",
           "load_fit_result", "material_from_fit", "twin_fit_to_dict",
           "IsothermPrediction", "predict_isotherm_from_fit"]

#: keys every writer must give
REQUIRED_KEYS = ("parameters", "figures_of_merit", "correlations", "measurements", "convergence", "provenance")


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
class PredictiveCheck:
    """One panel of the posterior predictive check: observed points and the predictive band on one axis.

    Attributes:
        axis_name, axis_unit, axis: the axis (n_points,).
        observed, lower, upper: (n_points,); the band holds ``level`` of replicated data.
        median: (n_points,) or ``None``.
        level: the band's probability (0.9).
        label, quantity: what the panel shows (``"adsorption branch"``, ``"uptake (mmol/g)"``).
    """

    axis_name: str
    axis_unit: str
    axis: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    median: np.ndarray | None
    level: float
    label: str
    quantity: str

    @property
    def coverage(self) -> float:
        """Fraction of the observed points inside the band."""
        return float(np.mean((self.observed >= self.lower) & (self.observed <= self.upper)))

    def to_dict(self) -> dict[str, Any]:
        doc = {"axis": {"name": self.axis_name, "unit": self.axis_unit, "values": self.axis.tolist()},
               "observed": self.observed.tolist(), "lower": self.lower.tolist(), "upper": self.upper.tolist(),
               "level": self.level, "label": self.label, "quantity": self.quantity}
        if self.median is not None:
            doc["median"] = self.median.tolist()
        return doc


@dataclass(frozen=True)
class FitResult:
    """``fit_result.json`` after validation (see :meth:`from_dict`).

    ``extra`` keeps the technique-specific entries (``model``, ``series``, ``convergence``, ``provenance``,
    ``warnings`` …) as they are.
    """

    path: Path | None
    parameters: tuple[FitParameter, ...]
    figures_of_merit: dict[str, float]
    correlation_names: tuple[str, ...]
    correlation_matrix: list[list[float]] | None
    measurements: tuple[dict[str, str], ...]
    posterior_predictive: tuple[PredictiveCheck, ...]
    techniques: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.extra.get("warnings", [])]

    @classmethod
    def from_dict(cls, doc: Any, path: Path | str, check_measurements: bool = False) -> FitResult:
        """Validate a parsed ``fit_result.json`` (``path`` names it in messages and resolves measurement paths).

        Raises:
            FitError: malformed content (names the key and what was expected).
            DataFormatError: (``check_measurements``) a measurement file that moved or changed.
        """
        return _from_dict(doc, Path(path), check_measurements)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as written)."""
        params = {}
        for p in self.parameters:
            entry = dict(self.extra.get("_parameter_extra", {}).get(p.name, {}))
            entry.update({"value": p.value, "stderr": p.stderr, "unit": p.unit})
            if p.interval_90 is not None:
                entry["interval_90"] = list(p.interval_90)
            if p.truth is not None:
                entry["truth"] = p.truth
            params[p.name] = entry
        doc: dict[str, Any] = {"parameters": params, "figures_of_merit": dict(self.figures_of_merit)}
        if self.correlation_matrix is not None:
            doc["correlations"] = {"names": list(self.correlation_names), "matrix": self.correlation_matrix,
                                   **self.extra.get("_correlation_extra", {})}
        doc["measurements"] = [{k: v for k, v in m.items() if k != "resolved"} for m in self.measurements]
        doc["techniques"] = list(self.techniques)
        doc["posterior_predictive"] = [c.to_dict() for c in self.posterior_predictive]
        doc.update({k: v for k, v in self.extra.items() if not k.startswith("_")})
        return doc


def write_fit_result(result: dict[str, Any] | FitResult, out_dir: str | Path) -> Path:
    """Validate ``result`` as a :class:`FitResult` and write ``OUT/fit_result.json`` atomically; returns its path.

    Raises:
        FitError: a required key is missing or an entry is malformed (an internal error of the fit that wrote it).
    """
    out = Path(out_dir)
    target = out / "fit_result.json"
    if not isinstance(result, FitResult):
        missing = [key for key in REQUIRED_KEYS if key not in result]
        if missing:
            raise FitError(f"fit_result.json: internal error, keys {', '.join(missing)} missing")
        result = FitResult.from_dict(jsonable({k: v for k, v in result.items() if k != "path"}), target)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(jsonable(result.to_dict()), handle, indent=1, allow_nan=False)
        handle.write("\n")
    return target


def read_fit_result(path: str | Path) -> dict[str, Any]:
    """A ``fit_result.json`` as a plain dict after validation; FitError naming the file when it is missing or
    malformed."""
    path = Path(path)
    if not path.is_file():
        raise FitError(f"{path}: no such fit result (expected OUT/fit_result.json written by `twin fit`)")
    return load_fit_result(path, check_measurements=False).to_dict()


def _number(value: Any, where: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FitError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _predictive(doc: Any, where: str) -> tuple[PredictiveCheck, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise FitError(f"{where}: expected a list of panels {{axis: {{name, unit, values}}, observed, lower, upper}}, "
                       f"got {type(doc).__name__}")
    checks = []
    for i, item in enumerate(doc):
        at = f"{where}[{i}]"
        axis = item.get("axis") if isinstance(item, dict) else None
        if not isinstance(axis, dict) or not all(k in item for k in ("observed", "lower", "upper")):
            raise FitError(f"{at}: expected {{axis: {{name, unit, values}}, observed, lower, upper}}, got "
                           f"{sorted(item) if isinstance(item, dict) else type(item).__name__}")
        try:
            arrays = [np.asarray(v, dtype=np.float64) for v in (axis.get("values"), item["observed"], item["lower"],
                                                                 item["upper"])]
            median = None if item.get("median") is None else np.asarray(item["median"], dtype=np.float64)
        except (TypeError, ValueError):
            raise FitError(f"{at}: axis.values, observed, lower, upper and median must be lists of numbers") from None
        shapes = {a.shape for a in arrays} | ({median.shape} if median is not None else set())
        if len(shapes) != 1 or arrays[0].ndim != 1:
            raise FitError(f"{at}: axis.values, observed, lower, upper (and median) must be 1-D of one length, got "
                           f"shapes {sorted(shapes)}")
        checks.append(PredictiveCheck(str(axis.get("name", "x")), str(axis.get("unit", "")), *arrays, median,
                                      float(item.get("level", 0.9)), str(item.get("label", "")),
                                      str(item.get("quantity", "intensity"))))
    return tuple(checks)


def _from_dict(doc: Any, path: Path, check_measurements: bool) -> FitResult:
    """Validate a parsed fit result (:meth:`FitResult.from_dict`)."""
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
        item = {**entry, "path": entry["path"], "sha256": str(entry.get("sha256", "")), "resolved": str(resolved)}
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
    techniques = doc.get("techniques", sorted({m["technique"] for m in meas_doc if isinstance(m, dict) and "technique" in m}))
    if not isinstance(techniques, list) or not all(isinstance(t, str) for t in techniques):
        raise FitError(f"{path}: techniques: expected a list of technique names, got {techniques!r}")
    known = {"parameters", "figures_of_merit", "correlations", "measurements", "posterior_predictive", "techniques"}
    extra = {k: v for k, v in doc.items() if k not in known}
    extra["_parameter_extra"] = {name: {k: v for k, v in entry.items()
                                        if k not in ("value", "stderr", "interval_90", "unit", "truth")}
                                 for name, entry in params_doc.items()}
    if isinstance(corr, dict):
        extra["_correlation_extra"] = {k: v for k, v in corr.items() if k not in ("names", "matrix")}
    return FitResult(
        path=path,
        parameters=tuple(params),
        figures_of_merit=fom,
        correlation_names=corr_names,
        correlation_matrix=corr_matrix,
        measurements=tuple(measurements),
        posterior_predictive=_predictive(doc.get("posterior_predictive"), f"{path}: posterior_predictive"),
        techniques=tuple(techniques),
        extra=extra,
    )


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
    return _from_dict(doc, path, check_measurements)



def twin_fit_to_dict(fit: Any, *, truth: dict[str, float] | None = None) -> dict[str, Any]:
    """Each parameter as its posterior median (``value``, inside its 90 % interval by construction) with the
    least-squares ``optimum`` beside it; the ``parameters``, ``figures_of_merit``, ``correlations``, ``convergence``, ``posterior_predictive``
    and ``warnings`` entries of a :class:`twin.fit.isotherm.TwinFit`."""
    params = {}
    for k, name in enumerate(fit.names):
        # one consistent summary: the posterior median with its 5th–95th percentile interval and the posterior sd;
        # the least-squares optimum (which may lie outside a skewed or unconverged interval) is named beside it
        entry = {"value": float(fit.median[k]), "stderr": float(fit.stderr[k]),
                 "interval_90": [float(fit.interval_90[k, 0]), float(fit.interval_90[k, 1])],
                 "unit": fit.units[k], "estimate": "posterior median", "median": float(fit.median[k]),
                 "optimum": float(fit.value[k]), "esd_least_squares": float(fit.esd[k])}
        if truth and name in truth:
            entry["truth"] = float(truth[name])
        entry["determined"] = name not in getattr(fit, "undetermined", ())
        params[name] = entry
    return {
        "parameters": params,
        "figures_of_merit": {"Rwp": fit.rwp, "Rexp": fit.rexp, "chi2": fit.chi2, "chi2_reduced": fit.chi2_reduced,
                             "sigma_per_point": float(np.median(fit.sigma))},
        "correlations": {"names": list(fit.names), "matrix": np.asarray(fit.correlation).tolist()},
        "convergence": fit.convergence,
        "posterior_predictive": fit.predictive,
        "warnings": list(fit.warnings),
        "undetermined": list(getattr(fit, "undetermined", ())),
    }


def material_from_fit(path: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """Material and sample of a twin-level isotherm fit, for predictions at other conditions.

    ``twin isotherm --from-fit OUT/fit_result.json --temperature "298 K"`` calls this, then either the
    thermodynamic branches of the material (``material.thermo``, single-crystal mean field) or
    :func:`twin.fit.surrogate.powder_branches` with the returned sample (the fitted powder).

    Returns:
        (:class:`twin.material.Material` with the fitted host/adsorption values, :class:`SampleParams`,
        the ``model`` entry of the file). Temperature dependence: the host entropy difference and the
        adsorption enthalpies are those of the material file (not fitted from one isotherm), so
        ``delta_f_kj_mol`` fitted at T_fit moves the host energy U_open and ΔF(T) = ΔF(T_fit) − (T − T_fit)ΔS.

    Raises:
        FitError: the file is not a twin-level isotherm fit.
    """
    from dataclasses import replace

    from twin.fit.isotherm import apply_values
    from twin.fit.surrogate import make_sample
    model, material = _isotherm_fit(path)
    values = {k: float(v) for k, v in model["values"].items()}
    sample = make_sample()
    thermo, sample = apply_values(material.thermo, sample, values, model["guest"], float(model["temperature_K"]))
    return replace(material, thermo=thermo), sample, model


def _isotherm_fit(path: str | Path) -> tuple[dict[str, Any], Any]:
    """The ``model`` entry of a twin-level isotherm fit and its material as the file gives it (not yet fitted).

    Raises:
        FitError: the file is not a twin-level isotherm fit.
    """
    from twin.material import load_material

    data = read_fit_result(path)
    model = data.get("model")
    if not isinstance(model, dict) or model.get("kind") != "isotherm-powder-surrogate":
        raise FitError(f"{path}: expected a twin-level isotherm fit (model.kind = 'isotherm-powder-surrogate'), "
                       f"got {model.get('kind') if isinstance(model, dict) else 'no model entry'}")
    material = load_material(model["material_path"] if "material_path" in model and Path(model["material_path"]).is_file()
                             else model["material"])
    return model, material


@dataclass(frozen=True)
class IsothermPrediction:
    """The powder isotherm a twin-level isotherm fit predicts at some temperature, with its posterior band.

    Attributes:
        pressure_Pa: the pressure grid, rising [Pa] (n,).
        median, lower, upper: uptake [mmol/g] per branch (``"adsorption"``, ``"desorption"``; each (n,) on the
            rising grid): the curve at the posterior median of the parameters, and the 5th and 95th percentiles of
            the curves of the posterior draws (``None`` without draws: a result of an earlier version).
        open_fraction: open volume fraction of the powder per branch at the median parameters (n,).
        switching_bar: per branch, the pressure where the open fraction crosses ½ at the median parameters and its
            5th–95th percentile over the draws [bar] (``None`` where the grid has no crossing).
        n_draws: posterior draws behind the band.
    """

    pressure_Pa: np.ndarray
    median: dict[str, np.ndarray]
    lower: dict[str, np.ndarray] | None
    upper: dict[str, np.ndarray] | None
    open_fraction: dict[str, np.ndarray]
    switching_bar: dict[str, tuple[float, float, float] | None]
    n_draws: int


def predict_isotherm_from_fit(path: str | Path, temperature_K: float, pressures_Pa: Any) -> IsothermPrediction:
    """The fitted powder's isotherm at ``temperature_K``: the surrogate of the fit
    (:func:`twin.fit.surrogate.powder_branches`, with the fitted crystal-size distribution, defect and surface
    terms) at the posterior-median values, and a 90 % band from the posterior draws the fit kept
    (``model.posterior_draws``), one vectorised evaluation over all draws. The band is the spread of the
    model curve (parameter uncertainty), not of new measurements. Temperature dependence as in
    :func:`material_from_fit`.
    """
    from dataclasses import replace

    import jax
    import jax.numpy as jnp

    from twin.fit.isotherm import apply_values
    from twin.fit.surrogate import make_sample, powder_branches

    model, base = _isotherm_fit(path)
    guest, t_fit = model["guest"], float(model["temperature_K"])
    fixed = {k: float(v) for k, v in model["values"].items()}
    thermo, sample = apply_values(base.thermo, make_sample(), fixed, guest, t_fit)  # at the posterior medians
    material = replace(base, thermo=thermo)
    p = jnp.asarray(np.sort(np.asarray(pressures_Pa, float)), material.thermo.volume_A3.dtype)
    to_mmol_g = 1000.0 / material.mass_g_per_mol

    def curves(thermo: Any, samp: Any) -> tuple[Any, Any, Any, Any]:
        ads, des, open_ads, open_des = powder_branches(thermo, samp, guest, temperature_K, p, p[::-1])
        return ads * to_mmol_g, des[::-1] * to_mmol_g, open_ads, open_des[::-1]

    ads, des, open_ads, open_des = (np.asarray(c, float) for c in curves(material.thermo, sample))
    median = {"adsorption": ads, "desorption": des}
    opened = {"adsorption": open_ads, "desorption": open_des}
    grid_bar = np.asarray(p, float) / 1e5
    switching: dict[str, tuple[float, float, float] | None] = {b: None for b in median}
    draws = model.get("posterior_draws") or {}
    lower = upper = None
    n_draws = len(next(iter(draws.values()))) if draws else 0
    if n_draws:
        names = list(draws)
        table = jnp.asarray(np.array([draws[n] for n in names], float).T, material.thermo.volume_A3.dtype)

        def one(row: Any) -> tuple[Any, Any, Any, Any]:
            values = {**fixed, **{n: row[i] for i, n in enumerate(names)}}
            thermo, samp = apply_values(base.thermo, make_sample(), values, guest, t_fit)
            return curves(thermo, samp)

        d_ads, d_des, o_ads, o_des = (np.asarray(c, float) for c in jax.jit(jax.vmap(one))(table))
        lower = {"adsorption": np.percentile(d_ads, 5.0, axis=0), "desorption": np.percentile(d_des, 5.0, axis=0)}
        upper = {"adsorption": np.percentile(d_ads, 95.0, axis=0), "desorption": np.percentile(d_des, 95.0, axis=0)}
        drawn = {"adsorption": o_ads, "desorption": o_des}
    for branch, fraction in opened.items():
        at = _half_crossing(fraction, grid_bar, rising=branch == "adsorption")
        if at is None:
            continue
        spread = [_half_crossing(f, grid_bar, rising=branch == "adsorption") for f in drawn[branch]] if n_draws else []
        spread = [s for s in spread if s is not None]
        lo, hi = (np.percentile(spread, [5.0, 95.0]) if spread else (math.nan, math.nan))
        switching[branch] = (at, float(lo), float(hi))
    return IsothermPrediction(np.asarray(p, float), median, lower, upper, opened, switching, n_draws)


def _half_crossing(fraction: np.ndarray, pressure_bar: np.ndarray, *, rising: bool) -> float | None:
    """Pressure [bar] where an open fraction crosses ½ (log-linear between grid points): the first crossing
    upwards along the adsorption branch, the last one downwards along the desorption branch."""
    f = np.asarray(fraction, float) - 0.5
    idx = np.nonzero((f[:-1] < 0) & (f[1:] >= 0))[0] if rising else np.nonzero((f[:-1] < 0) & (f[1:] >= 0))[0][::-1]
    if idx.size == 0:
        return None
    i = int(idx[0])
    w = -f[i] / (f[i + 1] - f[i])
    return float(np.exp(np.log(pressure_bar[i]) + w * (np.log(pressure_bar[i + 1]) - np.log(pressure_bar[i]))))
