"""The technique seam: XRD through the registry gives the patterns it gave before the seam existed (golden file),
and a toy technique that lives only in the tests plugs into `twin observe`, `twin fit` and `twin report` with one
folder (tests/toy_technique) and one registry line.

The golden run (tests/data/golden/demo_run) is the trajectory of `twin demo` (seed 11, six MIL-53(Al) crystals
through a CO2 swing at 303 K) with its per-frame summaries whole and only the first stored field frame kept;
``xrd_patterns.npz`` holds the patterns `twin observe --xrd` computes from it (float32): written before the seam
was introduced and rewritten once since, on purpose, when the lattice of a wine-rack host (MIL-53) began to follow
the anisotropic breathing path instead of an isotropic scaling of its endpoint cell (69 of 71 frames moved, by up
to 16 % of the largest intensity: the np region's mean η reaches 0.45 while it switches).
"""

from __future__ import annotations

import re
import shutil
import textwrap

import numpy as np
import pytest

from instruments import registry
from instruments.series_io import read_observable
from twin.cli import main
from twin.errors import TwinError
from twin.fit.result import load_fit_result
from twin.trajectory import Trajectory


@pytest.fixture
def demo_run(tmp_path, repo_root):
    run = tmp_path / "run"
    shutil.copytree(repo_root / "tests" / "data" / "golden" / "demo_run", run)
    (run / "xrd_patterns.npz").unlink()
    return run


def test_xrd_patterns_of_the_demo_run_are_unchanged(demo_run, repo_root, capsys):
    assert main(["observe", str(demo_run), "--technique", "xrd", str(demo_run / "instrument.toml")]) == 0
    assert "xrd series written" in capsys.readouterr().out
    series = read_observable(demo_run / "observables" / "xrd.h5")
    golden = np.load(repo_root / "tests" / "data" / "golden" / "demo_run" / "xrd_patterns.npz")
    np.testing.assert_allclose(series.axis.values, golden["two_theta_deg"], rtol=1e-6)
    scale = float(np.max(golden["intensity"]))
    # float32 forward model: agreement to a few ulp of the largest intensity
    np.testing.assert_allclose(series.values, golden["intensity"], rtol=0, atol=4 * np.finfo(np.float32).eps * scale)
    for name in ("time_s", "pressure_bar", "temperature_K"):
        np.testing.assert_allclose(series.condition(name), golden[name], rtol=1e-12)
    assert series.meta["wavelength_A"] == pytest.approx(float(golden["wavelength_A"]), rel=1e-7)


def test_registry_lists_each_technique_once_and_refuses_unknown_names():
    names = registry.names()
    assert names[:4] == ("xrd", "total-scattering", "isotherm", "nmr") and len(set(names)) == len(names)
    assert registry.for_fit("xrd-series").name == "xrd"
    with pytest.raises(TwinError, match=r"expected one of xrd, total-scattering, isotherm, nmr, .*got 'xdr' \(did you mean 'xrd'\?\)"):
        registry.get("xdr")


def test_observe_refuses_a_technique_without_forward_model(demo_run, capsys):
    assert main(["observe", str(demo_run), "--technique", "total-scattering", str(demo_run / "instrument.toml")]) == 2
    err = capsys.readouterr().err
    assert "total-scattering: X-ray total scattering has no forward model from a run" in err
    assert "observable techniques: xrd, nmr" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def toy():
    from toy_technique import TOY

    registry.register(TOY)
    yield TOY
    registry.unregister(TOY.name)


def _measured_toy_series(folder, simulated, every=5, seed=0):
    """Noisy 'measured' frames of the simulated toy series: two-column files plus a conditions log."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    nu, rows = np.asarray(simulated.axis.values), ["file,time_s"]
    for k in range(0, simulated.n_frames, every):
        y = 1000.0 * simulated.values[k] + rng.normal(0.0, 5.0, nu.size)
        name = f"frame_{k:03d}.xy"
        body = "\n".join(f"{a:.4f} {b:.4f}" for a, b in zip(nu, y))
        (folder / name).write_text(f"wavenumber_cm1 intensity\n{body}\n", encoding="utf-8")
        rows.append(f"{name},{simulated.condition('time_s')[k]:.6g}")
    (folder / "conditions_log.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_toy_technique_plugs_into_observe_fit_and_report(toy, demo_run, capsys):
    instrument = demo_run / "toy.toml"
    instrument.write_text("[band]\npositions_cm1 = [3600.0, 3660.0]\nwidth_cm1 = 12.0\n"
                          "[scan]\nrange_cm1 = [3500.0, 3750.0]\npoints = 251\n", encoding="utf-8")
    assert main(["observe", "--list"]) == 0
    assert "toy " in capsys.readouterr().out

    # observe: the registry's simulate, written to observables/toy.h5 with the first/last CSV
    assert main(["observe", str(demo_run), "--technique", "toy", str(instrument)]) == 0
    simulated = read_observable(demo_run / "observables" / "toy.h5")
    assert simulated.technique == "toy" and simulated.axis.decreasing and simulated.n_frames == 71
    assert (demo_run / "observables" / "toy_first.csv").is_file()

    # fit: the fit file names the technique; the toy's own fit problem runs
    _measured_toy_series(demo_run / "measured_toy", simulated)
    fit_file = demo_run / "toy_fit.toml"
    fit_file.write_text(textwrap.dedent("""
        [fit]
        technique = "toy"
        instrument = "toy.toml"
        [[measurements]]
        path = "measured_toy"
    """), encoding="utf-8")
    assert main(["fit", str(fit_file), "-o", str(demo_run)]) == 0
    result = load_fit_result(demo_run / "fit_result.json")
    assert result.techniques == ("toy",)
    (estimate,) = result.parameters
    with Trajectory(demo_run / "trajectory.h5") as traj:
        true_mean = float(traj.summary("phase_fraction")[::5, -1].mean())
    assert abs(estimate.value - true_mean) < 0.01  # noise of 0.5 % of the band height
    attached = read_observable(demo_run / "observables" / "toy.h5")
    assert attached.measured is not None and attached.measured_frame_index.tolist() == list(range(0, 71, 5))

    # report: the toy's section comes from the registry, with the measured overlay
    assert main(["report", str(demo_run)]) == 0
    html = (demo_run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Toy band spectra" in html and "toy-overlay" in html


def test_a_shipped_instrument_resolves_by_name(demo_run, capsys):
    assert main(["observe", str(demo_run), "--xrd", "lab_cuka"]) == 0
    assert read_observable(demo_run / "observables" / "xrd.h5").n_frames == 71
    assert main(["observe", "--list"]) == 0
    listed = capsys.readouterr().out.split("shipped instruments (give the name in place of a file): ")[1].split("\n")[0]
    assert {"lab_cuka", "mil53_al_2h"} <= set(listed.split(", "))
    assert main(["observe", str(demo_run), "--xrd", "lab_cukaa"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"'lab_cukaa' is neither an instrument file nor a shipped instrument \(shipped: .*lab_cuka", err)
