"""``twin fit FIT.toml -o OUT`` and ``twin fit --isotherm FILE --material M --guest G --temperature T -o OUT``.

Three techniques: a measured isotherm with both branches, fitted through the powder surrogate of
:mod:`twin.fit.surrogate` (host, adsorption, crystal-size distribution and defect parameters), and an in situ
XRD series (``technique = "xrd-series"`` in the fit file), refined frame by frame and summarised as switching
pressures, hysteresis and coherent-domain sizes (:mod:`twin.fit.xrd_series`), and an X-ray total-scattering
series F(Q, T) (``technique = "total-scattering"``), fitted frame by frame for the crystalline fraction and
coherence diameter (:mod:`twin.fit.total_scattering`; also ``fit_series.csv``), and an in situ XRD series of a
layered host (``twin fit --xrd-series FOLDER --model layered``, or ``model = "layered"`` in an xrd-series fit file),
fitted frame by frame for the interlayer distance, the coherent stack thickness and the spread of interlayer
distances (:mod:`twin.fit.layered`; also ``fit_series.csv``, one row per frame). All write
``OUT/fit_result.json`` (values, stderr, 90 % intervals, figures of merit, correlations, convergence,
provenance, predictive check) and a figure. See ``docs/fit.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mofcore.outputs import OutputError, check_output_dir
from twin.commands._common import StageProgress, add_overwrite, locked, print_json, read_notices_on_stderr
from twin.errors import FitError
from twin.fit.progress import reporting
from twin.units import parse_quantity


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="fit the twin to measured data (pattern level and twin level)",
        description=(
            "Read a fit file naming the material, the measurement files, free parameters with bounds or "
            "priors and the technique — or take a plain measured isotherm with --isotherm — and write "
            "OUT/fit_result.json with values, uncertainties and figures of merit. The result, its per-frame table "
            "and its figure are written as one set (one run id in each; moved into OUT only when all are complete). "
            "An OUT that already holds a fit result is refused unless --overwrite is given; OUT/.twin.lock keeps "
            "other twin commands out of OUT while the fit runs."
        ),
    )
    parser.add_argument("fit_file", metavar="FIT.toml", nargs="?", help="fit description")
    parser.add_argument("-o", "--output", metavar="OUT", help="output directory (required)")
    parser.add_argument("--isotherm", metavar="FILE", help="a measured isotherm, one or both branches (AIF or CSV); parameters one branch cannot determine are reported as such")
    parser.add_argument("--xrd-series", metavar="FOLDER", help="a measured in situ XRD series (a folder of frames with a "
                        "conditions log giving pressure, relative_pressure (P/P0) or rh per frame); with --model")
    parser.add_argument("--nmr-series", metavar="FOLDER", help="a measured variable-temperature static 2H series (a "
                        "folder of spectra with a conditions log giving temperature_K), fitted with the default "
                        "settings of the nmr-series fit (tetrahedral jumps, activation-energy distribution, C_q "
                        "fitted; a fit file changes them: docs/nmr.md)")
    parser.add_argument("--model", choices=("layered", "peaks"), help="model of --xrd-series: 'layered' = "
                        "paracrystalline layer stacks (graphene oxide, clays): d001, coherent thickness and spread of "
                        "interlayer distances per frame (docs/layered.md); 'peaks' = single peaks on a straight "
                        "background, any host (no material or structure needed): position, FWHM, area and the "
                        "d-spacing per frame with standard uncertainties (docs/fit.md); a MOF series with its material "
                        "is refined through a fit file")
    parser.add_argument("--peak", action="append", metavar="LOW..HIGH",
                        help="a window of the axis holding one peak, in the series' axis unit (with --model peaks; "
                             "repeat for several; default: the most prominent peaks of the mean frame — give windows "
                             "when a peak moves by more than its width through the series)")
    parser.add_argument("--wavelength", metavar="λ", help='X-ray wavelength for d-spacings of a 2θ series, e.g. '
                        '"1.5406 A" (with --model peaks; default: the one the files state)')
    parser.add_argument("--uptake", metavar="FILE", help="isotherm CSV (relative_pressure, uptake_…, branch) whose "
                        "adsorption branch gives the uptake at each frame (with --xrd-series; default: a single "
                        "isotherm*.csv in or beside FOLDER)")
    parser.add_argument("--q-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="fitted Q range in nm⁻¹ (with --xrd-series; default: from 0.6 × the lowest 001 position of the "
                             "series to the end of the data)")
    parser.add_argument("--material", help="material name or .toml (with --isotherm)")
    parser.add_argument("--guest", help="adsorbing gas by name or formula, e.g. CO2, ethanol or C2H5OH (with --isotherm; "
                        "default: the adsorptive the file states)")
    parser.add_argument("--temperature", help='temperature of the measurement, e.g. "273 K" (with --isotherm; default: '
                        "the temperature the file states)")
    parser.add_argument("--y-column", help="uptake column of a CSV file (default: the reader's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of starts and sampler (default 0)")
    parser.add_argument("--steps", type=int, default=1500, help="sampler steps (default 1500)")
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (by default: the stages, and the sampler's steps with an ETA; a "
                             "bar on a terminal, a line per tenth otherwise)")
    add_overwrite(parser, "a fit result (OUT/fit_result.json with its fit_series.csv and figure)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if not args.output:
        raise FitError("-o/--output: an output directory is required")
    out = check_output_dir(args.output)
    run = _prepare(args)
    with locked(out, args), read_notices_on_stderr("fit"):
        if (out / "fit_result.json").exists() and not args.overwrite:
            raise OutputError(f"{out}: already holds a fit result (fit_result.json); give --overwrite to replace it "
                              "(with its fit_series.csv and figure), or another -o")
        with StageProgress("fit", disable=True if args.quiet else None) as bar, reporting(bar):
            return run()


def _prepare(args: argparse.Namespace):
    """Check the arguments and read the fit file (nothing written); returns the fit to run."""
    from twin.fit.workflow import run_isotherm_fit

    given = [flag for flag, v in (("a fit file", args.fit_file), ("--isotherm", args.isotherm),
                                  ("--xrd-series", args.xrd_series), ("--nmr-series", args.nmr_series)) if v]
    if len(given) > 1:
        raise FitError(f"give one of a fit file, --isotherm FILE or --xrd-series FOLDER, not {' and '.join(given)}")
    if not args.xrd_series and (args.model or args.uptake or args.q_range or args.peak or args.wavelength):
        raise FitError("--model, --uptake, --q-range, --peak and --wavelength go with --xrd-series FOLDER")
    if args.xrd_series:
        return _prepare_xrd_series(args)
    if args.nmr_series:
        return _prepare_nmr_series(args)
    if args.isotherm:
        if not args.material:
            raise FitError("--isotherm needs --material (and --guest, --temperature where the file does not state them)")
        if not Path(args.isotherm).is_file():
            raise FitError(f"--isotherm: file {args.isotherm!r} not found")
        if args.steps < 200:
            raise FitError(f"--steps: expected at least 200, got {args.steps}")
        temperature_K = (parse_quantity(args.temperature, "temperature", where="--temperature")
                         if args.temperature else None)

        def isotherm() -> int:
            result = run_isotherm_fit(args.isotherm, args.material, args.guest, temperature_K, args.output,
                                      y_column=args.y_column, seed=args.seed, n_steps=args.steps,
                                      burn=args.steps // 3)
            return _print(result, args.json)

        return isotherm
    if args.fit_file:
        from instruments.registry import for_fit
        from instruments.technique import resolve
        from twin.fit.config import load_fit_config

        cfg = load_fit_config(args.fit_file)
        problem = resolve(for_fit(cfg.technique).fit)

        def from_file() -> int:
            result = problem.run(cfg, Path(args.output))
            if problem.print_summary is not None and not args.json:
                problem.print_summary(result)
                print(f"wrote {result['path']}")
                return 0
            return _print(result, args.json)

        return from_file
    raise FitError("expected a fit file (twin fit FIT.toml -o OUT), --isotherm FILE --material M, --xrd-series FOLDER "
                   "--model layered|peaks, or --nmr-series FOLDER")


def _prepare_xrd_series(args: argparse.Namespace):
    """``--xrd-series FOLDER --model layered``: checked here, run under the output lock."""
    from twin.fit.layered import LayeredSettings, print_layered, run_layered_fit

    if args.model is None:
        raise FitError("--xrd-series needs --model layered or --model peaks (a MOF series with a material and an "
                       "instrument is refined through a fit file: technique = \"xrd-series\", docs/fit.md)")
    if not Path(args.xrd_series).exists():
        raise FitError(f"--xrd-series: {args.xrd_series!r} not found")
    if args.model == "peaks":
        return _prepare_peaks(args)
    if args.peak or args.wavelength:
        raise FitError("--peak and --wavelength go with --model peaks")
    if args.uptake is not None and not Path(args.uptake).is_file():
        raise FitError(f"--uptake: file {args.uptake!r} not found")
    settings = LayeredSettings()
    if args.q_range is not None:
        low, high = args.q_range
        if not (0.0 <= low < high):
            raise FitError(f"--q-range: expected 0 ≤ LOW < HIGH in nm⁻¹, got {low:g} {high:g}")
        settings = LayeredSettings(q_range_inv_nm=(low, high))

    def layered() -> int:
        result = run_layered_fit(args.xrd_series, args.output, settings=settings, uptake_path=args.uptake,
                                 command="twin fit --xrd-series --model layered")
        if args.json:
            return _print(result, True)
        print_layered(result)
        print(f"wrote {result['path']} (and fit_series.csv, fit_layered.png)")
        return 0

    return layered


def _print(result: dict, as_json: bool) -> int:
    summary = {"fit_result": result["path"],
               "parameters": {k: [v["value"], v["interval_90"]] for k, v in result["parameters"].items()},
               "chi2_reduced": result["figures_of_merit"].get("chi2_reduced"), "warnings": result["warnings"]}
    if as_json:
        print_json(summary)
    else:
        for name, entry in result["parameters"].items():
            lo, hi = entry["interval_90"]
            print(f"{name:24s} {entry['value']:.5g} {entry['unit']}  (90 %: {lo:.4g} .. {hi:.4g})")
        for warning in result["warnings"]:
            print(f"warning: {warning}")
        print(f"wrote {result['path']}")
    return 0


def _prepare_peaks(args: argparse.Namespace):
    """``--xrd-series FOLDER --model peaks [--peak LOW..HIGH ...]``: checked here, run under the output lock."""
    from twin.fit.peak_series import PeakWindow, run_peak_series_fit
    from twin.units import parse_quantity

    if args.uptake or args.q_range:
        raise FitError("--uptake and --q-range go with --model layered")
    windows = []
    for text in args.peak or []:
        parts = str(text).split("..")
        try:
            low, high = (float(v) for v in parts)
        except ValueError:
            raise FitError(f"--peak: expected a window LOW..HIGH in the series' axis unit, e.g. 0.4..1.1, got {text!r}") from None
        if not low < high:
            raise FitError(f"--peak: expected LOW < HIGH, got {text!r}")
        windows.append(PeakWindow(low, high))
    wavelength = parse_quantity(args.wavelength, "length", where="--wavelength") if args.wavelength else None

    def peaks() -> int:
        result = run_peak_series_fit(args.xrd_series, args.output, windows=windows or None, wavelength_A=wavelength,
                                     command="twin fit --xrd-series --model peaks")
        if args.json:
            return _print(result, True)
        _print_peaks(result)
        print(f"wrote {result['path']} (and fit_series.csv, fit_peaks.png)")
        return 0

    return peaks


def _print_peaks(result: dict) -> None:
    s = result["series"]
    unit = s["axis"]["unit"]
    for j, p in enumerate(s["peaks"], 1):
        print(f"peak {j} ({p['window'][0]:g}..{p['window'][1]:g} {unit})")
        for i, label in enumerate(s["frame"]):
            d = f"  d = {p['d_A'][i]:.4f} ± {p['d_A_stderr'][i]:.4f} Å" if "d_A" in p else ""
            print(f"  {label:>14s}  position {p['position'][i]:.5g} ± {p['position_stderr'][i]:.2g}  FWHM "
                  f"{p['fwhm'][i]:.4g} ± {p['fwhm_stderr'][i]:.2g}  area {p['area'][i]:.4g} ± {p['area_stderr'][i]:.2g}"
                  f"{d}  χ²_ν {p['chi2_reduced'][i]:.2f}{'' if p['detected'][i] else '  (not detected)'}")
    for warning in result["warnings"]:
        print(f"warning: {warning}")


def _prepare_nmr_series(args: argparse.Namespace):
    """``--nmr-series FOLDER``: the nmr-series fit with its default settings, run under the output lock."""
    from twin.fit.nmr import NMR_SERIES, run_nmr_fit

    if not Path(args.nmr_series).exists():
        raise FitError(f"--nmr-series: {args.nmr_series!r} not found")

    def nmr() -> int:
        result = run_nmr_fit(args.nmr_series, args.output)
        if args.json:
            return _print(result, True)
        NMR_SERIES.print_summary(result)
        print(f"wrote {result['path']} (and fit_nmr.png)")
        return 0

    return nmr
