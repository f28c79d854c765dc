"""MIL-53(Cr)/CO2 at 304 K: the in situ diffraction of Neimark et al. (2011) predicted from the isotherm fit alone.

    python examples/mil53cr_co2_prediction.py -o OUT [--data FOLDER] [--material mil53-cr]
                                              [--temperature "304 K"] [--top-pressure "10 bar"]
                                              [--powder [--steps N] | --powder-fit FIT_RESULT.json]

writes ``OUT/mil53cr_co2_prediction.csv`` (one row per measured frame: predicted against measured cell volume and
(110) peak position), ``OUT/mil53cr_co2_prediction.png`` (predicted lines over measured points, adsorption and
desorption, with the isotherm the parameters were fitted to) and ``OUT/summary.json`` (the figures of agreement).
Bad input (a pressure outside the material's calibrated range, a missing data file) prints one line and exits 2.

``--powder`` adds the powder average: it fits the powder surrogate to the same isotherm (``twin fit --isotherm
OUT/figure3a_isotherm.csv --material mil53-cr``, written to ``OUT/powder_fit``; about 1.5 min on 2 cores at the
default 300 steps) and predicts from it the open (lp) volume fraction of the powder at every frame
(:func:`twin.fit.result.predict_isotherm_from_fit`, the machinery of ``twin isotherm --from-fit``);
``--powder-fit`` uses an existing fit result instead. The in situ data still enter only the comparison.

The prediction (:func:`predict`) uses the material file and the pressures only:

1. the phase on each branch from the twin's spinodal thermodynamics (``twin isotherm``'s
   :func:`twin.commands.isotherm.compute_isotherm`) on the run's protocol: activated solid, rising pressure to the
   top pressure of the in situ run, then falling;
2. η of the phase (0 np, 1 lp: the twin's per-phase order parameter sits at the endpoints) → the cell on the
   anisotropic breathing path (:func:`instruments.xrd.breathing_lattice.breathing_lattice`), volume V(η);
3. the reflection list of that cell from the XRD forward model (:func:`instruments.xrd.peak_list`) → the
   position of the (110) reflection of the lp cell, the line the measurement follows.

:func:`compare` then reads Figure_4.csv (volume, Grace sets S8/S9, the visible ones) and Figure_S3a.csv (2θ, sets
S0/S1) and puts them beside the prediction. λ = 0.71118 Å is inferred from the Figure 4 file (hidden sets S0 = 2θ
and S2 = d-spacing of the same frames give λ = 2 d sin θ = 0.71118 Å for all 16 frames); the data files and the
README do not state it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from instruments.xrd import peak_list, phase_from_cif  # noqa: E402
from instruments.xrd.breathing_lattice import (  # noqa: E402
    breathing_lattice,
    cell_volume_A3,
    channel_axes,
    channel_geometry,
    lattice_at_volume,
)
from mofcore.units import parse_quantity  # noqa: E402
from twin.commands.isotherm import compute_isotherm  # noqa: E402
from twin.errors import DataFormatError, MaterialError, TwinError  # noqa: E402
from twin.material import load_material, quantity  # noqa: E402

GUEST = "CO2"
TEMPERATURE_K = 304.0  # ISODB's temperature of the paper's CO2 isotherm (10.1021La200094x.Isotherm3)
WAVELENGTH_A = 0.71118  # inferred from Figure_4.csv (module docstring)
REFLECTION = (1, 1, 0)  # of the Imcm lp cell: d = 10.29 Å, the lowest-angle line, the one of Figures 4 and S3a
TOP_PRESSURE_BAR = 10.0  # the highest pressure of the in situ run (Figure 4)
DATA = ROOT / "tests" / "data" / "isotherms" / "mil53cr_neimark2011"
MOLECULES_PER_MMOL_G = 932.476 / 1000.0  # M(4 Cr(OH)(bdc)) / 1000
TOLERANCES = {"volume_rel": 0.025, "two_theta_deg": 0.10, "transition_factor": 2.0}  # tests/twin/test_mil53cr_prediction.py


def _validity_bar(material, key: str) -> float:
    table = material.raw.get("validity", {})
    if key not in table:
        raise MaterialError(f"{material.path.name}: validity.{key}: missing; the prediction needs the calibrated pressure range")
    return quantity(table, key, "pressure", where=f"{material.path.name}: validity", sources=material.raw["sources"]) / 1e5


def check_pressures(material, pressures_bar) -> tuple[float, float]:
    """Refuse pressures outside ``[validity] pressure_min..pressure_max`` of the material (one-line MaterialError)."""
    low, high = _validity_bar(material, "pressure_min"), _validity_bar(material, "pressure_max")
    for p in np.atleast_1d(np.asarray(pressures_bar, float)):
        if p > high:
            raise MaterialError(f"{material.path.name}: validity.pressure_max: {p:g} bar is above the calibrated range "
                                f"{low:g}-{high:g} bar of material {material.name!r}")
        if p < low:
            raise MaterialError(f"{material.path.name}: validity.pressure_min: {p:g} bar is below the calibrated range "
                                f"{low:g}-{high:g} bar of material {material.name!r}")
    return low, high


def _lp_reflection(structure, lattice) -> tuple[float, float]:
    """(2θ [deg], d [Å]) of the (110) family of the lp cell ``lattice`` from the forward model's peak list."""
    peaks = peak_list(structure, WAVELENGTH_A, (1.0, 10.0), lattice=np.asarray(lattice, np.float32), min_rel=0.0)
    for peak in peaks:
        if any(sorted(map(abs, hkl)) == sorted(REFLECTION) and abs(hkl[2]) == 0 for hkl in peak["hkl"]):
            return peak["two_theta_deg"], peak["d_A"]
    raise DataFormatError(f"{structure.name}: no {REFLECTION} reflection between 1 and 10° 2θ at λ = {WAVELENGTH_A} Å")


def predict(material, adsorption_bar, desorption_bar, *, temperature_K: float = TEMPERATURE_K,
            top_pressure_bar: float = TOP_PRESSURE_BAR, n_grid: int = 400) -> dict:
    """The twin's prediction at the given pressures of an adsorption-then-desorption run (no measured data read).

    Args:
        material: :class:`twin.material.Material` with phases (np, lp) and CO2 parameters.
        adsorption_bar, desorption_bar: frame pressures of the two branches [bar].
        temperature_K: T [K], inside the material's validity.
        top_pressure_bar: the turning point of the run [bar].

    Returns:
        ``{"adsorption": [...], "desorption": [...], "transitions": {...}, "curves": {...}}``; a frame is a dict
        with pressure, phase, η, lattice (a, b, c, α, β, γ), volume [Å³] of the lattice the twin puts there, and the
        lp (110) position of the lp cell [deg].

    Raises:
        MaterialError: a pressure or the temperature outside the material's validity.
    """
    material.check_temperature(temperature_K)
    low, _ = check_pressures(material, [*adsorption_bar, *desorption_bar, top_pressure_bar])
    names = list(material.phase_names)
    lattices = [np.array([p.a_A, p.b_A, p.c_A, p.alpha_deg, p.beta_deg, p.gamma_deg]) for p in material.phases]
    d_min = 0.97 * WAVELENGTH_A / (2.0 * np.sin(np.deg2rad(5.0)))
    lp_structure = phase_from_cif(material.phases[-1].structure, d_min)

    frames = np.concatenate([np.asarray(adsorption_bar, float), np.asarray(desorption_bar, float)])
    grid_bar = np.unique(np.concatenate([np.geomspace(low, top_pressure_bar, n_grid), frames]))
    branches, transitions = compute_isotherm(material, GUEST, temperature_K, grid_bar * 1e5)

    eta_grid = {b: np.where(getattr(branches, f"{b}_phase") == len(names) - 1, 1.0, 0.0) for b in ("adsorption", "desorption")}
    cells = {b: np.asarray(breathing_lattice(eta_grid[b], lattices[0], lattices[-1], setting=1)) for b in eta_grid}
    lp_two_theta, _ = _lp_reflection(lp_structure, breathing_lattice(1.0, lattices[0], lattices[-1], setting=1))

    out = {"temperature_K": temperature_K, "wavelength_A": WAVELENGTH_A, "reflection": list(REFLECTION)}
    for branch, pressures in (("adsorption", adsorption_bar), ("desorption", desorption_bar)):
        rows = []
        for p in pressures:
            k = int(np.argmin(np.abs(grid_bar - p)))
            phase = int(getattr(branches, f"{branch}_phase")[k])
            eta = 1.0 if phase == len(names) - 1 else 0.0
            # the cell of the phase present, in its own CIF setting, on the breathing path at its η
            lattice = np.asarray(breathing_lattice(eta, lattices[0], lattices[-1], setting=1 if eta == 1.0 else 0))
            rows.append({
                "pressure_bar": float(p), "phase": names[phase], "eta": eta,
                "lattice": [float(x) for x in lattice], "volume_A3": float(cell_volume_A3(lattice)),
                "lp_two_theta_deg": lp_two_theta if eta == 1.0 else None,
            })
        out[branch] = rows
    steps = {}
    for t in transitions:
        if t.phase_to == names[-1] and t.branch == "adsorption":
            steps["adsorption"] = t.pressure_Pa / 1e5
        if t.phase_to == names[0] and t.branch == "desorption":
            steps["desorption"] = t.pressure_Pa / 1e5
    out["transitions"] = steps
    out["curves"] = {
        "pressure_bar": grid_bar.tolist(),
        **{f"{b}_volume_A3": np.asarray(cell_volume_A3(cells[b])).tolist() for b in cells},
        **{f"{b}_uptake_mmol_g": (np.asarray(getattr(branches, f"{b}_uptake")) / MOLECULES_PER_MMOL_G).tolist() for b in cells},
        **{f"{b}_lp": (eta_grid[b] == 1.0).tolist() for b in cells},
        "lp_two_theta_deg": lp_two_theta,
    }
    return out


def predict_powder(material, fit_result: Path, adsorption_bar, desorption_bar, *, temperature_K: float = TEMPERATURE_K,
                   top_pressure_bar: float = TOP_PRESSURE_BAR, n_grid: int = 200) -> dict:
    """Open (lp) volume fraction of the powder fitted by ``twin fit --isotherm`` at the frames (no measured XRD read).

    Returns ``{"adsorption": [x, ...], "desorption": [...], "switching_bar": {branch: (median, p05, p95)},
    "curves": {...}}`` with x the lp fraction at each frame pressure.
    """
    from twin.fit.result import predict_isotherm_from_fit

    material.check_temperature(temperature_K)
    low, _ = check_pressures(material, [*adsorption_bar, *desorption_bar, top_pressure_bar])
    frames = np.concatenate([np.asarray(adsorption_bar, float), np.asarray(desorption_bar, float)])
    grid_bar = np.unique(np.concatenate([np.geomspace(low, top_pressure_bar, n_grid), frames]))
    pred = predict_isotherm_from_fit(fit_result, temperature_K, grid_bar * 1e5)
    grid = np.asarray(pred.pressure_Pa, float) / 1e5
    out = {"switching_bar": {b: (None if v is None else [float(x) for x in v]) for b, v in pred.switching_bar.items()},
           "curves": {"pressure_bar": grid.tolist(),
                      **{f"{b}_open_fraction": np.asarray(pred.open_fraction[b], float).tolist() for b in pred.open_fraction}}}
    for branch, pressures in (("adsorption", adsorption_bar), ("desorption", desorption_bar)):
        x = np.asarray(pred.open_fraction[branch], float)
        out[branch] = [float(x[int(np.argmin(np.abs(grid - p)))]) for p in pressures]
    return out


def fit_powder(folder: Path, out: Path, *, material: str = "mil53-cr", steps: int = 300) -> Path:
    """Write Figure 3a as an isotherm CSV and run ``twin fit --isotherm`` on it; returns the fit_result.json."""
    from twin.cli import main as twin_main

    isotherm = read_isotherm(folder)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "figure3a_isotherm.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        fh.write("pressure_bar,uptake_mmol_per_g,branch\n")
        for branch in ("adsorption", "desorption"):
            for p, n in isotherm[branch]:
                fh.write(f"{float(p)!r},{float(n)!r},{branch}\n")
    fit_dir = out / "powder_fit"
    code = twin_main(["fit", "--isotherm", str(table), "--material", material, "--guest", GUEST,
                      "--temperature", f"{TEMPERATURE_K:g} K", "--steps", str(steps), "-o", str(fit_dir), "--quiet"])
    if code != 0:
        raise TwinError(f"twin fit --isotherm {table}: exit status {code}")
    return fit_dir / "fit_result.json"


def _read_sets(path: Path, sets: dict[str, str]) -> dict[str, np.ndarray]:
    """{branch: (n, 2) array (x, y)} of the named Grace sets of one of the long-format CSV files."""
    if not path.is_file():
        raise DataFormatError(f"{path}: not found (the Neimark 2011 data folder, --data)")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    out = {}
    for branch, s in sets.items():
        pts = [(float(r["x"]), float(r["y"])) for r in rows if r["set"] == s]
        if not pts:
            raise DataFormatError(f"{path}: Grace set {s} ({branch}) not found")
        out[branch] = np.array(pts)
    return out


def read_measured(folder: Path) -> dict:
    """Figure 4 (visible sets S8 adsorption / S9 desorption: volume [Å³]) and Figure S3a (S0 / S1: 2θ [deg])."""
    volume = _read_sets(folder / "Figure_4.csv", {"adsorption": "S8", "desorption": "S9"})
    two_theta = _read_sets(folder / "Figure_S3a.csv", {"adsorption": "S0", "desorption": "S1"})
    for b in volume:
        if not np.allclose(volume[b][:, 0], two_theta[b][:, 0]):
            raise DataFormatError(f"{folder}: Figure_4 and Figure_S3a list different pressures on the {b} branch")
    return {"volume": volume, "two_theta": two_theta}


def read_isotherm(folder: Path) -> dict[str, np.ndarray]:
    """Figure 3a: adsorption S3 / desorption S4 (pressure [bar], uptake [mmol/g]), the fitted data."""
    return _read_sets(folder / "Figure_3a.csv", {"adsorption": "S3", "desorption": "S4"})


def compare(material, folder: Path, *, temperature_K: float = TEMPERATURE_K, top_pressure_bar: float = TOP_PRESSURE_BAR,
            powder_fit: Path | None = None) -> dict:
    """Predict at the frames' pressures, THEN read the measured volumes and 2θ and compare (rows and figures).

    With ``powder_fit`` (a ``twin fit --isotherm`` result of the same isotherm) the rows also hold the powder's lp
    volume fraction and its mean cell volume (fraction-weighted np and lp cells)."""
    folder = Path(folder)
    pressures = {b: _read_sets(folder / "Figure_S3a.csv", {b: s})[b][:, 0]
                 for b, s in (("adsorption", "S0"), ("desorption", "S1"))}  # the protocol: pressures only
    prediction = predict(material, pressures["adsorption"], pressures["desorption"], temperature_K=temperature_K,
                         top_pressure_bar=top_pressure_bar)
    powder = None
    if powder_fit is not None:
        powder = predict_powder(material, Path(powder_fit), pressures["adsorption"], pressures["desorption"],
                                temperature_K=temperature_K, top_pressure_bar=top_pressure_bar)
    v_np, v_lp = (float(ph.volume_A3) for ph in (material.phases[0], material.phases[-1]))
    measured = read_measured(folder)
    rows = []
    for branch in ("adsorption", "desorption"):
        for frame, (p, v), (_, tth) in zip(prediction[branch], measured["volume"][branch], measured["two_theta"][branch]):
            pred_tth = frame["lp_two_theta_deg"]
            rows.append({
                "branch": branch, "pressure_bar": p, "predicted_phase": frame["phase"], "predicted_eta": frame["eta"],
                "predicted_a_A": frame["lattice"][0], "predicted_b_A": frame["lattice"][1], "predicted_c_A": frame["lattice"][2],
                "predicted_volume_A3": frame["volume_A3"], "measured_volume_A3": float(v),
                "volume_rel_error": frame["volume_A3"] / float(v) - 1.0,
                "predicted_two_theta_deg": pred_tth if pred_tth is not None else float("nan"),
                "measured_two_theta_deg": float(tth),
                "two_theta_error_deg": (pred_tth - float(tth)) if pred_tth is not None else float("nan"),
            })
            if powder is not None:
                x = powder[branch][len([r for r in rows if r["branch"] == branch]) - 1]
                rows[-1]["powder_lp_fraction"] = x
                rows[-1]["powder_mean_volume_A3"] = x * v_lp + (1.0 - x) * v_np
    lowest = {b: float(np.min(measured["volume"][b][:, 0])) for b in ("adsorption", "desorption")}
    lp_rows = [r for r in rows if r["predicted_phase"] == material.phase_names[-1]]
    summary = {
        "material": material.name, "temperature_K": prediction["temperature_K"], "wavelength_A": WAVELENGTH_A,
        "wavelength_note": "inferred from Figure_4.csv (hidden sets S0 = 2-theta, S2 = d-spacing): lambda = 2 d sin(theta)",
        "reflection": list(REFLECTION), "tolerances": TOLERANCES,
        "transitions_bar": prediction["transitions"], "lowest_measured_lp_bar": lowest,
        "frames": len(rows), "frames_predicted_lp": len(lp_rows),
        "max_abs_volume_rel_error_lp": max((abs(r["volume_rel_error"]) for r in lp_rows), default=None),
        "max_abs_two_theta_error_deg_lp": max((abs(r["two_theta_error_deg"]) for r in lp_rows), default=None),
        "measured_volume_range_A3": [min(r["measured_volume_A3"] for r in rows), max(r["measured_volume_A3"] for r in rows)],
        "predicted_lp_volume_A3": lp_rows[0]["predicted_volume_A3"] if lp_rows else None,
    }
    if powder is not None:
        fractions = [r["powder_lp_fraction"] for r in rows]
        summary["powder"] = {
            "fit_result": str(powder_fit), "switching_bar": powder["switching_bar"],
            "lp_fraction_min_at_measured_lp_frames": min(fractions),
            "lp_fraction_by_frame": {f"{r['branch']} {r['pressure_bar']:g} bar": r["powder_lp_fraction"] for r in rows},
        }
    return {**summary, "rows": rows, "prediction": prediction, "powder": powder, "measured": measured, "summary": summary}


def geometry_check(material, folder: Path) -> dict:
    """(110) positions of the cells at the MEASURED volumes: on the anisotropic path (lattice_at_volume at the lp
    cell's strut, chain and tilt) and by isotropic scaling of the lp cell, against the measured 2θ."""
    measured = read_measured(Path(folder))
    lp = material.phases[-1]
    lattice = np.array([lp.a_A, lp.b_A, lp.c_A, lp.alpha_deg, lp.beta_deg, lp.gamma_deg])
    axes = channel_axes(lattice)
    strut, chain, tilt, _ = (float(x) for x in channel_geometry(lattice, axes))
    structure = phase_from_cif(lp.structure, 0.97 * WAVELENGTH_A / (2.0 * np.sin(np.deg2rad(5.0))))
    aniso, iso = [], []
    for b in ("adsorption", "desorption"):
        for v, tth in zip(measured["volume"][b][:, 1], measured["two_theta"][b][:, 1]):
            cell = np.asarray(lattice_at_volume(v, strut, chain, tilt, axes))
            aniso.append(_lp_reflection(structure, cell)[0] - tth)
            scaled = lattice.copy()
            scaled[:3] *= (v / lp.volume_A3) ** (1.0 / 3.0)
            iso.append(_lp_reflection(structure, scaled)[0] - tth)
    return {"anisotropic_error_deg": np.array(aniso), "isotropic_error_deg": np.array(iso)}


def _plot(path: Path, result: dict, isotherm: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves, measured = result["prediction"]["curves"], result["measured"]
    p = np.asarray(curves["pressure_bar"])
    colours = {"adsorption": "tab:blue", "desorption": "tab:red"}
    styles = {"adsorption": "--", "desorption": "-"}
    steps = result["transitions_bar"]
    powder = result.get("powder")
    fig, axes = plt.subplots(1, 4 if powder else 3, figsize=(20 if powder else 15, 4.6))
    ax = axes[0]
    full = result["isotherm_curves"]
    for b, c in colours.items():
        ax.plot(isotherm[b][:, 0], isotherm[b][:, 1], "o", ms=4, mfc="none", color=c, label=f"measured {b} (fitted)")
        ax.plot(full["pressure_bar"], full[f"{b}_uptake_mmol_g"], styles[b], color=c, lw=1.5, label=f"twin {b}")
    ax.set(xlabel="CO$_2$ pressure (bar)", ylabel="uptake (mmol/g)", title="Fig. 3a isotherm, 304 K: the data fitted")
    ax.legend(fontsize=7)

    def np_ranges(ax):  # where the twin holds the np phase on each branch (its cell, 1013 Å³, is off this scale)
        ax.axvspan(0.0, steps["adsorption"], ymin=0.0, ymax=0.04, color=colours["adsorption"], alpha=0.5,
                   label=f"twin np on adsorption (< {steps['adsorption']:.2f} bar)")
        ax.axvspan(0.0, steps["desorption"], ymin=0.04, ymax=0.08, color=colours["desorption"], alpha=0.5,
                   label=f"twin np on desorption (< {steps['desorption']:.2f} bar)")

    ax = axes[1]
    band = result["predicted_lp_volume_A3"]
    ax.axhspan(band * (1 - TOLERANCES["volume_rel"]), band * (1 + TOLERANCES["volume_rel"]), color="0.92", zorder=0,
               label="±2.5 % tolerance")
    for b, c in colours.items():
        lp = np.asarray(curves[f"{b}_lp"])
        v = np.asarray(curves[f"{b}_volume_A3"])
        ax.plot(p, np.where(lp, v, np.nan), styles[b], color=c, lw=2, label=f"twin {b}: lp cell")
        ax.plot(measured["volume"][b][:, 0], measured["volume"][b][:, 1], "o" if b == "adsorption" else "s", color=c,
                mfc="none", label=f"measured {b} (lp, Fig. 4)")
    np_ranges(ax)
    ax.set(xlabel="CO$_2$ pressure (bar)", ylabel="unit-cell volume (Å$^3$)", title="lp cell volume: twin (lines) vs measured",
           xlim=(0, p.max() * 1.02), ylim=(band * 0.965, band * 1.035))
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[2]
    tth = curves["lp_two_theta_deg"]
    ax.axhspan(tth - TOLERANCES["two_theta_deg"], tth + TOLERANCES["two_theta_deg"], color="0.92", zorder=0, label="±0.10° tolerance")
    for b, c in colours.items():
        lp = np.asarray(curves[f"{b}_lp"])
        ax.plot(p, np.where(lp, tth, np.nan), styles[b], color=c, lw=2, label=f"twin {b}: lp (110)")
        ax.plot(measured["two_theta"][b][:, 0], measured["two_theta"][b][:, 1], "o" if b == "adsorption" else "s",
                color=c, mfc="none", label=f"measured {b} (Fig. S3a)")
    np_ranges(ax)
    ax.set(xlabel="CO$_2$ pressure (bar)", ylabel=f"2θ (deg), λ = {WAVELENGTH_A} Å (inferred)", title="lp (110) peak position",
           xlim=(0, p.max() * 1.02), ylim=(tth - 0.14, tth + 0.14))
    ax.legend(fontsize=7, loc="lower left")
    if powder:
        ax = axes[3]
        pc = np.asarray(powder["curves"]["pressure_bar"])
        for b, c in colours.items():
            ax.plot(pc, powder["curves"][f"{b}_open_fraction"], styles[b], color=c, lw=2, label=f"powder twin {b}")
            seen = measured["volume"][b][:, 0]
            ax.plot(seen, np.full(seen.shape, 1.04 if b == "adsorption" else 1.08), "o" if b == "adsorption" else "s",
                    color=c, mfc="none", label=f"lp seen, {b} (Fig. 4)")
        ax.set(xlabel="CO$_2$ pressure (bar)", ylabel="lp volume fraction", title="powder (twin fit --isotherm): lp fraction",
               xlim=(0, pc.max() * 1.02), ylim=(-0.02, 1.12))
        ax.legend(fontsize=7, loc="center right")
    fig.suptitle("MIL-53(Cr)/CO$_2$, 304 K: in situ XRD predicted from the isotherm fit (Neimark et al. 2011)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--data", default=str(DATA), help="the Neimark 2011 data folder (Figure_3a/4/S3a CSV files)")
    parser.add_argument("--material", default="mil53-cr")
    parser.add_argument("--temperature", default=f"{TEMPERATURE_K:g} K")
    parser.add_argument("--top-pressure", default=f"{TOP_PRESSURE_BAR:g} bar", help="turning point of the run")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--powder", action="store_true", help="also fit the powder surrogate to Figure 3a and predict "
                       "the powder's lp fraction (twin fit --isotherm; about 1.5 min)")
    group.add_argument("--powder-fit", metavar="FIT_RESULT.json", help="use this twin fit --isotherm result for the powder")
    parser.add_argument("--steps", type=int, default=300, help="sampler steps of the --powder fit")
    args = parser.parse_args(argv)
    try:
        material = load_material(args.material)
        temperature_K = parse_quantity(args.temperature, "temperature", where="--temperature")
        top = parse_quantity(args.top_pressure, "pressure", where="--top-pressure") / 1e5
        check_pressures(material, [top])
        material.check_temperature(temperature_K, where="--temperature")
        folder = Path(args.data)
        out = Path(args.output)
        powder_fit = Path(args.powder_fit) if args.powder_fit else None
        if args.powder:
            powder_fit = fit_powder(folder, out, material=args.material, steps=args.steps)
        result = compare(material, folder, temperature_K=temperature_K, top_pressure_bar=top, powder_fit=powder_fit)
        isotherm = read_isotherm(folder)
        low, high = check_pressures(material, [])
        grid = np.geomspace(low, high, 400)
        branches, _ = compute_isotherm(material, GUEST, temperature_K, grid * 1e5)
        result["isotherm_curves"] = {"pressure_bar": grid, **{
            f"{b}_uptake_mmol_g": np.asarray(getattr(branches, f"{b}_uptake")) / MOLECULES_PER_MMOL_G
            for b in ("adsorption", "desorption")}}
        out.mkdir(parents=True, exist_ok=True)
        with (out / "mil53cr_co2_prediction.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(result["rows"][0]))
            writer.writeheader()
            writer.writerows(result["rows"])
        (out / "summary.json").write_text(json.dumps(result["summary"], indent=2) + "\n", encoding="utf-8")
        _plot(out / "mil53cr_co2_prediction.png", result, isotherm)
    except TwinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    s = result["summary"]
    print(json.dumps({k: s[k] for k in ("transitions_bar", "frames_predicted_lp", "max_abs_volume_rel_error_lp",
                                        "max_abs_two_theta_error_deg_lp")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
