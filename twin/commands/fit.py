"""``twin fit FIT.toml -o OUT`` and ``twin fit --isotherm FILE --material M --guest G --temperature T -o OUT``.

Three techniques: a measured isotherm with both branches, fitted through the powder surrogate of
:mod:`twin.fit.surrogate` (host, adsorption, crystal-size distribution and defect parameters), and an in situ
XRD series (``technique = "xrd-series"`` in the fit file), refined frame by frame and summarised as switching
pressures, hysteresis and coherent-domain sizes (:mod:`twin.fit.xrd_series`), and an X-ray total-scattering
series F(Q, T) (``technique = "total-scattering"``), fitted frame by frame for the crystalline fraction and
coherence diameter (:mod:`twin.fit.total_scattering`; also ``fit_series.csv``). All write
``OUT/fit_result.json`` (values, stderr, 90 % intervals, figures of merit, correlations, convergence,
provenance, predictive check) and a figure. See ``docs/fit.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mofcore.outputs import OutputError, check_output_dir
from twin.commands._common import add_overwrite, locked, print_json
from twin.errors import FitError
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
    parser.add_argument("--material", help="material name or .toml (with --isotherm)")
    parser.add_argument("--guest", help="adsorbing gas, e.g. CO2 (with --isotherm)")
    parser.add_argument("--temperature", help='temperature of the measurement, e.g. "273 K" (with --isotherm)')
    parser.add_argument("--y-column", help="uptake column of a CSV file (default: the reader's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of starts and sampler (default 0)")
    parser.add_argument("--steps", type=int, default=1500, help="sampler steps (default 1500)")
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    add_overwrite(parser, "a fit result (OUT/fit_result.json with its fit_series.csv and figure)")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if not args.output:
        raise FitError("-o/--output: an output directory is required")
    out = check_output_dir(args.output)
    run = _prepare(args)
    with locked(out, args):
        if (out / "fit_result.json").exists() and not args.overwrite:
            raise OutputError(f"{out}: already holds a fit result (fit_result.json); give --overwrite to replace it "
                              "(with its fit_series.csv and figure), or another -o")
        return run()


def _prepare(args: argparse.Namespace):
    """Check the arguments and read the fit file (nothing written); returns the fit to run."""
    from twin.fit.workflow import run_isotherm_fit

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
    raise FitError("expected a fit file (twin fit FIT.toml -o OUT) or --isotherm FILE with --material, --guest, "
                   "--temperature")


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
