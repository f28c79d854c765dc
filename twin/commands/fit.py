"""``twin fit FIT.toml -o OUT`` and ``twin fit --isotherm FILE --material M --guest G --temperature T -o OUT``.

Two techniques: a measured isotherm with both branches, fitted through the powder surrogate of
:mod:`twin.fit.surrogate` (host, adsorption, crystal-size distribution and defect parameters), and an in situ
XRD series (``technique = "xrd-series"`` in the fit file), refined frame by frame and summarised as switching
pressures, hysteresis and coherent-domain sizes (:mod:`twin.fit.xrd_series`). Both write
``OUT/fit_result.json`` (values, stderr, 90 % intervals, figures of merit, correlations, convergence,
provenance, predictive check) and a figure. See ``docs/fit.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.commands._common import print_json
from twin.errors import FitError
from twin.units import parse_quantity


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="fit the twin to measured data (pattern level and twin level)",
        description=(
            "Read a fit file naming the material, the measurement files, free parameters with bounds or "
            "priors and the technique — or take a plain measured isotherm with --isotherm — and write "
            "OUT/fit_result.json with values, uncertainties and figures of merit."
        ),
    )
    parser.add_argument("fit_file", metavar="FIT.toml", nargs="?", help="fit description")
    parser.add_argument("-o", "--output", metavar="OUT", help="output directory (required)")
    parser.add_argument("--isotherm", metavar="FILE", help="a measured isotherm with both branches (AIF or CSV)")
    parser.add_argument("--material", help="material name or .toml (with --isotherm)")
    parser.add_argument("--guest", help="adsorbing gas, e.g. CO2 (with --isotherm)")
    parser.add_argument("--temperature", help='temperature of the measurement, e.g. "273 K" (with --isotherm)')
    parser.add_argument("--y-column", help="uptake column of a CSV file (default: the reader's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of starts and sampler (default 0)")
    parser.add_argument("--steps", type=int, default=1500, help="sampler steps (default 1500)")
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from twin.fit.workflow import run_isotherm_fit

    if not args.output:
        raise FitError("-o/--output: an output directory is required")
    if args.fit_file and args.isotherm:
        raise FitError("give either a fit file or --isotherm FILE, not both")
    if args.isotherm:
        missing = [flag for flag, v in (("--material", args.material), ("--guest", args.guest),
                                        ("--temperature", args.temperature)) if not v]
        if missing:
            raise FitError(f"--isotherm needs {', '.join(missing)}")
        if not Path(args.isotherm).is_file():
            raise FitError(f"--isotherm: file {args.isotherm!r} not found")
        if args.steps < 200:
            raise FitError(f"--steps: expected at least 200, got {args.steps}")
        temperature_K = parse_quantity(args.temperature, "temperature", where="--temperature")
        result = run_isotherm_fit(args.isotherm, args.material, args.guest, temperature_K, args.output,
                                  y_column=args.y_column, seed=args.seed, n_steps=args.steps, burn=args.steps // 3)
    elif args.fit_file:
        from twin.fit.config import load_fit_config

        cfg = load_fit_config(args.fit_file)
        (path, y_column), = cfg.measurements
        if cfg.technique == "xrd-series":
            from twin.fit.workflow import run_xrd_series_fit

            result = run_xrd_series_fit(path, cfg.material, cfg.instrument, args.output, truth=cfg.truth,
                                        seed=cfg.seed, source_text=cfg.text)
        else:
            result = run_isotherm_fit(path, cfg.material, cfg.guest, cfg.temperature_K, args.output, free=cfg.free,
                                      sample=cfg.sample, y_column=y_column, coherent_size_nm=cfg.coherent_size_nm,
                                      seed=cfg.seed, n_steps=cfg.n_steps, burn=cfg.n_steps // 3, source_text=cfg.text)
    else:
        raise FitError("expected a fit file (twin fit FIT.toml -o OUT) or --isotherm FILE with --material, --guest, --temperature")
    summary = {"fit_result": result["path"],
               "parameters": {k: [v["value"], v["interval_90"]] for k, v in result["parameters"].items()},
               "chi2_reduced": result["figures_of_merit"]["chi2_reduced"], "warnings": result["warnings"]}
    if args.json:
        print_json(summary)
    else:
        for name, entry in result["parameters"].items():
            lo, hi = entry["interval_90"]
            print(f"{name:24s} {entry['value']:.5g} {entry['unit']}  (90 %: {lo:.4g} .. {hi:.4g})")
        for warning in result["warnings"]:
            print(f"warning: {warning}")
        print(f"wrote {result['path']}")
    return 0
