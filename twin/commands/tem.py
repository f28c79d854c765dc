"""``twin tem ctf``: wavelength, Scherzer defocus, first CTF zero and point resolution of an objective lens;
``twin tem image``: a low-dose HRTEM image (multislice) and an electron diffraction pattern of a crystal structure.

docs/tem.md describes the physics; :mod:`instruments.tem` holds it.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from twin.commands._common import print_json

_CONVENTIONS = (
    "Conventions: relativistic wavelength lambda = h / sqrt(2 m0 e V (1 + eV/(2 m0 c^2))) (scipy.constants); "
    "aberration phase chi(k) = pi lambda df k^2 + (pi/2) Cs lambda^3 k^4 with df < 0 UNDERFOCUS; phase contrast "
    "transfer function sin chi(k). Scherzer defocus df_Sch = -sqrt(4/3 Cs lambda) (Scherzer, J. Appl. Phys. 20, 20 "
    "(1949); Spence, High-Resolution Electron Microscopy): --json prints its MAGNITUDE as scherzer_defocus_nm and "
    "the signed value as defocus_nm. first_zero_inv_A is the first k > 0 where sin chi = 0 at the chosen defocus; "
    "point_resolution_A = 1/first_zero_inv_A (0.658 Cs^1/4 lambda^3/4 at Scherzer). Kirkland's book uses "
    "sqrt(1.5 Cs lambda) and df > 0 underfocus instead."
)


def _wrap(*paragraphs: str) -> str:
    return "\n\n".join(textwrap.fill(p, 100) for p in paragraphs)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tem",
        help="electron microscopy: lens CTF figures, HRTEM images and diffraction patterns of a structure",
        description="Transmission electron microscopy forward models. `twin tem ctf --help` for the lens, "
                    "`twin tem image --help` for an HRTEM image and diffraction pattern of a CIF.",
    )
    sub = parser.add_subparsers(dest="tem_command", metavar="KIND")
    c = sub.add_parser(
        "ctf",
        help="wavelength, Scherzer defocus, first zero of the phase CTF and point resolution",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Print the electron wavelength, the Scherzer defocus, the first zero of the phase contrast "
                          "transfer function sin(chi) at the chosen defocus and the point resolution (its inverse). "
                          "With --json one object: wavelength_A, interaction_constant_rad_per_V_A, "
                          "scherzer_defocus_nm, defocus_nm, first_zero_inv_A, point_resolution_A, voltage_kV, cs_mm.",
                          _CONVENTIONS),
    )
    c.add_argument("--voltage", default="300 kV", help='accelerating voltage, e.g. "300 kV" (> 0; default 300 kV)')
    c.add_argument("--cs", default="1.2 mm", help='spherical aberration Cs, e.g. "1.2 mm" (>= 0; default 1.2 mm)')
    c.add_argument("--defocus", default="scherzer",
                   help='"scherzer" (default) or a signed length, e.g. "-50 nm" (negative = underfocus)')
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(handler=_handle_ctf)
    _register_image(sub)
    parser.set_defaults(handler=lambda args: _missing_kind(parser))


def _missing_kind(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def ctf_figures(voltage: str, cs: str, defocus: str) -> dict:
    """The figures ``twin tem ctf`` prints, from the option strings (UnitError on bad input)."""
    from instruments.tem.ctf import (first_zero_inv_A, interaction_constant, parse_cs_A, parse_defocus_A,
                                     parse_voltage_V, scherzer_defocus_A, wavelength_A)

    volts = parse_voltage_V(voltage, "--voltage")
    cs_A = parse_cs_A(cs, "--cs")
    lam = wavelength_A(volts)
    df = parse_defocus_A(defocus, cs_A, lam, "--defocus")
    k1 = first_zero_inv_A(lam, df, cs_A)
    return {
        "voltage_kV": volts / 1e3,
        "cs_mm": cs_A / 1e7,
        "wavelength_A": lam,
        "interaction_constant_rad_per_V_A": interaction_constant(volts),
        "scherzer_defocus_nm": abs(scherzer_defocus_A(cs_A, lam)) / 10.0,
        "defocus_nm": df / 10.0,
        "first_zero_inv_A": k1 if k1 != float("inf") else None,
        "point_resolution_A": 1.0 / k1 if k1 != float("inf") else None,
        "defocus_convention": "negative = underfocus; Scherzer = -sqrt(4/3 Cs lambda)",
    }


def _handle_ctf(args: argparse.Namespace) -> int:
    fig = ctf_figures(args.voltage, args.cs, args.defocus)
    if args.json:
        print_json(fig)
        return 0
    k1 = fig["first_zero_inv_A"]
    print(f"wavelength            {fig['wavelength_A']:.6f} Å at {fig['voltage_kV']:g} kV")
    print(f"Scherzer defocus      {fig['scherzer_defocus_nm']:.2f} nm underfocus (-sqrt(4/3 Cs lambda), Cs = "
          f"{fig['cs_mm']:g} mm)")
    print(f"defocus used          {fig['defocus_nm']:.2f} nm (negative = underfocus)")
    if k1 is None:
        print("first zero of sin chi none (no defocus, no Cs)")
    else:
        print(f"first zero of sin chi {k1:.4f} 1/Å")
        print(f"point resolution      {fig['point_resolution_A']:.3f} Å")
    return 0


def _register_image(sub: argparse._SubParsersAction) -> None:
    """``twin tem image`` (added with the multislice; see :func:`_handle_image`)."""
    i = sub.add_parser(
        "image",
        help="low-dose HRTEM image (multislice) and electron diffraction pattern of a CIF along a zone axis",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap(
            "Tile the structure to a slab of the given thickness along the zone axis [uvw], run the multislice "
            "(Kirkland 2010 projected potentials, plane wave), image it through the objective lens (defocus, Cs, "
            "aperture, partial coherence envelopes) onto a detector with a dose in e/Å^2 (Poisson noise, seeded) "
            "and an MTF, and compute the kinematical electron diffraction pattern of the zone. Writes "
            "OUT/hrtem.tif and OUT/diffraction.tif (float32, pixel size in the ImageDescription JSON and the "
            "TIFF resolution tags), PNG previews, OUT/observables/tem.h5 (the image store the report reads) "
            "and OUT/tem.json (figures). docs/tem.md describes the physics.", _CONVENTIONS),
    )
    i.add_argument("structure", metavar="STRUCTURE.cif", help="crystal structure (CIF)")
    i.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder (created)")
    i.add_argument("--instrument", default="tem_300kv",
                   help="instrument TOML, or the name of a shipped one (default tem_300kv)")
    i.add_argument("--zone", default="1 0 0", help='zone axis [uvw], e.g. "1 0 0" (default)')
    i.add_argument("--thickness", help='override the instrument specimen thickness, e.g. "5 nm"')
    i.add_argument("--field", help='override the instrument field of view, e.g. "5 nm" (square, at least)')
    i.add_argument("--dose", help='override the instrument dose, e.g. "20" (e/Å^2, > 0)')
    i.add_argument("--defocus", help='override the instrument defocus: "scherzer" or e.g. "-40 nm"')
    i.add_argument("--seed", type=int, default=0, help="seed of the shot noise (default 0)")
    i.set_defaults(handler=_handle_image)


def _handle_image(args: argparse.Namespace) -> int:
    summary = run_image(Path(args.structure), Path(args.out), instrument=args.instrument, zone=args.zone,
                        thickness=args.thickness, dose=args.dose, defocus=args.defocus, seed=args.seed,
                        field=args.field)
    print_json(summary)
    return 0


def run_image(structure_path: Path, out: Path, *, instrument: str = "tem_300kv", zone: str = "1 0 0",
              thickness: str | None = None, dose: str | None = None, defocus: str | None = None,
              seed: int = 0, field: str | None = None) -> dict:
    """HRTEM image + diffraction patterns of ``structure_path`` into ``out``; returns the summary (tem.json)."""
    import dataclasses
    import json
    import math
    import time

    import numpy as np

    from instruments.series_io import write_image_series
    from instruments.tem.ctf import first_zero_inv_A, parse_defocus_A, scherzer_defocus_A
    from instruments.tem.diffraction import exit_wave_pattern, render_pattern, zone_reflections
    from instruments.tem.multislice import hrtem
    from instruments.tem.specimen import parse_zone, specimen_from_structure
    from instruments.tem.technique import load_tem_settings
    from instruments.xrd.structure import load_structure
    from mofcore.atomic import atomic_path
    from mofcore.outputs import check_output_dir
    from mofcore.units import parse_quantity
    from twin.errors import DataFormatError
    from twin.observe import resolve_instrument

    settings = load_tem_settings(resolve_instrument(instrument, where="--instrument"))
    lens, det = settings.lens, settings.detector
    if defocus is not None:
        lens = dataclasses.replace(lens, defocus_A=parse_defocus_A(defocus, lens.cs_A, lens.wavelength_A, "--defocus"))
    if dose is not None:
        try:
            value = float(dose)
        except ValueError:
            raise DataFormatError(f"--dose: expected a number of e/Å² such as \"20\", got {dose!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise DataFormatError(f"--dose: expected a dose > 0 e/Å², got {dose!r}")
        det = dataclasses.replace(det, dose_e_per_A2=value)
    det = dataclasses.replace(det, seed=int(seed))
    t_A = parse_quantity(thickness, "length", where="--thickness") if thickness else settings.thickness_A
    f_A = parse_quantity(field, "length", where="--field") if field else settings.field_A
    uvw = parse_zone(zone, "--zone")
    structure = load_structure(structure_path)
    check_output_dir(out, option="--out")
    out.mkdir(parents=True, exist_ok=True)
    spec = specimen_from_structure(structure, uvw, field_A=f_A, thickness_A=t_A, where=str(structure_path))
    t0 = time.perf_counter()
    res = hrtem(spec, lens, det, sampling_A=settings.sampling_A, slice_thickness_A=settings.slice_thickness_A)
    counts = np.asarray(res.counts)
    elapsed = time.perf_counter() - t0
    image = np.asarray(res.image)
    dx, dy = res.grid.sampling_A
    refl = zone_reflections(structure, uvw, g_max_inv_A=0.6)
    kin, kin_pixel = render_pattern(refl, n_pixels=512, g_max_inv_A=0.6)
    dyn, (kx_pixel, ky_pixel) = exit_wave_pattern(res.exit_wave, res.grid.sampling_A)
    # the strongest fringes of the noiseless image (beyond 1/50 1/Å): their d-spacing
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    kx = np.fft.fftfreq(image.shape[1], dx).reshape(1, -1)
    ky = np.fft.fftfreq(image.shape[0], dy).reshape(-1, 1)
    power = np.where(np.hypot(kx, ky) > 0.02, power, 0)
    i, j = np.unravel_index(int(np.argmax(power)), power.shape)
    fringe_d = 1.0 / float(np.hypot(kx[0, j], ky[i, 0]))
    lam = lens.wavelength_A
    strongest = [{"hkl": [int(h) for h in refl.hkl[k]], "d_A": float(refl.d_A[k]),
                  "relative_intensity": float(refl.intensity[k] / refl.intensity[0])}
                 for k in range(min(8, len(refl.hkl)))]
    summary = {
        "structure": str(structure_path), "zone": list(uvw), "voltage_kV": lens.voltage_V / 1e3,
        "wavelength_A": lam, "cs_mm": lens.cs_A / 1e7, "defocus_nm": lens.defocus_A / 10,
        "scherzer_defocus_nm": abs(scherzer_defocus_A(lens.cs_A, lam)) / 10,
        "first_zero_inv_A": first_zero_inv_A(lam, lens.defocus_A, lens.cs_A),
        "aperture_mrad": lens.aperture_mrad if math.isfinite(lens.aperture_mrad) else None,
        "dose_e_per_A2": det.dose_e_per_A2, "mean_counts_per_pixel": float(counts.mean()),
        "field_A": list(spec.extent_A), "periodic_field": spec.periodic, "thickness_A": spec.thickness_A,
        "n_atoms_per_repeat": int(len(spec.xyz_A)), "grid": list(res.grid.shape), "sampling_A": [dx, dy],
        "image_contrast_std_over_mean": float(image.std() / image.mean()),
        "strongest_image_fringe_d_A": fringe_d, "strongest_reflections": strongest,
        "simulation_s": elapsed, "seed": int(seed),
    }
    _write_tiff(out / "hrtem.tif", counts, dx, "A")
    _write_tiff(out / "hrtem_noiseless.tif", image, dx, "A")
    _write_tiff(out / "diffraction.tif", kin, kin_pixel, "1/A")
    _write_tiff(out / "diffraction_dynamical.tif", dyn, kx_pixel, "1/A")
    write_image_series(out / "hrtem.h5", image=np.stack([counts, image]), pixel_size_A=dx,
                       frame_index=np.zeros(2, np.int64),
                       kind=f"HRTEM {structure_path.stem} [{' '.join(map(str, uvw))}]")
    _previews(out, counts, image, dx, kin, kin_pixel, summary)
    with atomic_path(out / "tem.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _write_tiff(path: Path, data, pixel: float, unit: str) -> None:
    """float32 TIFF with ImageJ metadata: the pixel size as resolution (pixels per unit) and the unit
    (Å for images: readable by ``twin inspect``; 1/Å for patterns, also in the ImageDescription)."""
    import json

    import numpy as np
    import tifffile

    from mofcore.atomic import atomic_path

    with atomic_path(path) as tmp:
        if unit == "A":
            tifffile.imwrite(tmp, np.asarray(data, np.float32), imagej=True, resolution=(1 / pixel, 1 / pixel),
                             metadata={"unit": "A"})
        else:
            tifffile.imwrite(tmp, np.asarray(data, np.float32),
                             description=json.dumps({"pixel_size_inv_A": pixel, "axes": "ky (rows), kx"}))


def _previews(out: Path, counts, image, pixel_A: float, kin, kin_pixel: float, summary: dict) -> None:
    """PNG previews: the recorded image (binned to ≥ 0.4 Å), the noiseless image and the diffraction pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    b = max(1, int(round(0.4 / pixel_A)))
    ny, nx = (counts.shape[0] // b) * b, (counts.shape[1] // b) * b
    binned = counts[:ny, :nx].reshape(ny // b, b, nx // b, b).sum(axis=(1, 3))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), constrained_layout=True)
    w_nm = nx * pixel_A / 10
    for ax, img, title in ((axes[0], binned, f"{summary['dose_e_per_A2']:g} e/Å², binned {b}×{b}"),
                           (axes[1], image, "noiseless")):
        h_nm = img.shape[0] * (ny / img.shape[0]) * pixel_A / 10
        ax.imshow(img, cmap="gray", extent=(0, w_nm, 0, h_nm))
        ax.set_xlabel("x (nm)")
        ax.set_title(title, fontsize=9)
    g = kin.shape[0] * kin_pixel / 2
    axes[2].imshow(np.log1p(kin / kin.max() * 1e3), cmap="magma", origin="lower", extent=(-g, g, -g, g))
    axes[2].set_xlabel("g_x (1/Å)")
    axes[2].set_title(f"kinematical ED, zone [{' '.join(map(str, summary['zone']))}]", fontsize=9)
    fig.suptitle(f"{Path(summary['structure']).stem}: {summary['thickness_A'] / 10:.1f} nm, defocus "
                 f"{summary['defocus_nm']:.1f} nm", fontsize=10)
    fig.savefig(out / "tem_preview.png", dpi=110)
    plt.close(fig)
