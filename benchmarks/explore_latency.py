"""Explore page latency in a real browser: opening the page, and one Step, server + browser.

Serves the dashboard with ``streamlit run dashboard/app.py`` (label store in a temporary folder)
and drives Debian's chromium through Playwright. Figures:

- **open**: from clicking the Explore link to the map drawn and the app idle; the first open
  builds the 2-D layout of the pool, the later ones find it cached (another page is visited in
  between, so Explore's script runs from scratch each time).
- **step**: from clicking Step to the "Picks by the strategy" read-out showing the new count,
  the map redrawn and Streamlit idle (no running indicator, no faded element).
- **bytes per step**: WebSocket bytes the browser received for that Step.

Run: ``.venv/bin/python benchmarks/explore_latency.py [--steps 20] [--opens 3]``
Writes benchmarks/results/explore_latency.json and explore_latency.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 180_000
IDLE_JS = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
    + '[data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run dashboard/app.py` on a free loopback port, working in ``workdir``."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", workdir / ".streamlit" / "config.toml")
    port = free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    env = {k: v for k, v in os.environ.items() if k != "LABELWISE_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start within 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Received:
    """Bytes of every WebSocket frame the page receives."""

    def __init__(self, page: Page) -> None:
        self.total = 0
        page.on("websocket", self._attach)

    def _attach(self, socket) -> None:
        socket.on("framereceived", self._count)

    def _count(self, payload) -> None:
        self.total += len(payload)


def picks(page: Page) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text="Picks by the strategy")
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def wait_map(page: Page) -> None:
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)


def open_explore(page: Page) -> float:
    """Seconds from clicking the Explore link to the map drawn and the app idle."""
    start = time.perf_counter()
    page.get_by_role("link", name="Explore").click()
    page.get_by_role("heading", name="Explore").wait_for(timeout=TIMEOUT_MS)
    wait_map(page)
    return time.perf_counter() - start


def one_step(page: Page, received: Received) -> tuple[float, int]:
    """Milliseconds and bytes received for one click on Step."""
    before = int(picks(page))
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)
    start_bytes = received.total
    start = time.perf_counter()
    page.locator(".st-key-exp_step_1 button").click()
    page.wait_for_function(
        """(n) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
               m => m.innerText.includes('Picks by the strategy')
                    && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === n)""",
        arg=str(before + 1), timeout=TIMEOUT_MS)
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)
    elapsed = (time.perf_counter() - start) * 1e3
    return elapsed, received.total - start_bytes


def run(steps: int, opens: int) -> dict:
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="labelwise-explore-"))
    proc, url = start_server(workdir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            received = Received(page)
            try:
                open_times, times, sizes = drive(page, url, received, steps, opens)
            except Exception:
                page.screenshot(path=str(workdir / "failure.png"))
                print(f"failed: see {workdir}/failure.png and {workdir}/server.log")
                raise
            browser.close()
    finally:
        stop_server(proc)
    return {"pack": "fruits", "steps": steps, "open_seconds": open_times,
            "step_ms": times, "step_bytes": sizes,
            "step_ms_median": statistics.median(times), "step_ms_max": max(times),
            "step_bytes_median": statistics.median(sizes),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                       f"{platform.python_version()}"}


def drive(page: Page, url: str, received: Received, steps: int,
          opens: int) -> tuple[list[float], list[float], list[int]]:
    """Open Explore ``opens`` times (a visit to Data in between), then ``steps`` Steps."""
    page.goto(url)
    page.get_by_role("heading", name="Label · fruits").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)
    open_times = []
    for _ in range(opens):
        open_times.append(open_explore(page))
        page.get_by_role("link", name="Data").click()
        page.get_by_role("heading", name="Data").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)
    open_explore(page)
    one_step(page, received)  # warm-up: the first step's session caches fill
    times, sizes = [], []
    for _ in range(steps):
        ms, size = one_step(page, received)
        times.append(ms)
        sizes.append(size)
    return open_times, times, sizes


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explore_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    opens = ", ".join(f"{s:.2f}" for s in result["open_seconds"])
    lines = [
        "# Explore page latency (fruits, chromium)",
        "",
        "`.venv/bin/python benchmarks/explore_latency.py "
        f"--steps {result['steps']} --opens {len(result['open_seconds'])}`, "
        f"{result['machine']}; 1-minute load average before / after: "
        f"{result['load_average_1min'][0]} / {result['load_average_1min'][1]} (a shared "
        "machine: other work inflates every figure).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| open Explore (s; first, then cached) | {opens} |",
        f"| Step, median (ms) | {result['step_ms_median']:.0f} |",
        f"| Step, max (ms) | {result['step_ms_max']:.0f} |",
        f"| Step, bytes received, median | {result['step_bytes_median']:,.0f} |",
        "",
        "Step: click to the new pick count shown, the map redrawn and Streamlit idle "
        "(server and browser). Open: click on the Explore link to the map drawn, another page "
        "visited between opens.",
        "",
    ]
    (RESULTS / "explore_latency.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    result = run(args.steps, args.opens)
    print(json.dumps({k: v for k, v in result.items() if k not in ("step_ms", "step_bytes")},
                     indent=2))
    if not args.no_write:
        write(result)


if __name__ == "__main__":
    main()
