"""``twin report OUT``: build the self-contained HTML comparison report of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from mofcore.outputs import OutputError, check_output_dir
from twin.commands._common import locked


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write OUT/report/index.html (figures embedded) and a JSON summary for a run and its fit",
        description=(
            "Build one self-contained HTML page comparing simulation and measurement for the run in OUT: "
            "scenario and conditions, phase fractions and hysteresis, phase-map slices and domain sizes, "
            "XRD (and NMR/IR/Raman/TEM when present) series with measured-vs-simulated overlays and Rwp, fit "
            "parameters with uncertainties and correlations, provenance with file checksums. Figures also go "
            "to OUT/report/figures/ as PNG and SVG, the numbers to OUT/report/summary.json. A new report is built "
            "beside the old one and swapped in at once (OUT/report is a link to the current build), so OUT/report "
            "is complete at every instant; OUT/.twin.lock keeps other twin commands out of OUT meanwhile."
        ),
        epilog="What each section shows: docs/report.md.",
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5 (and fit_result.json)")
    parser.add_argument(
        "--frames",
        metavar="N,N,…",
        help="frame numbers for the phase-map slices (stored field frames; default: start, extreme, switching, end)",
    )
    parser.add_argument(
        "--no-check-measurements",
        action="store_true",
        help="do not verify that the measurement files named in fit_result.json exist with their recorded sha256",
    )
    parser.set_defaults(handler=_handle)


def _frames(text: str | None) -> list[int] | None:
    from twin.errors import ScenarioError

    if not text:
        return None
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScenarioError(f"--frames: expected comma-separated frame numbers such as 0,40,80, got {text!r}") from None
    if any(f < 0 for f in frames):
        raise ScenarioError(f"--frames: frame numbers must be ≥ 0, got {text!r}")
    return frames


def _handle(args: argparse.Namespace) -> int:
    from reports import build_report

    frames = _frames(args.frames)
    out = check_output_dir(args.out, option="OUT", must_exist=True,
                           missing="run directory not found (expected the OUT of `twin run SCENARIO -o OUT`)")
    if (out / "report").exists() and not (out / "report").is_dir():
        raise OutputError(f"{out / 'report'}: exists and is not a directory (the report goes there); move it away")
    with locked(out, args, create=False):
        path = build_report(Path(out), snapshot_frames=frames, check_measurements=not args.no_check_measurements)
    print(f"report written to {path}")
    return 0
