"""``fit_result.json``: the one file a fit writes for the report builder and for ``twin isotherm --from-fit``.

Form (the report builder reads exactly this; more keys are allowed)::

    {"parameters": {"NAME": {"value": v, "stderr": s, "interval_90": [lo, hi], "unit": "nm", "truth": optional}},
     "figures_of_merit": {"Rwp": ..., "Rexp": ..., "chi2": ..., "chi2_reduced": ...},
     "correlations": {"names": [...], "matrix": [[...]]},
     "measurements": [{"path": "...", "sha256": "..."}],
     "convergence": {...}, "provenance": {...}, "warnings": [...],
     "posterior_predictive": {"x": [...], "observed": [...], "median": [...], "lo": [...], "hi": [...],
                              "x_label": "...", "y_label": "..."},
     "model": {"kind": "isotherm-powder-surrogate", "material": ..., "guest": ..., "temperature_K": ...,
               "values": {every parameter of the model at the best fit}}}

Written atomically (temporary file in the same folder, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from twin.atomic import atomic_path
from twin._json import jsonable
from twin.errors import FitError

__all__ = ["write_fit_result", "read_fit_result", "material_from_fit", "twin_fit_to_dict"]


def write_fit_result(result: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``OUT/fit_result.json`` atomically and return its path."""
    for key in ("parameters", "figures_of_merit", "correlations", "measurements", "convergence", "provenance"):
        if key not in result:
            raise FitError(f"fit_result.json: internal error, key {key!r} missing")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "fit_result.json"
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(jsonable(result), handle, indent=1, allow_nan=False)
        handle.write("\n")
    return target


def read_fit_result(path: str | Path) -> dict[str, Any]:
    """Read a ``fit_result.json``; FitError naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FitError(f"{path}: no such fit result (expected OUT/fit_result.json written by `twin fit`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FitError(f"{path}: not a valid fit_result.json ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict):
        raise FitError(f"{path}: expected a JSON object with a 'parameters' table")
    return data


def twin_fit_to_dict(fit: Any, *, truth: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``parameters``, ``figures_of_merit``, ``correlations``, ``convergence``, ``posterior_predictive``
    and ``warnings`` entries of a :class:`twin.fit.isotherm.TwinFit`."""
    params = {}
    for k, name in enumerate(fit.names):
        entry = {"value": float(fit.value[k]), "stderr": float(fit.stderr[k]),
                 "interval_90": [float(fit.interval_90[k, 0]), float(fit.interval_90[k, 1])],
                 "unit": fit.units[k], "median": float(fit.median[k]), "esd_least_squares": float(fit.esd[k])}
        if truth and name in truth:
            entry["truth"] = float(truth[name])
        params[name] = entry
    return {
        "parameters": params,
        "figures_of_merit": {"Rwp": fit.rwp, "Rexp": fit.rexp, "chi2": fit.chi2, "chi2_reduced": fit.chi2_reduced,
                             "sigma_per_point": float(np.median(fit.sigma))},
        "correlations": {"names": list(fit.names), "matrix": np.asarray(fit.correlation).tolist()},
        "convergence": fit.convergence,
        "posterior_predictive": fit.predictive,
        "warnings": list(fit.warnings),
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
    from twin.material import load_material

    data = read_fit_result(path)
    model = data.get("model")
    if not isinstance(model, dict) or model.get("kind") != "isotherm-powder-surrogate":
        raise FitError(f"{path}: expected a twin-level isotherm fit (model.kind = 'isotherm-powder-surrogate'), "
                       f"got {model.get('kind') if isinstance(model, dict) else 'no model entry'}")
    material = load_material(model["material_path"] if "material_path" in model and Path(model["material_path"]).is_file()
                             else model["material"])
    values = {k: float(v) for k, v in model["values"].items()}
    sample = make_sample()
    thermo, sample = apply_values(material.thermo, sample, values, model["guest"], float(model["temperature_K"]))
    return replace(material, thermo=thermo), sample, model
