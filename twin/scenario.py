"""Scenario files: what to simulate, read from TOML and validated once at the edge.

A scenario names the material, the crystal (shape and size, a size series, or a size distribution for a
powder), its
heterogeneity, the operando protocol (segments of holds, ramps, steps, isotherm point series, pressure-swing
cycles and tables of conditions), the numerics, the random seed and what to write. Quantities carry units
(``"303 K"``, ``"30 degC"``, ``"5 bar"``, ``"40 %"``, ``"2 um"``, ``"10 min"``) and are converted here into
internal units (K, Pa, Å, s, fractions); nothing downstream parses a unit again.

Every problem raises :class:`~twin.errors.ScenarioError` naming the file, the key path and the expected form,
e.g. ``run.toml: protocol.segments[2].pressure: expected a pressure such as "5 bar", got "30 K"``. The full
reference of keys is ``docs/scenario.md``.

Input limits (``docs/limits.md``, "Input limits") are checked here, on the values after unit conversion and before
anything is built: the scenario file's size, pressures, the size distribution's width, the block factor, the
crystal edge in cells, cycle counts, protocol breakpoints, frames and (with a given ``dt``) time steps. What only
the material decides (the crystal's memory, the engine's own time step) is refused by
:class:`twin.engine.run.Prepared` and the dry run, still before the lattice is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mofcore.files import MAX_TOML_BYTES, read_text_file
from twin._toml_schema import Table, did_you_mean, load_toml
from twin.errors import ScenarioError
from twin.units import format_quantity

__all__ = [
    "Crystal",
    "SizeDistribution",
    "Heterogeneity",
    "Segment",
    "Protocol",
    "Numerics",
    "Outputs",
    "Scenario",
    "load_scenario",
    "parse_scenario",
    "SHAPES",
    "SEGMENT_TYPES",
    "MAX_SCENARIO_BYTES",
    "MAX_PRESSURE_PA",
    "MAX_WIDTH",
    "MAX_BLOCK",
    "MAX_SIZE_CELLS",
    "MAX_CYCLES",
    "MAX_BREAKPOINTS",
    "MAX_FRAMES",
    "MAX_STEPS",
    "n_breakpoints",
    "check_steps",
]

SHAPES = ("cuboid", "plate", "needle", "sphere", "ellipsoid", "truncated")
SEGMENT_TYPES = ("hold", "ramp", "step", "isotherm", "cycles", "table")
DEFECT_KINDS = ("missing_linker", "missing_node")
METHODS = ("langevin", "metropolis")

# -- input limits (docs/limits.md, "Input limits") ---------------------------------------------------------------
#: a scenario file is a few kB; TOML parsing takes ~100× the text in memory (the limit of every TOML file)
MAX_SCENARIO_BYTES = MAX_TOML_BYTES
#: gas pressures (1000 bar): far above any operando adsorption experiment; the fugacity and the stability limit
#: of the time step overflow to NaN near 10⁵ bar
MAX_PRESSURE_PA = 1e8
#: σ of ln(size) of a log-normal powder: 3 spans a factor 400 between the median and +2σ
MAX_WIDTH = 3.0
#: coarse-graining factor b (one site per b³ cells; energies scale with b³)
MAX_BLOCK = 1000
#: crystal edge given in unit cells (size_cells), per axis; the memory check decides what fits below it
MAX_SIZE_CELLS = 10**7
#: pressure-swing cycles of one segment (4 breakpoints each)
MAX_CYCLES = 100_000
#: rows of the protocol's breakpoint table (twin.protocol.compile_protocol builds them on the host)
MAX_BREAKPOINTS = 1_000_000
#: frames of a trajectory: duration / frame_interval + 1 (one row of summaries each, a Python loop turn each)
MAX_FRAMES = 1_000_000
#: time steps of a run: the engine counts them in int32 (time = step · dt)
MAX_STEPS = 2**31 - 1


@dataclass(frozen=True)
class SizeDistribution:
    """Log-normal distribution of crystal sizes for a powder.

    The edge length L along each axis is ``median_A · aspect[i] · exp(σ·z)`` with one standard normal z
    per crystal (shape kept, size varies), σ = ``width`` (the standard deviation of ln L).
    """

    median_A: float
    width: float
    n_crystals: int
    aspect: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Crystal:
    """Crystal geometry. Exactly one of ``size_A``, ``size_cells``, ``sizes_A`` or ``distribution`` is set.

    Attributes:
        shape: one of :data:`SHAPES`; a plate is thin along z, a needle long along x.
        size_A: edge lengths (x, y, z) [Å] of the bounding box.
        size_cells: edge lengths in unit cells (overrides the conversion through the cell dimensions).
        distribution: a powder of crystals with log-normal sizes.
        sizes_A: a size series: bounding-box edges (x, y, z) [Å] of each crystal of a batch run side by side
            (one trajectory, per-crystal phase fractions).
        block: coarse-graining factor b (one lattice site per b×b×b cells).
        periodic: periodic boundaries (bulk, no surface).
        truncation: for ``truncated``: fraction of the half-edge cut off each corner (0–1).
    """

    shape: str = "cuboid"
    size_A: tuple[float, float, float] | None = None
    size_cells: tuple[int, int, int] | None = None
    distribution: SizeDistribution | None = None
    block: int = 1
    periodic: bool = False
    truncation: float = 0.0
    sizes_A: tuple[tuple[float, float, float], ...] | None = None


@dataclass(frozen=True)
class Heterogeneity:
    """Defects and heterogeneity of the crystal.

    Attributes:
        defect_concentration: fraction of sites carrying a point defect, in [0, 1).
        defect_kind: ``missing_linker`` or ``missing_node``.
        nanoregion_fraction: volume fraction of correlated defect nanoregions, in [0, 1).
        correlation_length_A: correlation length of the nanoregions [Å] (≥ one cell when used).
        void_fraction: volume fraction of mesopores (voids), in [0, 1).
    """

    defect_concentration: float = 0.0
    defect_kind: str = "missing_linker"
    nanoregion_fraction: float = 0.0
    correlation_length_A: float | None = None
    void_fraction: float = 0.0


@dataclass(frozen=True)
class Segment:
    """One protocol segment, in internal units; ``None`` keeps the value the previous segment ended with.

    Attributes:
        kind: one of :data:`SEGMENT_TYPES`.
        duration_s: duration of the segment [s] (for isotherm/cycles: derived from points and times).
        temperature_K, pressure_Pa, humidity: target values (ramp: reached at the end; step/hold: set at the start).
        points_Pa: isotherm pressures (adsorption order); ``branches`` "adsorption" or "both".
        dwell_s: time at each isotherm point [s].
        low_Pa, high_Pa, count, ramp_s, hold_s: pressure-swing cycles.
        table_time_s, table_temperature_K, table_pressure_Pa, table_humidity: arbitrary table, times relative to
            the segment start, linearly interpolated.
    """

    kind: str
    duration_s: float = 0.0
    temperature_K: float | None = None
    pressure_Pa: float | None = None
    humidity: float | None = None
    points_Pa: tuple[float, ...] = ()
    branches: str = "adsorption"
    dwell_s: float = 0.0
    low_Pa: float = 0.0
    high_Pa: float = 0.0
    count: int = 0
    ramp_s: float = 0.0
    hold_s: float = 0.0
    table_time_s: tuple[float, ...] = ()
    table_temperature_K: tuple[float, ...] = ()
    table_pressure_Pa: tuple[float, ...] = ()
    table_humidity: tuple[float, ...] = ()


@dataclass(frozen=True)
class Protocol:
    """Operando protocol: gas composition, initial conditions and segments.

    ``gases`` maps each dry guest gas to its mole fraction in the dry gas (sums to 1); the partial pressure of
    gas g is ``fraction_g · pressure``. Water enters through the relative humidity.
    """

    gases: tuple[tuple[str, float], ...]
    temperature_K: float
    pressure_Pa: float
    humidity: float
    segments: tuple[Segment, ...]

    @property
    def guests(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.gases)


@dataclass(frozen=True)
class Numerics:
    """Numerical settings of the engine.

    Attributes:
        dt_s: time step [s]; ``None`` lets the engine choose its stable step.
        frame_interval_s: time between recorded frames [s].
        method: ``langevin`` (overdamped, model A) or ``metropolis`` (checkerboard).
        noise: thermal noise on or off.
        guest_diffusion: conserved guest transport (model B) on, or fast adsorption equilibrium.
        checkpoint_interval_s: wall-clock-independent checkpoint interval in simulated time [s]; ``None`` = off.
        dtype: ``float32`` or ``float64``.
    """

    dt_s: float | None = None
    frame_interval_s: float = 10.0
    method: str = "langevin"
    noise: bool = True
    guest_diffusion: bool = False
    checkpoint_interval_s: float | None = None
    dtype: str = "float32"


@dataclass(frozen=True)
class Outputs:
    """What the trajectory holds: per-site ``fields`` written every ``field_stride``-th frame."""

    fields: tuple[str, ...] = ("eta",)
    field_stride: int = 10


@dataclass(frozen=True)
class Scenario:
    """A validated scenario in internal units, with its source text for provenance."""

    name: str
    material: str
    crystal: Crystal
    heterogeneity: Heterogeneity
    protocol: Protocol
    numerics: Numerics
    outputs: Outputs
    seed: int
    source_text: str = field(default="", repr=False)
    source_path: str = ""

    @property
    def guests(self) -> tuple[str, ...]:
        return self.protocol.guests


# ---------------------------------------------------------------------------------------------------
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (a FIFO, a folder or a file above :data:`MAX_SCENARIO_BYTES` is
    refused before it is opened: :func:`mofcore.files.read_text_file`)."""
    path = Path(path)
    text = read_text_file(path, what="a scenario file (TOML)", error=ScenarioError,
                          max_bytes=MAX_SCENARIO_BYTES)
    return parse_scenario(text, source=path.name, source_path=str(path))


def parse_scenario(text: str, source: str = "scenario.toml", source_path: str = "") -> Scenario:
    """Validate scenario TOML text; ``source`` names the file in messages."""
    data = load_toml(text, source, ScenarioError)
    root = Table(data, "", source, ScenarioError)
    name = root.string("name", "unnamed scenario")
    material = root.string("material")
    if not material.strip():
        raise root.fail("material", 'expected a material name such as "mil53-al", got an empty string')
    seed = root.integer("seed", 0, minimum=0)
    crystal = _crystal(root.table("crystal", required=True))
    heterogeneity = _heterogeneity(root.table("heterogeneity"))
    protocol = _protocol(root.table("protocol", required=True))
    numerics = _numerics(root.table("numerics"))
    outputs = _outputs(root.table("outputs"))
    root.finish()
    _check_sizes(source, protocol, numerics)
    return Scenario(
        name=name,
        material=material,
        crystal=crystal,
        heterogeneity=heterogeneity,
        protocol=protocol,
        numerics=numerics,
        outputs=outputs,
        seed=seed,
        source_text=text,
        source_path=source_path,
    )


def _positive(x: float) -> bool:
    return x > 0.0


def _nonnegative(x: float) -> bool:
    return x >= 0.0


def _unit_interval_open(x: float) -> bool:
    return 0.0 <= x < 1.0


def _size_triple(t: Table, key: str) -> tuple[float, float, float]:
    value = t.raw(key)
    items = value if isinstance(value, list) else [value]
    if len(items) not in (1, 3):
        raise t.fail(key, f'expected one size such as "300 nm" or three [x, y, z], got {len(items)} values')
    sizes = tuple(
        t.convert(v, "length", f"{t.key_path(key)}[{i}]" if len(items) == 3 else t.key_path(key), _positive,
                  'a positive length such as "300 nm"')
        for i, v in enumerate(items)
    )
    return sizes * 3 if len(sizes) == 1 else sizes  # type: ignore[return-value]


def _crystal(t: Table) -> Crystal:
    shape = t.string("shape", "cuboid", choices=SHAPES)
    given = [k for k in ("size", "size_cells", "sizes", "distribution") if t.has(k)]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise t.fail("size", f"expected exactly one of size, size_cells, sizes or distribution, got {what}")
    size_A = _size_triple(t, "size") if t.has("size") else None
    sizes_A = None
    if t.has("sizes"):
        raw = t.raw("sizes")
        if not isinstance(raw, list) or not raw:
            raise t.fail("sizes", 'expected an array of crystal sizes such as ["0.3 um", "0.6 um"] (each one length '
                                  'or [x, y, z])')
        series = []
        for i, item in enumerate(raw):
            items = item if isinstance(item, list) else [item]
            if len(items) not in (1, 3):
                raise t.fail(f"sizes[{i}]", f'expected one size such as "300 nm" or three [x, y, z], got {len(items)} values')
            edges = tuple(t.convert(v, "length", f"{t.key_path('sizes')}[{i}]" + (f"[{j}]" if len(items) == 3 else ""),
                                    _positive, 'a positive length such as "300 nm"') for j, v in enumerate(items))
            series.append(edges * 3 if len(edges) == 1 else edges)
        sizes_A = tuple(series)
    size_cells = None
    if t.has("size_cells"):
        cells = t.raw("size_cells")
        items = cells if isinstance(cells, list) else [cells]
        if len(items) not in (1, 3) or any(isinstance(c, bool) or not isinstance(c, int) or c <= 0 for c in items):
            raise t.fail("size_cells", f"expected a positive integer or three [nx, ny, nz], got {cells!r}")
        if max(items) > MAX_SIZE_CELLS:
            raise t.fail("size_cells", f"expected at most {MAX_SIZE_CELLS} cells per edge (whether a crystal fits in "
                                       f"memory is checked when it is built), got {max(items)}")
        size_cells = tuple(items * 3 if len(items) == 1 else items)
    distribution = None
    d = t.table("distribution")
    if d is not None:
        d.string("kind", "lognormal", choices=("lognormal",))
        median = d.quantity("median", "length", check=_positive, expected='a positive length such as "300 nm"')
        width = d.number("width", check=lambda w: 0.0 < w <= MAX_WIDTH,
                         expected=f"a positive width σ of ln(size) up to {MAX_WIDTH:g}, such as 0.4")
        n = d.integer("n_crystals", 8, minimum=1)
        aspect_raw = d.raw("aspect", [1.0, 1.0, 1.0])
        if (
            not isinstance(aspect_raw, list)
            or len(aspect_raw) != 3
            or any(isinstance(a, bool) or not isinstance(a, (int, float)) or a <= 0 for a in aspect_raw)
        ):
            raise d.fail("aspect", f"expected three positive numbers [x, y, z], got {aspect_raw!r}")
        d.finish()
        distribution = SizeDistribution(median, width, n, tuple(float(a) for a in aspect_raw))  # type: ignore[arg-type]
    block = t.integer("block", 1, minimum=1, maximum=MAX_BLOCK, why="one site per block³ cells")
    periodic = t.boolean("periodic", False)
    truncation = t.number("truncation", 0.0, check=lambda x: 0.0 <= x < 1.0, expected="a fraction in [0, 1)")
    if truncation > 0.0 and shape != "truncated":
        raise t.fail("truncation", f'only applies to shape = "truncated", but shape is "{shape}"')
    t.finish()
    if periodic and sizes_A is not None:
        raise t.fail("periodic", "periodic boundaries apply to one crystal, not to a size series (sizes)")
    return Crystal(shape, size_A, size_cells, distribution, block, periodic, truncation, sizes_A)  # type: ignore[arg-type]


def _heterogeneity(t: Table | None) -> Heterogeneity:
    if t is None:
        return Heterogeneity()
    conc = t.number("defect_concentration", 0.0, check=_unit_interval_open, expected="a fraction in [0, 1)")
    kind = t.string("defect_kind", "missing_linker", choices=DEFECT_KINDS)
    fraction = t.number("nanoregion_fraction", 0.0, check=_unit_interval_open, expected="a fraction in [0, 1)")
    corr = t.quantity("correlation_length", "length", None, check=_positive, expected='a positive length such as "5 nm"')
    if fraction > 0.0 and corr is None:
        raise t.fail("correlation_length", 'nanoregions need a correlation length such as "5 nm"')
    voids = t.number("void_fraction", 0.0, check=_unit_interval_open, expected="a fraction in [0, 1)")
    t.finish()
    return Heterogeneity(conc, kind, fraction, corr, voids)


def _pressure_ok(x: float) -> bool:
    return 0.0 <= x <= MAX_PRESSURE_PA


_PRESSURE_EXPECTED = f'a non-negative pressure up to {MAX_PRESSURE_PA / 1e5:g} bar such as "5 bar"'


def _pressure(t: Table, key: str, default=None) -> float | None:
    return t.quantity(key, "pressure", default, check=_pressure_ok, expected=_PRESSURE_EXPECTED)


def _temperature(t: Table, key: str, default=None) -> float | None:
    return t.quantity(key, "temperature", default, check=_positive, expected='a positive absolute temperature such as "303 K"')


def _humidity(t: Table, key: str, default=None) -> float | None:
    return t.quantity(key, "fraction", default, check=lambda x: 0.0 <= x <= 1.0, expected='a humidity between 0 and 100 %')


def _duration(t: Table, key: str, default=None, allow_zero: bool = False) -> float | None:
    check = _nonnegative if allow_zero else _positive
    expected = 'a non-negative duration such as "10 min"' if allow_zero else 'a positive duration such as "10 min"'
    return t.quantity(key, "time", default, check=check, expected=expected)


def _protocol(t: Table) -> Protocol:
    gases_raw = t.raw("gases")
    if not isinstance(gases_raw, dict) or not gases_raw:
        raise t.fail("gases", 'expected a table of mole fractions such as { CO2 = 1.0 }')
    gases = []
    for name, frac in gases_raw.items():
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac <= 1.0:
            raise t.fail(f"gases.{name}", f"expected a mole fraction in (0, 1], got {frac!r}")
        gases.append((name, float(frac)))
    total = sum(f for _, f in gases)
    if abs(total - 1.0) > 1e-6:
        raise t.fail("gases", f"mole fractions must sum to 1, they sum to {total:g}")
    temperature = _temperature(t, "temperature")
    pressure = _pressure(t, "pressure", 0.0)
    humidity = _humidity(t, "humidity", 0.0)
    segments = tuple(_segment(s) for s in t.tables("segments", required=True))
    t.finish()
    return Protocol(tuple(gases), temperature, pressure, humidity, segments)  # type: ignore[arg-type]


_SEGMENT_KEYS = {
    "hold": ("duration", "temperature", "pressure", "humidity"),
    "ramp": ("duration", "temperature", "pressure", "humidity"),
    "step": ("duration", "temperature", "pressure", "humidity"),
    "isotherm": ("pressures", "dwell", "branches", "temperature", "humidity"),
    "cycles": ("low", "high", "count", "ramp", "hold", "temperature", "humidity"),
    "table": ("time", "temperature", "pressure", "humidity"),
}


def _segment(t: Table) -> Segment:
    kind = t.string("type", choices=SEGMENT_TYPES)
    t.expect_keys(("type", *_SEGMENT_KEYS[kind]))
    if kind in ("hold", "ramp", "step"):
        duration = _duration(t, "duration", 0.0 if kind == "step" else None, allow_zero=kind == "step")
        seg = Segment(
            kind,
            duration_s=duration,  # type: ignore[arg-type]
            temperature_K=_temperature(t, "temperature"),
            pressure_Pa=_pressure(t, "pressure"),
            humidity=_humidity(t, "humidity"),
        )
        if kind in ("ramp", "step") and seg.temperature_K is None and seg.pressure_Pa is None and seg.humidity is None:
            raise t.fail("pressure", f"a {kind} must change at least one of temperature, pressure or humidity")
    elif kind == "isotherm":
        raw = t.raw("pressures")
        if not isinstance(raw, list) or not raw:
            raise t.fail("pressures", 'expected an array of pressures such as ["0.1 bar", "1 bar"]')
        points = tuple(
            t.convert(p, "pressure", f"{t.key_path('pressures')}[{i}]", _pressure_ok, _PRESSURE_EXPECTED)
            for i, p in enumerate(raw)
        )
        dwell = _duration(t, "dwell")
        branches = t.string("branches", "adsorption", choices=("adsorption", "both"))
        n = len(points) * (2 if branches == "both" else 1)
        seg = Segment(kind, duration_s=n * dwell, points_Pa=points, branches=branches, dwell_s=dwell,  # type: ignore[operator]
                      temperature_K=_temperature(t, "temperature"), humidity=_humidity(t, "humidity"))
    elif kind == "cycles":
        low = _pressure(t, "low")
        high = _pressure(t, "high")
        if low is None or high is None:
            raise t.fail("low" if low is None else "high", 'missing required key (a pressure such as "5 bar")')
        if not high > low:
            raise t.fail("high", f"expected a pressure above low ({t.raw('low')!r}), got {t.raw('high')!r}")
        count = t.integer("count", minimum=1, maximum=MAX_CYCLES, why="4 protocol breakpoints per cycle")
        ramp = _duration(t, "ramp", 0.0, allow_zero=True)
        hold = _duration(t, "hold", 0.0, allow_zero=True)
        if ramp + hold <= 0.0:  # type: ignore[operator]
            raise t.fail("hold", "a cycle needs a positive ramp or hold time")
        seg = Segment(kind, duration_s=count * 2 * (ramp + hold), low_Pa=low, high_Pa=high, count=count,  # type: ignore[operator]
                      ramp_s=ramp, hold_s=hold, temperature_K=_temperature(t, "temperature"),  # type: ignore[arg-type]
                      humidity=_humidity(t, "humidity"))
    else:  # table
        times_raw = t.raw("time")
        if not isinstance(times_raw, list) or len(times_raw) < 2:
            raise t.fail("time", 'expected an array of at least two times such as ["0 s", "10 min"]')
        times = [t.convert(v, "time", f"{t.key_path('time')}[{i}]", _nonnegative, 'a non-negative time such as "10 min"')
                 for i, v in enumerate(times_raw)]
        for i in range(1, len(times)):
            if times[i] < times[i - 1]:
                raise t.fail(f"time[{i}]", f"goes back in time ({times_raw[i]!r} after {times_raw[i - 1]!r})")
        if times[0] != 0.0:
            raise t.fail("time[0]", f"a table starts at 0 relative to the segment start, got {times_raw[0]!r}")
        columns = {}
        for key, conv in (("temperature", _temperature), ("pressure", _pressure), ("humidity", _humidity)):
            if not t.has(key):
                continue
            raw = t.raw(key)
            if not isinstance(raw, list) or len(raw) != len(times):
                raise t.fail(key, f"expected an array of {len(times)} values (one per time), got "
                                  f"{len(raw) if isinstance(raw, list) else 'a single value'}")
            dim = {"temperature": "temperature", "pressure": "pressure", "humidity": "fraction"}[key]
            check = {"temperature": _positive, "pressure": _pressure_ok, "humidity": lambda x: 0.0 <= x <= 1.0}[key]
            columns[key] = tuple(t.convert(v, dim, f"{t.key_path(key)}[{i}]", check, f"a valid {key}") for i, v in enumerate(raw))
        if not columns:
            raise t.fail("pressure", "a table needs at least one of temperature, pressure or humidity columns")
        seg = Segment(kind, duration_s=times[-1], table_time_s=tuple(times),
                      table_temperature_K=columns.get("temperature", ()), table_pressure_Pa=columns.get("pressure", ()),
                      table_humidity=columns.get("humidity", ()))
        if seg.duration_s <= 0.0:
            raise t.fail("time", "a table must span a positive time")
    t.finish()
    return seg


def _numerics(t: Table | None) -> Numerics:
    if t is None:
        return Numerics()
    dt = _duration(t, "dt")
    frame = _duration(t, "frame_interval", 10.0)
    method = t.string("method", "langevin", choices=METHODS)
    noise = t.boolean("noise", True)
    diffusion = t.boolean("guest_diffusion", False)
    checkpoint = _duration(t, "checkpoint_interval")
    dtype = t.string("dtype", "float32", choices=("float32", "float64"))
    if dt is not None and dt > frame:  # type: ignore[operator]
        raise t.fail("dt", f"the time step ({t.raw('dt')!r}) must not exceed frame_interval "
                           f"({t.raw('frame_interval', '10 s')!r})")
    t.finish()
    return Numerics(dt, frame, method, noise, diffusion, checkpoint, dtype)  # type: ignore[arg-type]


FIELD_NAMES = ("eta", "loading", "defect", "cohesion", "domain")


def _outputs(t: Table | None) -> Outputs:
    if t is None:
        return Outputs()
    raw = t.raw("fields", ["eta"])
    if not isinstance(raw, list) or any(not isinstance(f, str) for f in raw):
        raise t.fail("fields", f"expected an array of field names from {', '.join(FIELD_NAMES)}, got {raw!r}")
    for i, name in enumerate(raw):
        if name not in FIELD_NAMES:
            hint = did_you_mean(name, FIELD_NAMES)
            raise t.fail(f"fields[{i}]", f"unknown field {name!r}{hint}; known fields: {', '.join(FIELD_NAMES)}")
    stride = t.integer("field_stride", 10, minimum=1)
    t.finish()
    return Outputs(tuple(raw), stride)


# ------------------------------------------------------------------------------------------------- limits
def n_breakpoints(protocol: Protocol) -> int:
    """Rows of the breakpoint table :func:`twin.protocol.compile_protocol` builds for ``protocol``, counted."""
    rows = 1
    for seg in protocol.segments:
        if seg.kind == "ramp":
            rows += 1
        elif seg.kind in ("hold", "step"):
            rows += 2
        elif seg.kind == "isotherm":
            rows += 2 * len(seg.points_Pa) * (2 if seg.branches == "both" else 1)
        elif seg.kind == "cycles":
            rows += seg.count * 2 * (1 + (seg.hold_s > 0.0))
        else:
            rows += len(seg.table_time_s)
    return rows


def _time_text(seconds: float) -> str:
    """A duration for a message, in the largest unit that keeps it ≥ 1 (seconds outside 1 ns … 10⁶ d)."""
    if not 1e-9 <= abs(seconds) < 1e6 * 86400.0:
        return f"{seconds:.3g} s"
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6),
                         ("ns", 1e-9)):
        if abs(seconds) >= factor:
            return format_quantity(seconds, "time", unit)
    return format_quantity(seconds, "time", "ns")  # pragma: no cover - the range test above


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (a suggestion in a message that must satisfy the limit)."""
    if x <= 0.0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / scale * (1 - 1e-12)) * scale


def check_steps(source: str, key: str, dt_s: float, frame_interval_s: float, n_frames: int, what: str) -> int:
    """Steps per frame for ``dt_s``; raises :class:`ScenarioError` naming ``key`` when the run's steps exceed
    :data:`MAX_STEPS` (the engine's int32 step counter). ``what`` says where the time step comes from."""
    per_frame = max(1, math.ceil(frame_interval_s / dt_s - 1e-9))
    total = (n_frames - 1) * per_frame
    if total > MAX_STEPS:
        least = _round_up(frame_interval_s / max(1, MAX_STEPS // max(1, n_frames - 1)))
        raise ScenarioError(
            f"{source}: {key}: {what} {_time_text(dt_s)} makes {per_frame:.3g} steps per frame interval "
            f"({_time_text(frame_interval_s)}) and {total:.3g} steps over {n_frames - 1} frame intervals, more than "
            f"the engine's step counter holds ({MAX_STEPS} = 2^31 - 1 steps); a time step of at least "
            f"{_time_text(least)} (or fewer frames) keeps it below"
        )
    return per_frame


def _check_sizes(source: str, protocol: Protocol, numerics: Numerics) -> None:
    """Refuse protocols whose breakpoints, frames or (given dt) steps exceed the limits, before building any."""
    rows = n_breakpoints(protocol)
    if rows > MAX_BREAKPOINTS:
        raise ScenarioError(f"{source}: protocol.segments: {rows} breakpoints (holds and steps 2, ramps 1, isotherm "
                            f"points 2, cycles 2-4 each, table rows 1), more than the limit of {MAX_BREAKPOINTS}")
    duration = math.fsum(seg.duration_s for seg in protocol.segments)
    frame = numerics.frame_interval_s
    if not math.isfinite(duration):
        raise ScenarioError(f"{source}: protocol.segments: the segments last {duration} s in all (not finite)")
    frames = math.floor(duration / frame + 1e-9) + 1
    if frames > MAX_FRAMES:
        least = _round_up(duration / (MAX_FRAMES - 1))
        raise ScenarioError(
            f"{source}: numerics.frame_interval: {_time_text(frame)} over a protocol of {_time_text(duration)} makes "
            f"{frames:.3g} frames, more than the limit of {MAX_FRAMES}; a frame_interval of at least "
            f"{_time_text(least)} (or a shorter protocol) keeps it below"
        )
    if numerics.dt_s is not None:
        check_steps(source, "numerics.dt", numerics.dt_s, frame, frames, "a time step of")
