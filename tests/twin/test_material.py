"""Material loader: known/unknown names, units and sources checked, site cells consistent with the CIFs."""

from __future__ import annotations

import warnings

import pytest

from twin.datasets import material_names
from twin.errors import MaterialError
from twin.material import load_material


def test_unknown_material_lists_known_names():
    with pytest.raises(MaterialError, match=r"unknown material 'nope'; known materials: .*mil53-al"):
        load_material("nope")


@pytest.mark.parametrize("name", ["mil53-al", "dut8-ni", "hkust-1"])
def test_materials_load_and_match_their_cifs(name):
    from pymatgen.core import Structure

    m = load_material(name)
    assert name in material_names()
    assert m.thermo.n_phases == len(m.phases)
    for phase in m.phases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(phase.structure)
        # the CIF is the site cell: same volume and same host mass (independent check of the TOML numbers)
        assert s.volume == pytest.approx(phase.volume_A3, rel=2e-3)
        assert float(s.composition.weight) == pytest.approx(phase.mass_g_per_mol, rel=2e-3)


def test_mil53_phase_order_and_reflections():
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import Structure

    m = load_material("mil53-al")
    assert m.phase_names == ("np", "lp")
    calc = XRDCalculator("CuKa1")
    expect = {"lp": ((0, 1, 1), 8.7), "np": ((1, 1, 0), 12.5)}
    for phase in m.phases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pattern = calc.get_pattern(Structure.from_file(phase.structure), two_theta_range=(5, 15))
        hkl, two_theta = expect[phase.name]
        found = [x for x, h in zip(pattern.x, pattern.hkls) if any(tuple(d["hkl"]) == hkl for d in h)]
        assert found and found[0] == pytest.approx(two_theta, abs=0.15)


def test_bad_unit_in_material_file_names_the_key(tmp_path):
    src = load_material("mil53-al").path.read_text(encoding="utf-8")
    bad = src.replace('volume = { value = 1425.2, unit = "A3"', 'volume = { value = 1425.2, unit = "bar"')
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(MaterialError, match=r"bad.toml: phases\[1\]\.volume\.unit: expected a volume unit"):
        load_material(path)


def test_missing_source_is_an_error(tmp_path):
    src = load_material("mil53-al").path.read_text(encoding="utf-8")
    path = tmp_path / "nosrc.toml"
    path.write_text(src.replace('source = "wongng2019", note = "1891.55 / 2"', 'source = "nowhere"'), encoding="utf-8")
    with pytest.raises(MaterialError, match=r"phases\[0\]\.volume: source 'nowhere' is not in \[sources\]"):
        load_material(path)


def test_temperature_outside_validity():
    with pytest.raises(MaterialError, match=r"500 K is outside the validity range of material 'mil53-al'"):
        load_material("mil53-al").check_temperature(500.0)


def test_surface_term_units_are_checked(tmp_path):
    src = load_material("dut8-ni").path.read_text(encoding="utf-8")
    path = tmp_path / "badsize.toml"
    path.write_text(src.replace('critical_size = { value = 0.5, unit = "um"', 'critical_size = { value = 0.5, unit = "bar"'), encoding="utf-8")
    with pytest.raises(MaterialError, match=r"badsize.toml: thermo.critical_size: expected a length"):
        load_material(path)
    path.write_text(src.replace('value = -0.92, unit = "J/m2"', 'value = -0.92, unit = "kJ/mol"'), encoding="utf-8")
    with pytest.raises(MaterialError, match=r"thermo.surface_energy_difference: expected a area energy such as \"0.05 J/m2\", got \"-0.92 kJ/mol\""):
        load_material(path)


def test_a_variant_extends_its_base_and_replaces_only_what_it_names(tmp_path):
    base = load_material("mil53-al")
    variant = load_material("mil53-al-fragmenting")
    assert variant.name == "mil53-al-fragmenting" and variant.phases == base.phases
    assert variant.raw["mesoscale"]["cohesion"]["value"] == 3.2 and base.raw["mesoscale"]["cohesion"]["value"] == "inf"
    assert variant.raw["mesoscale"]["coupling_a"] == base.raw["mesoscale"]["coupling_a"]  # merged key by key
    assert variant.raw["guests"] == base.raw["guests"] and variant.sha256 != base.sha256

    local = tmp_path / "hot.toml"  # a base by path, one number replaced inside a nested table
    local.write_text('extends = "mil53-al"\n[guests.CO2.lp]\n'
                     'enthalpy = { value = -30.0, unit = "kJ/mol", source = "estimate" }\n', encoding="utf-8")
    hot = load_material(local)
    assert hot.name == "hot" and hot.raw["guests"]["CO2"]["lp"]["enthalpy"]["value"] == -30.0
    assert hot.raw["guests"]["CO2"]["lp"]["n_max"] == base.raw["guests"]["CO2"]["lp"]["n_max"]


def test_bad_extends_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(MaterialError, match=r"extends: the chain a.toml -> b.toml -> a.toml is circular"):
        load_material(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "nope"\n', encoding="utf-8")
    with pytest.raises(MaterialError, match=r"c.toml: extends: unknown material 'nope'"):
        load_material(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text("extends = 3\n", encoding="utf-8")
    with pytest.raises(MaterialError, match=r"d.toml: extends: expected a material name"):
        load_material(tmp_path / "d.toml")
