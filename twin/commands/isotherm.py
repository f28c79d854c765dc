"""``twin isotherm``: equilibrium isotherm of one guest with adsorption and desorption branches.

Writes a CSV (``pressure_bar, uptake_mmol_per_g, phase, branch``) and a PNG plot beside it; ``--json`` prints
the transition pressures per branch as one JSON object. Physics: :mod:`twin.thermo` (OFAST + IAST,
spinodal hysteresis of the host double well).

Refused with a one-line error (exit 2): a pressure range above the gas's saturation or sublimation pressure
at the temperature (:func:`twin.thermo.gases.check_below_saturation`; no limit above T_c), and a humidity
> 0 on a material without H2O parameters (it could not act).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from mofcore.outputs import check_output_file
from twin.commands._common import print_json
from twin.errors import MaterialError, UnitError
from twin.scenario import MAX_PRESSURE_PA
from twin.atomic import atomic_path
from twin.thermo.gases import check_below_saturation, gas_name
from twin.units import parse_quantity, parse_range

__all__ = ["register", "compute_isotherm", "resolve_common", "check_humidity", "MAX_POINTS"]

#: --points limit (docs/limits.md): 10⁵ points take about 4 s and 0.4 GB, 10⁶ about 8 s and 0.9 GB
MAX_POINTS = 100_000
#: lowest pressure of a computed isotherm [Pa] (10⁻⁹ bar: below the lowest point of a high-resolution measurement)
MIN_PRESSURE_PA = 1e-4


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "isotherm",
        help="equilibrium isotherm with adsorption/desorption branches and breathing transitions",
        description=(
            "Compute the isotherm of one guest on a material from its thermodynamic parameter set; write a CSV "
            "(pressure_bar, uptake_mmol_per_g, phase, branch) and a PNG beside it."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--material", help="material name (see `twin materials`) or a .toml path")
    source.add_argument("--from-fit", metavar="FIT_RESULT.json",
                        help="predict the powder fitted by `twin fit --isotherm` (its fitted crystal-size "
                             "distribution, defect, host and adsorption values; the temperature dependence from the "
                             "material file) with a 90 %% band from the fit's posterior draws; the CSV then has "
                             "uptake_p05/uptake_p95 and open_fraction columns instead of phase")
    parser.add_argument("--guest", help="guest gas by name or formula, e.g. CO2, ethanol or C2H5OH (default with "
                        "--from-fit: the fitted guest)")
    parser.add_argument("--measured", metavar="FILE", help="a measured isotherm (AIF or CSV) drawn over the prediction")
    parser.add_argument("--temperature", required=True, help='temperature, e.g. "303 K" or "30 °C"')
    parser.add_argument("--pressure", default=None,
                        help='pressure range, e.g. "0.01..30 bar" (log grid), below the gas\'s saturation pressure at T '
                             '(default: 0.01..40 bar, capped at 95 %% of the saturation pressure, the lower end at most '
                             '1/1000 of the upper)')
    parser.add_argument("--points", type=int, default=200,
                        help=f"number of pressure points, 2 to {MAX_POINTS} (default 200)")
    parser.add_argument("--humidity", default="0 %", help='constant relative humidity, e.g. "40 %%" (default 0)')
    parser.add_argument("--start", default="activated", help="initial phase: activated (default), stable, or a phase name")
    parser.add_argument("-o", "--output", metavar="CSV", help="CSV file to write (a PNG is written beside it)")
    parser.add_argument("--json", action="store_true", help="print the transition pressures as one JSON object")
    parser.set_defaults(handler=_handle)


def resolve_common(material_name, guest: str, temperature: str):
    """Load the material (a name, a path, or an already loaded Material) and check guest and temperature."""
    from twin.material import Material, load_material

    material = material_name if isinstance(material_name, Material) else load_material(material_name)
    if guest not in material.guests:
        raise MaterialError(
            f"--guest: {guest!r} has no parameters in material {material.name!r}; known guests: {', '.join(material.guests)}"
        )
    temperature_K = parse_quantity(temperature, "temperature", where="--temperature")
    material.check_temperature(temperature_K, where="--temperature")
    return material, temperature_K


def check_humidity(material, humidity: float, text: str, where: str = "--humidity") -> None:
    """Refuse RH > 0 on a material without H2O parameters (it would be silently ignored)."""
    if humidity > 0.0 and "H2O" not in material.guests:
        raise MaterialError(
            f"{where}: material {material.name!r} has no H2O parameters ([guests.H2O.*] in {material.path.name}; "
            f"guests: {', '.join(material.guests)}), so a relative humidity of {text!r} cannot act; "
            f"expected \"0 %\" for this material"
        )


def pressure_grid(text: str, points: int, where: str = "--pressure", maximum: int = MAX_POINTS) -> np.ndarray:
    if points < 2:
        raise UnitError(f"--points: expected an integer >= 2, got {points}")
    if points > maximum:
        raise UnitError(f"--points: expected an integer from 2 to {maximum} (the limit of pressure points), got {points}")
    if isinstance(text, str) and text.strip().startswith("-"):
        raise UnitError(f"{where}: the bounds of a pressure range must be positive, got {text!r}")
    low, high = parse_range(text, "pressure", where=where)
    if low <= 0.0:
        raise UnitError(f"{where}: the bounds of a pressure range must be positive (log grid), got {text!r}")
    if low < MIN_PRESSURE_PA or high > MAX_PRESSURE_PA:
        raise UnitError(f"{where}: expected a pressure range within {MIN_PRESSURE_PA / 1e5:g}..{MAX_PRESSURE_PA / 1e5:g} "
                        f"bar (the range of the gas equations of state and of the scenarios), got {text!r}")
    return np.geomspace(low, high, points)


def default_pressure_range(guest: str, temperature_K: float) -> str:
    """0.01..40 bar, the top capped at 95 % of the guest's saturation (or sublimation) pressure at T and the
    bottom at 1/1000 of the top, as a range text for :func:`pressure_grid`."""
    from twin.thermo.gases import saturation_pressure_Pa

    high = min(40e5, 0.95 * saturation_pressure_Pa(guest, temperature_K))
    low = min(1e3, 1e-3 * high)
    return f"{low:.6g}..{high:.6g} Pa"


def compute_isotherm(material, guest: str, temperature_K: float, pressures_Pa, humidity: float = 0.0, start="activated"):
    """Branches and transitions of one isotherm (see :func:`twin.thermo.transitions.isotherm_branches`)."""
    from twin.thermo.transitions import find_transitions, isotherm_branches

    branches = isotherm_branches(material.thermo, temperature_K, pressures_Pa, guest, relative_humidity=humidity, start=start)
    transitions = find_transitions(material.thermo, temperature_K, branches, guest, relative_humidity=humidity)
    return branches, transitions


def _handle(args: argparse.Namespace) -> int:
    if args.output:  # before any computation: a directory, an unwritable place, a name too long
        check_output_file(args.output, beside=(".png",), example="isotherm.csv")
    material = args.material
    if args.from_fit:
        from twin.fit.result import material_from_fit

        material, _, model = material_from_fit(args.from_fit)
        args.guest = args.guest or model["guest"]
        if _guest_name(args.guest) != model["guest"]:
            raise MaterialError(f"--guest: the fit in {args.from_fit} is of {model['guest']}, not {args.guest!r}; "
                                "a fit predicts only its own guest")
    if not args.guest:
        raise MaterialError("--guest: expected a guest gas such as CO2")
    args.guest = _guest_name(args.guest)
    material, temperature_K = resolve_common(material, args.guest, args.temperature)
    grid = pressure_grid(args.pressure or default_pressure_range(args.guest, temperature_K), args.points)
    check_below_saturation(args.guest, temperature_K, float(grid[-1]), where="--pressure")
    humidity = parse_quantity(args.humidity, "fraction", where="--humidity")
    if not 0.0 <= humidity <= 1.0:
        raise UnitError(f"--humidity: expected a relative humidity between 0 and 100 %, got {args.humidity!r}")
    check_humidity(material, humidity, args.humidity)
    if args.from_fit and humidity > 0.0:
        raise UnitError("--humidity: a prediction from a fit is of the fitted single-guest isotherm; expected \"0 %\"")
    measured = _measured(args.measured, material, args.guest) if args.measured else None
    out: dict[str, Any] = {"material": material.name, "guest": args.guest, "temperature_K": float(temperature_K),
                           "relative_humidity": float(humidity)}
    if args.from_fit:
        header, rows = _predict_from_fit(args.from_fit, temperature_K, grid, out)
    else:
        header, rows = _compute(material, args, temperature_K, grid, humidity, out)
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([f"{v:.6g}" if isinstance(v, float | np.floating) else v for v in row])
        _plot(path.with_suffix(".png"), header, rows, out, measured)
        out["csv"] = str(path)
        out["png"] = str(path.with_suffix(".png"))
    if args.json:
        print_json(out)
        return 0
    for t in out["transitions"]:
        if "pressure_bar_p05" in t:
            band = (f" (90 %: {t['pressure_bar_p05']:.4g} .. {t['pressure_bar_p95']:.4g})"
                    if np.isfinite(t["pressure_bar_p05"]) else "")
            print(f"{t['branch']:11s} open fraction crosses 1/2 at {t['pressure_bar']:.4g} bar{band}")
        else:
            note = "" if t.get("refined", True) else " (grid midpoint, not refined)"
            print(f"{t['branch']:11s} {t['from']} -> {t['to']} at {t['pressure_bar']:.4g} bar{note}")
    if args.output:
        print(f"wrote {out['csv']} and {out['png']}")
    return 0


def _guest_name(text: str) -> str:
    """The package's name of ``--guest`` (a formula or another name: ``carbon dioxide`` → ``CO2``); a gas the
    package does not know is left as given, for the material's message that lists its guests."""
    try:
        return gas_name(text, where="--guest")
    except MaterialError:
        return text


def _compute(material: Any, args: argparse.Namespace, temperature_K: float, grid: np.ndarray, humidity: float,
             out: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The single-crystal mean-field isotherm of the material file: header and rows of the CSV."""
    branches, transitions = compute_isotherm(material, args.guest, temperature_K, grid, humidity, args.start)
    to_mmol_g = 1000.0 / material.mass_g_per_mol
    names = material.phase_names
    rows = [(p / 1e5, n * to_mmol_g, names[int(ph)], "adsorption")
            for p, n, ph in zip(branches.pressure_Pa, branches.adsorption_uptake, branches.adsorption_phase)]
    rows += [(p / 1e5, n * to_mmol_g, names[int(ph)], "desorption")
             for p, n, ph in reversed(list(zip(branches.pressure_Pa, branches.desorption_uptake,
                                               branches.desorption_phase)))]
    out["transitions"] = [t.as_dict() for t in transitions]
    return ["pressure_bar", "uptake_mmol_per_g", "phase", "branch"], rows


def _predict_from_fit(path: str, temperature_K: float, grid: np.ndarray,
                      out: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The fitted powder's isotherm with its 90 % posterior band (:func:`twin.fit.result.predict_isotherm_from_fit`)."""
    from twin.fit.result import predict_isotherm_from_fit

    prediction = predict_isotherm_from_fit(path, temperature_K, grid)
    out["source"] = f"powder of the fit {path} ({prediction.n_draws} posterior draws)"
    out["transitions"] = [
        {"branch": b, "pressure_bar": s[0], "pressure_bar_p05": s[1], "pressure_bar_p95": s[2],
         "definition": "the open volume fraction of the powder crosses 1/2"}
        for b, s in prediction.switching_bar.items() if s is not None]
    rows = []
    for branch in ("adsorption", "desorption"):
        order = range(grid.size) if branch == "adsorption" else range(grid.size - 1, -1, -1)
        median = prediction.median[branch]
        lo = prediction.lower[branch] if prediction.lower else np.full_like(median, np.nan)
        hi = prediction.upper[branch] if prediction.upper else np.full_like(median, np.nan)
        rows += [(float(prediction.pressure_Pa[i] / 1e5), float(median[i]), float(lo[i]), float(hi[i]),
                  float(prediction.open_fraction[branch][i]), branch) for i in order]
    return ["pressure_bar", "uptake_mmol_per_g", "uptake_p05_mmol_per_g", "uptake_p95_mmol_per_g", "open_fraction",
            "branch"], rows


def _measured(path: str, material: Any, guest: str) -> dict[str, Any]:
    """A measured isotherm to overlay: per branch (pressure [bar], uptake [mmol/g])."""
    from twin.fit.isotherm import load_isotherm
    from twin.thermo.gases import gas

    data = load_isotherm(path, material.mass_g_per_mol, gas(guest).molar_mass_g_per_mol)
    to_mmol_g = 1000.0 / material.mass_g_per_mol
    return {"label": Path(path).name,
            "adsorption": (data.p_ads_Pa / 1e5, data.n_ads * to_mmol_g),
            "desorption": (data.p_des_Pa / 1e5, data.n_des * to_mmol_g)}


def _plot(path: Path, header: list[str], rows: list[tuple[Any, ...]], info: dict[str, Any],
          measured: dict[str, Any] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    band = "uptake_p05_mmol_per_g" in header
    for branch, style, colour in (("adsorption", "-", "C0"), ("desorption", "--", "C3")):
        sel = [r for r in rows if r[-1] == branch]
        x = np.array([r[0] for r in sel], float)
        ax.plot(x, [r[1] for r in sel], style, color=colour, label=f"{'predicted' if band else 'model'}, {branch}")
        if band and np.isfinite([r[2] for r in sel]).all():
            ax.fill_between(x, [r[2] for r in sel], [r[3] for r in sel], color=colour, alpha=0.2, lw=0,
                            label=f"90 % posterior band, {branch}")
        if measured is not None and np.size(measured[branch][0]):
            ax.plot(*measured[branch], "o" if branch == "adsorption" else "s", ms=3, color=colour, mfc="none",
                    label=f"measured, {branch} ({measured['label']})")
    for t in info["transitions"]:
        ax.axvline(t["pressure_bar"], color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("pressure / bar")
    ax.set_ylabel("uptake / mmol g$^{-1}$")
    what = "the fitted powder" if band else "single crystal, mean field"
    ax.set_title(f"{info['material']} + {info['guest']} at {info['temperature_K']:.1f} K ({what})", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
