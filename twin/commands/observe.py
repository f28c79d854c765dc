"""``twin observe OUT --xrd INSTRUMENT.toml``: what the instruments would record at every frame of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.errors import TwinError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "observe",
        help="compute instrument observables (powder XRD) for every frame of a run",
        description=(
            "Read OUT/trajectory.h5 and write the pattern a powder diffractometer would record at every frame, "
            "with the frame conditions, to OUT/observables/xrd.h5 (one jitted, batched evaluation over frames), "
            "plus OUT/observables/xrd_first.csv and xrd_last.csv. Phase amounts, lattice parameters, η spread "
            "(microstrain) and the coherent-domain size distribution of each phase come from the trajectory."
        ),
        epilog="Instrument file format: docs/xrd.md; a laboratory Cu Kα example ships as datasets/instruments/lab_cuka.toml (`twin demo` copies it into its output).",
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5")
    parser.add_argument("--xrd", metavar="INSTRUMENT.toml", required=True, help="powder diffractometer settings")
    parser.add_argument("--measured", metavar="PATH",
                        help="a measured in situ series (a folder of pattern files in any format `twin inspect` "
                             "reads, with a conditions log that has a time column, or one HDF5/NeXus file): the "
                             "series is simulated on its 2θ points and the measured frames are stored beside the "
                             "simulated ones, matched by time, for the report's overlay")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from twin.observe import observe_xrd, write_first_last_csv

    out = Path(args.out)
    if not (out / "trajectory.h5").is_file():
        raise TwinError(f"{out}: no trajectory.h5 here (run `twin run SCENARIO.toml -o {out}` first)")
    measured = None
    if args.measured:
        import numpy as np

        from instruments.xrd import load_instrument
        from twin.fit.xrd_series import load_xrd_series

        instrument, _ = load_instrument(args.xrd)
        measured = load_xrd_series(args.measured, wavelength_A=float(np.min(np.asarray(instrument.wavelengths_A))))
    path = observe_xrd(out, args.xrd, measured)
    csvs = write_first_last_csv(path)
    print(f"XRD series written to {path} (and {', '.join(str(c) for c in csvs)})")
    return 0
