"""Fixtures of the report tests: one synthetic run directory and its report, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_run import make_run  # noqa: E402


@pytest.fixture(scope="session")
def built_run(tmp_path_factory) -> Path:
    """A run directory with trajectory, XRD series with measured frames and a fit result, and its report."""
    from reports import build_report

    out = make_run(tmp_path_factory.mktemp("full"))
    build_report(out)
    return out
