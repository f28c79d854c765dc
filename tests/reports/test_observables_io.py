"""Observable series files: round trips and messages that name the file and dataset."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from reports import read_image_series, read_spectral_series, read_xrd_series, write_image_series, write_spectral_series, write_xrd_series
from twin.errors import DataFormatError


def _xrd(tmp_path, **over):
    kw = dict(two_theta_deg=np.linspace(5, 30, 50), intensity=np.ones((4, 50)), time_s=np.arange(4.0),
              pressure_bar=np.arange(4.0), temperature_K=np.full(4, 303.0), wavelength_A=1.5406)
    kw.update(over)
    return write_xrd_series(tmp_path / "observables" / "xrd.h5", **kw)


def test_xrd_round_trip_with_measured_frames(tmp_path):
    meas = np.arange(100.0).reshape(2, 50)
    path = _xrd(tmp_path, measured_intensity=meas, measured_frame_index=np.array([1, 3]), measured_sigma=np.ones((2, 50)))
    s = read_xrd_series(path)
    assert s.technique == "xrd" and s.wavelength_A == 1.5406 and s.axis_label == "2θ (deg)" and not s.axis_decreasing
    np.testing.assert_array_equal(s.measured_intensity, meas)
    assert s.measured_frame_index.tolist() == [1, 3] and s.n_frames == 4
    assert not (tmp_path / "observables" / "xrd.h5.tmp").exists()


def test_spectral_axes_carry_the_convention(tmp_path):
    path = write_spectral_series(tmp_path / "nmr.h5", technique="nmr", axis_key="shift_ppm", axis=np.linspace(-10, 300, 20),
                                 intensity=np.ones((2, 20)), time_s=np.zeros(2), pressure_bar=np.zeros(2),
                                 temperature_K=np.full(2, 300.0))
    s = read_spectral_series(path)
    assert s.technique == "nmr" and s.axis_decreasing and s.axis_label == "δ (ppm)"
    with pytest.raises(DataFormatError, match="axis_key must be one of"):
        write_spectral_series(tmp_path / "x.h5", technique="ir", axis_key="cm", axis=np.zeros(2), intensity=np.ones((1, 2)),
                              time_s=np.zeros(1), pressure_bar=np.zeros(1), temperature_K=np.zeros(1))


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(DataFormatError, match=r"intensity must have shape \(n_frames, 50\)"):
        _xrd(tmp_path, intensity=np.ones((4, 49)))
    with pytest.raises(DataFormatError, match=r"pressure_bar must have shape \(4,\), got \(3,\)"):
        _xrd(tmp_path, pressure_bar=np.zeros(3))
    path = _xrd(tmp_path, measured_intensity=np.ones((1, 50)), measured_frame_index=np.array([2]))
    with h5py.File(path, "r+") as h5:
        h5["measured_frame_index"][0] = 9
    with pytest.raises(DataFormatError, match=r"measured_frame_index must lie in 0\.\.3, got 9\.\.9"):
        read_xrd_series(path)
    with h5py.File(path, "r+") as h5:
        h5["measured_frame_index"][0] = 2
        del h5.attrs["wavelength_A"]
    with pytest.raises(DataFormatError, match="attribute wavelength_A"):
        read_xrd_series(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFormatError, match="junk.h5: not an HDF5 file"):
        read_xrd_series(tmp_path / "junk.h5")
    with pytest.raises(DataFormatError, match="observable file not found"):
        read_xrd_series(tmp_path / "none.h5")


def test_image_series_round_trip(tmp_path):
    path = write_image_series(tmp_path / "tem.h5", image=np.random.default_rng(0).random((2, 8, 9)), pixel_size_A=0.5,
                              frame_index=np.array([0, 4]))
    s = read_image_series(path)
    assert s.image.shape == (2, 8, 9) and s.pixel_size_A == 0.5 and s.frame_index.tolist() == [0, 4]
    with pytest.raises(DataFormatError, match="pixel_size_A > 0"):
        write_image_series(tmp_path / "t2.h5", image=np.ones((1, 2, 2)), pixel_size_A=0.0, frame_index=np.array([0]))
