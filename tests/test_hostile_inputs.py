"""Hostile inputs: every one is refused with exit status 2 and one line on stderr, before anything large is built.

One table, run in-process through ``twin.cli.main([...])``: each row writes its input into ``tmp_path`` and
gives the command line, and the line stderr must match. None of these may take memory, time or a traceback:
the refusals come at validation, from declared sizes, from ``stat`` (a FIFO would block a reader forever) or
from the memory check before the lattice is allocated. The limits are documented in docs/limits.md ("Input
limits"). Ctrl-C is the one case that needs a child process: what is checked is the exit status at interpreter
exit (130, where it was a segmentation fault, 139).
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from instruments.io._base import MAX_FILE_BYTES
from twin import cli
from twin.scenario import MAX_SCENARIO_BYTES
STRUCTURES = Path(__file__).resolve().parents[1] / "datasets" / "structures"

SCENARIO = """\
name = "hostile"
material = "mil53-al"

[crystal]
size_cells = 8
periodic = true

[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "0.2 bar"

[[protocol.segments]]
type = "hold"
duration = "10 s"

[numerics]
frame_interval = "5 s"
"""

CYCLES = """
[[protocol.segments]]
type = "cycles"
low = "0.1 bar"
high = "1 bar"
count = 1000000000
ramp = "1 s"
"""

_XRDML = """<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">
 <xrdMeasurement measurementType="Scan" sampleMode="Reflection">
  <usedWavelength intended="K-Alpha 1"><kAlpha1 unit="Angstrom">1.5405980</kAlpha1></usedWavelength>
  <scan scanAxis="Gonio" mode="Continuous"><dataPoints>
   <positions axis="2Theta" unit="deg"><startPosition>10</startPosition><endPosition>11</endPosition></positions>
   <commonCountingTime unit="seconds">2.0</commonCountingTime>
   <intensities unit="counts">50 -5 0</intensities>
  </dataPoints></scan>
 </xrdMeasurement>
</xrdMeasurements>
"""

_AIF_RAGGED = """data_ragged
_units_pressure bar
_units_loading mmol/g
loop_
_adsorp_pressure
_adsorp_p0
_adsorp_amount
0.1 1 0.5
0.2 1 0.7
0.3 1
0.4 1 0.9
0.5 1 1.0
"""


def _scenario(tmp: Path, old: str | None = None, new: str = "", extra: str = "", name: str = "s.toml") -> Path:
    text = SCENARIO
    if old is not None:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp / name
    path.write_text(text + extra, encoding="utf-8")
    return path


def _dry(old: str | None = None, new: str = "", extra: str = "") -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", "--dry-run", str(_scenario(tmp, old, new, extra))]


def _run(old: str | None = None, new: str = "", extra: str = "") -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", "--quiet", str(_scenario(tmp, old, new, extra)), "-o", str(tmp / "out")]


def _file(name: str, content: str | bytes, *argv: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return [a.replace("PATH", str(path)) for a in argv]

    return setup


def _sparse(name: str, size: int, *argv: str) -> Callable[[Path], list[str]]:
    """A file of ``size`` bytes that takes no disk space (a hole): only its size is looked at."""

    def setup(tmp: Path) -> list[str]:
        path = tmp / name
        with path.open("wb") as handle:
            handle.truncate(size)
        return [a.replace("PATH", str(path)) for a in argv]

    return setup


def _fifo(name: str, *argv: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(tmp / name)
        return [a.replace("PATH", str(tmp / name)) for a in argv]

    return setup


def _loop(*argv: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / "a.toml").symlink_to(tmp / "b.toml")
        (tmp / "b.toml").symlink_to(tmp / "a.toml")
        return [a.replace("PATH", str(tmp / "a.toml")) for a in argv]

    return setup


def _folder(*argv: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / "d.toml").mkdir()
        return [a.replace("PATH", str(tmp / "d.toml")) for a in argv]

    return setup


def _huge_hdf5(tmp: Path) -> list[str]:
    """0.8 MB on disk, 4000 × 100000 float64 (3.2 GB) declared: the chunks were never written."""
    import h5py
    import numpy as np

    path = tmp / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("intensity", shape=(4000, 100000), dtype="f8", chunks=(100, 1000), compression="gzip")
        f.create_dataset("two_theta", data=np.linspace(1.0, 100.0, 100000))
    assert path.stat().st_size < 2_000_000
    return ["inspect", str(path)]


def _trajectory_folder(tmp: Path) -> list[str]:
    (tmp / "out" / "trajectory.h5").mkdir(parents=True)
    return ["run", "--quiet", "--overwrite", str(_scenario(tmp)), "-o", str(tmp / "out")]


def _no_cluster(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for key in list(os.environ):
        if key.startswith(("SLURM_", "OMPI_", "PMIX_", "KUBERNETES_", "TPU_", "MEGASCALE_", "JAX_COORDINATOR")):
            monkeypatch.delenv(key)
    return ["run", "--distributed", "--dry-run", str(_scenario(tmp))]


def _deep(tmp: Path) -> list[str]:
    path = tmp / "deep.toml"
    path.write_text(SCENARIO + "junk = " + "[" * 2000 + "]" * 2000 + "\n", encoding="utf-8")
    return ["run", "--dry-run", str(path)]


def _rtl_file(tmp: Path) -> list[str]:
    path = tmp / "evil\u202egnp.xy"  # shows as "evilpng.xy" reversed if printed raw
    path.write_text("two_theta intensity\n", encoding="utf-8")
    return ["inspect", str(path)]


HOSTILE = [
    # (id, setup(tmp_path) -> argv, exit status, regex the one line of stderr must match)
    # -- resources: refused from sizes, before reading or building -----------------------------------------
    ("text-file-over-limit", _sparse("big.xy", MAX_FILE_BYTES + 1, "inspect", "PATH"), 2,
     r"big\.xy: file of 1 GB \(1000000001 bytes\) is larger than the 1 GB limit"),
    ("scenario-over-limit", _sparse("big.toml", MAX_SCENARIO_BYTES + 1, "run", "--dry-run", "PATH"), 2,
     r"big\.toml: a file of 10 MB is larger than the 10 MB limit for a scenario file"),
    ("hdf5-declares-3.2-GB", _huge_hdf5, 2,
     r"huge\.h5, dataset /intensity: a 4000 × 100000 signal read as float64 needs 3\.2 GB, limit [\d.]+ [GM]B \("),
    ("cycles-count-1e9", _dry("type = \"hold\"\nduration = \"10 s\"\n", "type = \"hold\"\nduration = \"1 s\"\n",
                              CYCLES), 2,
     r"s\.toml: protocol\.segments\[1\]\.count: expected an integer 1 ≤ n ≤ 100000 .*got 1000000000"),
    ("frames-6e10", _dry('duration = "10 s"\n\n[numerics]\nframe_interval = "5 s"',
                         'duration = "60 s"\n\n[numerics]\nframe_interval = "1 ns"'), 2,
     r"s\.toml: numerics\.frame_interval: 1 ns over a protocol of 1 min makes 6e\+10 frames, more than the limit "
     r"of 1000000; a frame_interval of at least 61 us"),
    ("frames-2e14", _dry('duration = "10 s"', 'duration = "1e15 s"'), 2,
     r"s\.toml: numerics\.frame_interval: 5 s over a protocol of 1e\+15 s makes 2e\+14 frames"),
    ("dt-1e-30-dry-run", _dry('frame_interval = "5 s"', 'frame_interval = "5 s"\ndt = "1e-30 s"'), 2,
     r"s\.toml: numerics\.dt: a time step of 1e-30 s makes 5e\+30 steps per frame interval .* more than the "
     r"engine's step counter holds \(2147483647 = 2\^31 - 1 steps\)"),
    ("dt-1e-30-run", _run('frame_interval = "5 s"', 'frame_interval = "5 s"\ndt = "1e-30 s"'), 2,
     r"s\.toml: numerics\.dt: a time step of 1e-30 s"),
    ("size-cells-2^63", _dry("size_cells = 8", "size_cells = 9223372036854775807"), 2,
     r"s\.toml: crystal\.size_cells: expected at most 10000000 cells per edge .*got 9223372036854775807"),
    ("crystal-too-big-dry-run", _dry("size_cells = 8\nperiodic = true", 'size = "1 mm"'), 2,
     r"s\.toml: crystal: [\d.e+]+ sites \(\d+ × \d+ × \d+\) need [\d.e+]+ TB at 86 B/site .*more than 90% of the "
     r".*; the largest cubic crystal that fits is \d+³ sites \([\d., ]+ µm along a, b, c\)"),
    ("crystal-too-big-run", _run("size_cells = 8\nperiodic = true", 'size = "1 mm"'), 2,
     r"s\.toml: crystal: .* the largest cubic crystal that fits is \d+³ sites"),
    ("size-cells-100000-cubed", _dry("size_cells = 8", "size_cells = 100000"), 2,
     r"s\.toml: crystal: 1e\+15 sites \(100000 × 100000 × 100000\) need"),
    ("isotherm-points", lambda tmp: ["isotherm", "--material", "mil53-al", "--guest", "CO2", "--temperature",
                                     "303 K", "--points", "100000000"], 2,
     r"--points: expected an integer from 2 to 100000 \(the limit of pressure points\), got 100000000"),
    ("phase-diagram-points", lambda tmp: ["phase-diagram", "--material", "mil53-al", "--guest", "CO2",
                                          "--points", "100000", "--temperatures", "100000"], 2,
     r"--points: expected an integer from 2 to 10000 \(the limit of the \(T, p\) grid\), got 100000"),
    ("phase-diagram-temperatures", lambda tmp: ["phase-diagram", "--material", "mil53-al", "--guest", "CO2",
                                                "--temperatures", "100000"], 2,
     r"--temperatures: expected an integer from 2 to 1000 .*got 100000"),
    ("phase-diagram-1e300-bar", lambda tmp: ["phase-diagram", "--material", "mil53-al", "--guest", "CH4",
                                             "--temperature", "250..300 K", "--pressure", "0.01..1e300 bar"], 2,
     r"--pressure: expected a pressure range within 1e-09\.\.1000 bar"),
    # -- values checked after unit conversion --------------------------------------------------------------
    ("pressure-1e300-bar", _dry('pressure = "0.2 bar"', 'pressure = "1e300 bar"'), 2,
     r"s\.toml: protocol\.pressure: expected a non-negative pressure up to 1000 bar such as \"5 bar\", "
     r"got '1e300 bar'"),
    ("duration-1e308-d", _dry('duration = "10 s"', 'duration = "1e308 d"'), 2,
     r"s\.toml: protocol\.segments\[0\]\.duration: expected a time such as \"10 min\", got \"1e308 d\", which is "
     r"not finite in s"),
    ("duration-1e400-s", _dry('duration = "10 s"', 'duration = "1e400 s"'), 2,
     r"got \"1e400 s\", a number beyond the floating-point range"),
    ("block-2^63", _dry("periodic = true", "periodic = true\nblock = 9223372036854775807"), 2,
     r"s\.toml: crystal\.block: expected an integer 1 ≤ n ≤ 1000 .*got 9223372036854775807"),
    ("distribution-width-400", _dry("size_cells = 8\nperiodic = true",
                                    'distribution = { median = "40 nm", width = 400.0 }'), 2,
     r"s\.toml: crystal\.distribution\.width: expected a positive width σ of ln\(size\) up to 3, such as 0\.4, "
     r"got 400\.0"),
    ("distribution-width-400-run", _run("size_cells = 8\nperiodic = true",
                                        'distribution = { median = "40 nm", width = 400.0 }'), 2,
     r"s\.toml: crystal\.distribution\.width: expected a positive width"),
    # -- parser and command line ---------------------------------------------------------------------------
    ("toml-nested-2000-deep", _deep, 2,
     r"deep\.toml: not valid TOML \(arrays or inline tables nested too deeply for the parser"),
    ("distributed-without-coordinator", _no_cluster, 2,
     r"--distributed: no cluster environment detected .*--coordinator HOST:PORT, --num-processes N, "
     r"--process-id I must be given"),
    ("distributed-process-id", lambda tmp: ["run", "--distributed", "--coordinator", "localhost:1234",
                                            "--num-processes", "2", "--process-id", "5", "--dry-run",
                                            str(_scenario(tmp))], 2,
     r"--process-id: expected an integer from 0 to 1, got 5"),
    ("trajectory-is-a-folder", _trajectory_folder, 2,
     r"out/trajectory\.h5: expected a file the run can replace, got a folder; remove or rename it"),
    # -- what is not a regular file ------------------------------------------------------------------------
    ("scenario-fifo", _fifo("f.toml", "run", "--dry-run", "PATH"), 2,
     r"f\.toml: expected a scenario file \(TOML\), got a FIFO \(named pipe\)$"),
    ("measured-fifo", _fifo("f.xy", "inspect", "PATH"), 2,
     r"f\.xy: expected a measurement file or folder, got a FIFO \(named pipe\)$"),
    ("scenario-device", lambda tmp: ["run", "--dry-run", "/dev/zero"], 2,
     r"/dev/zero: expected a scenario file \(TOML\), got a character device$"),
    ("measured-device", lambda tmp: ["inspect", "/dev/zero"], 2,
     r"/dev/zero: expected a measurement file or folder, got a character device$"),
    ("scenario-folder", _folder("run", "--dry-run", "PATH"), 2,
     r"d\.toml: expected a scenario file \(TOML\), got a folder$"),
    ("scenario-symlink-loop", _loop("run", "--dry-run", "PATH"), 2,
     r"a\.toml: expected a scenario file \(TOML\), got a symbolic link loop"),
    ("measured-symlink-loop", _loop("inspect", "PATH"), 2,
     r"a\.toml: expected a measurement file or folder, got a symbolic link loop"),
    ("fit-file-fifo", _fifo("f.toml", "fit", "PATH", "-o", "out"), 2,
     r"f\.toml: expected a fit file \(TOML\), got a FIFO \(named pipe\)$"),
    ("fit-file-nested-too-deeply", _file("deep.toml", "[fit]\nx = " + "[" * 2000 + "]" * 2000 + "\n", "fit",
                                         "PATH", "-o", "out"), 2,
     r"deep\.toml: not valid TOML \(arrays or inline tables nested too deeply for the parser"),
    ("material-file-fifo", _fifo("m.toml", "isotherm", "--material", "PATH", "--guest", "CO2", "--temperature",
                                 "300 K", "-o", "iso.csv"), 2,
     r"m\.toml: expected a material file \(TOML\), got a FIFO \(named pipe\)$"),
    ("instrument-file-fifo", _fifo("i.toml", "xrd", str(STRUCTURES / "mil53al_lp.cif"), "--instrument",
                                   "PATH", "-o", "p.csv"), 2,
     r"i\.toml: expected an instrument file \(TOML\), got a FIFO \(named pipe\)$"),
    ("isotherm-pressure-1e300-bar", lambda tmp: ["isotherm", "--material", "mil53-al", "--guest", "CO2",
                                                 "--temperature", "310 K", "--pressure", "0.01..1e300 bar", "-o",
                                                 "iso.csv"], 2,
     r"--pressure: expected a pressure range within 1e-09\.\.1000 bar"),
    # -- messages ------------------------------------------------------------------------------------------
    ("negative-count-is-a-number", _file("n.xrdml", _XRDML, "inspect", "PATH"), 2,
     r"n\.xrdml, <xrdMeasurement> 1, <scan> 1, point 2: negative count -5$"),
    ("aif-ragged-row-line", _file("r.aif", _AIF_RAGGED, "inspect", "PATH"), 2,
     r"r\.aif, line 10: loop_ of 3 items holds 14 values \(not a multiple\): this row has 2 values"),
    ("unknown-material-prefix", _dry('material = "mil53-al"', 'material = "mil53_al"'), 2,
     r"s\.toml: material: unknown material 'mil53_al'; known materials: .*mil53-al"),
    ("unknown-gas-prefix", _dry("CO2 = 1.0", "XE = 1.0"), 2,
     r"s\.toml: protocol\.gases\.XE: 'XE' has no adsorption parameters in material 'mil53-al' "
     r"\(did you mean 'Xe'\?\)"),
    ("rtl-override-in-toml-string", _dry("name = \"hostile\"\n", "name = \"hostile\"\nseed = \"\\u202egnp\"\n"),
     2, r"s\.toml: seed: expected an integer, got \"\\u202egnp\"$"),
    ("nul-in-toml-string", _dry("name = \"hostile\"\n", "name = \"hostile\"\nseed = \"a\\u0000b\"\n"), 2,
     r"s\.toml: seed: expected an integer, got \"a\\x00b\"$"),
    ("rtl-override-in-file-name", _rtl_file, 2, r"evil\\u202egnp\.xy, line 1: no data rows"),
    ("inspect-wavelength-nan", _file("w.xy", "10 1\n20 2\n", "inspect", "PATH", "--wavelength", "nan"), 2,
     r"--wavelength: expected a wavelength in Å between 0 and 100, such as 1\.5406, got nan"),
]


@pytest.mark.parametrize("setup, status, message", [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE])
def test_hostile_input_is_refused_in_one_line(setup, status, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = setup(tmp_path, monkeypatch) if len(inspect.signature(setup).parameters) == 2 else setup(tmp_path)
    code = cli.main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert code == status, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err  # one line
    line = err.rstrip("\n")
    assert line.startswith(f"twin {argv[0]}: error: "), line
    assert re.search(message, line), line
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", err), "raw control character"
    assert not (tmp_path / "out" / "trajectory.h5.partial").exists()  # refused before anything was written


def test_table_ids_are_unique():
    ids = [row[0] for row in HOSTILE]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------------ Ctrl-C --
_INTERRUPTED_COMPILATION = textwrap.dedent(
    """
    import os, signal, sys, threading
    import jax, jax.numpy as jnp
    import twin.commands.materials as materials

    def compiling(args):  # a command that is inside an XLA compilation (several seconds) when Ctrl-C arrives
        body = lambda c, k: (jnp.tanh(c * k + jnp.sin(c).sum()), None)
        f = jax.jit(lambda x: jax.lax.scan(body, x, jnp.arange(300, dtype=jnp.float32), unroll=300)[0])
        lowered = f.lower(jnp.ones((64,), jnp.float32))
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
        lowered.compile()
        return 0

    materials._handle = compiling
    sys.argv = ["twin", "materials"]
    from twin.cli import main
    sys.exit(main())
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_compilation_exits_130_not_139(tmp_path):
    """SIGINT inside an XLA compilation: "interrupted" and status 130; a normal interpreter exit ran JAX's atexit
    clean-up on the interrupted backend and died with SIGSEGV (139), 4 times out of 4 before the fix."""
    env = {**os.environ, "TWIN_NO_COMPILATION_CACHE": "1", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.run([sys.executable, "-c", _INTERRUPTED_COMPILATION], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stderr.rstrip("\n").splitlines()[-1] == "twin materials: interrupted"
    assert "Fatal Python error" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode != -signal.SIGSEGV
