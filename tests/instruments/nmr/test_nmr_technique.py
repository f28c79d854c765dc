"""²H NMR on the technique seam: the instrument file, the spectrum of every frame of a run (one flip rate per
phase), the measured VT series of D2O on graphene oxide read through the package's readers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from instruments import registry
from instruments.io import read_measurement
from instruments.measurement import MeasurementSeries
from instruments.nmr.technique import NMR, align_nmr, load_nmr_settings, simulate_nmr
from twin.datasets import dataset_path

EXAMPLE_INSTRUMENT = dataset_path("instruments", "mil53_al_2h.toml")
from mofcore.errors import DataFormatError, FitError

SERIES = ("moisture", "go_water_futamura2024", "nmr_2h_d2o_vt")


@pytest.fixture(scope="module")
def demo_frames(repo_root):
    from twin.material import load_material
    from twin.observe import twin_frames
    from twin.trajectory import Trajectory

    with Trajectory(repo_root / "tests" / "data" / "golden" / "demo_run" / "trajectory.h5") as traj:
        return twin_frames(traj, load_material("mil53-al"))


def test_nmr_is_registered_for_observe_and_fit():
    assert registry.get("nmr") is NMR and registry.for_fit("nmr-series") is NMR
    assert NMR.observable and NMR.axis_name == "frequency" and NMR.axis_unit == "kHz"


def test_a_run_gives_the_phase_dependent_flip_rate(demo_frames):
    settings = load_nmr_settings(EXAMPLE_INSTRUMENT)
    observable = simulate_nmr(demo_frames, settings)
    fraction = demo_frames.summary("phase_fraction", "test")
    assert observable.values.shape == (demo_frames.n_frames, settings.frequency_hz.size)
    assert observable.axis.name == "frequency" and observable.axis.unit == "kHz"
    assert np.all(np.diff(observable.axis.values) > 0)
    step = observable.axis.values[1] - observable.axis.values[0]
    area = observable.values.sum(axis=1) * step
    closed, opened = np.argmax(fraction[:, 0]), np.argmax(fraction[:, 1])
    assert fraction[closed, 0] > 0.99 and fraction[opened, 1] > 0.99
    # np at 303 K: k ≈ 1.5e3 1/s, slow: nearly a full echo (e^{−2kτ} ≈ 0.94); lp: k ≈ 3.9e5 1/s, intermediate: the
    # echo is attenuated to about a third
    assert area[closed] > 0.9 and area[opened] < 0.6
    np.testing.assert_allclose(area, fraction @ np.array([area[closed], area[opened]]), rtol=1e-4, atol=1e-4)
    rate_lp = observable.conditions["rate_per_s_lp"][0]
    assert rate_lp == pytest.approx(1e13 * np.exp(-43000.0 / (8.314462618 * 303.0)), rel=1e-9)
    assert observable.conditions["rate_per_s_np"][0] < 1e-2 * rate_lp


def test_instrument_file_errors_name_the_key(tmp_path):
    text = EXAMPLE_INSTRUMENT.read_text(encoding="utf-8")
    cases = {
        "[phases.lp]": ("[phases.open]", r"phases: no dynamics for phase lp"),
        'asymmetry = 0.0': ("asymmetry = 1.5", r"quadrupole.asymmetry: expected η_Q in \[0, 1\], got 1.5"),
        'frequency = "-250..250 kHz"': ('frequency = "-100..100 kHz"', r"spectrum.frequency: the window .* too narrow"),
        'k0 = "1e13 1/s"': ('k0 = "-1e13 1/s"', r"phases.np.k0: expected a positive rate"),
        'model = "pi-flip"': ('model = "flip"', r"motion.model: expected one of rigid, pi-flip"),
    }
    from instruments.technique import TwinFrames

    frames = TwinFrames("mil53-al", ("np", "lp"), (), (1.0, 1.0), 1.0, 1,
                        {"phase_fraction": np.array([[0.5, 0.5]])},
                        {"time_s": np.zeros(1), "temperature_K": np.full(1, 300.0)}, "run")
    for old, (new, message) in cases.items():
        path = tmp_path / "nmr.toml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(DataFormatError, match=message):
            simulate_nmr(frames, load_nmr_settings(path))


def test_the_measured_series_reads_through_the_package_readers(shared_data):
    folder = shared_data.joinpath(*SERIES)
    series = read_measurement(folder)
    assert isinstance(series, MeasurementSeries) and len(series.items) == 6
    assert series.items[0].axis.name == "frequency" and series.items[0].axis.unit == "kHz"
    observable = align_nmr(folder)
    assert observable.values.shape == (6, 4000)
    np.testing.assert_allclose(observable.condition("temperature_K"), [153, 193, 213, 233, 273, 293])
    assert observable.axis.values[0] == pytest.approx(-416.268) and observable.axis.values[-1] == pytest.approx(416.857)
    assert np.all(observable.sigma > 0)


def test_a_series_without_temperatures_is_refused(shared_data, tmp_path):
    from twin.fit.nmr import load_nmr_series

    folder = tmp_path / "series"
    folder.mkdir()
    for name in ("d2o_go_213K.csv", "d2o_go_233K.csv"):
        shutil.copy(shared_data.joinpath(*SERIES, name), folder / name)
    (folder / "conditions.csv").write_text("file,time_s\nd2o_go_213K.csv,0\nd2o_go_233K.csv,60\n", encoding="utf-8")
    with pytest.raises(FitError, match=r"no temperature for d2o_go_213K.csv, d2o_go_233K.csv; the VT fit needs one"):
        load_nmr_series(folder)


def test_twin_observe_writes_the_nmr_series(repo_root, tmp_path, capsys):
    from instruments.series_io import read_observable
    from twin.cli import main

    run = tmp_path / "run"
    shutil.copytree(repo_root / "tests" / "data" / "golden" / "demo_run", run,
                    ignore=shutil.ignore_patterns("xrd_patterns.npz"))
    assert main(["observe", str(run), "--technique", "nmr", str(EXAMPLE_INSTRUMENT)]) == 0
    series = read_observable(run / "observables" / "nmr.h5")
    assert series.technique == "nmr" and series.axis.unit == "kHz" and series.values.shape[0] == 71
    assert series.axis.decreasing  # drawn decreasing to the right, as NMR frequency offsets are


def test_guests_slow_the_flips_when_the_instrument_says_so(demo_frames, tmp_path):
    """activation_energy_per_guest = β: E_a(n) = E_a + β n with the run's loading n (CO2 per site cell); the lp
    rate of each frame falls by exactly exp(−β n/RT) and the lineshape follows; β = 0 leaves the loading out."""
    text = EXAMPLE_INSTRUMENT.read_text(encoding="utf-8").replace(
        'activation_energy_per_guest = "0 kJ/mol"', 'activation_energy_per_guest = "2 kJ/mol"')
    path = tmp_path / "nmr.toml"
    path.write_text(text, encoding="utf-8")
    plain = simulate_nmr(demo_frames, load_nmr_settings(EXAMPLE_INSTRUMENT))
    hindered = simulate_nmr(demo_frames, load_nmr_settings(path))
    loading = demo_frames.summary("loading", "test").sum(axis=1)
    ratio = hindered.conditions["rate_per_s_lp"] / plain.conditions["rate_per_s_lp"]
    np.testing.assert_allclose(ratio, np.exp(-2000.0 * loading / (8.314462618 * 303.0)), rtol=1e-6)
    top = int(np.argmax(loading))
    assert loading[top] > 5.0 and not np.allclose(hindered.values[top], plain.values[top], atol=1e-4)
    with pytest.raises(DataFormatError, match=r"phases.np.activation_energy_per_guest: expected a barrier increment"):
        path.write_text(text.replace('"2 kJ/mol"', '"-2 kJ/mol"', 1), encoding="utf-8")
        load_nmr_settings(path)
