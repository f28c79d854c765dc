"""Protocol tables: breakpoints of every segment type and conditions between them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from twin.protocol import compile_protocol, conditions_at, sample_protocol
from twin.scenario import parse_scenario

TEXT = """
material = "mil53-al"
[crystal]
size = "100 nm"
[protocol]
gases = { CO2 = 0.25, CH4 = 0.75 }
temperature = "300 K"
pressure = "0 bar"
[[protocol.segments]]
type = "ramp"
duration = "100 s"
pressure = "10 bar"
[[protocol.segments]]
type = "step"
pressure = "2 bar"
temperature = "310 K"
duration = "50 s"
[[protocol.segments]]
type = "cycles"
low = "1 bar"
high = "5 bar"
count = 2
ramp = "10 s"
hold = "20 s"
"""


@pytest.fixture(scope="module")
def table():
    return compile_protocol(parse_scenario(TEXT).protocol)


def test_ramp_is_linear_and_partial_pressures_follow_fractions(table):
    c = conditions_at(table, jnp.asarray(50.0))
    np.testing.assert_allclose(c.partial_pressure_Pa, [0.25 * 5e5, 0.75 * 5e5], rtol=1e-6)
    assert c.guests == ("CO2", "CH4")


def test_step_takes_effect_at_its_instant(table):
    before = conditions_at(table, jnp.asarray(99.99))
    at = conditions_at(table, jnp.asarray(100.0))
    assert float(before.temperature_K) == pytest.approx(300.0)
    assert float(at.temperature_K) == pytest.approx(310.0)
    assert float(at.partial_pressure_Pa.sum()) == pytest.approx(2e5, rel=1e-6)


def test_cycles_breakpoints_branches_and_end(table):
    # step ends at 150 s; each cycle is 2 × (10 + 20) s
    assert table.duration_s == pytest.approx(150.0 + 2 * 60.0)
    c = sample_protocol(table, np.array([165.0, 195.0, 215.0, 1e6]))
    np.testing.assert_allclose(c.partial_pressure_Pa.sum(axis=1), [5e5, 1e5, 3e5, 1e5], rtol=1e-5)
    assert set(table.cycle[table.segment == 2].tolist()) == {0, 1}
    # pressure rises to 'high' on the adsorption branch (+1) and falls to 'low' on desorption (-1)
    rises = table.branch[(table.segment == 2) & (table.pressure_Pa == 5e5)]
    falls = table.branch[(table.segment == 2) & (table.pressure_Pa == 1e5)]
    assert set(rises.tolist()) == {1} and set(falls.tolist()) == {-1}


def test_conditions_at_jits_and_matches_eager(table):
    t32 = table.astype(jnp.float32)
    times = jnp.linspace(0.0, 300.0, 61)
    eager = jnp.stack([conditions_at(t32, t).partial_pressure_Pa for t in times])
    jitted = jax.jit(jax.vmap(lambda t: conditions_at(t32, t).partial_pressure_Pa))(times)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))
