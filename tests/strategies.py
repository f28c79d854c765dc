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
]

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=64)

#: tokens that a reader must refuse where a number is expected
bad_numbers = st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e400", "-1e999", "0x10", "1,5", "--1", "1e", "", "∞", "1.0.0"])

#: bytes that are not text or not a known format
junk_bytes = st.binary(min_size=0, max_size=512)


@st.composite
def ascending_axes(draw: st.DrawFn, min_size: int = 2, max_size: int = 50) -> list[float]:
    """A strictly ascending list of finite floats (an axis)."""
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(min_value=-100.0, max_value=100.0))
    steps = draw(st.lists(st.floats(min_value=1e-3, max_value=5.0), min_size=n - 1, max_size=n - 1))
    out = [start]
    for s in steps:
        out.append(out[-1] + s)
    return out


@st.composite
def column_files(draw: st.DrawFn, n_columns: int = 2) -> tuple[str, list[list[float]]]:
    """A whitespace/comma column text file and the numbers in it (axis first, ascending)."""
    x = draw(ascending_axes())
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
