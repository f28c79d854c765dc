"""``twin ir kubo``: the Kubo line of a Gaussian–Markov frequency modulation; ``twin ir bands``: band fit of a
measured IR/Raman spectrum (D/G analysis of carbons). docs/vibrational.md describes the physics."""

from __future__ import annotations

import argparse

from twin.commands._common import print_json

_REGIME = ("regime: the computed line's FWHM against the two limits: fast when within 10 % of the Lorentzian "
           "2(2*pi*c)*D^2*tau_c, slow when within 10 % of the Gaussian 2*sqrt(2 ln 2)*D (D the rms fluctuation in "
           "cm-1), intermediate otherwise.")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ir", help="vibrational spectroscopy: Kubo lineshapes, band fits of measured IR/Raman spectra",
        description="Vibrational forward models and fits. `twin ir kubo --help`, `twin ir bands --help`.")
    sub = parser.add_subparsers(dest="ir_command", metavar="KIND")
    k = sub.add_parser(
        "kubo", help="lineshape of a Gaussian-Markov frequency modulation (Kubo), its FWHM and regime",
        description="Compute the Kubo line I(w) = (1/pi) Re int_0^inf exp(-g(t) - i w t) dt with "
                    "g(t) = D^2 tau_c^2 (exp(-t/tau_c) + t/tau_c - 1) by FFT and print its FWHM. " + _REGIME)
    k.add_argument("--amplitude", required=True, help='rms frequency fluctuation as a wavenumber, e.g. "5 cm-1"')
    k.add_argument("--correlation-time", required=True, help='correlation time tau_c, e.g. "0.05 ps" or "50 fs"')
    k.add_argument("-o", "--output", metavar="LINE.csv", help="write the line (offset_cm1,intensity) here")
    k.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    k.set_defaults(handler=_handle_kubo)
    b = sub.add_parser(
        "bands", help="fit bands (Lorentzian, Gaussian, pseudo-Voigt, BWF) to a measured spectrum; D/G of carbons",
        description="Fit peak profiles with a polynomial background to a measured IR or Raman spectrum (read "
                    "through instruments.io), write OUT/fit_result.json (FitResult form) and OUT/bands.png. With "
                    "--carbon (default for a Raman spectrum with bands near 1350 and 1590 cm-1): D and G bands, "
                    "I_D/I_G (peak-height and area ratios) and the crystallite size La of Cancado et al. (2006).")
    b.add_argument("spectrum", metavar="FILE", help="measured spectrum (CSV/xy/JCAMP-DX) on a wavenumber axis")
    b.add_argument("-o", "--output", metavar="OUT", required=True, help="output directory")
    b.add_argument("--laser", default=None,
                   help='excitation wavelength for La, e.g. "633 nm" (default: 532 nm assumed, and the result says '
                        "so)")
    b.add_argument("--range", dest="window", help='fitted window in cm-1, e.g. "900..2000" (default 900..2000)')
    b.add_argument("--profile", default="lorentzian",
                   choices=("lorentzian", "gaussian", "pseudo-voigt", "bwf"),
                   help="G-band profile (D: Lorentzian unless pseudo-voigt/gaussian is chosen; default lorentzian)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing OUT/fit_result.json")
    b.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    b.set_defaults(handler=_handle_bands)
    parser.set_defaults(handler=lambda args: _missing_kind(parser))


def _missing_kind(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _handle_kubo(args: argparse.Namespace) -> int:
    from instruments.vib.kubo import kubo_line
    from mofcore.units import parse_quantity

    amplitude = parse_quantity(args.amplitude, "wavenumber", where="--amplitude")
    tau = parse_quantity(args.correlation_time, "time", where="--correlation-time") * 1e12  # ps
    line = kubo_line(amplitude, tau)
    out = {"fwhm_cm1": round(line.fwhm_cm1, 6), "regime": line.regime,
           "fast_limit_fwhm_cm1": round(line.fast_limit_fwhm_cm1, 6),
           "slow_limit_fwhm_cm1": round(line.slow_limit_fwhm_cm1, 6), "kappa": round(line.kappa, 6),
           "amplitude_cm1": amplitude, "correlation_time_ps": tau}
    if args.output:
        from twin.commands.nmr import _write

        keep = line.intensity > line.intensity.max() * 1e-6
        out["output"] = _write(args.output, line.offset_cm1[keep], line.intensity[keep], "offset_cm1", "%.6f")
    if args.json:
        print_json(out)
    else:
        print(f"FWHM {out['fwhm_cm1']:.5g} cm-1 ({line.regime}; fast limit {line.fast_limit_fwhm_cm1:.5g}, "
              f"slow limit {line.slow_limit_fwhm_cm1:.5g} cm-1, kappa = Delta*tau_c = {line.kappa:.4g})")
    return 0


def _handle_bands(args: argparse.Namespace) -> int:
    from twin.fit.bands import print_bands, run_band_fit

    result = run_band_fit(args.spectrum, args.output, laser=args.laser, window=args.window, profile=args.profile,
                          overwrite=args.overwrite)
    if args.json:
        summary = {"fit_result": result["path"],
                   "parameters": {k: [v["value"], v.get("interval_90")] for k, v in result["parameters"].items()},
                   "assumptions": result["model"]["assumptions"], "warnings": result["warnings"]}
        print_json(summary)
    else:
        print_bands(result)
    return 0
