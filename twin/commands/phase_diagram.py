"""``twin phase-diagram``: equilibrium phase on a (T, p) grid and transition pressures versus temperature.

Writes a CSV (``temperature_K, pressure_bar, stable_phase, omega_gap_kj_mol``) and a PNG beside it; ``--json``
prints, for every temperature, the equilibrium and spinodal (adsorption/desorption) transition pressures.
The (T, p) rectangle must lie below the gas's saturation line: the maximum pressure is checked at the lowest
temperature (:func:`twin.thermo.gases.check_below_saturation`; exit 2 otherwise).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from twin.commands._common import print_json, progress
from twin.commands.isotherm import compute_isotherm, pressure_grid
from twin.errors import MaterialError, UnitError
from twin.thermo.gases import check_below_saturation
from twin.units import parse_range

__all__ = ["register", "MAX_POINTS", "MAX_TEMPERATURES"]

#: --points and --temperatures limits (docs/limits.md): the grid of 10⁴ × 10³ = 10⁷ (T, p) cells takes about 40 s
#: and 2.2 GB; 10⁵ × 10⁵ aborted inside XLA
MAX_POINTS = 10_000
MAX_TEMPERATURES = 1_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "phase-diagram",
        help="stable phase on a (T, p) grid and breathing transition pressures versus temperature",
        description="Equilibrium phase diagram of a material with one guest in the (p, T) plane, with spinodals.",
    )
    parser.add_argument("--material", required=True, help="material name or .toml path")
    parser.add_argument("--guest", required=True, help="guest gas, e.g. CO2")
    parser.add_argument("--temperature", default="200..330 K", help='temperature range, e.g. "200..330 K"')
    parser.add_argument("--pressure", default="0.01..40 bar", help='pressure range, e.g. "0.01..40 bar"; must lie below the saturation pressure at the lowest T')
    parser.add_argument("--points", type=int, default=120,
                        help=f"pressure points (log grid), 2 to {MAX_POINTS} (default 120)")
    parser.add_argument("--temperatures", type=int, default=27,
                        help=f"temperature points, 2 to {MAX_TEMPERATURES} (default 27)")
    parser.add_argument("-o", "--output", metavar="CSV", help="CSV file to write (a PNG is written beside it)")
    parser.add_argument("--json", action="store_true", help="print transition pressures per temperature as JSON")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from twin.material import load_material
    from twin.thermo.transitions import phase_diagram

    for option, value, maximum in (("--points", args.points, MAX_POINTS),
                                   ("--temperatures", args.temperatures, MAX_TEMPERATURES)):
        if not 2 <= value <= maximum:  # before anything is loaded or allocated
            raise UnitError(f"{option}: expected an integer from 2 to {maximum} (the limit of the (T, p) grid), "
                            f"got {value}")
    material = load_material(args.material)
    if args.guest not in material.guests:
        raise MaterialError(
            f"--guest: {args.guest!r} has no parameters in material {material.name!r}; known guests: {', '.join(material.guests)}"
        )
    t_lo, t_hi = parse_range(args.temperature, "temperature", where="--temperature")
    material.check_temperature(t_lo, where="--temperature")
    material.check_temperature(t_hi, where="--temperature")
    temps = np.linspace(t_lo, t_hi, args.temperatures)
    grid = pressure_grid(args.pressure, args.points, maximum=MAX_POINTS)
    # the saturation pressure rises with T: the lowest temperature bounds the whole rectangle
    check_below_saturation(args.guest, float(temps[0]), float(grid[-1]), where="--pressure")
    stable, gap = phase_diagram(material.thermo, temps, grid, args.guest)
    stable, gap = np.asarray(stable), np.asarray(gap)
    names = material.phase_names
    lines = []
    with progress(len(temps), "temperatures") as bar:
        for t in temps:
            _, transitions = compute_isotherm(material, args.guest, float(t), grid)
            eq = []
            k = int(np.where(temps == t)[0][0])
            for j in range(1, len(grid)):
                if stable[k, j] != stable[k, j - 1]:
                    eq.append({"from": names[int(stable[k, j - 1])], "to": names[int(stable[k, j])],
                               "pressure_bar": float(np.sqrt(grid[j] * grid[j - 1]) / 1e5)})
            lines.append({"temperature_K": float(t), "equilibrium": eq, "transitions": [x.as_dict() for x in transitions]})
            bar.update(1)
    out = {"material": material.name, "guest": args.guest, "temperatures": lines}
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["temperature_K", "pressure_bar", "stable_phase", "omega_gap_kj_mol"])
            for i, t in enumerate(temps):
                for j, p in enumerate(grid):
                    writer.writerow([f"{t:.6g}", f"{p / 1e5:.6g}", names[int(stable[i, j])], f"{gap[i, j]:.6g}"])
        _plot(path.with_suffix(".png"), temps, grid, stable, lines, material, args.guest)
        out["csv"] = str(path)
    if args.json:
        print_json(out)
    return 0


def _plot(path, temps, grid, stable, lines, material, guest) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.pcolormesh(grid / 1e5, temps, stable, shading="auto", cmap="Pastel1", vmin=0, vmax=8)
    for line in lines:
        for tr in line["transitions"]:
            marker = "^" if tr["branch"] == "adsorption" else "v"
            ax.plot(tr["pressure_bar"], line["temperature_K"], marker, color="k", ms=4)
    ax.set_xscale("log")
    ax.set_xlabel("pressure / bar")
    ax.set_ylabel("temperature / K")
    ax.set_title(f"{material.name} + {guest}: stable phase ({', '.join(material.phase_names)}); ▲ ads, ▼ des")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
