"""Test configuration shared by the whole suite.

JAX runs with strict dtype promotion and rank promotion raising, so that an accidental float64 upcast
or a silent broadcast is an error in tests; the compilation cache of the command line is off. The real measured data and structures the tests read ship in
the repository under ``tests/data`` (byte-identical copies of files of the shared data folder
``../shared/data``, with their licences; see ``tests/data/README.md``) and are exposed through the
``shared_data`` fixture, so the suite needs nothing beside the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
# the command line turns JAX's persistent compilation cache on in the user's cache folder; tests write nowhere
# outside their tmp_path (tests/twin/test_compilation_cache.py checks the cache in a child process of its own)
os.environ["TWIN_NO_COMPILATION_CACHE"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public measured data and structures (read-only): ``tests/data`` in this checkout.

    Its files are checked against ``tests/data/MANIFEST.sha256`` by ``tests/test_data_manifest.py``; updates
    arrive in ``../shared/data`` and are copied in with ``tests/data/refresh.py``.
    """
    if not TEST_DATA.is_dir():
        pytest.fail(f"test data folder missing: {TEST_DATA} (it ships with the repository)")
    return TEST_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
