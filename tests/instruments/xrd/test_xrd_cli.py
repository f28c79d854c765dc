"""``twin xrd`` on real CIFs: JSON reflection list in the documented form, CSV + PNG, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twin.cli import main


def test_peaks_json_form(shared_data, capsys):
    cif = shared_data / "structures/raspa2/MIL-53(Cr)ht.cif"
    assert main(["xrd", str(cif), "--wavelength", "1.5406 A", "--two-theta", "3..50", "--peaks", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["wavelength_A"] == 1.5406
    peaks = out["peaks"]
    assert max(p["intensity_rel"] for p in peaks) == 100.0
    first = peaks[0]
    assert set(first) >= {"two_theta_deg", "d_A", "intensity_rel", "hkl"}
    assert first["hkl"] == [[1, 1, 0]] and first["two_theta_deg"] == pytest.approx(8.59, abs=0.01)
    assert all(isinstance(h, list) and len(h) == 3 for p in peaks for h in p["hkl"])
    assert [p["two_theta_deg"] for p in peaks] == sorted(p["two_theta_deg"] for p in peaks)


def test_profile_csv_and_png(shared_data, tmp_path, capsys):
    out = tmp_path / "pattern.csv"
    cif = shared_data / "structures/raspa2/MIL-53(Cr)lt.cif"
    assert main(["xrd", str(cif), "--wavelength", "CuKa", "--two-theta", "5..30", "-o", str(out), "--size", "50 nm"]) == 0
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape == (2501, 2) and data[:, 1].max() == pytest.approx(100.0, abs=1e-3)
    assert data[np.argmax(data[:, 1]), 0] == pytest.approx(12.19, abs=0.05)  # (110) of the lt cell
    assert (tmp_path / "pattern.png").stat().st_size > 1000
    assert '"size_nm": 50.0' in capsys.readouterr().out  # the size is echoed with its convention


def test_peaks_with_output_write_the_reflection_list(shared_data, tmp_path, capsys):
    out = tmp_path / "peaks.csv"
    cif = shared_data / "structures/raspa2/MIL-53(Cr)lt.cif"
    assert main(["xrd", str(cif), "--two-theta", "5..30", "--peaks", "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "two_theta_deg,d_A,intensity_rel,multiplicity,hkl" and len(lines) == len(doc["peaks"]) + 1
    first = lines[1].split(",")
    assert float(first[0]) == pytest.approx(doc["peaks"][0]["two_theta_deg"]) and int(first[3]) >= 1
    assert not (tmp_path / "peaks.png").exists()  # a peak list, not a profile


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--wavelength", "0 A"], "--wavelength: the wavelength must be positive"),
        (["--two-theta", "0..50"], r"--two-theta: the 2θ range must satisfy 0 < start < end < 180 deg"),
        (["--two-theta", "5..180"], r"0 < start < end < 180"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(shared_data, capsys, args, match):
    import re

    cif = shared_data / "structures/raspa2/MIL-53(Cr)ht.cif"
    assert main(["xrd", str(cif), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err)


def test_unparsable_and_disordered_cifs(tmp_path, capsys):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 5\nloop_\n_atom_site_label\n")
    assert main(["xrd", str(bad), "--peaks"]) == 2
    assert "broken.cif: could not read a crystal structure" in capsys.readouterr().err
    over = tmp_path / "over.cif"
    over.write_text(
        "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n_cell_angle_beta 90\n"
        "_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
        "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
        "Cu1 Cu 0 0 0 0.8\nZn1 Zn 0 0 0 0.7\n"
    )
    code = main(["xrd", str(over), "--peaks"])
    err = capsys.readouterr().err
    assert code == 2 and "over.cif: could not read a crystal structure" in err  # pymatgen refuses Σocc > 1


def test_partial_occupancy_average_structure_and_dummy_species():
    """0.5/0.5 Cu/Zn on one site: occupancy-weighted f (as pymatgen); a dummy species is a clear error."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import DummySpecies, Lattice, Structure

    from instruments.xrd import d_min_for, peak_list, phase_from_structure
    from twin.errors import MaterialError

    s = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Zn": 0.5}] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    ours = peak_list(phase_from_structure(s, d_min_for(1.5406, 90.0)), 1.5406, (10.0, 90.0))
    ref = XRDCalculator(1.5406).get_pattern(s, two_theta_range=(10.0, 90.0))
    np.testing.assert_allclose([p["intensity_rel"] for p in ours], ref.y, rtol=1e-3)
    dummy = Structure(Lattice.cubic(3.6), [DummySpecies("X")], [[0, 0, 0]])
    with pytest.raises(MaterialError, match=r"dummy\.cif: site 0 holds species 'X', which is not a chemical element"):
        phase_from_structure(dummy, 1.0, where="dummy.cif")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        # λ = 0.01 Å to 50°: d_min = 0.0115 Å, 4π/3·V/d_min³ ≈ 3.9e9 hkl; refused before any allocation
        (["--wavelength", "0.01 A", "--two-theta", "3..50"],
         r"mil53al_lp\.cif: λ = 0\.01 Å with 2θ up to 50° reaches d_min = 0\.01148 Å, which would enumerate "
         r"about 3\.9e\+09 reflections \(hkl before symmetry merging\); the limit is 500,000"),
        # λ = 100 Å: d_min = 115 Å exceeds b = 16.7 Å, the longest cell edge
        (["--wavelength", "100 A"],
         r"λ = 100 Å with 2θ up to 50° reaches d_min = 114\.8 Å, above the largest d-spacing of the cell "
         r"\(16\.74 Å, \(0 1 0\)\): no reflection falls in range"),
        # reflections exist, but none between 40.00° and 40.05° (Kα1)
        (["--wavelength", "CuKa1", "--two-theta", "40..40.05"],
         r"mil53al_lp\.cif: no reflection falls in 2θ = 40–40\.05° at λ = 1\.54059 Å"),
    ],
)
def test_reflection_limits_exit_2_with_one_line(repo_root, capsys, args, match):
    import re

    cif = repo_root / "datasets/structures/mil53al_lp.cif"
    assert main(["xrd", str(cif), *args, "--peaks"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err


def test_hkl_estimate_matches_enumerated_count(repo_root):
    """4π/3·V/d_min³ (limiting sphere over reciprocal-cell volume) against the hkl actually enumerated:
    within 2 % once the sphere holds ~10⁴ points (surface error ∝ N^(-1/3))."""
    from instruments.xrd import estimated_hkl_count, load_structure
    from instruments.xrd.structure import _enumerate_hkl

    lattice = load_structure(repo_root / "datasets/structures/mil53al_lp.cif").lattice
    hkl = _enumerate_hkl(lattice, 0.6)
    assert len(hkl) == pytest.approx(estimated_hkl_count(lattice.volume, 0.6), rel=0.02)
    assert len({tuple(h) for h in hkl}) == len(hkl)  # each point once


def test_a_directory_as_output_is_refused_before_any_work(shared_data, tmp_path, capsys):
    cif = shared_data / "structures/raspa2/MIL-53(Cr)lt.cif"
    assert main(["xrd", str(cif), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory; -o names a file such as pattern.csv" in err and len(err.splitlines()) == 1
