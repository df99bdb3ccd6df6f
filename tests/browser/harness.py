"""What the browser tests share: the app served by `streamlit run` on a free port, headless
Chromium (Debian's) through Playwright, waiting and screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from integration.helpers import cli_env
from ragapp.store.server import free_port

CHROMIUM = Path(os.environ.get("RAGAPP_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NO_CHROMIUM = f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)"


def serve(store: Path, log_path: Path, **settings: str):
    """`streamlit run ui/app.py` over the store, on a free port: (process, url, log file) once it answers."""
    port = free_port()
    env = cli_env(store, RAGAPP_UPLOAD_DIR=str(store.parent / "uploads"), **settings)
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "ui/app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.5)
    return server, url, log


def stop(server, log, log_path: Path) -> None:
    """Stop the app; it must never have failed on the server either."""
    server.terminate()
    server.wait(timeout=30)
    log.close()
    text = log_path.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"],
        )
        yield launched
        launched.close()


def wait_for(condition, what: str, within_s: float = 120, every_s: float = 0.25):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"not seen within {within_s} s: {what}")


def shot(page, name: str, full_page: bool = False) -> Path:
    """Keep a screenshot of what the browser shows, once the app has finished running."""
    wait_for(lambda: page.locator("[data-testid='stStatusWidget']").count() == 0, "the app to be idle", 60)
    page.wait_for_timeout(500)  # tables draw on a canvas a moment later
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
