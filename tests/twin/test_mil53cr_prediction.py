"""MIL-53(Cr)/CO2 at 304 K: the in situ diffraction of Neimark et al., Langmuir 27, 4734 (2011), predicted from the
isotherm fit alone (``datasets/materials/mil53-cr.toml``, source ``fit304``) and compared with Figure 4 (unit-cell
volume against CO2 pressure) and Figure S3a (2θ of the same reflection). Code: ``examples/mil53cr_co2_prediction.py``.

What the measurement is. Both figures report ONE reflection of the large-pore phase, the (110) of the Imcm cell
(d = 10.3-10.5 Å; λ = 0.71118 Å, inferred from the file's hidden d-spacing set: the paper's text was not
available), on adsorption at 4-10 bar and on desorption from 9 down to 1 bar. The volume of Figure 4 is that
d-spacing converted by the authors with the wine-rack relation V = 2 L c d(110) at the strut length L = 10.606 Å and
chain repeat c = 6.812 Å of the empty lp cell (checked below). Neither figure shows the narrow-pore phase: a point
says "the lp phase is present in the beam at this pressure on this branch, with this cell".

What the twin predicts. The phase on each branch from the spinodal thermodynamics (``twin isotherm``'s
``compute_isotherm``) with the fitted parameters, the cell of that phase from the breathing path at its η
(``instruments.xrd.breathing_lattice``; V(η) of ``mofcore.breathing``), and the (110) position from the XRD
forward model's reflection list (``instruments.xrd.peak_list``) for that cell. The twin's per-phase η sits at the
endpoints (h'(0) = h'(1) = 0: no elastic compliance inside a phase), so the predicted lp cell is the empty ht cell
at every pressure: the model cannot produce the swelling of the lp cell under CO2 (the adsorption stress of
Neimark et al.'s "view from inside").

Tolerances, fixed before the prediction was computed and compared (the measured values and the isotherm-fit
transition pressures were known when they were written; the agreement was not):

* lp cell volume within 2.5 % of the measured at every pressure where the twin predicts lp. Why 2.5 %: the model
  holds the empty-lp cell; the adsorption stress of CO2 at up to 10 bar (tens of MPa) on a framework whose lp bulk
  modulus is a few GPa strains the lp cell by 1-2.5 %, the size of the effect the model leaves out.
* (110) position within 0.10° 2θ at those pressures: 2.5 % in d-spacing at 2θ = 3.96° (on the wine-rack
  d(110) ∝ V at constant L and c, so the volume tolerance carries over one to one).
* transition pressures within a factor 2. The figures bound them: lp is seen on adsorption from the lowest frame
  (4 bar) and on desorption down to the lowest frame (1 bar), so the predicted adsorption step must lie below
  2 × 4 bar and the predicted desorption step below 2 × 1 bar, with hysteresis (desorption step below the
  adsorption step). A factor 2, because the in situ cell and the gravimetric isotherm are different samples and
  set-ups with different equilibration times, and MIL-53 transition pressures differ by that much between
  reports (e.g. 4-6 bar adsorption steps at 300-304 K for MIL-53(Al) and (Cr): Bourrelly et al. 2005).
* the twin predicts lp at ≥ 75 % of the 16 measured lp frames (at most the frames next to a transition differ).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twin.errors import TwinError
from twin.material import load_material

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mil53cr_co2_prediction.py"
FOLDER = "isotherms/mil53cr_neimark2011"

VOLUME_REL_TOL = 0.025
TWO_THETA_TOL_DEG = 0.10
TRANSITION_FACTOR = 2.0
MIN_PHASE_AGREEMENT = 0.75


def _example():
    spec = importlib.util.spec_from_file_location("mil53cr_co2_prediction", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return _example()


@pytest.fixture(scope="module")
def comparison(example, shared_data):
    return example.compare(load_material("mil53-cr"), shared_data / FOLDER)


def test_material_loads_and_is_listed():
    from twin.datasets import material_names

    m = load_material("mil53-cr")
    assert "mil53-cr" in material_names()
    assert m.phase_names == ("np", "lp") and m.guests == ("CO2",)
    m.check_temperature(304.0)
    out = subprocess.run([sys.executable, "-m", "twin.cli", "materials"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "mil53-cr" in out.stdout


def test_cifs_are_the_site_cells_of_the_toml():
    from instruments.xrd import phase_from_cif

    m = load_material("mil53-cr")
    for phase in m.phases:
        s = phase_from_cif(phase.structure, 2.0)
        assert float(s.cell_mass_amu) == pytest.approx(phase.mass_g_per_mol, rel=2e-3)  # 4 Cr(OH)(bdc)
        np.testing.assert_allclose(np.asarray(s.lattice, float),
                                   [phase.a_A, phase.b_A, phase.c_A, phase.alpha_deg, phase.beta_deg, phase.gamma_deg], rtol=1e-5)


def test_prediction_reads_no_diffraction_data(example, monkeypatch, tmp_path):
    """The prediction needs the material and the pressures only: it runs without the data folder, and the
    comparison reads Figure_4 / Figure_S3a only after the prediction is made (``compare`` predicts first)."""
    opened = []
    real_open = Path.open

    def spy(self, *args, **kwargs):
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (opened.append(self.name), real_open(self, *a, **k).read())[1])
    prediction = example.predict(load_material("mil53-cr"), [4.0, 6.0, 10.0], [9.0, 3.0, 1.0])
    assert not [name for name in opened if name.startswith("Figure")]
    assert set(prediction) >= {"adsorption", "desorption", "transitions"}


def test_volume_and_peak_positions_agree_within_the_stated_tolerances(comparison):
    rows = comparison["rows"]
    lp_rows = [r for r in rows if r["predicted_phase"] == "lp"]
    assert len(rows) == 16
    assert len(lp_rows) >= MIN_PHASE_AGREEMENT * len(rows)
    for r in lp_rows:
        assert abs(r["volume_rel_error"]) <= VOLUME_REL_TOL, r
        assert abs(r["two_theta_error_deg"]) <= TWO_THETA_TOL_DEG, r


def test_transition_pressures_within_a_factor_two_with_hysteresis(comparison):
    steps = comparison["transitions_bar"]
    lowest_lp = comparison["lowest_measured_lp_bar"]
    assert steps["adsorption"] <= TRANSITION_FACTOR * lowest_lp["adsorption"]
    assert steps["desorption"] <= TRANSITION_FACTOR * lowest_lp["desorption"]
    assert steps["desorption"] < steps["adsorption"]


def test_measured_volumes_and_peaks_follow_the_anisotropic_path_not_an_isotropic_scaling(example, shared_data):
    """Consistency of the two figures with the wine-rack geometry: the (110) of the cell that the anisotropic path
    gives at each measured volume (constant strut and chain, the lp cell's) falls on the measured 2θ within half a
    detector step (0.0075°/2); the isotropic scaling of the lp cell to the same volume misses by up to 0.04°.
    (The authors converted 2θ to V with this geometry, so this checks the path and λ, not the physics.)"""
    check = example.geometry_check(load_material("mil53-cr"), shared_data / FOLDER)
    assert np.max(np.abs(check["anisotropic_error_deg"])) < 0.004
    assert np.max(np.abs(check["isotropic_error_deg"])) > 0.03


def test_pressure_outside_the_validity_is_a_one_line_error(example, tmp_path):
    with pytest.raises(TwinError, match=r"mil53-cr\.toml: validity\.pressure_max: 25 bar is above"):
        example.predict(load_material("mil53-cr"), [4.0, 25.0], [9.0])
    out = subprocess.run([sys.executable, str(EXAMPLE), "-o", str(tmp_path / "out"), "--top-pressure", "25 bar"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "pressure_max" in out.stderr


@pytest.mark.slow
def test_example_writes_csv_png_and_summary(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(EXAMPLE), "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((out / "mil53cr_co2_prediction.csv").read_text().splitlines()))
    assert len(rows) == 16 and {"measured_volume_A3", "predicted_volume_A3", "measured_two_theta_deg"} <= set(rows[0])
    assert (out / "mil53cr_co2_prediction.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tolerances"]["volume_rel"] == VOLUME_REL_TOL


@pytest.mark.slow
def test_powder_prediction_runs_from_an_isotherm_fit(tmp_path):
    """``--powder``: twin fit --isotherm on Figure 3a, then the powder's lp fraction at every frame (reported in
    docs/mil53cr.md; no tolerance is asserted on it: it was added after the comparison above was seen)."""
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(EXAMPLE), "-o", str(out), "--powder", "--steps", "200"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    powder = json.loads((out / "summary.json").read_text())["powder"]
    assert len(powder["lp_fraction_by_frame"]) == 16
    assert all(0.0 <= x <= 1.0 for x in powder["lp_fraction_by_frame"].values())
    assert (out / "powder_fit" / "fit_result.json").is_file()
