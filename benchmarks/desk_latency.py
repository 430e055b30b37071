"""Labeling-card latency: key press -> the next item fully shown, measured in the browser.

Serves ``dashboard/views/desk_preview.py`` with ``streamlit run`` and drives Debian's chromium
through Playwright (never a downloaded browser). The card records ``performance.now()`` at the
keydown and when the next item is shown (its image decoded, then the next animation frame;
for texts, the next frame), on ``window.__labelwiseCard.timings``; it also records when each
answer's receipt came back from the server ("saved").

Two paces, 100 labels each (after a few warm-up labels), on fruits (images) and on
sentiment140 (texts):

* ``person``: each key press waits until the previous answer is saved and a short think time
  has passed (a person reads the item): the next item comes from the card's preloaded offer;
* ``burst``: each key press follows as soon as the next item is shown, without waiting for the
  server: when the person is ahead of the server the card has to wait for the next offer.

The class pressed is drawn with a seeded generator. The 1-minute load average is recorded
before and after each run (2-core machine: the server, the browser and this script share it).

Run: ``.venv/bin/python benchmarks/desk_latency.py [--labels 100] [--datasets fruits sentiment140]``
Writes benchmarks/results/desk_latency.md and desk_latency.json.
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

import numpy as np
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "dashboard" / "views" / "desk_preview.py"
RESULTS = ROOT / "benchmarks" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 180_000
THINK_MS = 250
GOAL_MEDIAN_MS, GOAL_P95_MS = 50, 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    (workdir / ".streamlit").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", workdir / ".streamlit" / "config.toml")
    port = free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(PAGE), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not start")


def wait_saved(page: Page) -> None:
    page.wait_for_function("() => window.__labelwiseCard.queue().length === 0",
                           timeout=TIMEOUT_MS)


def press_and_wait_shown(page: Page, key: str) -> None:
    count = page.evaluate("window.__labelwiseCard.timings.length")
    page.keyboard.press(key)
    page.wait_for_function(f"() => window.__labelwiseCard.timings.length > {count}",
                           timeout=TIMEOUT_MS)


def run_one(browser, url: str, dataset: str, pace: str, labels: int, warmup: int,
            seed: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{url}/?dataset={dataset}&desk=bench-{pace}-{time.time_ns()}")
    page.wait_for_function("() => window.__labelwiseCard && window.__labelwiseCard.shown !== null",
                           timeout=TIMEOUT_MS)
    n_classes = page.locator("button.lw-class").count()
    keys = page.locator("button.lw-class kbd").all_inner_texts()
    rng = np.random.default_rng(seed)
    load_before = os.getloadavg()[0]
    for n in range(warmup + labels):
        if n == warmup:
            first = page.evaluate("window.__labelwiseCard.timings.length")
        if pace == "person":
            wait_saved(page)
            page.wait_for_timeout(THINK_MS)
        press_and_wait_shown(page, keys[int(rng.integers(n_classes))])
    wait_saved(page)
    load_after = os.getloadavg()[0]
    timings = page.evaluate("window.__labelwiseCard.timings")[first:]
    receipts = {r["client_seq"]: r for r in page.evaluate("window.__labelwiseCard.receipts")}
    page.close()
    shown = [t["latency"] for t in timings]
    saved = [receipts[t["client_seq"]]["t"] - t["key"] for t in timings
             if t["client_seq"] in receipts]
    return {
        "dataset": dataset, "pace": pace, "labels": len(shown),
        "median_ms": statistics.median(shown), "p95_ms": percentile(shown, 0.95),
        "max_ms": max(shown),
        "preloaded": sum(t["path"] == "preloaded" for t in timings),
        "saved_median_ms": statistics.median(saved), "saved_p95_ms": percentile(saved, 0.95),
        "load_before": load_before, "load_after": load_after,
    }


def write_markdown(rows: list[dict], meta: dict, path: Path) -> None:
    lines = [
        "# Labeling card: key press -> next item shown (browser)",
        "",
        f"`benchmarks/desk_latency.py`, {meta['when']}; {meta['machine']}; chromium "
        f"{meta['chromium']}; {meta['labels']} labels per run after {meta['warmup']} warm-up "
        f"labels; think time {THINK_MS} ms at the person's pace. Goal: median <= "
        f"{GOAL_MEDIAN_MS} ms, p95 <= {GOAL_P95_MS} ms (before the card: median 0.7 s, "
        "max 1.8 s, measured on the server only).",
        "",
        "Shown = keydown to the next item's image decoded and the following animation frame "
        "(texts: the following frame), in the page (`performance.now()`). Saved = keydown to "
        "the server's receipt arriving in the page (the answer applied and the new offer "
        "with the next items for every answer computed).",
        "",
        "| dataset | pace | labels | shown median ms | shown p95 ms | shown max ms | "
        "from preloaded offer | saved median ms | saved p95 ms | load avg before/after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['pace']} | {r['labels']} | {r['median_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['max_ms']:.1f} | {r['preloaded']}/{r['labels']} | "
            f"{r['saved_median_ms']:.0f} | {r['saved_p95_ms']:.0f} | "
            f"{r['load_before']:.2f} / {r['load_after']:.2f} |")
    lines += [
        "",
        "At the person's pace every answer finds its next item in the offer the card already "
        "holds (decoded ahead of time), so the swap costs one frame. In a burst, key presses "
        "that come before the previous answer's new offer arrives find no next item yet: the "
        "card shows that it is waiting, and ignores answer keys until the next item is shown "
        "(a key never acts on an item that was not shown), so those presses measure the "
        "server's round trip.",
        "",
    ]
    path.write_text("\n".join(lines))


def chromium_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", default=["fruits", "sentiment140"])
    parser.add_argument("--paces", nargs="+", default=["person", "burst"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="labelwise-desk-bench-"))
    proc, url = start_server(workdir)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for dataset in args.datasets:
                for pace in args.paces:
                    row = run_one(browser, url, dataset, pace, args.labels, args.warmup,
                                  args.seed)
                    print(json.dumps(row))
                    rows.append(row)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M"), "labels": args.labels,
            "warmup": args.warmup, "chromium": chromium_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "desk_latency.json").write_text(json.dumps({"meta": meta, "runs": rows},
                                                          indent=2))
    write_markdown(rows, meta, RESULTS / "desk_latency.md")
    print((RESULTS / "desk_latency.md").read_text())


if __name__ == "__main__":
    main()
