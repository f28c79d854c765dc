"""Shared fixtures of the XRD tests: structures from the test data (``tests/data``) and from ``datasets/``."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from instruments.xrd import load_structure

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def mil53al(repo_root: Path):
    """MIL-53(Al) (lp, np) structures shipped in datasets/structures."""
    lp, np_ = repo_root / "datasets/structures/mil53al_lp.cif", repo_root / "datasets/structures/mil53al_np.cif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_structure(lp), load_structure(np_)


@pytest.fixture(scope="session")
def shared_structure(shared_data: Path):
    def read(rel: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_structure(shared_data / "structures" / rel)

    return read
