"""Scenario files: a valid round trip and many bad scenarios, each with a message naming the key."""

from __future__ import annotations

import tomllib

import pytest

from twin.errors import ScenarioError
from twin.scenario import load_scenario, parse_scenario

VALID = """
name = "ramp"
material = "mil53-al"
seed = 7

[crystal]
shape = "cuboid"
size = ["300 nm", "200 nm", "0.2 um"]
block = 1

[heterogeneity]
defect_concentration = 0.01
nanoregion_fraction = 0.05
correlation_length = "5 nm"

[protocol]
gases = { CO2 = 1.0 }
temperature = "30 degC"
pressure = "0 bar"
humidity = "0 %"

[[protocol.segments]]
type = "ramp"
duration = "10 min"
pressure = "40 bar"

[[protocol.segments]]
type = "hold"
duration = "2 min"

[[protocol.segments]]
type = "step"
pressure = "500 kPa"
duration = "1 min"

[[protocol.segments]]
type = "isotherm"
pressures = ["0.1 bar", "1 bar", "10 bar"]
dwell = "30 s"
branches = "both"

[[protocol.segments]]
type = "cycles"
low = "0.1 bar"
high = "10 bar"
count = 3
ramp = "1 min"
hold = "1 min"
humidity = "40 %"

[[protocol.segments]]
type = "table"
time = ["0 s", "1 min", "2 min"]
temperature = ["303 K", "320 K", "310 K"]

[numerics]
frame_interval = "5 s"
noise = true

[outputs]
fields = ["eta", "loading"]
field_stride = 4
"""


def test_valid_scenario_round_trip(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(VALID, encoding="utf-8")
    s = load_scenario(path)
    assert s.material == "mil53-al" and s.seed == 7
    assert s.crystal.size_A == pytest.approx((3000.0, 2000.0, 2000.0))  # nm and um → Å
    assert s.protocol.temperature_K == pytest.approx(303.15)
    assert s.protocol.guests == ("CO2",)
    kinds = [seg.kind for seg in s.protocol.segments]
    assert kinds == ["ramp", "hold", "step", "isotherm", "cycles", "table"]
    assert s.protocol.segments[0].pressure_Pa == pytest.approx(40e5)
    assert s.protocol.segments[2].pressure_Pa == pytest.approx(5e5)
    assert s.protocol.segments[3].duration_s == pytest.approx(6 * 30.0)
    assert s.protocol.segments[4].duration_s == pytest.approx(3 * 2 * 120.0)
    assert s.protocol.segments[4].humidity == pytest.approx(0.4)
    assert s.heterogeneity.correlation_length_A == pytest.approx(50.0)
    assert s.numerics.frame_interval_s == 5.0
    assert s.outputs.fields == ("eta", "loading") and s.outputs.field_stride == 4
    # the source text is kept verbatim for provenance and parses to the same scenario again
    assert tomllib.loads(s.source_text) == tomllib.loads(VALID)
    assert parse_scenario(s.source_text, source="run.toml").protocol == s.protocol


def _with(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


BAD = [
    # (modified text, regex the message must match)
    (_with('material = "mil53-al"\n', ""), r"material: missing required key"),
    (_with('seed = 7', 'sed = 7'), r"sed: unknown key \(did you mean 'seed'\?\)"),
    (_with('shape = "cuboid"', 'shape = "cubiod"'), r"crystal\.shape: expected one of .* \(did you mean 'cuboid'\?\)"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]', 'size = ["300 nm", "-200 nm", "0.2 um"]'), r"crystal\.size\[1\]: expected a positive length"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]', 'size = ["300 nm", "200 bar", "0.2 um"]'), r"crystal\.size\[1\]: expected a length .* \(that is a pressure\)"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]', 'size = "0 nm"'), r"crystal\.size: expected a positive length"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]', 'size = ["1 um", "2 um"]'), r"crystal\.size: expected one size"),
    (_with('block = 1', 'block = 0'), r"crystal\.block: expected an integer ≥ 1"),
    (_with('defect_concentration = 0.01', 'defect_concentration = 1.2'), r"heterogeneity\.defect_concentration: expected a fraction in \[0, 1\)"),
    (_with('correlation_length = "5 nm"', 'correlation_length = "5 K"'), r"heterogeneity\.correlation_length: expected a length"),
    (_with('correlation_length = "5 nm"\n', ''), r"heterogeneity\.correlation_length: nanoregions need a correlation length"),
    (_with('gases = { CO2 = 1.0 }', 'gases = { CO2 = 0.5, CH4 = 0.3 }'), r"protocol\.gases: mole fractions must sum to 1"),
    (_with('temperature = "30 degC"', 'temperature = "5 bar"'), r"protocol\.temperature: expected a temperature such as \"303 K\", got \"5 bar\""),
    (_with('temperature = "30 degC"', 'temperature = "-5 K"'), r"protocol\.temperature: expected a positive absolute temperature"),
    (_with('temperature = "30 degC"', 'temperature = 303'), r"protocol\.temperature: expected a temperature .* \(a number without unit\)"),
    (_with('humidity = "0 %"', 'humidity = "140 %"'), r"protocol\.humidity: expected a humidity between 0 and 100 %"),
    (_with('pressure = "40 bar"', 'pressure = "30 K"'), r'protocol\.segments\[0\]\.pressure: expected a pressure such as "5 bar", got "30 K"'),
    (_with('pressure = "40 bar"', 'pressure = "-4 bar"'), r"protocol\.segments\[0\]\.pressure: expected a non-negative pressure"),
    (_with('duration = "10 min"', 'duration = "-10 min"'), r"protocol\.segments\[0\]\.duration: expected a positive duration"),
    (_with('type = "hold"', 'type = "hodl"'), r"protocol\.segments\[1\]\.type: expected one of .* \(did you mean 'hold'\?\)"),
    (_with('pressure = "500 kPa"', 'presure = "500 kPa"'), r"protocol\.segments\[2\]\.presure: unknown key \(did you mean 'pressure'\?\)"),
    (_with('pressures = ["0.1 bar", "1 bar", "10 bar"]', 'pressures = []'), r"protocol\.segments\[3\]\.pressures: expected an array"),
    (_with('high = "10 bar"', 'high = "0.01 bar"'), r"protocol\.segments\[4\]\.high: expected a pressure above low"),
    (_with('count = 3', 'count = 0'), r"protocol\.segments\[4\]\.count: expected an integer ≥ 1"),
    (_with('time = ["0 s", "1 min", "2 min"]', 'time = ["0 s", "2 min", "1 min"]'), r"protocol\.segments\[5\]\.time\[2\]: goes back in time"),
    (_with('temperature = ["303 K", "320 K", "310 K"]', 'temperature = ["303 K", "320 K"]'), r"protocol\.segments\[5\]\.temperature: expected an array of 3 values"),
    (_with('frame_interval = "5 s"', 'frame_interval = "5 bar"'), r"numerics\.frame_interval: expected a time"),
    (_with('noise = true', 'noise = "yes"'), r"numerics\.noise: expected true or false"),
    (_with('fields = ["eta", "loading"]', 'fields = ["eta", "loadings"]'), r"outputs\.fields\[1\]: unknown field 'loadings' \(did you mean 'loading'\?\)"),
    (_with('[crystal]\n', '[crystl]\n'), r"crystal: missing required key"),
    (VALID.replace('[[protocol.segments]]', '[[protocol.segment]]'), r"protocol\.segments: missing required key"),
    (_with('seed = 7', 'seed = -1'), r"seed: expected an integer ≥ 0"),
    (_with('name = "ramp"', 'name = "ramp"\nname2 = 1'), r"name2: unknown key"),
    # heterogeneity and size distributions (the bad inputs)
    (_with('defect_concentration = 0.01', 'defect_concentration = -0.1'), r"heterogeneity\.defect_concentration: expected a fraction in \[0, 1\)"),
    (_with('defect_concentration = 0.01', 'defect_concentration = 1.0'), r"heterogeneity\.defect_concentration: expected a fraction in \[0, 1\)"),
    (_with('correlation_length = "5 nm"', 'correlation_length = "0 nm"'), r"heterogeneity\.correlation_length: expected a positive length"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]\n', '[crystal.distribution]\nmedian = "300 nm"\nwidth = 0\n'), r"crystal\.distribution\.width: expected a positive width"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]\n', '[crystal.distribution]\nmedian = "300 nm"\nwidth = -0.3\n'), r"crystal\.distribution\.width: expected a positive width"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]\n', 'sizes = ["300 nm", "0 nm"]\n'), r"crystal\.sizes\[1\]: expected a positive length"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]\n', 'sizes = []\n'), r"crystal\.sizes: expected an array of crystal sizes"),
    (_with('size = ["300 nm", "200 nm", "0.2 um"]', 'size = "1 um"\nsizes = ["1 um"]'), r"crystal\.size: expected exactly one of size, size_cells, sizes or distribution"),
    ("material = \n", r"not valid TOML"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[f"bad{i:02d}" for i in range(len(BAD))])
def test_bad_scenario_names_the_key(text, message):
    with pytest.raises(ScenarioError, match=message) as info:
        parse_scenario(text, source="run.toml")
    assert str(info.value).startswith("run.toml: ")


def test_bad_scenarios_are_many_and_distinct():
    assert len({text for text, _ in BAD}) == len(BAD) >= 20


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such file \(expected a scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_size_series_reads_each_crystal():
    text = _with('size = ["300 nm", "200 nm", "0.2 um"]', 'sizes = ["0.3 um", ["100 nm", "50 nm", "50 nm"]]')
    s = parse_scenario(text, source="run.toml")
    assert s.crystal.size_A is None
    assert len(s.crystal.sizes_A) == 2
    assert s.crystal.sizes_A[0] == pytest.approx((3000.0,) * 3)
    assert s.crystal.sizes_A[1] == pytest.approx((1000.0, 500.0, 500.0))


def test_correlation_length_below_one_cell_names_the_key(tmp_path):
    """Only the material knows the cell: the check runs when the run is prepared, before anything is built."""
    from twin.engine.run import Prepared

    text = _with('correlation_length = "5 nm"', 'correlation_length = "3 A"').replace(
        'size = ["300 nm", "200 nm", "0.2 um"]', 'size_cells = 4')
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^run\.toml: heterogeneity\.correlation_length: expected at least one "
                                            r"lattice cell \(6\.63 Å, the shortest site edge\), got 3 Å"):
        Prepared(load_scenario(path))
