"""Render a page in headless Chromium and report what a reader would see, over the DevTools protocol.

Why the DevTools protocol over ``--remote-debugging-pipe`` (and not ``--enable-logging`` parsing or
playwright): it is the browser's own structured channel, needs nothing beyond the standard library and
Debian's ``chromium`` package, and gives exact answers — every ``<img>``'s natural size after the load
event, every console error, uncaught exception and log error, every network request the page made — plus a
full-page screenshot and a printed PDF. Messages are JSON terminated by a NUL byte; Chromium reads commands
on fd 3 and writes replies and events on fd 4.

Install Chromium on Debian/Ubuntu with ``apt-get update && apt-get install -y chromium`` (``tests/ensure-chromium.sh``
does it). The tests that use this call :func:`require_chromium`: they skip with that hint when it is missing, and
fail instead when the environment variable ``CI`` is ``true``, so that a CI run can never pass without rendering.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


MISSING_HINT = "chromium not installed: apt-get update && apt-get install -y chromium (or sh tests/ensure-chromium.sh)"


def require_chromium(hint: str = MISSING_HINT) -> str:
    """Path of a Chromium/Chrome executable; when there is none, the calling test skips, or fails under CI=true."""
    import pytest

    found = find_chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{hint} [CI=true: the browser rendering tests must not be skipped]", pytrace=False)
        pytest.skip(hint)
    return found


class _Pipe:
    """A DevTools connection: send commands, collect events, wait for replies."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()

        def wire() -> None:  # runs in the child before exec: its fd 3 reads commands, fd 4 writes replies
            # move both ends above 4 first (a pipe end may itself be fd 3 or 4), then place them inheritably
            high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3, inheritable=True)
            os.dup2(high_w, 4, inheritable=True)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.environ.get("TWIN_CHROMIUM_LOG", os.devnull), "wb"),
            close_fds=False,
            preexec_fn=wire,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self.events: "queue.Queue[dict]" = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_child_r, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        self._replies[message["id"]] = message
                        self._lock.notify_all()
                else:
                    self.events.put(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._next_id += 1
        mid = self._next_id
        message: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"chromium did not answer {method} within {timeout} s")
                self._lock.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # the browser may already be gone; it is killed below anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child_w, self._from_child_r):
            try:
                os.close(fd)
            except OSError:
                pass


def render(html_path: Path, artifacts: Path, width: int = 1200, timeout: float = 90.0) -> dict[str, Any]:
    """Open ``html_path`` and return images, console errors, exceptions and requests; save screenshots and a PDF.

    Writes ``artifacts/report-top.png`` (first screen), ``report-full.png`` (whole page) and ``report.pdf``
    (printed on A4 by Chromium's print engine).
    """
    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError("chromium not found")
    artifacts.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="twin-chromium-"))
    pipe = _Pipe(executable, profile)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 1500, "deviceScaleFactor": 1, "mobile": False}, session=session)
        url = html_path.resolve().as_uri()
        pipe.send("Page.navigate", {"url": url}, session=session)
        events: list[dict] = []
        deadline = time.monotonic() + timeout
        loaded = False
        while not loaded:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{url} did not fire the load event within {timeout} s")
            event = pipe.events.get(timeout=left)
            events.append(event)
            loaded = event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session
        images = pipe.send(
            "Runtime.evaluate",
            {"expression": "JSON.stringify(Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
                           " width: i.naturalWidth, height: i.naturalHeight})))", "returnByValue": True},
            session=session,
        )["result"]["value"]
        top = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        (artifacts / "report-top.png").write_bytes(base64.b64decode(top["data"]))
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        height = int(metrics["cssContentSize"]["height"])
        full = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                             "scale": 0.5}}, session=session)
        (artifacts / "report-full.png").write_bytes(base64.b64decode(full["data"]))
        pdf = pipe.send("Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69, "preferCSSPageSize": True},
                        session=session, timeout=timeout)
        (artifacts / "report.pdf").write_bytes(base64.b64decode(pdf["data"]))
        while not pipe.events.empty():
            events.append(pipe.events.get_nowait())
    finally:
        pipe.close()
        shutil.rmtree(profile, ignore_errors=True)
    console_errors = [
        " ".join(str(a.get("value", a.get("description", ""))) for a in e["params"].get("args", []))
        for e in events
        if e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert")
    ]
    console_errors += [e["params"]["entry"].get("text", "") for e in events
                       if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"]
    exceptions = [e["params"]["exceptionDetails"].get("text", "") for e in events
                  if e.get("method") == "Runtime.exceptionThrown"]
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith("data:")]
    return {
        "images": json.loads(images),
        "console_errors": console_errors,
        "exceptions": exceptions,
        "requests": requests,
        "page_height_px": height,
        "pdf_bytes": len(base64.b64decode(pdf["data"])),
    }
