"""Provenance: versions, seeds, engine settings and the SHA-256 of every input file."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import h5py
import matplotlib
import numpy as np

from reports.context import Markup, ReportContext, Section, esc, table
from reports.run_data import RunData
from twin import __version__
from twin.datasets import file_sha256

__all__ = ["provenance_section"]


def provenance_section(ctx: ReportContext) -> Section:
    """Versions, seed, host and the SHA-256 of every input file, so the report can be reproduced."""
    sec = Section("provenance", "Provenance")
    traj = ctx.run.trajectory
    if traj is not None:
        prov = {k: v for k, v in traj.provenance.items() if k != "scenario_toml"}
        heading = "Simulation"
    elif ctx.run.fit is not None:  # a fit-only directory: the fit's own provenance
        prov = dict(ctx.run.fit.extra.get("provenance", {}))
        heading = "Fit"
    else:  # simulated micrographs alone: the summary `twin tem image` wrote beside them
        summary = ctx.run.out_dir / "tem.json"
        prov = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
        heading = "Simulation (tem.json)"
    rows = [[key, Markup(f"<code>{esc(_canonical(prov[key]))}</code>")] for key in sorted(prov)]
    sec.blocks.append(f"<h3>{heading}</h3>" + table(["key", "value"], rows, cls="kv"))
    checksums = _input_checksums(ctx.run)
    rows = [[name, Markup(f"<code>{esc(digest)}</code>")] for name, digest in checksums.items()]
    sec.blocks.append("<h3>Files (SHA-256)</h3>" + table(["file", "sha256"], rows, cls="kv"))
    built = _build_info()
    sec.blocks.append("<h3>This report</h3>" + table(["key", "value"], [[k, v] for k, v in built.items()], cls="kv"))
    sec.summary = {"simulation": prov, "files_sha256": checksums, "report": built}
    return sec


def _canonical(value):
    """A provenance value as shown: JSON text re-serialised with sorted keys, anything else unchanged."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except json.JSONDecodeError:
            pass
    return value


def _input_checksums(run: RunData) -> dict[str, str]:
    """SHA-256 of the trajectory, every observable file, the fit result and the measurements it names."""
    files = ([run.trajectory.path] if run.trajectory is not None else []) + sorted((run.out_dir / "observables").glob("*.h5"))
    if run.fit is not None:
        files.append(run.fit.path)
    files += [f for f in (run.out_dir / "hrtem.h5",) if run.trajectory is None and f.is_file()]
    checksums = {str(f.relative_to(run.out_dir)): file_sha256(f) for f in files}
    if run.fit is not None:
        for m in run.fit.measurements:
            checksums[m["path"]] = m["sha256"] or file_sha256(Path(m["resolved"]))
    return checksums


def _build_info() -> dict[str, str]:
    """What built this report, and when."""
    return {
        "report_builder": f"operando-mof-twin {__version__}",
        "matplotlib": matplotlib.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "python": platform.python_version(),
        "built_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
