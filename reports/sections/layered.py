"""The layered-stack fit of an in situ XRD series (``twin fit --xrd-series FOLDER --model layered``): measured
against model per frame with residuals, the interlayer distance, coherent stack thickness and spread of interlayer
distances against the driving condition (P/P0) beside the isotherm, and the per-frame table.

Shown when the run's ``fit_result.json`` is a layered fit (``model.kind == "xrd-series-layered"``,
:mod:`twin.fit.layered`); absent otherwise (the generic fit section still shows every fit).
"""

from __future__ import annotations

import numpy as np

from reports.context import ReportContext, Section, fmt, fmt_pm, table
from reports.figures import layered_frames_figure, layered_parameters_figure

__all__ = ["layered_fit_section", "LAYERED_KIND"]

LAYERED_KIND = "xrd-series-layered"


def layered_fit_section(ctx: ReportContext) -> Section | None:
    """Per-frame panels and table of a layered fit; ``None`` when the run holds no such fit."""
    fit = ctx.run.fit
    if fit is None or fit.extra.get("model", {}).get("kind") != LAYERED_KIND:
        return None
    series = fit.extra["series"]
    sec = Section("layered-fit", "Layered stacks: per-frame fit of the in situ series")
    sec.blocks.append(ctx.figure(layered_frames_figure(series), "layered-frames",
                                 "Measured (dots) and fitted (line) patterns of every frame on q²·I, offset and labelled "
                                 "with the driving condition; below, the residuals divided by the counting uncertainty.",
                                 "measured against model per frame"))
    sec.blocks.append(ctx.figure(layered_parameters_figure(series, fit.extra.get("isotherm")), "layered-parameters",
                                 "Interlayer distance, layer-weighted coherent thickness and spread of the interlayer "
                                 "distance (±1 s.u.) against the driving condition, beside the adsorption isotherm.",
                                 "layered-fit parameters against relative pressure"))
    v, e = series["values"], series["esd"]
    drive = series[series["driving_condition"]]
    uptake = series.get("uptake")
    rows = []
    for i, frame in enumerate(series["frame"]):
        rows.append([frame, fmt(drive[i], 3), fmt(uptake["values"][i], 4) if uptake else "—",
                     fmt_pm(v["d001_nm"][i], e["d001_nm"][i]),
                     fmt_pm(v["coherent_thickness_nm"][i], e["coherent_thickness_nm"][i]),
                     fmt_pm(v["d_spread_nm"][i], e["d_spread_nm"][i]), fmt(series["chi2_reduced"][i], 3),
                     fmt(series["Rwp"][i], 3)])
    head = {"relative_pressure": "P/P0", "relative_humidity": "RH"}.get(series["driving_condition"], "p (bar)")
    sec.blocks.append(table(["frame", head, uptake["name"] if uptake else "uptake", "d001 (nm)", "L_V (nm)",
                             "σ_d (nm)", "χ²_ν", "Rwp"], rows))
    sec.summary.update({
        "frames": list(series["frame"]), series["driving_condition"]: list(drive),
        **{name: {"value": list(v[name]), "stderr": list(e[name])}
           for name in ("d001_nm", "coherent_thickness_nm", "d_spread_nm")},
        "chi2_reduced": list(series["chi2_reduced"]), "Rwp": list(series["Rwp"]),
        "d001_increases_with_drive": bool(np.all(np.diff(np.asarray(v["d001_nm"])[np.argsort(drive)]) > 0)),
    })
    return sec
