"""``twin xrd STRUCTURE.cif``: powder pattern and reflection list of one structure (experiment planning)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from twin.commands._common import print_json
from twin.errors import DataFormatError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "xrd",
        help="powder XRD pattern / reflection list of one crystal structure",
        description=(
            "Compute the powder pattern of STRUCTURE (a CIF) with the instrument profile and write it as CSV "
            "(two_theta_deg,intensity) plus a PNG beside it; with --peaks list the reflections (merged "
            "symmetry-equivalent families, intensity_rel = 100 for the strongest); with --json print one "
            'JSON object {"wavelength_A", "peaks": [{"two_theta_deg", "d_A", "intensity_rel", "hkl"}...]}.'
        ),
    )
    parser.add_argument("structure", metavar="STRUCTURE.cif", help="crystal structure file")
    parser.add_argument("--wavelength", default="CuKa",
                        help='a named tube, "CuKa" (Kα1+Kα2 doublet, default), "MoKa", "CoKa", "CrKa", "FeKa", "AgKa", '
                             'with 1 for Kα1 alone ("CuKa1"; wavelengths: Hölzer et al. 1997 for Cu, International '
                             'Tables Vol. C for the others), or a length such as "0.4577 A"')
    parser.add_argument("--two-theta", default="3..50", help='2θ range, e.g. "3..50" or "3..50 deg" (default 3..50)')
    parser.add_argument("--step", default="0.01", help="2θ step in degrees (default 0.01)")
    parser.add_argument("--instrument", metavar="INSTRUMENT.toml", help="diffractometer settings (overrides the defaults)")
    parser.add_argument("--size", default=None,
                        help='edge length of cube-shaped coherent domains (one size) for size broadening, e.g. '
                             '"50 nm"; each reflection is broadened by the cube\'s volume-weighted column length '
                             '⟨L⟩_v along its scattering vector (Stokes–Wilson; Scherrer K_β = 1 for ⟨100⟩, 1.061 '
                             'for ⟨110⟩, 1.155 for ⟨111⟩; a sphere of diameter D would have ⟨L⟩_v = 3D/4). '
                             'Echoed as size_nm in the output. Default: no size broadening')
    parser.add_argument("--table", default="pymatgen", choices=["pymatgen", "cromer_mann"], help="form-factor table")
    parser.add_argument("-o", "--output", metavar="FILE.csv",
                        help="write the profile here (two_theta_deg,intensity, and FILE.png); with --peaks the "
                             "reflection list instead (two_theta_deg,d_A,intensity_rel,multiplicity,hkl)")
    parser.add_argument("--peaks", action="store_true", help="list the reflections")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import numpy as np

    from instruments.xrd import (
        d_min_for,
        load_instrument,
        make_instrument,
        make_phase_state,
        peak_list,
        phase_from_cif,
        powder_pattern,
    )
    from instruments.xrd.instrument import parse_setting, parse_two_theta_range, parse_wavelength
    from mofcore.outputs import check_output_file

    if args.output:  # before any work: a directory, an unwritable folder or a name too long is refused now
        check_output_file(args.output, option="-o", beside=() if args.peaks else (".png",), example="pattern.csv")

    if args.instrument:
        inst, grid = load_instrument(args.instrument)
        lam = float(np.asarray(inst.wavelengths_A)[0])
        wavelength_label: float | str = lam
        lo, hi = float(grid[0]), float(grid[-1])
    else:
        wavelength = parse_wavelength(args.wavelength, "--wavelength")
        lo, hi = parse_two_theta_range(args.two_theta, "--two-theta")
        step = parse_setting(args.step, "angle", '"0.01"', "--step", bare_ok=True)
        if not step > 0 or (hi - lo) / step > 2_000_000:
            raise DataFormatError(f"--step: expected a positive step in degrees giving ≤ 2,000,000 points, got {args.step!r}")
        inst = make_instrument(wavelength)
        grid = np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)
        lam = float(np.asarray(inst.wavelengths_A)[0])
        wavelength_label = lam
    lam_max = float(np.max(np.asarray(inst.wavelengths_A)))
    origin = f"λ = {lam_max:g} Å with 2θ up to {hi:g}°"
    phase = phase_from_cif(args.structure, d_min_for(lam_max, hi), table=args.table, d_min_origin=origin)
    peaks = peak_list(phase, lam, (lo, hi))
    if not peaks:
        raise DataFormatError(
            f"{args.structure}: no reflection falls in 2θ = {lo:g}–{hi:g}° at λ = {lam:g} Å; "
            "widen the 2θ range or change the wavelength"
        )
    result: dict = {"structure": str(args.structure), "wavelength_A": round(float(wavelength_label), 6),
                    "two_theta_range_deg": [lo, hi], "form_factor_table": args.table}
    size = 1e6 if args.size is None else parse_setting(args.size, "length", '"50 nm"', "--size")
    if not math.isfinite(size) or size <= 0:
        raise DataFormatError(f"--size: expected a positive length such as \"50 nm\", got {args.size!r}")
    if args.size is not None:
        result.update({"size_nm": size / 10.0, "size_convention": "edge of cube-shaped coherent domains"})
    if not args.peaks:
        state = make_phase_state(phase.lattice, size_A=size)
        y = np.asarray(powder_pattern((phase,), (state,), inst, np.asarray(grid, dtype=np.float32)), dtype=float)
        y = 100.0 * y / max(float(y.max()), 1e-30)
        if args.output:
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            from twin.atomic import atomic_path

            with atomic_path(out) as tmp:
                np.savetxt(tmp, np.column_stack([grid, y]), delimiter=",", header="two_theta_deg,intensity",
                           comments="", fmt="%.5f")
            _png(out.with_suffix(".png"), grid, y, peaks, str(args.structure), inst.wavelengths_A, inst.line_weights)
            result["output"] = str(out)
            result["png"] = str(out.with_suffix(".png"))
        result["n_points"] = int(len(grid))
    if args.peaks:
        result["peaks"] = [
            {"two_theta_deg": round(p["two_theta_deg"], 4), "d_A": round(p["d_A"], 4),
             "intensity_rel": round(p["intensity_rel"], 3), "hkl": p["hkl"], "multiplicity": p["multiplicity"]}
            for p in peaks
        ]
        if args.output:
            result["output"] = str(_write_peaks(Path(args.output), result["peaks"]))
    if args.json:
        print_json(result)
    elif args.peaks:
        print(f"# {args.structure}  λ = {lam:.5f} Å")
        print(f"{'2θ (deg)':>10} {'d (Å)':>9} {'I rel':>8}  hkl")
        for p in result["peaks"]:
            print(f"{p['two_theta_deg']:10.3f} {p['d_A']:9.4f} {p['intensity_rel']:8.2f}  "
                  + " ".join("(" + " ".join(map(str, h)) + ")" for h in p["hkl"]))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "peaks"}))
    return 0


def _write_peaks(path: Path, peaks: list[dict]) -> Path:
    """The reflection list as CSV: one row per merged family (overlapping reflections), its total multiplicity
    and its hkl (space-separated triples), written atomically."""
    import numpy as np

    from twin.atomic import atomic_path

    rows = ["two_theta_deg,d_A,intensity_rel,multiplicity,hkl"]
    rows += [f"{p['two_theta_deg']:.4f},{p['d_A']:.4f},{p['intensity_rel']:.3f},{int(np.sum(p['multiplicity']))},"
             + " ".join("(" + " ".join(map(str, h)) + ")" for h in p["hkl"]) for p in peaks]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _png(path: Path, grid, y, peaks, title: str, wavelengths_A, weights) -> None:
    """The pattern with the positions of the reflections of ≥ 5 % (at λ1), a legend, and the radiation in the
    title (``Cu Kα1/Kα2 doublet, λ1 = 1.5406 Å, λ2 = 1.5444 Å, I2/I1 = 0.5``), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from twin.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    ax.plot(grid, y, lw=0.8, color="k", label="powder pattern (instrument profile)")
    strong = [p["two_theta_deg"] for p in peaks if p["intensity_rel"] >= 5]
    for i, x in enumerate(strong):
        ax.axvline(x, color="tab:red", lw=0.4, alpha=0.5, label="reflections ≥ 5 % (2θ at λ1)" if i == 0 else None)
    ax.set_xlabel("2θ (deg)")
    ax.set_ylabel("intensity (rel.)")
    ax.set_title(f"{Path(title).name}: {radiation_text(wavelengths_A, weights)}", fontsize=9)
    ax.legend(loc="upper right", fontsize=7.5)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def radiation_text(wavelengths_A, weights) -> str:
    """``λ = 0.7107 Å`` for one line; for a doublet ``Kα1/Kα2 doublet: λ1 = 1.54059 Å, λ2 = 1.54443 Å, I(Kα2)/I(Kα1)
    = 0.5``, naming the anode where the wavelengths are those of a known tube (:data:`mofcore.constants.XRAY_LINES_A`)."""
    import numpy as np

    from mofcore.constants import XRAY_LINES_A

    lam = [float(v) for v in np.atleast_1d(np.asarray(wavelengths_A))]
    w = [float(v) for v in np.atleast_1d(np.asarray(weights))]
    if len(lam) < 2 or w[1] <= 0:
        return f"λ = {lam[0]:.5f} Å"
    anode = next((name for name, lines in XRAY_LINES_A.items() if abs(float(lines[0]) - lam[0]) < 1e-5), None)
    name = f"{anode} " if anode else ""
    return (f"{name}Kα1/Kα2 doublet, λ1 = {lam[0]:.5f} Å, λ2 = {lam[1]:.5f} Å, "
            f"I(Kα2)/I(Kα1) = {w[1] / w[0]:.3g}")
