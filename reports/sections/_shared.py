"""Helpers used by several sections: the section function type, absent panels, crystal sizes, even picks."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np

from reports.context import ReportContext, Section

__all__ = ["SectionFn", "mark_absent", "crystal_sizes", "evenly_spaced"]

SectionFn = Callable[[ReportContext], "Section | list[Section] | None"]


def mark_absent(sec: Section, missing: str, message: str) -> Section:
    """Record ``missing`` in the section's absent list and show ``message`` (trusted HTML) in its place."""
    sec.missing.append(missing)
    sec.blocks.append(f'<p class="absent">{message}</p>')
    return sec


def crystal_sizes(ctx: ReportContext) -> np.ndarray:
    """Number of sites of each crystal (one entry for a single crystal), read one crystal at a time."""
    shape = ctx.run.trajectory.site_shape
    with h5py.File(ctx.run.trajectory.path, "r") as h5:
        ds = h5["lattice/mask"]
        if len(shape) == 4:
            return np.asarray([int(np.count_nonzero(ds[c])) for c in range(shape[0])])
        # one crystal: count in slabs of 64 planes (one chunk row), never the whole mask at once
        return np.asarray([sum(int(np.count_nonzero(ds[i:i + 64])) for i in range(0, shape[0], 64))])


def evenly_spaced(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` distinct indices into ``range(n)``, evenly spaced, first and last included."""
    return np.unique(np.round(np.linspace(0, n - 1, min(limit, n))).astype(int))
