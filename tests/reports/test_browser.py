"""The report opened in headless Chromium: every figure loads, no console errors, nothing fetched from a network.

Needs Debian's Chromium (`apt-get update && apt-get install -y chromium`, done by tests/ensure-chromium.sh);
skips with that hint when it is absent, and fails instead when the environment variable CI is `true`. Screenshots
(first screen, whole page) and the printed PDF are kept in ``test-artifacts/report/`` at the repository root
(git-ignored), or in ``$TWIN_TEST_ARTIFACTS/report``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chromium import render, require_chromium


def _artifacts(repo_root: Path) -> Path:
    base = os.environ.get("TWIN_TEST_ARTIFACTS")
    return (Path(base) if base else repo_root / "test-artifacts") / "report"


def test_report_renders_in_headless_chromium(built_run, repo_root):
    require_chromium()
    artifacts = _artifacts(repo_root)
    result = render(built_run / "report" / "index.html", artifacts)
    summary = json.loads((built_run / "report" / "summary.json").read_text(encoding="utf-8"))
    images = result["images"]
    assert len(images) == len(summary["figures"]) >= 12
    broken = [i["alt"] for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert broken == []
    assert result["console_errors"] == [] and result["exceptions"] == []
    # opened offline: the page itself is the only request that is not an embedded data: URL
    assert all(url.startswith("file://") for url in result["requests"]), result["requests"]
    assert result["pdf_bytes"] > 50_000  # Chromium's print engine produced the printed report
    assert (artifacts / "report-full.png").stat().st_size > 10_000
    assert (artifacts / "report-top.png").stat().st_size > 10_000


def test_the_browser_check_catches_broken_pages(tmp_path):
    """The checks above can fail: a missing image, a console error and an external request are all reported."""
    require_chromium()
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img alt="missing" src="missing.png">'
        '<img alt="remote" src="http://127.0.0.1:9/remote.png">'
        "<script>console.error('deliberate failure'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    result = render(page, tmp_path / "artifacts")
    by_alt = {i["alt"]: i for i in result["images"]}
    assert by_alt["missing"]["width"] == 0 and by_alt["remote"]["width"] == 0
    assert any("deliberate failure" in e for e in result["console_errors"])
    assert result["exceptions"]
    assert "http://127.0.0.1:9/remote.png" in result["requests"]
