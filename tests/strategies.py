"""Hypothesis strategies shared by the suite: unit strings, numeric column files, and hostile inputs for parsers.

Parsers get two kinds of inputs from here: *well-formed* text built from drawn numbers (for round trips)
and *damaged* versions of real or generated files (truncated, bytes flipped, NaN/Inf or huge numbers
injected, lines swapped, wrong encodings, XML entity bombs) for the rule that a reader raises nothing but
:class:`twin.errors.DataFormatError` on bad input.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = [
    "finite_floats",
    "ascending_axes",
    "column_files",
    "damaged",
    "junk_bytes",
    "bad_numbers",
    "xml_bombs",
    "unit_strings",
    "conditions_logs",
    "isotherm_csvs",
    "jcamp_link_files",
    "bruker_param_texts",
]

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=64)

#: tokens that a reader must refuse where a number is expected
bad_numbers = st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e400", "-1e999", "0x10", "1,5", "--1", "1e", "", "∞", "1.0.0"])

#: bytes that are not text or not a known format
junk_bytes = st.binary(min_size=0, max_size=512)


@st.composite
def ascending_axes(draw: st.DrawFn, min_size: int = 2, max_size: int = 50, start_min: float = -100.0,
                   start_max: float = 100.0, max_step: float = 5.0) -> list[float]:
    """A strictly ascending list of finite floats (an axis) from [start_min, start_max] in steps up to ``max_step``."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(min_value=start_min, max_value=start_max))
    steps = draw(st.lists(st.floats(min_value=1e-3, max_value=max_step), min_size=n - 1, max_size=n - 1))
    out = [start]
    for s in steps:
        out.append(out[-1] + s)
    return out


@st.composite
def column_files(draw: st.DrawFn, n_columns: int = 2) -> tuple[str, list[list[float]]]:
    """A whitespace/comma column text file and the numbers in it (axis first, ascending, inside 2θ's (0, 180) deg:
    a header-less file is read on an assumed 2θ axis)."""
    x = draw(ascending_axes(start_min=0.5, start_max=20.0, max_step=3.0))
    cols = [x] + [draw(st.lists(st.floats(min_value=0.0, max_value=1e5, allow_nan=False), min_size=len(x), max_size=len(x)))
                  for _ in range(n_columns - 1)]
    sep = draw(st.sampled_from([" ", "\t", ",", "  "]))
    comment = draw(st.sampled_from(["", "# measured\n", "! header\n# wavelength 1.5406 A\n"]))
    lines = [sep.join(repr(c[i]) for c in cols) for i in range(len(x))]
    return comment + "\n".join(lines) + "\n", cols


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` damaged one way: truncated, bytes flipped, a bad number injected, lines swapped, re-encoded."""
    how = draw(st.sampled_from(["truncate", "flip", "inject", "swap", "utf16", "nul", "empty", "dup_line"]))
    data = bytearray(original)
    if how == "truncate" and data:
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    if how == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "inject":
        text = original.decode("latin-1")
        tokens = [i for i, ch in enumerate(text) if ch.isdigit()]
        if not tokens:
            return original + b"nan\n"
        i = draw(st.sampled_from(tokens))
        return original[:i] + draw(bad_numbers).encode("utf-8") + original[i + 1 :]
    if how == "swap":
        lines = original.split(b"\n")
        if len(lines) > 3:
            i = draw(st.integers(0, len(lines) - 2))
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if how == "utf16":
        return original.decode("latin-1").encode("utf-16-le")
    if how == "nul" and data:
        i = draw(st.integers(0, len(data)))
        return bytes(data[:i]) + b"\x00" + bytes(data[i:])
    if how == "dup_line":
        lines = original.split(b"\n")
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        return b"\n".join(lines[: i + 1] + lines[i:])
    return b""


def xml_bombs() -> st.SearchStrategy[bytes]:
    """XML documents that try entity expansion or external entities."""
    entities = [b' <!ENTITY lol0 "lol">']
    for i in range(1, 9):
        entities.append(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">'.encode())
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + b"\n".join(entities) + b"\n]>\n"
        b'<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.6">&lol8;</xrdMeasurements>\n'
    )
    external = (
        b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.6">&xxe;</xrdMeasurements>\n'
    )
    doctype_only = b'<?xml version="1.0"?>\n<!DOCTYPE xrdMeasurements SYSTEM "http://example.invalid/x.dtd">\n<xrdMeasurements/>\n'
    return st.sampled_from([laughs, external, doctype_only])


unit_strings = st.sampled_from(["5 bar", "303 K", "30 °C", "40 %", "1.5 kPa", "10 min", "2 nm", "0.5 MPa"])


@st.composite
def conditions_logs(draw: st.DrawFn) -> tuple[str, list[str], list[dict[str, float]]]:
    """A conditions log (CSV, TSV or blank-separated) naming frame files, and the conditions it states in
    internal units (temperature_K, pressure_Pa, relative_humidity, time_s) per row."""
    n = draw(st.integers(1, 8))
    sep = draw(st.sampled_from([",", "\t", ";", " "]))
    columns = draw(st.lists(st.sampled_from(["time_s", "temperature_C", "temperature_K", "pressure_kPa", "pressure_bar", "rh_pct"]),
                            min_size=1, max_size=4, unique_by=lambda c: c.split("_")[0]))
    files = [f"frame_{k}.xy" for k in range(n)]
    rows: list[dict[str, float]] = []
    lines = [sep.join(["file", *columns])]
    for name in files:
        cells, row = [name], {}
        for c in columns:
            if c == "time_s":
                v = draw(st.floats(0.0, 1e5))
                row["time_s"] = v
            elif c == "temperature_C":
                v = draw(st.floats(-200.0, 500.0))
                row["temperature_K"] = v + 273.15
            elif c == "temperature_K":
                v = draw(st.floats(1.0, 800.0))
                row["temperature_K"] = v
            elif c == "pressure_kPa":
                v = draw(st.floats(0.0, 1e4))
                row["pressure_Pa"] = v * 1e3
            elif c == "pressure_bar":
                v = draw(st.floats(0.0, 100.0))
                row["pressure_Pa"] = v * 1e5
            else:
                v = draw(st.floats(0.0, 100.0))
                row["relative_humidity"] = v / 100.0
            cells.append(repr(v))
        rows.append(row)
        lines.append(sep.join(cells))
    comment = draw(st.sampled_from(["", "# in situ run\n"]))
    return comment + "\n".join(lines) + "\n", files, rows


#: spellings of the two isotherm branches a CSV may use, with the label the reader must give
BRANCH_SPELLINGS = [("adsorption", "adsorption"), ("ads", "adsorption"), ("ADS", "adsorption"), ("Adsorption", "adsorption"),
                    ("desorption", "desorption"), ("des", "desorption"), ("DES", "desorption"), ("Desorption", "desorption")]


@st.composite
def isotherm_csvs(draw: st.DrawFn) -> tuple[str, dict[str, tuple[list[float], list[float]]]]:
    """A tidy isotherm CSV (branch, pressure_kPa, uptake_mmol_per_g) with branch labels in any accepted spelling,
    and per normalised branch the pressures [bar] and uptakes in file order."""
    n = draw(st.integers(1, 12))
    out: dict[str, tuple[list[float], list[float]]] = {}
    lines = ["branch,pressure_kPa,uptake_mmol_per_g"]
    for _ in range(n):
        spelled, label = draw(st.sampled_from(BRANCH_SPELLINGS))
        p_kpa = draw(st.floats(0.0, 1e4))
        uptake = draw(finite_floats)
        ps, us = out.setdefault(label, ([], []))
        ps.append(p_kpa * 1e3 / 1e5)
        us.append(uptake)
        lines.append(f"{spelled},{p_kpa!r},{uptake!r}")
    return "\n".join(lines) + "\n", out


@st.composite
def jcamp_link_files(draw: st.DrawFn) -> tuple[str, int, int | None, bool]:
    """A multi-block JCAMP-DX file: a link block holding n (XY..XY) blocks, declaring ``##BLOCKS=`` (maybe wrongly,
    maybe not at all), with or without its closing ``##END=``. Returns (text, n, declared, outer_end)."""
    n = draw(st.integers(1, 4))
    declared = draw(st.one_of(st.none(), st.just(n), st.integers(1, 99)))
    outer_end = draw(st.booleans())
    blocks = []
    for k in range(n):
        x = draw(ascending_axes(min_size=2, max_size=6, start_min=100.0, start_max=1000.0, max_step=50.0))
        y = draw(st.lists(st.floats(-1e3, 1e3), min_size=len(x), max_size=len(x)))
        pairs = "; ".join(f"{a!r},{b!r}" for a, b in zip(x, y, strict=True))
        blocks.append(f"##TITLE= b{k}\n##JCAMP-DX= 4.24\n##DATA TYPE= INFRARED SPECTRUM\n##XUNITS= 1/CM\n"
                      f"##PEAK TABLE= (XY..XY)\n{pairs}\n##END=\n")
    head = "##TITLE= link\n##JCAMP-DX= 5.01\n" + (f"##BLOCKS= {declared}\n" if declared is not None else "")
    return head + "".join(blocks) + ("##END=\n" if outer_end else ""), n, declared, outer_end


def bruker_param_texts(values: dict[str, object]) -> st.SearchStrategy[bytes]:
    """Bruker JCAMP-style parameter text (``acqus``/``procs``: ``##$KEY= value`` lines) built from ``values``,
    then damaged one way (see :func:`damaged`)."""
    text = "##TITLE= Parameter file, TOPSPIN\n##JCAMP-DX= 5.0\n" + "".join(f"##${k}= {v}\n" for k, v in values.items()) + "##END=\n"
    return damaged(text.encode("ascii"))
