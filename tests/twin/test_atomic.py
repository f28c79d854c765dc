"""Atomic writes: an interrupted write leaves the earlier file and no temporary file behind."""

from __future__ import annotations

import h5py
import pytest

from twin.atomic import atomic_path, write_text_atomic


def test_completed_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "result.txt"
    write_text_atomic(target, "old\n")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_the_earlier_file(tmp_path, error):
    target = tmp_path / "frames.h5"
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as h5:
        h5["x"] = [1.0, 2.0]
    with pytest.raises(error):
        with atomic_path(target) as tmp, h5py.File(tmp, "w") as h5:
            h5["x"] = [3.0]
            raise error("stopped half way")
    with h5py.File(target, "r") as h5:
        assert list(h5["x"][()]) == [1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["frames.h5"]


def test_permissions_follow_the_replaced_file_or_the_umask(tmp_path):
    import os
    import stat

    fresh = write_text_atomic(tmp_path / "fresh.txt", "x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text_atomic(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
