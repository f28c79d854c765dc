"""Observable series files: one writer, one reader, round trips, version-1 files, and messages that name the
file and dataset."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from instruments.observable import Axis, Observable
from reports import read_image_series, read_observable, write_image_series, write_observable
from twin.errors import DataFormatError


def _series(n=4, points=50, **over):
    kw = dict(axis=Axis(np.linspace(5, 30, points), "two_theta", "deg"), values=np.ones((n, points)), technique="xrd",
              conditions={"time_s": np.arange(float(n)), "pressure_bar": np.arange(float(n)),
                          "temperature_K": np.full(n, 303.0)}, attrs=(("wavelength_A", 1.5406),))
    kw.update(over)
    return Observable(**kw)


def test_round_trip_with_measured_frames(tmp_path):
    sim = _series()
    meas = Observable(axis=sim.axis, values=np.arange(100.0).reshape(2, 50), sigma=np.ones((2, 50)), technique="xrd",
                      unit="counts", labels=("a.xy", "b.xy"), conditions={"time_s": np.array([1.0, 3.0])})
    path = write_observable(tmp_path / "observables" / "xrd.h5", sim.with_measured(meas, [1, 3]))
    s = read_observable(path)
    assert s.technique == "xrd" and s.meta["wavelength_A"] == 1.5406 and s.axis.label == "2θ (deg)"
    assert not s.axis.decreasing and s.n_frames == 4 and s.axis.key == "two_theta_deg"
    np.testing.assert_array_equal(s.measured.values, meas.values)
    np.testing.assert_array_equal(s.condition("pressure_bar"), np.arange(4.0))
    assert s.measured_frame_index.tolist() == [1, 3] and s.measured.labels == ("a.xy", "b.xy")
    assert s.measured.unit == "counts" and np.isnan(s.condition("relative_humidity")).all()
    assert [p.name for p in (tmp_path / "observables").iterdir()] == ["xrd.h5"]  # no temporary file left


def test_axes_carry_the_convention(tmp_path):
    nmr = Observable(axis=Axis(np.linspace(-10, 300, 20), "shift", "ppm"), values=np.ones((2, 20)), technique="nmr",
                     conditions={"time_s": np.zeros(2)})
    s = read_observable(write_observable(tmp_path / "nmr.h5", nmr))
    assert s.technique == "nmr" and s.axis.decreasing and s.axis.label == "δ (ppm)"


def test_version_1_files_are_read(tmp_path):
    """Runs observed before the one observable format (version 1, XRD layout) still open."""
    path = tmp_path / "xrd.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs.update({"format": "operando-mof-twin-xrd-series", "format_version": 1, "wavelength_A": 1.5406})
        h5["two_theta_deg"] = np.linspace(5, 30, 10)
        h5["intensity"] = np.ones((3, 10))
        for name in ("time_s", "pressure_bar", "temperature_K"):
            h5[name] = np.arange(3.0)
        h5["measured_intensity"] = np.full((1, 10), 7.0)
        h5["measured_frame_index"] = np.array([2])
    s = read_observable(path)
    assert s.technique == "xrd" and s.axis.name == "two_theta" and s.meta == {"wavelength_A": 1.5406}
    assert s.measured_frame_index.tolist() == [2] and s.measured.values[0, 0] == 7.0


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(DataFormatError, match=r"values must have shape \(n_frames, 50\)"):
        write_observable(tmp_path / "x.h5", _series(values=np.ones((4, 49))))
    with pytest.raises(DataFormatError, match=r"conditions/pressure_bar must have shape \(4,\), got \(3,\)"):
        write_observable(tmp_path / "x.h5", _series(conditions={"pressure_bar": np.zeros(3)}))
    with pytest.raises(DataFormatError, match="names no technique"):
        write_observable(tmp_path / "x.h5", _series(technique=""))
    sim = _series()
    with pytest.raises(DataFormatError, match=r"measured/frame_index must lie in 0\.\.3, got 9\.\.9"):
        write_observable(tmp_path / "x.h5", sim.with_measured(_series(n=1), [9]))
    path = write_observable(tmp_path / "xrd.h5", sim.with_measured(_series(n=1), [2]))
    with h5py.File(path, "r+") as h5:
        h5["measured/frame_index"][0] = 9
    with pytest.raises(DataFormatError, match=r"measured/frame_index must lie in 0\.\.3, got 9\.\.9"):
        read_observable(path)
    with h5py.File(path, "r+") as h5:
        del h5["conditions/time_s"]
        h5["conditions/time_s"] = np.zeros(2)
    with pytest.raises(DataFormatError, match=r"xrd\.h5: dataset 'conditions/time_s' has shape \(2,\), expected \(4,\)"):
        read_observable(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFormatError, match="junk.h5: not an HDF5 file"):
        read_observable(tmp_path / "junk.h5")
    with pytest.raises(DataFormatError, match="observable file not found"):
        read_observable(tmp_path / "none.h5")


def test_image_series_round_trip(tmp_path):
    path = write_image_series(tmp_path / "tem.h5", image=np.random.default_rng(0).random((2, 8, 9)), pixel_size_A=0.5,
                              frame_index=np.array([0, 4]))
    s = read_image_series(path)
    assert s.image.shape == (2, 8, 9) and s.pixel_size_A == 0.5 and s.frame_index.tolist() == [0, 4]
    with pytest.raises(DataFormatError, match="pixel_size_A > 0"):
        write_image_series(tmp_path / "t2.h5", image=np.ones((1, 2, 2)), pixel_size_A=0.0, frame_index=np.array([0]))
