"""The in-repo test data (tests/data) against its manifest: every file listed, present and byte-identical, and
nothing unlisted beside them; every source folder keeps its licence text."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MANIFEST = DATA / "MANIFEST.sha256"
# files of this repository that describe or maintain the copy (not upstream data, not listed)
OWN_FILES = {"README.md", "MANIFEST.sha256", "refresh.py", ".gitattributes"}
# top-level folders of reference outputs written by this repository's own code (not copies of ../shared/data)
OWN_FOLDERS = {"golden"}


def _manifest() -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(MANIFEST.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        sha, size, rel = line.split(None, 2)  # paths may contain spaces
        assert re.fullmatch(r"[0-9a-f]{64}", sha) and size.isdigit(), f"MANIFEST.sha256 line {number}: {line!r}"
        assert rel not in out, f"MANIFEST.sha256 lists {rel} twice"
        out[rel] = (sha, int(size))
    return out


def _on_disk() -> set[str]:
    files = set()
    for path in DATA.rglob("*"):
        rel = path.relative_to(DATA)
        if path.is_dir() or rel.parts[0] in OWN_FOLDERS or "__pycache__" in rel.parts:
            continue
        if len(rel.parts) == 1 and rel.name in OWN_FILES:
            continue
        files.add(rel.as_posix())
    return files


def test_every_listed_file_exists_with_its_size_and_sha256():
    manifest = _manifest()
    assert len(manifest) >= 50
    missing = sorted(rel for rel in manifest if not (DATA / rel).is_file())
    assert missing == [], f"listed in MANIFEST.sha256 but not in tests/data: {missing}"
    wrong = []
    for rel, (sha, size) in manifest.items():
        data = (DATA / rel).read_bytes()
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            wrong.append(f"{rel} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    assert wrong == [], f"differ from MANIFEST.sha256: {wrong}"


def test_every_file_in_tests_data_is_listed():
    unlisted = sorted(_on_disk() - set(_manifest()))
    assert unlisted == [], f"in tests/data but not in MANIFEST.sha256 (run tests/data/refresh.py --add): {unlisted}"


def test_every_source_folder_keeps_its_licence_and_the_readme_describes_it():
    manifest = _manifest()
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    folders = {str(Path(rel).parent.as_posix()) for rel in manifest}
    for folder in sorted(folders):
        # the licence sits in the folder or, as upstream, in a folder above it (moisture/go_water_futamura2024/)
        above = {folder, *(p.as_posix() for p in Path(folder).parents if p.as_posix() != ".")}
        licences = [rel for rel in manifest if Path(rel).parent.as_posix() in above and Path(rel).name.startswith("LICENSE")]
        assert licences, f"tests/data/{folder} has no LICENSE* file listed in MANIFEST.sha256 (in it or above it)"
        assert f"{folder}/" in readme, f"tests/data/README.md does not describe {folder}/"
    for rel in manifest:
        if not Path(rel).name.startswith(("LICENSE", "README")):
            assert Path(rel).name in readme, f"tests/data/README.md does not name {rel}"
