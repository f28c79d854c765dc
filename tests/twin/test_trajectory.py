"""Trajectory files: write → lazy read round trip, atomicity, resume truncation, checkpoints."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from twin.errors import DataFormatError
from twin.trajectory import (
    FieldSpec,
    SummarySpec,
    Trajectory,
    TrajectoryWriter,
    default_provenance,
    load_checkpoint,
    partial_path,
    save_checkpoint,
)

SHAPE = (6, 5, 4)


def _writer(path, stride=2):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[1:5, 1:4, :] = True
    return TrajectoryWriter.create(
        path,
        guests=("CO2", "CH4"),
        phases=("np", "lp"),
        site_shape=SHAPE,
        cell_A=(6.6, 16.7, 12.8),
        mask=mask,
        fields={"eta": FieldSpec("float32", "1", "breathing order parameter")},
        summaries={"phase_fraction": SummarySpec((2,), "float64", "1", "fraction of sites per phase")},
        provenance=default_provenance(seed=3, scenario_toml="x = 1"),
        field_stride=stride,
    )


def _frame(k):
    rng = np.random.default_rng(k)
    return dict(
        time_s=10.0 * k,
        temperature_K=300.0 + k,
        partial_pressure_Pa=np.array([1e5 * k, 0.0]),
        relative_humidity=0.0,
        summaries={"phase_fraction": np.array([k / 10, 1 - k / 10])},
        fields={"eta": rng.random(SHAPE, dtype=np.float32)},
    )


def _write(w, frames):
    for k in frames:
        f = _frame(k)
        fields = f.pop("fields")
        w.append(**f, fields=fields if w.wants_fields() else None)


def test_round_trip_lazy_read(tmp_path):
    path = tmp_path / "trajectory.h5"
    w = _writer(path)
    _write(w, range(7))
    assert not path.exists() and partial_path(path).exists()  # nothing final before finalize
    w.finalize()
    assert path.exists() and not partial_path(path).exists()
    with Trajectory(path) as t:
        assert t.n_frames == 7 and t.complete
        assert t.guests == ("CO2", "CH4") and t.phases == ("np", "lp")
        assert t.site_shape == SHAPE
        np.testing.assert_allclose(t.time_s, 10.0 * np.arange(7))
        np.testing.assert_allclose(t.partial_pressure_Pa[:, 0], 1e5 * np.arange(7))
        np.testing.assert_allclose(t.summary("phase_fraction")[3], [0.3, 0.7])
        assert t.unit("conditions/temperature_K") == "K"
        assert t.field_frames.tolist() == [0, 2, 4, 6]
        np.testing.assert_array_equal(t.field("eta", 4), _frame(4)["fields"]["eta"])
        np.testing.assert_array_equal(t.field("eta", 2, (slice(0, 2),)), _frame(2)["fields"]["eta"][:2])
        assert t.mask.sum() == 4 * 3 * 4
        assert t.provenance["seed"] == 3 and t.provenance["scenario_toml"] == "x = 1"
        # the field data set is chunked and compressed, so frames are read lazily
        with h5py.File(path) as h5:
            assert h5["fields/eta"].chunks == (1, *SHAPE) and h5["fields/eta"].compression == "gzip"
        with pytest.raises(DataFormatError, match="not stored at frame 3"):
            t.field("eta", 3)
        with pytest.raises(DataFormatError, match="no field 'loading'"):
            t.field("loading", 0)


def test_interrupted_write_leaves_no_complete_looking_file(tmp_path):
    path = tmp_path / "trajectory.h5"
    with pytest.raises(RuntimeError):
        with _writer(path) as w:
            _write(w, range(3))
            raise RuntimeError("killed")
    assert not path.exists()
    with pytest.raises(DataFormatError, match="interrupted run left a .partial file"):
        Trajectory(path)
    with pytest.raises(DataFormatError, match="incomplete trajectory"):
        Trajectory(partial_path(path))
    with Trajectory(partial_path(path), allow_incomplete=True) as t:
        assert t.n_frames == 3 and not t.complete


def test_earlier_good_trajectory_survives_interrupted_rerun(tmp_path):
    path = tmp_path / "trajectory.h5"
    w = _writer(path)
    _write(w, range(2))
    w.finalize()
    w2 = _writer(path)
    _write(w2, range(5))
    w2.close()  # interrupted
    with Trajectory(path) as t:
        assert t.n_frames == 2


def test_resume_truncates_to_checkpoint_and_matches(tmp_path):
    full, resumed = tmp_path / "a.h5", tmp_path / "b.h5"
    w = _writer(full)
    _write(w, range(9))
    w.finalize()
    w = _writer(resumed)
    _write(w, range(6))  # frames 0..5 written, checkpoint after frame 3 (n_frames = 4)
    w.close()
    w = TrajectoryWriter.resume(resumed, n_frames=4)
    assert w.n_frames == 4
    _write(w, range(4, 9))
    w.finalize()
    with Trajectory(full) as a, Trajectory(resumed) as b:
        assert a.n_frames == b.n_frames == 9
        np.testing.assert_array_equal(a.time_s, b.time_s)
        np.testing.assert_array_equal(a.field_frames, b.field_frames)
        for frame in a.field_frames:
            np.testing.assert_array_equal(a.field("eta", int(frame)), b.field("eta", int(frame)))


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    arrays = {"eta": np.random.default_rng(0).random((4, 4, 4), dtype=np.float32), "key": np.array([1, 2], np.uint32)}
    path = save_checkpoint(tmp_path / "checkpoint.h5", arrays, {"step": 12, "n_frames": 3})
    back, meta = load_checkpoint(path)
    assert meta == {"step": 12, "n_frames": 3}
    for name in arrays:
        assert back[name].dtype == arrays[name].dtype
        np.testing.assert_array_equal(back[name], arrays[name])
    assert not (tmp_path / "checkpoint.h5.tmp").exists()


def test_not_a_trajectory(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        Trajectory(bad)
    other = tmp_path / "y.h5"
    with h5py.File(other, "w") as h5:
        h5.attrs["format"] = "something else"
    with pytest.raises(DataFormatError, match="not a twin trajectory"):
        Trajectory(other)
