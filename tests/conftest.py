"""Test configuration shared by the whole suite.

JAX runs with strict dtype promotion and rank promotion raising, so that an accidental float64 upcast
or a silent broadcast is an error in tests. The shared data folder (``../shared/data`` beside the
checkout, or ``$TWIN_SHARED_DATA``) is exposed through the ``shared_data`` fixture; tests that need it
skip when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("TWIN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public measured data and structures (read-only)."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
