"""``twin analyze OUT``: transition pressures per cycle, hysteresis widths, domain sizes of a finished run.

Built on :mod:`twin.analysis` (``docs/analysis.md``): crossings of the open-phase fraction through ½ per cycle
and branch of the total pressure, the coherent-domain size distribution of the last frame, the defect density,
and where each transition nucleated. ``--json`` prints one JSON object on stdout; without it a table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from twin import analysis
from twin._json import jsonable
from twin.commands._common import print_json
from twin.errors import DataFormatError

__all__ = ["register", "analyze_trajectory"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="transition pressure per cycle and branch, hysteresis width and domain sizes of a run",
        description="Analyse OUT/trajectory.h5; with --json print one JSON object on stdout.",
        epilog="Definitions: docs/analysis.md.",
    )
    parser.add_argument("out", metavar="OUT", help="run directory holding trajectory.h5 (or the file itself)")
    parser.add_argument("--json", action="store_true", help="print the analysis as one JSON object")
    parser.set_defaults(handler=_handle)


def analyze_trajectory(path: str | Path) -> dict[str, Any]:
    """The analysis of one finished trajectory as a JSON-ready dict (the ``twin analyze --json`` object).

    Keys: ``cycles`` (per cycle and branch: ``index``, ``branch``, ``transition_pressure_bar``,
    ``switched_fraction``, ``first_frame``, ``last_frame``), ``hysteresis_width_bar`` (per cycle),
    ``coherent_domain_size_nm`` (``median``, ``p10``, ``p90`` of the volume-weighted edge distribution of the
    last frame), ``defect_density_per_nm3``
    (last frame; ``defect_density_per_nm3_initial`` the first), ``nucleation`` (per transition, the share of
    newly switched surface/defect/bulk sites), ``n_frames``, ``open_phase`` and, for a batch of crystals,
    ``crystals`` (per crystal: ``index``, ``size_nm`` of its bounding box, ``cycles``).
    """
    from twin.trajectory import Trajectory

    path = Path(path)
    if path.is_dir():
        path = path / "trajectory.h5"
    if not path.is_file() and path.name == "trajectory.h5":
        interrupted = analysis.interrupted_run_message(path.parent)
        if interrupted:
            raise DataFormatError(f"{path}: no finished trajectory to analyse: {interrupted}")
    with Trajectory(path) as traj:
        names = set(traj.summary_names)
        if "phase_fraction" not in names:
            raise DataFormatError(f"{path}: no summary 'phase_fraction' to analyse")
        time_s = traj.time_s
        pressure_bar = np.sum(traj.partial_pressure_Pa, axis=1) / 1e5
        open_fraction = traj.summary("phase_fraction")[:, -1]
        rows = analysis.transitions(time_s, pressure_bar, open_fraction)
        out: dict[str, Any] = {
            "n_frames": traj.n_frames,
            "open_phase": traj.phases[-1],
            "cycles": rows,
            "hysteresis_width_bar": analysis.cycle_hysteresis_widths(rows),
        }
        site_nm3 = float(np.prod(np.asarray(traj.cell_A, dtype=np.float64))) / 1000.0
        quantiles = None
        if "domain_size_histogram" in names:
            quantiles = analysis.domain_size_quantiles_nm(traj.summary("domain_size_histogram")[-1], site_nm3)
        out["coherent_domain_size_nm"] = (None if quantiles is None else
                                          {"median": quantiles[1], "p10": quantiles[0], "p90": quantiles[2],
                                           "weighting": "volume"})
        if "defect_density_per_nm3" in names:
            dens = traj.summary("defect_density_per_nm3")
            out["defect_density_per_nm3"] = float(dens[-1])
            out["defect_density_per_nm3_initial"] = float(dens[0])
        else:
            out["defect_density_per_nm3"] = None
        if {"class_open_fraction", "class_site_fraction"} <= names:
            out["nucleation"] = analysis.nucleation_sites(pressure_bar, open_fraction,
                                                          traj.summary("class_open_fraction"),
                                                          traj.summary("class_site_fraction"))
        if "crystal_phase_fraction" in names:
            per = traj.summary("crystal_phase_fraction")[:, :, -1]
            mask = traj.mask
            crystals = []
            for k in range(per.shape[1]):
                extent = [int(np.any(mask[k], axis=tuple(a for a in range(3) if a != d)).sum()) for d in range(3)]
                crystals.append({
                    "index": k,
                    "size_nm": [n * float(a) / 10.0 for n, a in zip(extent, traj.cell_A)],
                    "cycles": analysis.transitions(time_s, pressure_bar, per[:, k]),
                })
            out["crystals"] = crystals
    return jsonable(out)


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def _table(result: dict[str, Any]) -> str:
    lines = [f"{'cycle':>5}  {'branch':<10}  {'p_transition/bar':>16}  {'switched':>8}"]
    for row in result["cycles"]:
        lines.append(f"{row['index']:>5}  {row['branch']:<10}  {_fmt(row['transition_pressure_bar']):>16}  "
                     f"{_fmt(row['switched_fraction'], '.3f'):>8}")
    widths = ", ".join(_fmt(w) for w in result["hysteresis_width_bar"])
    lines.append(f"hysteresis width per cycle [bar]: {widths or '-'}")
    d = result.get("coherent_domain_size_nm")
    if d:
        lines.append(f"coherent domain edge [nm] (last frame): median {_fmt(d['median'])}, p10 {_fmt(d['p10'])}, "
                     f"p90 {_fmt(d['p90'])}")
    lines.append(f"defect density [1/nm3]: {_fmt(result.get('defect_density_per_nm3_initial'))} (first frame) -> "
                 f"{_fmt(result.get('defect_density_per_nm3'))} (last frame)")
    for n in result.get("nucleation", []):
        share = ", ".join(f"{k} {_fmt(v, '.2f')}" for k, v in n["share"].items())
        enr = ", ".join(f"{k} {_fmt(v, '.2f')}" for k, v in n["enrichment"].items())
        lines.append(f"nucleation cycle {n['index']} {n['branch']} (frame {n['onset_frame']}): share {share}; "
                     f"enrichment {enr}")
    for c in result.get("crystals", []):
        size = " x ".join(f"{s:.0f}" for s in c["size_nm"])
        pts = "; ".join(f"{r['index']} {r['branch'][:3]} {_fmt(r['transition_pressure_bar'])}" for r in c["cycles"])
        lines.append(f"crystal {c['index']} ({size} nm): {pts}")
    return "\n".join(lines)


def _handle(args: argparse.Namespace) -> int:
    result = analyze_trajectory(args.out)
    if args.json:
        print_json(result)
    else:
        print(_table(result))
    return 0
