"""Opening the Label page: seconds until the card shows its first item, on every built-in pack.

Serves the whole app (``dashboard/app.py``) with ``streamlit run`` in a fresh folder (a fresh
label store) and drives Debian's chromium through Playwright. For each pack: open it on the Data
page, then click the "Label" link and time until the card shows an item (its image decoded, or
its text drawn: ``window.__labelwiseCard.shown``). "cold" is the first open of that pack's Label
page in this server (its session, graph and density are read from the pack then); "warm" is a
second open after visiting another page. Goal (issue 13): at most 3 s on every built-in pack.
The 1-minute load average is recorded with each pack.

Run: ``.venv/bin/python benchmarks/label_open.py [--packs fruits sentiment140]``
Writes benchmarks/results/label_open.md and label_open.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' server and chromium helpers

from browser_helpers import (  # noqa: E402
    TIMEOUT_MS,
    launch_chromium,
    start_streamlit,
    stop_server,
)

from labelwise.data.packs import available_packs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GOAL_SECONDS = 3.0
SHOWN_JS = "() => window.__labelwiseCard && window.__labelwiseCard.shown !== null"


def open_pack(page: Page, name: str) -> None:
    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_role("combobox", name="Built-in pack").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator(".st-key-open_pack button").click()
    expect(page.get_by_role("heading", name=f"Open: {name}")).to_be_visible()


def time_label_page(page: Page) -> float:
    """Seconds from the click on "Label" to the card's first item shown."""
    page.evaluate("() => { if (window.__labelwiseCard) window.__labelwiseCard.shown = null; }")
    start = time.monotonic()
    page.get_by_role("link", name="Label", exact=True).click()
    page.wait_for_function(SHOWN_JS, timeout=TIMEOUT_MS)
    return time.monotonic() - start


def measure(page: Page, name: str) -> dict:
    open_pack(page, name)
    cold = time_label_page(page)
    page.get_by_role("link", name="Export", exact=True).click()
    page.wait_for_timeout(500)
    warm = time_label_page(page)
    return {"pack": name, "cold_s": round(cold, 2), "warm_s": round(warm, 2),
            "load_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", nargs="*", default=None, help="default: every built-in pack")
    args = parser.parse_args()
    packs = args.packs or available_packs()
    rows = []
    with tempfile.TemporaryDirectory(prefix="labelwise-open-") as tmp:
        proc, url = start_streamlit(Path(tmp))
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(url)
                page.wait_for_function(SHOWN_JS, timeout=TIMEOUT_MS)  # the default pack
                for name in packs:
                    rows.append(measure(page, name))
                    print(json.dumps(rows[-1]), flush=True)
                browser.close()
        finally:
            stop_server(proc)
    write(rows)


def write(rows: list[dict]) -> None:
    meta = {"command": "python benchmarks/label_open.py", "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "goal_seconds": GOAL_SECONDS, "rows": rows}
    (RESULTS / "label_open.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = ["# Opening the Label page: first item shown (chromium)", "",
             f"`{meta['command']}`, {meta['machine']}, {meta['cpus']} CPUs, Python "
             f"{meta['python']}. Click on the Label link to the card's first item shown; cold = "
             "first open of the pack's Label page on this server (after opening the pack on the "
             "Data page), warm = the second open. Goal: at most 3 s on every built-in pack.", "",
             "| pack | cold s | warm s | within 3 s | load avg |", "|---|---:|---:|---|---:|"]
    for r in rows:
        ok = "yes" if max(r["cold_s"], r["warm_s"]) <= GOAL_SECONDS else "no"
        lines.append(f"| {r['pack']} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | {ok} | "
                     f"{r['load_1min']:.2f} |")
    (RESULTS / "label_open.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
