"""``twin inspect FILE``: what a reader recovered from a measured file, the way ``h5ls``/``gdalinfo`` show it.

Prints the detected format, the axis (name, unit, range), number of points or frames, the value and
uncertainty columns, conditions, wavelength and the other metadata. For a folder series, ``--pattern GLOB``
reads only the matching files (licence, readme and notes files are skipped by default). ``--json`` prints one JSON object
``{"format", "axis": {"name", "unit", "min", "max"}, "points", "metadata", ...}``. A broken file exits
with status 2 and one line naming the file and the line/byte position.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from twin.commands._common import print_json
from twin.errors import TwinError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show what the readers recover from a measured file (format, axis, points, conditions, metadata)",
        description=(
            "Read a measured file or folder (xy/xye/csv, XRDML, BRML, RASX, Bruker RAW, JCAMP-DX, Bruker NMR, "
            "TIFF/MRC/DM, AIF, HDF5/NeXus, a folder series) and show what was recovered."
        ),
    )
    parser.add_argument("path", help="the measured file or folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--format", default=None, help="force a format instead of detecting it")
    parser.add_argument("--axis", default=None, help="axis name for text columns without a header (two_theta, q, wavenumber, shift, ...)")
    parser.add_argument("--wavelength", type=float, default=None, metavar="ANGSTROM", help="wavelength for text columns that do not state it")
    parser.add_argument("--conditions", default=None, help="conditions log (CSV/TSV) for a folder series")
    parser.add_argument("--pattern", default=None, metavar="GLOB",
                        help="for a folder series: read only the files matching GLOB (e.g. '*.xy'; default: every "
                             "file that is not a licence, readme, notes, document or picture)")
    parser.set_defaults(handler=_handle)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats → None, long lists shortened."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        items = [_clean(v) for v in obj]
        return items if len(items) <= 50 else items[:50] + [f"... {len(items) - 50} more"]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _handle(args: argparse.Namespace) -> int:
    from instruments.io import detect_format, read_measurement

    options: dict[str, Any] = {}
    if args.wavelength is not None and not (math.isfinite(args.wavelength) and 0.0 < args.wavelength <= 100.0):
        raise TwinError(f"--wavelength: expected a wavelength in Å between 0 and 100, such as 1.5406, got "
                        f"{args.wavelength:g}")
    fmt = args.format or detect_format(args.path)
    if fmt in ("columns", "folder"):
        if args.axis:
            options["axis"] = args.axis
        if args.wavelength is not None:
            options["wavelength_ang"] = args.wavelength
    if fmt == "folder" and args.conditions:
        options["conditions"] = args.conditions
    if args.pattern is not None:
        if fmt != "folder":
            raise TwinError(f"--pattern selects files in a folder series; {args.path} is read as {fmt!r}")
        options["pattern"] = args.pattern
    result = read_measurement(args.path, format=args.format, **(options if not fmt.startswith("unsupported:") else {}))
    summary = _clean(result.summary())
    summary["detected"] = fmt
    if args.json:
        print_json(summary)
        return 0
    _print_text(summary)
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _print_text(s: dict[str, Any]) -> None:
    ax = s["axis"]
    lines = [
        f"{s.get('source')}",
        f"  format        {s['format']}  (detected as {s.get('detected')})",
        f"  technique     {s.get('technique') or '-'}",
        f"  axis          {ax['name']} [{ax['unit']}]  {_fmt(ax['min'])} .. {_fmt(ax['max'])}",
    ]
    if "frames" in s:
        lines.append(f"  frames        {s['frames']}  ({', '.join(map(str, s['labels'][:8]))}{' ...' if s['frames'] > 8 else ''})")
        lines.append(f"  points        {s['points']} in all; per frame {s['points_per_frame'][:8]}{' ...' if s['frames'] > 8 else ''}")
    else:
        lines.append(f"  points        {s['points']}" + (f"  (shape {s['shape']})" if len(s.get('shape', [])) > 1 else ""))
        if s.get("second_axis"):
            sa = s["second_axis"]
            lines.append(f"  second axis   {sa['name']} [{sa['unit']}]  {_fmt(sa['min'])} .. {_fmt(sa['max'])}")
    lines.append(f"  values        {s.get('quantity')} [{s.get('unit')}]")
    lines.append(f"  uncertainty   {s.get('uncertainty')}")
    lines.append(f"  wavelength    {_fmt(s['wavelength_ang']) + ' Å' if s.get('wavelength_ang') else '-'}")
    conds = s.get("conditions") or {}
    lines.append("  conditions    " + (", ".join(f"{k}={_fmt(v) if not isinstance(v, list) else str([_fmt(x) for x in v[:6]])}" for k, v in conds.items()) or "-"))
    meta = s.get("metadata") or {}
    if meta:
        lines.append("  metadata")
        for k, v in meta.items():
            text = _fmt(v) if not isinstance(v, list | dict) else str(v)
            lines.append(f"    {k:22s} {text[:100]}")
    print("\n".join(lines))
