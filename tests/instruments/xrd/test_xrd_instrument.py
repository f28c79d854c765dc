"""Instrument TOML parser: round trip of every field and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instruments.xrd import CU_KA1_A, instrument_from_toml, load_instrument
from twin.errors import DataFormatError

GOOD = """
[source]
wavelength = "CuKa"
ka2_ratio = 0.48
polarisation_fraction = 0.5
monochromator_two_theta = "26.57 deg"
[scan]
two_theta = "3..50 deg"
step = "0.02 deg"
[profile]
caglioti_u = 0.01
caglioti_v = -0.004
caglioti_w = 0.002
tch_x = 0.001
tch_y = "0.02 deg"
[geometry]
zero_shift = "0.03 deg"
sample_displacement = "50 um"
goniometer_radius = "240 mm"
[background]
chebyshev = [100.0, -20.0, 3.0]
scale = 2.0
"""


def test_full_file_round_trip(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text(GOOD)
    inst, grid = load_instrument(path)
    assert grid[0] == 3.0 and grid[-1] == 50.0 and len(grid) == 2351
    np.testing.assert_allclose(np.asarray(inst.wavelengths_A), [CU_KA1_A, 1.5444274], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(inst.line_weights), [1.0, 0.48], rtol=1e-6)
    assert float(inst.displacement_um) == pytest.approx(50.0)
    assert float(inst.goniometer_radius_mm) == pytest.approx(240.0)
    assert float(inst.monochromator_two_theta_deg) == pytest.approx(26.57)
    assert float(inst.tch_y) == pytest.approx(0.02)
    np.testing.assert_allclose(np.asarray(inst.background), [100.0, -20.0, 3.0])


def test_synchrotron_wavelength_in_pm():
    inst, _ = instrument_from_toml('[source]\nwavelength = "45.77 pm"\n[scan]\ntwo_theta = "1..30"\n')
    assert np.asarray(inst.wavelengths_A).tolist() == pytest.approx([0.4577])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[source]\nwavelength = "-1.5 A"\n[scan]\ntwo_theta = "3..50 deg"', r"source\.wavelength: the wavelength must be positive"),
        ('[source]\nwavelength = "0 A"\n[scan]\ntwo_theta = "3..50 deg"', "must be positive"),
        ('[source]\nwavelength = "1.5 K"\n[scan]\ntwo_theta = "3..50 deg"', r'expected a length .*\(that is a temperature\).*"1\.5406 A"'),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "0..50 deg"', r"0 < start < end < 180 deg, got '0\.\.50 deg'"),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "10..190 deg"', r"0 < start < end < 180"),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "50..10"', r"0 < start < end < 180"),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "3..50"\nstep = "-0.1 deg"', r"scan\.step must be positive"),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "3..50"\n[profile]\nfoo = 1', r"unknown key profile\.foo"),
        ('[source]\nwavelength = "CuKa"\n[scan]\ntwo_theta = "3..50"\n[detector]\nx = 1', r"unknown table \[detector\]"),
        ('[scan]\ntwo_theta = "3..50"', r"source\.wavelength is required"),
        ('[source]\nwavelength = "CuKa"\npolarisation_fraction = 2\n[scan]\ntwo_theta = "3..50"', r"polarisation_fraction must be a number in \[0, 1\]"),
        ("[source\nwavelength = 1", "not valid TOML"),
    ],
)
def test_bad_input_is_a_clear_error(text, match):
    with pytest.raises(DataFormatError, match=match):
        instrument_from_toml(text, "lab.toml")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_data_format_error(text):
    try:
        instrument_from_toml(text, "x.toml")
    except DataFormatError:
        pass


@pytest.mark.parametrize(
    ("name", "lines"),
    [("CuKa", (1.5405929, 1.5444274)), ("MoKa", (0.709319, 0.713609)), ("CoKa1", (1.788996,)),
     ("AgKa", (0.559421, 0.563812)), ("cr Kα", (2.289760, 2.293663)), ("FeKa1", (1.936042,))],
)
def test_named_sources_give_their_kalpha_lines(name, lines):
    """Kα1/Kα2 of each anode from one table (Hölzer et al., Phys. Rev. A 56, 4554 (1997) for Cu; International
    Tables for Crystallography Vol. C, Table 4.2.2.1, for the others)."""
    inst, _ = instrument_from_toml(f'[source]\nwavelength = "{name}"\n[scan]\ntwo_theta = "5..50 deg"', "lab.toml")
    np.testing.assert_allclose(np.asarray(inst.wavelengths_A), lines, rtol=1e-6)


def test_an_unknown_source_lists_the_named_ones():
    with pytest.raises(DataFormatError, match=r"unknown X-ray source 'XxKa'; named sources: CuKa, CoKa, CrKa, FeKa, MoKa, AgKa"):
        instrument_from_toml('[source]\nwavelength = "XxKa"\n[scan]\ntwo_theta = "5..50 deg"', "lab.toml")
