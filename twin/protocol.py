"""Operando protocols as piecewise-linear tables of conditions, evaluated inside compiled loops.

:func:`compile_protocol` turns the validated segments of a :class:`~twin.scenario.Protocol` into a
:class:`ProtocolTable` of breakpoints (time, temperature, total dry pressure, humidity). Between two
breakpoints conditions vary linearly; a step is two breakpoints at the same time (the later one wins
from that instant on), so holds, ramps, steps, isotherm point series, pressure-swing cycles and arbitrary
tables are all the same object. :func:`conditions_at` is pure and jit-able: the engine evaluates it at every
time step inside ``lax.scan``.

Each breakpoint also carries the index of the segment it belongs to, the cycle index (pressure swings and
two-branch isotherms; -1 elsewhere) and the branch (+1 adsorption = pressure rising or held after a rise,
-1 desorption), which the analysis of transition pressures per cycle and branch uses.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from twin.conditions import Conditions
from twin.errors import ScenarioError
from twin.scenario import MAX_BREAKPOINTS, Protocol, n_breakpoints

__all__ = ["ProtocolTable", "compile_protocol", "conditions_at", "sample_protocol"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ProtocolTable:
    """Breakpoints of a protocol (structure of arrays, float64 on the host, cast by the user).

    Attributes:
        time_s: non-decreasing breakpoint times [s], (n_breakpoints,).
        temperature_K: [K], (n_breakpoints,).
        pressure_Pa: total pressure of the dry gas [Pa], (n_breakpoints,).
        relative_humidity: [0–1], (n_breakpoints,).
        mole_fraction: mole fraction of each dry guest, (n_guests,).
        segment: segment index of each breakpoint, (n_breakpoints,).
        cycle: cycle index (-1 outside cycles), (n_breakpoints,).
        branch: +1 adsorption, -1 desorption, 0 unchanged pressure, (n_breakpoints,).
        guests: guest names (static).
    """

    time_s: Float[Array, "n_breakpoints"]
    temperature_K: Float[Array, "n_breakpoints"]
    pressure_Pa: Float[Array, "n_breakpoints"]
    relative_humidity: Float[Array, "n_breakpoints"]
    mole_fraction: Float[Array, "n_guests"]
    segment: Array
    cycle: Array
    branch: Array
    guests: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1])

    def astype(self, dtype) -> "ProtocolTable":
        """The same table with float arrays cast to ``dtype`` (e.g. float32 for the engine)."""
        cast = lambda a: jnp.asarray(a, dtype)  # noqa: E731
        return ProtocolTable(
            cast(self.time_s), cast(self.temperature_K), cast(self.pressure_Pa), cast(self.relative_humidity),
            cast(self.mole_fraction), jnp.asarray(self.segment), jnp.asarray(self.cycle), jnp.asarray(self.branch),
            self.guests,
        )


def compile_protocol(protocol: Protocol) -> ProtocolTable:
    """Breakpoint table of a validated protocol (host-side, NumPy float64).

    The rows are counted first (:func:`twin.scenario.n_breakpoints`) and refused above
    :data:`twin.scenario.MAX_BREAKPOINTS` before any is built (a scenario file is refused at validation already;
    this guards protocols built in code); they are collected in compact ``array`` columns, 40 bytes a row.
    """
    count = n_breakpoints(protocol)
    if count > MAX_BREAKPOINTS:
        raise ScenarioError(f"protocol.segments: {count} breakpoints, more than the limit of {MAX_BREAKPOINTS}")
    columns = [array("d") for _ in range(4)]  # t, T, P, RH
    seg_column, cycle_column = array("i"), array("i")
    t, T, P, RH = 0.0, protocol.temperature_K, protocol.pressure_Pa, protocol.humidity

    def add(time: float, temp: float, pres: float, hum: float, seg: int, cyc: int = -1) -> None:
        for column, value in zip(columns, (time, temp, pres, hum)):
            column.append(value)
        seg_column.append(seg)
        cycle_column.append(cyc)

    add(t, T, P, RH, -1)
    for index, seg in enumerate(protocol.segments):
        new_T = seg.temperature_K if seg.temperature_K is not None else T
        new_P = seg.pressure_Pa if seg.pressure_Pa is not None else P
        new_RH = seg.humidity if seg.humidity is not None else RH
        if seg.kind == "ramp":
            t += seg.duration_s
            T, P, RH = new_T, new_P, new_RH
            add(t, T, P, RH, index)
        elif seg.kind in ("hold", "step"):
            T, P, RH = new_T, new_P, new_RH
            add(t, T, P, RH, index)
            t += seg.duration_s
            add(t, T, P, RH, index)
        elif seg.kind == "isotherm":
            T, RH = new_T, new_RH
            points = list(seg.points_Pa)
            if seg.branches == "both":
                points += points[::-1]
            for k, p in enumerate(points):
                cyc = 0 if seg.branches == "both" else -1
                P = p
                add(t, T, P, RH, index, cyc)
                t += seg.dwell_s
                add(t, T, P, RH, index, cyc)
        elif seg.kind == "cycles":
            T, RH = new_T, new_RH
            for c in range(seg.count):
                for target in (seg.high_Pa, seg.low_Pa):
                    if seg.ramp_s > 0.0:
                        t += seg.ramp_s
                    P = target
                    add(t, T, P, RH, index, c)
                    if seg.hold_s > 0.0:
                        t += seg.hold_s
                        add(t, T, P, RH, index, c)
        else:  # table
            t0 = t
            n = len(seg.table_time_s)
            temps = seg.table_temperature_K or (T,) * n
            press = seg.table_pressure_Pa or (P,) * n
            hums = seg.table_humidity or (RH,) * n
            for k in range(n):
                add(t0 + seg.table_time_s[k], temps[k], press[k], hums[k], index)
            t, T, P, RH = t0 + seg.table_time_s[-1], temps[-1], press[-1], hums[-1]

    time_s, temperature, pressure, humidity = (np.frombuffer(c, dtype=np.float64).copy() for c in columns)
    # The branch at a breakpoint is the direction of the last pressure change at or before it (0 before any).
    rising = np.sign(np.diff(pressure)).astype(np.int8)
    changed = np.flatnonzero(rising)
    branch = np.zeros(len(pressure), dtype=np.int8)
    if changed.size:
        last = np.maximum.accumulate(np.where(rising != 0, np.arange(rising.size), -1))
        branch[1:] = np.where(last >= 0, rising[np.maximum(last, 0)], 0)
    fractions = np.asarray([f for _, f in protocol.gases], dtype=np.float64)
    return ProtocolTable(
        time_s=time_s,
        temperature_K=temperature,
        pressure_Pa=pressure,
        relative_humidity=humidity,
        mole_fraction=fractions,
        segment=np.frombuffer(seg_column, dtype=np.int32).copy() if seg_column.itemsize == 4
        else np.asarray(seg_column, dtype=np.int32),
        cycle=np.frombuffer(cycle_column, dtype=np.int32).copy() if cycle_column.itemsize == 4
        else np.asarray(cycle_column, dtype=np.int32),
        branch=branch,
        guests=protocol.guests,
    )


def _locate(time_s: Float[Array, "n"], t: Float[Array, ""]):
    """Index i of the last breakpoint with time ≤ t (the later of equal times) and the fraction to i+1."""
    n = time_s.shape[0]
    i = jnp.clip(jnp.searchsorted(time_s, t, side="right") - 1, 0, n - 1)
    j = jnp.minimum(i + 1, n - 1)
    span = time_s[j] - time_s[i]
    frac = jnp.where(span > 0, (t - time_s[i]) / jnp.where(span > 0, span, 1), jnp.zeros_like(t))
    return i, j, jnp.clip(frac, 0, 1)


def conditions_at(table: ProtocolTable, time_s: Float[Array, ""]) -> Conditions:
    """Conditions at ``time_s`` [s] by linear interpolation between breakpoints (constant past the end).

    Pure and jit-able; broadcasting over a batch of times works through ``jax.vmap``. In float32 the time
    resolution near t is ~6e-8·t: long runs should carry time as an integer step count times dt and pass
    the product here, rather than accumulate ``t += dt``.
    """
    times = jnp.asarray(table.time_s)
    t = jnp.asarray(time_s).astype(times.dtype)
    i, j, frac = _locate(times, t)
    def lerp(values):
        values = jnp.asarray(values).astype(times.dtype)
        return values[i] + (values[j] - values[i]) * frac

    pressure = lerp(table.pressure_Pa)
    return Conditions(
        temperature_K=lerp(table.temperature_K),
        partial_pressure_Pa=jnp.asarray(table.mole_fraction).astype(times.dtype) * pressure,
        relative_humidity=lerp(table.relative_humidity),
        time_s=t,
        guests=table.guests,
    )


def sample_protocol(table: ProtocolTable, times_s: np.ndarray) -> Conditions:
    """Conditions at many times at once (host convenience; a batched :class:`Conditions`)."""
    times = jnp.asarray(times_s).astype(jnp.asarray(table.time_s).dtype)
    return jax.vmap(lambda t: conditions_at(table, t))(times)
