"""``twin inspect FILE``: what a reader recovered from a measured file, the way ``h5ls``/``gdalinfo`` show it.

Prints the detected format, the axis (name, unit, range), number of points or frames, the value and
uncertainty columns with the range of the values, conditions, wavelength and the other metadata. For a folder
series, ``--pattern GLOB`` reads only the matching files (licence, readme and notes files are skipped by default).
``--json`` prints one JSON object ``{"format", "axis": {"name", "unit", "min", "max"}, "values": {"min", "max"},
"points", "metadata", ...}``. The twin's own observables files (``OUT/observables/xrd.h5``) are read too.

``--axis``/``--axis-unit`` state the axis of a text column file (or a folder of them) over what its header says
or what the reader would assume (``--axis q --axis-unit 1/nm``: the values are converted to Å⁻¹). Whenever the
reader assumed an axis or a unit, or warns about the data (negative counts), one line says so on stderr.

``--plot PNG`` draws what was read (Agg backend, axes labelled with their units); ``-o CSV`` writes it as text
columns (axis, values, uncertainties; a header with units that the column reader reads back). An existing
``--plot`` or ``-o`` file is refused unless ``--overwrite`` is given; both are written atomically.

A broken file exits with status 2 and one line naming the file and the line/byte position.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from twin.commands._common import print_json, print_read_notices
from twin.errors import TwinError

#: what the hint of a notice tells an inspect user
_HINT = "give --axis and --axis-unit to state it"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show what the readers recover from a measured file (format, axis, points, conditions, metadata)",
        description=(
            "Read a measured file or folder (xy/xye/csv, XRDML, BRML, RASX, Bruker RAW, JCAMP-DX, Bruker NMR, "
            "TIFF/MRC/DM, AIF, HDF5/NeXus, a folder series, the twin's own OUT/observables/*.h5) and show what was "
            "recovered; optionally plot it (--plot) or export it as CSV (-o). What the reader assumed (an axis, a "
            "unit) or warns about is said on stderr."
        ),
    )
    parser.add_argument("path", help="the measured file or folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--format", default=None, help="force a format instead of detecting it")
    parser.add_argument("--axis", default=None, metavar="AXIS",
                        help="the axis of a text column file (or folder of them), over what its header says or what "
                             "would be assumed: two_theta (2theta, tth), theta, q, d, r, wavenumber (Raman shift), "
                             "shift (ppm), frequency, energy; also pressure, time, index")
    parser.add_argument("--axis-unit", default=None, metavar="UNIT",
                        help="the unit of that axis in the file; values are converted to the internal unit (Q in 1/Å, "
                             "d in Å, frequency in kHz): deg, rad, 1/A (A^-1, inv_A), 1/nm (nm^-1, inv_nm), A, nm, pm, "
                             "cm-1, ppm, Hz, kHz, MHz, eV, meV, keV")
    parser.add_argument("--wavelength", type=float, default=None, metavar="ANGSTROM", help="wavelength for text columns that do not state it")
    parser.add_argument("--conditions", default=None, help="conditions log (CSV/TSV) for a folder series")
    parser.add_argument("--pattern", default=None, metavar="GLOB",
                        help="for a folder series: read only the files matching GLOB (e.g. '*.xy'; default: every "
                             "file that is not a licence, readme, notes, document or picture)")
    parser.add_argument("--plot", default=None, metavar="PNG", help="draw what was read into this PNG file")
    parser.add_argument("-o", "--output", default=None, metavar="CSV",
                        help="write what was read as CSV: the axis, the values and their uncertainties, with units "
                             "in the header (a series: one value column per frame when the frames share one axis, "
                             "else one row per point with a frame column)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --plot or -o file; without it such a file is refused (exit 2)")
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


def _output(path: str | None, option: str, example: str, overwrite: bool) -> Path | None:
    """An output file checked before anything is read: writable, and not an existing file unless --overwrite."""
    if path is None:
        return None
    from mofcore.outputs import OutputError, check_output_file

    out = check_output_file(path, option=option, example=example)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists; give --overwrite to replace it, or another {option}")
    return out


def _handle(args: argparse.Namespace) -> int:
    from instruments.io import detect_format, read_measurement
    from instruments.io.columns import check_axis_options

    options: dict[str, Any] = {}
    if args.wavelength is not None and not (math.isfinite(args.wavelength) and 0.0 < args.wavelength <= 100.0):
        raise TwinError(f"--wavelength: expected a wavelength in Å between 0 and 100, such as 1.5406, got "
                        f"{args.wavelength:g}")
    check_axis_options(args.axis, args.axis_unit, options=("--axis ", "--axis-unit "))
    plot = _output(args.plot, "--plot", "pattern.png", args.overwrite)
    table = _output(args.output, "-o", "pattern.csv", args.overwrite)
    if plot is not None and table is not None and plot.resolve() == table.resolve():
        raise TwinError(f"--plot and -o name the same file {plot}; give two files")
    fmt = args.format or detect_format(args.path)
    if fmt in ("columns", "folder"):
        if args.axis:
            options["axis"] = args.axis
        if args.axis_unit:
            options["axis_unit"] = args.axis_unit
        if args.wavelength is not None:
            options["wavelength_ang"] = args.wavelength
    elif args.axis or args.axis_unit:
        given = "--axis" if args.axis else "--axis-unit"
        raise TwinError(f"{given}: states the axis of a text column file (or a folder of them); {args.path} is read "
                        f"as {fmt!r}, whose axis and unit the file states")
    if fmt == "folder" and args.conditions:
        options["conditions"] = args.conditions
    if args.pattern is not None:
        if fmt != "folder":
            raise TwinError(f"--pattern selects files in a folder series; {args.path} is read as {fmt!r}")
        options["pattern"] = args.pattern
    result = read_measurement(args.path, format=args.format, **(options if not fmt.startswith("unsupported:") else {}))
    print_read_notices("inspect", result, _HINT)
    summary = _clean(result.summary())
    summary["detected"] = fmt
    summary["values"] = _value_range(result)
    written = []
    if table is not None:
        written.append(str(_write_csv(table, result)))
    if plot is not None:
        written.append(str(_write_png(plot, result)))
    if args.json:
        if written:
            summary["written"] = written
        print_json(summary)
        return 0
    _print_text(summary)
    for path in written:
        print(f"wrote {path}")
    return 0


def _items(result: Any) -> list[Any]:
    return list(getattr(result, "items", None) or [result])


def _value_range(result: Any) -> dict[str, float | int | None]:
    """min and max of the finite values over every frame, and how many values are negative."""
    lo, hi, negative = math.inf, -math.inf, 0
    for m in _items(result):
        v = np.asarray(m.values, dtype=np.float64)
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
            negative += int(np.count_nonzero(finite < 0))
    if lo > hi:
        return {"min": None, "max": None, "negative": 0}
    return {"min": lo, "max": hi, "negative": negative}


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
    rng = s.get("values") or {}
    span = f"  {_fmt(rng['min'])} .. {_fmt(rng['max'])}" if rng.get("min") is not None else ""
    negative = f"  ({rng['negative']} negative)" if rng.get("negative") else ""
    lines.append(f"  values        {s.get('quantity')} [{s.get('unit')}]{span}{negative}")
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


# ----------------------------------------------------------------------------------------------- exports --
def _one_d(result: Any, what: str) -> list[Any]:
    items = _items(result)
    if any(getattr(m, "is_image", False) for m in items):
        raise TwinError(f"{result.source}: holds images; {what} takes 1-D data (an axis and values)")
    return items


def _column(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit and unit != "1" else name


def _write_csv(path: Path, result: Any) -> Path:
    """The data as CSV: comment lines (source, format, wavelength, per-frame conditions), one header row with units,
    then the rows. Frames on one grid share the axis column; frames on different grids are written one row per
    point with a ``frame`` column."""
    from mofcore.atomic import atomic_path

    items = _one_d(result, "-o CSV")
    first = items[0]
    buf = io.StringIO()
    buf.write(f"# source: {first.source if len(items) == 1 else result.source}\n")
    buf.write(f"# format: {getattr(result, 'format', first.format)}; technique: {first.technique or '-'}\n")
    if first.wavelength_ang:
        buf.write(f"# wavelength: {first.wavelength_ang:.7g} A\n")
    labels = [str(x) for x in getattr(result, "labels", ())] or [""]
    if len(items) > 1:
        for label, m in zip(labels, items, strict=True):
            conds = ", ".join(f"{k}={v:.8g}" for k, v in m.conditions.items() if isinstance(v, int | float))
            if conds:
                buf.write(f"# frame {label}: {conds}\n")
    writer = csv.writer(buf, lineterminator="\n")
    axis_col = _column(first.axis.name, first.axis.unit)
    value_unit = first.unit or ""
    grid = np.asarray(first.axis.values, dtype=np.float64)
    same_grid = all(np.shape(m.axis.values) == grid.shape and np.array_equal(np.asarray(m.axis.values), grid)
                    for m in items)
    with_sigma = all(m.uncertainties is not None for m in items)
    num = lambda v: f"{float(v):.10g}"  # noqa: E731
    if same_grid:
        if len(items) == 1:
            header = [axis_col, _column(first.quantity, value_unit)] + (
                [_column("sigma", value_unit)] if with_sigma else [])
        else:
            header = [axis_col] + [_column(f"{first.quantity} {label}", value_unit) for label in labels]
            header += [_column(f"sigma {label}", value_unit) for label in labels] if with_sigma else []
        writer.writerow(header)
        columns = [grid] + [np.asarray(m.values, dtype=np.float64) for m in items]
        columns += [np.asarray(m.uncertainties, dtype=np.float64) for m in items] if with_sigma else []
        for row in zip(*columns, strict=True):
            writer.writerow([num(v) for v in row])
    else:
        writer.writerow(["frame", axis_col, _column(first.quantity, value_unit)]
                        + ([_column("sigma", value_unit)] if with_sigma else []))
        for label, m in zip(labels, items, strict=True):
            sig = np.asarray(m.uncertainties, dtype=np.float64) if with_sigma else None
            for k, (x, y) in enumerate(zip(np.asarray(m.axis.values), np.asarray(m.values), strict=True)):
                writer.writerow([label, num(x), num(y)] + ([num(sig[k])] if sig is not None else []))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _write_png(path: Path, result: Any) -> Path:
    """A figure of what was read: each frame a line (at most 40 drawn), or the first image; axes with units."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from instruments.observable import AXIS_DECREASING
    from mofcore.atomic import atomic_path

    items = _items(result)
    first = items[0]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    title = Path(str(getattr(result, "source", "") or first.source)).name
    if getattr(first, "is_image", False):
        image = np.asarray(first.values, dtype=np.float64)
        while image.ndim > 2:  # a stack: its first image
            image = image[0]
        img = ax.imshow(image, cmap="gray", origin="upper")
        ax.set_xlabel(first.axis.label)
        ax.set_ylabel(first.second_axis.label)
        fig.colorbar(img, ax=ax, label=_column(first.quantity, first.unit))
    else:
        labels = [str(x) for x in getattr(result, "labels", ())] or [first.quantity]
        shown = list(range(len(items)))
        if len(shown) > 40:
            shown = sorted(set(np.linspace(0, len(items) - 1, 40).round().astype(int).tolist()))
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(shown))) if len(shown) > 1 else ["k"]
        for color, k in zip(colors, shown, strict=True):
            m = items[k]
            ax.plot(np.asarray(m.axis.values), np.asarray(m.values), lw=0.8, color=color, label=labels[k])
        ax.set_xlabel(first.axis.label)
        ax.set_ylabel(_column(first.quantity, first.unit))
        if first.axis.name in AXIS_DECREASING:
            ax.invert_xaxis()
        if 1 < len(shown) <= 10:
            ax.legend(fontsize=7, title="frame", title_fontsize=7)
        elif len(shown) > 10:
            title += f" ({len(items)} frames{', ' + str(len(shown)) + ' drawn' if len(shown) < len(items) else ''}; "
            title += f"first {labels[0]}, last {labels[-1]})"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
