"""Unit strings: conversions against scipy.constants, dimension errors, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import constants as sc

from twin.errors import UnitError
from twin.units import DIMENSIONS, format_quantity, parse_quantity, parse_range


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("303 K", "temperature", 303.0),
        ("30 degC", "temperature", 303.15),
        ("32 degF", "temperature", 273.15),
        ("5 bar", "pressure", 5e5),
        ("500 kPa", "pressure", 5e5),
        ("1 atm", "pressure", sc.atm),
        ("760 Torr", "pressure", sc.atm),
        ("40 %", "fraction", 0.4),
        (0.4, "fraction", 0.4),
        ("2 um", "length", 2e4),
        ("1.5406 A", "length", 1.5406),
        ("10 min", "time", 600.0),
        ("1 eV", "energy", sc.electron_volt * sc.N_A / 1e3),
        ("1 kcal/mol", "energy", 4.184),
        ("1e-9 m2/s", "diffusivity", 1e-9),
    ],
)
def test_conversions(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "value, dimension, message",
    [
        ("30 K", "pressure", r'x: expected a pressure such as "5 bar", got "30 K" \(that is a temperature\)'),
        ("5 bar", "temperature", r"expected a temperature .* \(that is a pressure\)"),
        (303, "temperature", r"\(a number without unit\)"),
        ("5 parsecs", "length", r"known units: A, Å"),
        ("bar 5", "pressure", r'got "bar 5"'),
        ("nan bar", "pressure", r"expected a pressure"),
        (True, "fraction", r"\(a boolean\)"),
        ([1], "time", r"\(a list\)"),
    ],
)
def test_errors_name_the_place_and_expected_form(value, dimension, message):
    with pytest.raises(UnitError, match=message):
        parse_quantity(value, dimension, where="x")


def test_range():
    assert parse_range("0.01..40 bar", "pressure") == pytest.approx((1e3, 4e6))
    assert parse_range("1 bar..2 MPa", "pressure") == pytest.approx((1e5, 2e6))
    with pytest.raises(UnitError, match="lower bound"):
        parse_range("40..1 bar", "pressure", where="--pressure")
    with pytest.raises(UnitError, match="range such as"):
        parse_range("40 bar", "pressure", where="--pressure")


_UNITS = [(dim, unit) for dim, spec in DIMENSIONS.items() for unit in spec.factors if unit]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_UNITS), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_format_parse_round_trip(dim_unit, number):
    dimension, unit = dim_unit
    internal = parse_quantity(f"{number!r} {unit}", dimension)
    back = parse_quantity(format_quantity(internal, dimension, unit), dimension)
    assert math.isclose(back, internal, rel_tol=1e-5, abs_tol=1e-9 * max(1.0, abs(internal)))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=3)))
def test_arbitrary_input_raises_only_unit_error(value):
    for dimension in DIMENSIONS:
        try:
            result = parse_quantity(value, dimension)
        except UnitError:
            continue
        assert math.isfinite(result)
