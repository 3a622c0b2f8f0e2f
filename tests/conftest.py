"""Shared fixtures: a private runs folder, Streamlit cache hygiene, and a real
Streamlit server + headless Chromium for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "cifar10-subset.npz"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _private_runs_dir(tmp_path_factory, monkeypatch):
    """No test writes to ./runs: every test gets a private run store unless it asks for
    ``runs_dir`` (which points the same variable at its own folder)."""
    monkeypatch.setenv("ALEXNET_RUNS_DIR", str(tmp_path_factory.mktemp("runs-default")))


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A fresh run store folder, also exported as ALEXNET_RUNS_DIR for subprocesses."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("ALEXNET_RUNS_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """cache_resource/cache_data leak between AppTests in one process: clear them."""
    yield
    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_resource.clear()
        st.cache_data.clear()


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if p and os.path.exists(p):
            return p
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright.  Skips without Chromium, except
    under CI=true, where a missing browser fails."""
    exe = chromium_path()
    reason = "Chromium not installed (apt-get install -y chromium) — browser tests skipped"
    if exe is None:
        if IN_CI:
            pytest.fail(reason.replace("skipped", "required under CI=true"))
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("playwright not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


class AppServer:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, runs: Path):
        self.url, self.proc, self.log, self.runs_dir = url, proc, log, runs

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def app_server(tmp_path):
    """`streamlit run explorer/app.py` on a free port with a private runs folder."""
    port = _free_port()
    runs = tmp_path / "runs"
    runs.mkdir()
    log = tmp_path / "streamlit.log"
    # No background timing of the network on a Train visit (tests/test_estimate_timing.py covers
    # it): it would take the CPU from what a browser test waits for, and change the estimate mid-test.
    env = dict(os.environ, ALEXNET_RUNS_DIR=str(runs), PYTHONUNBUFFERED="1", ALEXNET_AUTO_TIMING="0")
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "explorer" / "app.py"),
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited:\n" + log.read_text(errors="replace"))
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start in 60 s:\n" + log.read_text(errors="replace"))
    server = AppServer(url, proc, log, runs)
    yield server
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
    except Exception:
        proc.kill()


@pytest.fixture
def page(browser, app_server):
    """A 1400×900 page on the running app; saves a screenshot on failure."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app_server.url)
    yield pg
    ctx.close()


def wait_for_app(pg, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished running the script."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout_ms)


SCREENSHOTS = ROOT / "screenshots"


def screenshot(pg, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    p = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(p), full_page=False)
    return p


@pytest.fixture
def train_page(runs_dir):
    """pages/train.py in AppTest with the tiny digits network as the current network; every
    run it started is stopped afterwards."""
    from streamlit.testing.v1 import AppTest

    from alexnet import jobs
    from tests.train_helpers import use_tiny

    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    use_tiny(at)
    at.run()
    assert not at.exception, at.exception
    yield at
    m = jobs.get_manager(runs_dir)
    for r in m.store().list_runs():
        if r["status"] in jobs.ACTIVE:
            m.stop(r["id"])
    for job in list(m.jobs.values()):
        job.popen.wait(timeout=30)
    m.tick()
