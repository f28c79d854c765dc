"""The direction of imports between the packages (DESIGN.md §2), checked on the source with an AST walk.

``mofcore`` sits below everything and imports none of the project's packages; ``instruments`` may use ``mofcore``
only (it consumes plain arrays and dataclasses, never the twin); the engine and the thermodynamics are pure
cores that know nothing of the command line, the fits or the reports. A broken direction fails here, naming the
file, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package (dotted) → project modules it must not import (prefix match on the dotted name)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "mofcore": ("twin", "instruments", "reports"),
    "instruments": ("twin", "reports"),
    "twin.engine": ("twin.commands", "twin.cli", "twin.fit", "reports"),
    "twin.thermo": ("twin.commands", "twin.cli", "twin.engine", "reports"),
    "twin.fit": ("twin.commands", "twin.cli", "reports"),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a file, relative imports resolved against its package."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    out = []
    for path in sorted(folder.rglob("*.py")):
        for line, name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package):
    assert _violations(package, FORBIDDEN[package]) == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The walk is not vacuous: a planted import of the twin inside a package is reported with its line."""
    pkg = tmp_path / "instruments"
    pkg.mkdir()
    (pkg / "bad.py").write_text("import numpy\nfrom twin.errors import TwinError\nfrom . import sibling\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _violations("instruments", FORBIDDEN["instruments"]) == ["instruments/bad.py:2: imports twin.errors"]
