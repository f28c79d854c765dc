"""The one loader for the data shipped with the package (``datasets/`` in the source tree).

In a wheel the folder is installed as ``twin/_datasets``; in a source checkout (editable install) it is the
top-level ``datasets/`` beside the packages. :func:`datasets_root` finds whichever is present; every other
module reaches data through it.

Layout::

    datasets/
      catalogue.toml            data sets the package knows (DOI/URL, licence, checksum, description)
      materials/<name>.toml     material parameter sets, every number with its citation
      structures/<name>.cif     phase structures written from published crystallographic data
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from mofcore.files import read_toml_file
from twin.errors import MaterialError

__all__ = ["datasets_root", "dataset_path", "material_names", "material_path", "load_material_toml", "file_sha256"]


@cache
def datasets_root() -> Path:
    """Folder holding the shipped data (``twin/_datasets`` in a wheel, ``datasets/`` in a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_datasets", here.parent / "datasets"):
        if (candidate / "materials").is_dir():
            return candidate
    raise FileNotFoundError(f"the package data folder is missing (looked in {here / '_datasets'} and {here.parent / 'datasets'})")


def dataset_path(*parts: str) -> Path:
    """Path of a file inside the shipped data folder, e.g. ``dataset_path("structures", "mil53al_lp.cif")``."""
    return datasets_root().joinpath(*parts)


def material_names() -> list[str]:
    """Names of the shipped material parameter sets (file stems of ``materials/*.toml``)."""
    return sorted(p.stem for p in (datasets_root() / "materials").glob("*.toml"))


def material_path(name: str) -> Path:
    """Path of a material parameter file; raises :class:`MaterialError` with the known names if unknown."""
    path = datasets_root() / "materials" / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(material_names()) or "(none)"
        raise MaterialError(f"unknown material {name!r}; known materials: {known}")
    return path


def load_material_toml(name: str) -> dict[str, Any]:
    """The raw parsed TOML of a material parameter set."""
    return read_toml_file(material_path(name), what="a material file (TOML)", error=MaterialError)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
