"""What the browser tests share: a free port, a Streamlit server, Debian's chromium, the card.

Browser tests drive Debian's ``/usr/bin/chromium`` through Playwright (never a downloaded
browser) against ``streamlit run`` servers started here. The labeling card exposes what it
showed and answered on ``window.__labelwiseCard`` (see ``labelwise.dashboard.card.frontend``);
:func:`card`, :func:`wait_shown` and :func:`wait_saved` read it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
#: Generous: a cold server's first page loads a pack and its density.
TIMEOUT_MS = 120_000
#: Environment variables that would point a test server at the developer's own labels.
STORE_VARIABLES = ("LABELWISE_DATA_DIR", "LABELWISE_STORE")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_log(workdir: Path, port: int) -> Path:
    """Where :func:`start_streamlit` writes the server's output."""
    return Path(workdir) / f"server-{port}.log"


def start_streamlit(workdir: Path, *, script: Path = APP, port: int | None = None,
                    env: Mapping[str, str] | None = None, args: Iterable[str] = (),
                    seconds: float = 120) -> tuple[subprocess.Popen, str]:
    """``streamlit run script`` in ``workdir``; waits (bounded) until it answers its health.

    Parameters
    ----------
    workdir : Path
        The server's working folder (a store without ``LABELWISE_*`` lands in
        ``workdir/labelwise-data``) and where its log goes.
    script : Path, default=dashboard/app.py
    port : int, optional
        A free port is chosen when omitted (pass the old one to restart a server).
    env : mapping, optional
        Extra environment variables; ``LABELWISE_DATA_DIR`` and ``LABELWISE_STORE`` of the
        calling shell are dropped, so tests never touch real labels.
    args : iterable of str
        More ``streamlit run`` flags.
    seconds : float, default=120
        How long to wait for the server.

    Returns
    -------
    (subprocess.Popen, str)
        The server process and its base URL.
    """
    workdir = Path(workdir)
    port = free_port() if port is None else port
    config = REPO / ".streamlit" / "config.toml"
    if config.exists() and not (workdir / ".streamlit" / "config.toml").exists():
        (workdir / ".streamlit").mkdir(exist_ok=True)
        shutil.copy(config, workdir / ".streamlit" / "config.toml")
    environment = {k: v for k, v in os.environ.items() if k not in STORE_VARIABLES}
    environment.update(env or {})
    log = open(server_log(workdir, port), "ab")  # noqa: SIM115 -- lives with the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *args],
        cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child has its own copy
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with code {proc.returncode}:\n"
                                 f"{server_log(workdir, port).read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc, kill=True)
    raise AssertionError(f"the Streamlit server did not answer at {url} within {seconds:.0f} s")


def stop_server(proc: subprocess.Popen, *, kill: bool = False) -> None:
    """End a server started by :func:`start_streamlit`: SIGKILL (a crash) with ``kill``,
    else SIGTERM, then SIGKILL if it has not gone within 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install -y chromium"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def new_context(browser: Browser, width: int = 1280, height: int = 1000) -> BrowserContext:
    """A fresh browser profile (own storage) with the tests' timeout."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    return context


# -- the labeling card ----------------------------------------------------------------------
def card(page: Page, expression: str):
    """``expression`` evaluated with ``c`` bound to the page's ``window.__labelwiseCard``."""
    return page.evaluate(f"() => {{ const c = window.__labelwiseCard; return {expression}; }}")


def wait_shown(page: Page) -> int:
    """Until the card shows an item (fully: its image decoded); the item."""
    page.wait_for_function("() => window.__labelwiseCard && window.__labelwiseCard.shown !== null",
                           timeout=TIMEOUT_MS)
    return page.evaluate("window.__labelwiseCard.shown")


def wait_saved(page: Page) -> None:
    """Until the server has acknowledged every answer of the card."""
    page.wait_for_function("() => window.__labelwiseCard.queue().length === 0", timeout=TIMEOUT_MS)
    expect(page.locator('[data-role="net"]')).to_have_text("All answers saved")


def readme_screenshot(page: Page, name: str) -> Path:
    """The viewport to tests/artifacts/<name>.png; with LABELWISE_UPDATE_SCREENSHOTS=1 also
    to the README's docs/screenshots/<name>.png (a plain run never rewrites tracked files)."""
    artifacts = REPO / "tests" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("LABELWISE_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, REPO / "docs" / "screenshots" / f"{name}.png")
    return path
