"""Input limits and the checks behind them (docs/limits.md, "Input limits"): values after unit conversion, sizes
counted before anything is built, memory before the lattice is allocated, declared data sizes before reading,
file kinds before opening, one-line messages with control characters escaped, Ctrl-C.

The command-line refusals themselves are the table of tests/test_hostile_inputs.py; these tests pin the pieces
and their boundaries (the limit itself is accepted, one more is refused).
"""

from __future__ import annotations

import math
import os
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from instruments.io import read_measurement
from instruments.io import _base
from mofcore.errors import DataFormatError, ScenarioError, UnitError
from mofcore.units import parse_quantity, parse_range
from twin import cli
from twin._toml_schema import Table, load_toml
from twin.protocol import compile_protocol
from twin.scenario import (
    MAX_BREAKPOINTS,
    MAX_CYCLES,
    MAX_FRAMES,
    MAX_STEPS,
    Protocol,
    Segment,
    check_steps,
    n_breakpoints,
    parse_scenario,
)

BASE = """\
material = "mil53-al"
[crystal]
size_cells = 8
[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
[[protocol.segments]]
type = "hold"
duration = "10 s"
[numerics]
frame_interval = "5 s"
"""


# ------------------------------------------------------------------------------- units after conversion --
@pytest.mark.parametrize("text, dimension, match", [
    ("1e308 d", "time", r'got "1e308 d", which is not finite in s'),
    ("1e300 m", "length", r"which is not finite in Å"),
    ("1e400 s", "time", r"a number beyond the floating-point range"),
    ("1e307 GPa", "pressure", r"which is not finite in Pa"),
])
def test_parse_quantity_refuses_what_is_not_finite_after_conversion(text, dimension, match):
    with pytest.raises(UnitError, match=match):
        parse_quantity(text, dimension, where="k")


def test_parse_quantity_keeps_large_finite_values_and_nan_fractions_are_refused():
    assert parse_quantity("1e300 bar", "pressure") == pytest.approx(1e305)  # finite: the scenario's range refuses it
    with pytest.raises(UnitError, match="not a finite number"):
        parse_quantity(float("nan"), "fraction")
    with pytest.raises(UnitError, match="not finite in Pa"):
        parse_range("1..1e308 GPa", "pressure")


# ---------------------------------------------------------------------------------------------- TOML --
def test_deeply_nested_toml_is_a_scenario_error_not_a_recursion_error():
    with pytest.raises(ScenarioError, match=r"^x\.toml: not valid TOML \(arrays or inline tables nested too deeply"):
        load_toml("a = " + "[" * 5000 + "]" * 5000, "x.toml", ScenarioError)
    with pytest.raises(ScenarioError, match=r"^x\.toml: not valid TOML \(arrays or inline tables nested"):
        load_toml("a = " + "{b=" * 5000 + "1" + "}" * 5000, "x.toml", ScenarioError)
    assert load_toml("a = [[[1]]]", "x.toml", ScenarioError) == {"a": [[[1]]]}


def test_integer_maximum_names_the_range_and_why():
    t = Table({"n": 11}, "seg", "f.toml", ScenarioError)
    assert t.integer("n", minimum=1, maximum=11) == 11
    t = Table({"n": 12}, "seg", "f.toml", ScenarioError)
    with pytest.raises(ScenarioError, match=r"^f\.toml: seg\.n: expected an integer 1 ≤ n ≤ 11 \(because\), got 12$"):
        t.integer("n", minimum=1, maximum=11, why="because")


# ----------------------------------------------------------------------------------- scenario limits --
def test_cycle_count_limit_is_accepted_and_one_more_refused():
    cycles = ('[[protocol.segments]]\ntype = "cycles"\nlow = "0.1 bar"\nhigh = "1 bar"\nramp = "1 s"\n'
              'count = {count}\n[numerics]\nframe_interval = "1 h"\n')
    text = BASE.replace('[numerics]\nframe_interval = "5 s"\n', "")
    scenario = parse_scenario(text + cycles.format(count=MAX_CYCLES))
    assert n_breakpoints(scenario.protocol) == 1 + 2 + 2 * MAX_CYCLES
    with pytest.raises(ScenarioError, match=rf"count: expected an integer 1 ≤ n ≤ {MAX_CYCLES} "):
        parse_scenario(text + cycles.format(count=MAX_CYCLES + 1))


def test_frame_limit_is_accepted_and_one_more_refused():
    # 10 s at 10 µs: 10⁶ + 1 frames; at 10.00001 µs: 10⁶ frames
    with pytest.raises(ScenarioError, match=r"makes 1e\+06 frames, more than the limit of 1000000"):
        parse_scenario(BASE.replace('frame_interval = "5 s"', 'frame_interval = "10 us"'))
    ok = parse_scenario(BASE.replace('frame_interval = "5 s"', 'frame_interval = "10.00001 us"'))
    assert math.floor(10.0 / ok.numerics.frame_interval_s + 1e-9) + 1 == MAX_FRAMES


def test_check_steps_boundary_and_message():
    # 2 frames (1 interval) of 1 s: a dt of 1/MAX_STEPS s is the limit
    assert check_steps("f", "numerics.dt", 1.0 / MAX_STEPS, 1.0, 2, "a time step of") == MAX_STEPS
    with pytest.raises(ScenarioError, match=r"^f: numerics\.dt: a time step of .* more than the engine's step counter"):
        check_steps("f", "numerics.dt", 0.99 / MAX_STEPS, 1.0, 2, "a time step of")


def test_breakpoints_are_counted_exactly_for_every_segment_kind():
    from tests.twin.test_scenario import VALID

    for text in (VALID, BASE):
        protocol = parse_scenario(text).protocol
        assert n_breakpoints(protocol) == len(compile_protocol(protocol).time_s)


def test_compile_protocol_refuses_a_protocol_built_in_code_before_building_it():
    big = Segment("cycles", duration_s=2e8, low_Pa=1e4, high_Pa=1e5, count=10**8, ramp_s=1.0)
    protocol = Protocol((("CO2", 1.0),), 300.0, 1e4, 0.0, (big,))
    tracemalloc.start()
    with pytest.raises(ScenarioError, match=rf"200000001 breakpoints, more than the limit of {MAX_BREAKPOINTS}"):
        compile_protocol(protocol)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10_000_000


def test_branch_of_every_breakpoint_matches_the_loop_it_replaced():
    from tests.twin.test_scenario import VALID

    table = compile_protocol(parse_scenario(VALID).protocol)
    rising = np.sign(np.diff(table.pressure_Pa))
    expected, last = [0], 0
    for r in rising:
        last = int(r) if r != 0 else last
        expected.append(last)
    assert table.branch.tolist() == expected and table.branch.dtype == np.int8
    assert table.segment.dtype == np.int32 and table.cycle.dtype == np.int32


# ------------------------------------------------------------------------------------------- memory --
def test_crystal_site_shape_is_exact_in_python_integers():
    from twin.engine.run import crystal_site_shape

    scenario = parse_scenario(BASE)
    huge = replace(scenario.crystal, size_cells=(2**63 - 1,) * 3)  # past validation: no int64 wrap-around to 0
    shape = crystal_site_shape(huge, (6.6, 16.7, 12.8))
    assert shape == (2**63 - 1,) * 3 and math.prod(shape) == (2**63 - 1) ** 3


def test_memory_check_names_the_largest_crystal_that_fits():
    from twin.engine.run import MEMORY_FRACTION, _check_fits, _largest_cube

    scenario = parse_scenario(BASE)
    memory, per_site = 10**9, 85.0
    edge = _largest_cube(memory, per_site)
    assert edge**3 * per_site <= MEMORY_FRACTION * memory < (edge + 1) ** 3 * per_site
    _check_fits(scenario, (edge, edge, edge), per_site, memory, "test RAM", (6.6, 16.7, 12.8), measured=False)
    with pytest.raises(ScenarioError, match=rf"crystal: .* the largest cubic crystal that fits is {edge}³ sites"):
        _check_fits(scenario, (edge + 1, edge, edge + 1), per_site, memory, "test RAM", (6.6, 16.7, 12.8),
                    measured=False)


def test_dry_run_refuses_before_compiling_the_probe(monkeypatch):
    from twin.engine import run

    def no_probe(*args, **kwargs):
        raise AssertionError("the probe was built")

    monkeypatch.setattr(run, "Prepared", no_probe)
    scenario = parse_scenario(BASE.replace("size_cells = 8", "size_cells = 4000"), source="s.toml",
                              source_path="s.toml")
    with pytest.raises(ScenarioError, match=r"^s\.toml: crystal: 6\.4e\+10 sites \(4000 × 4000 × 4000\) need .* of "
                                            r"the 1 GB of memory given to the dry run; the largest cubic crystal"):
        run.dry_run(scenario, device_memory_bytes=10**9)


def test_run_refuses_before_allocating(tmp_path, monkeypatch):
    from twin.engine import run

    def no_geometry(*args, **kwargs):
        raise AssertionError("the lattice was built")

    monkeypatch.setattr(run, "build_geometry", no_geometry)
    scenario = parse_scenario(BASE.replace("size_cells = 8", "size_cells = 100000"), source="s.toml",
                              source_path="s.toml")
    with pytest.raises(ScenarioError, match=r"^s\.toml: crystal: 1e\+15 sites"):
        run.run_scenario(scenario, tmp_path / "out", show_progress=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_run_refuses_an_output_path_that_is_not_a_file(tmp_path):
    from twin.engine.run import run_scenario

    scenario = parse_scenario(BASE)
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "trajectory.h5.partial")
    with pytest.raises(ScenarioError, match=r"trajectory\.h5\.partial: expected a file the run can replace, got a "
                                            r"FIFO \(named pipe\)"):
        run_scenario(scenario, out, show_progress=False)


# -------------------------------------------------------------------------------------- file kinds --
def test_regular_file_problem_names_what_it_is(tmp_path):
    regular = tmp_path / "f.xy"
    regular.write_text("1 2\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    assert _base.regular_file_problem(regular) is None
    assert _base.regular_file_problem(tmp_path / "dir") == "a folder"
    assert _base.regular_file_problem(tmp_path / "missing") == "no such file"
    assert _base.regular_file_problem(tmp_path / "loop").startswith("a symbolic link loop")
    assert _base.regular_file_problem(tmp_path / "broken").startswith("a broken symbolic link")
    assert _base.regular_file_problem("/dev/null") == "a character device"
    assert _base.regular_file_problem("a\x00b") == "not a usable file name (it contains a NUL character)"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        assert _base.regular_file_problem(tmp_path / "fifo") == "a FIFO (named pipe)"


def test_parsed_formats_have_the_smaller_file_limit(tmp_path):
    path = tmp_path / "big.aif"
    with path.open("wb") as handle:
        handle.truncate(_base.MAX_PARSED_FILE_BYTES + 1)
    with pytest.raises(DataFormatError, match=r"big\.aif: file of 100 MB \(100000001 bytes\) is larger than the "
                                              r"100 MB limit"):
        read_measurement(path)


def test_binary_formats_are_not_read_whole_to_check_them(tmp_path, monkeypatch):
    """tiff/mrc/dm/hdf5 were read into memory (1 << 62 limit) only to see that they exist and are not empty."""
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"empty\.h5, byte 0: the file is empty"):
        read_measurement(path)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(DataFormatError, match=r"not a readable HDF5 file"):
        read_measurement(path)


def test_declared_size_limit_uses_available_memory_when_smaller(tmp_path, monkeypatch):
    monkeypatch.setattr(_base, "available_memory_bytes", lambda: 1_000_000)
    _base.check_declared_size(tmp_path / "x.h5", "dataset /a", 500_000, "a signal")
    with pytest.raises(DataFormatError, match=r"x\.h5, dataset /a: a signal needs 500 kB, limit 500 kB \(half of "
                                              r"the 1 MB of memory available now\); nothing was read"):
        _base.check_declared_size(tmp_path / "x.h5", "dataset /a", 500_001, "a signal")


def test_tiff_declared_size_is_checked_before_reading(tmp_path, monkeypatch):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "im.tif"
    tifffile.imwrite(path, np.zeros((64, 64), dtype=np.uint16), compression="zlib")
    monkeypatch.setattr(_base, "MAX_DECLARED_BYTES", 10_000)
    with pytest.raises(DataFormatError, match=r"im\.tif: a 64 × 64 image read as float64 needs 32\.8 kB, limit 10 kB"):
        read_measurement(path)


def test_hdf5_frames_share_one_array_and_keep_their_values(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "s.h5"
    data = np.arange(12.0).reshape(3, 4)
    with h5py.File(path, "w") as f:
        f["intensity"] = data
        f["two_theta"] = np.array([40.0, 30.0, 20.0, 10.0])  # descending: reversed as a view
    series = read_measurement(path)
    assert [m.values.tolist() for m in series] == [row[::-1].tolist() for row in data]
    assert series[0].axis.values.tolist() == [10.0, 20.0, 30.0, 40.0]


# ------------------------------------------------------------------------------------- text columns --
_TEXTS = [
    "# wavelength: 1.5406 A\n5.0 100\n5.02 121\n\n# a comment between rows\n5.04 0\n",
    "tth,I,sigma\n1,5,1\n2,6,2\n3,7,3\n",
    'x;y\n"1";"2"\n"2";"3"\n',
    "q\tI\n1\t0.5\n2\t0.25\n",
    "1.0D+00 2.5D+01\n2.0D+00 3.5D+01\n",  # Fortran exponents: NumPy stops, the checked reader reads them
    "3 30 3\r\n2 20 2\r\n1 10 1\r\n",
]


@pytest.mark.parametrize("text", _TEXTS)
def test_fast_and_checked_readers_agree(text, tmp_path, monkeypatch):
    """NumPy's reader and the line-by-line one give the same measurement (the latter is what a file NumPy stops on,
    or with text columns, gets)."""
    from instruments.io import columns

    path = tmp_path / "t.xye"
    path.write_text(text)
    fast = read_measurement(path)
    numpy_reader = columns._fast_table
    calls = []
    monkeypatch.setattr(columns, "_fast_table", lambda *args: calls.append(args) or None)
    checked = read_measurement(path)
    assert calls
    for a, b in ((fast.axis.values, checked.axis.values), (fast.values, checked.values),
                 (fast.uncertainties, checked.uncertainties)):
        assert (a is None and b is None) or np.array_equal(a, b)
    assert fast.source_line == checked.source_line and fast.metadata == checked.metadata
    if "D+" in text:
        assert numpy_reader(*calls[0]) is None  # NumPy does not read Fortran exponents
    else:
        assert numpy_reader(*calls[0]) is not None


@pytest.mark.parametrize("text, match", [
    ("1 2\n2 3\n3 nan\n", r"line 3: expected a number in column 2, got 'nan'"),
    ("1 2\n2 3\n3 1e999\n", r"line 3: a number in column 2 '1e999' is out of the floating-point range"),
    ("1 2\n\n# c\n2 3 4\n", r"line 4: expected 2 columns like line 1, got 3"),
    ("1 2\n# c\n\n3 4\n2 5\n", r"line 5: the two_theta axis \(column 1\) is not monotonic: 2 follows 3"),
    ("1 2\n\n2 -3\n", r"line 3: negative count -3 \(counts=True\)"),
])
def test_errors_after_the_fast_reader_name_the_line(text, match, tmp_path):
    path = tmp_path / "t.xy"
    path.write_text(text)
    options = {"counts": True} if "-3" in text else {}
    with pytest.raises(DataFormatError, match=match):
        read_measurement(path, **options)


def test_text_reader_peak_memory_is_a_few_times_the_file(tmp_path):
    """Before: a Python list of lines and cells, ~24-30× the file (3.2 GB of RSS for a 101 MB .xy). Now ~4×."""
    path = tmp_path / "big.xy"
    n = 200_000
    x = np.linspace(1.0, 179.0, n)
    y = np.random.default_rng(0).poisson(1000, n)
    with path.open("w") as handle:
        handle.write("# generated\n")
        np.savetxt(handle, np.column_stack([x, y]), fmt=["%.8f", "%d"])
    size = path.stat().st_size
    tracemalloc.start()
    m = read_measurement(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert m.values.size == n and m.axis.values[-1] == pytest.approx(179.0)
    assert peak < 6 * size, f"peak {peak / size:.1f}× the file size"


# ------------------------------------------------------------------------------------------ messages --
def test_one_line_escapes_controls_and_bidi_overrides():
    assert cli.one_line("a\u202eb\x00c\nd\te\u2028f\U000e0001g é中") == "a\\u202eb\\x00c\\nd\\te\\u2028f\\U000e0001g é中"


def test_report_html_shows_controls_as_escapes():
    from reports.context import esc

    assert esc("a\u202eb\x00<c>\n\td\u2066") == "a\\u202eb\\x00&lt;c&gt;\n\td\\u2066"


def test_in_process_interrupt_returns_130(monkeypatch, capsys):
    from twin.commands import materials

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(materials, "_handle", interrupted)
    monkeypatch.setattr(os, "_exit", lambda code: pytest.fail("os._exit in-process"))
    assert cli.main(["materials"]) == 130
    assert capsys.readouterr().err == "twin materials: interrupted\n"


def test_a_second_ctrl_c_leaves_at_once(monkeypatch, capsys):
    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    handler = cli._Interrupts("fit")
    with pytest.raises(KeyboardInterrupt):
        handler(2, None)
    with pytest.raises(SystemExit):
        handler(2, None)
    assert exits == [130] and capsys.readouterr().err == "twin fit: interrupted\n"


@pytest.mark.parametrize("argv, match", [
    (["--num-processes", "0"], r"--num-processes: expected an integer ≥ 1, got 0"),
    (["--num-processes", "2", "--process-id", "-1"], r"--process-id: expected an integer from 0 to 1, got -1"),
])
def test_distributed_arguments_are_checked_before_jax(argv, match, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(BASE)
    assert cli.main(["run", "--distributed", "--dry-run", *argv, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err)
