"""Crash test through the real app: label in Chromium, SIGKILL the server, restart, labels remain.

Starts ``streamlit run dashboard/app.py`` in a temporary working directory (so the label store
is created at its default place, ``labelwise-data/labelwise.sqlite`` there), labels five fruit
images by clicking class buttons in Debian's Chromium (Playwright), checks after each click that
the label is already committed in the SQLite file, kills the server with SIGKILL (no shutdown of
any kind), starts it again and checks that the classic Label page resumes with every label.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from browser_helpers import free_port, launch_chromium, start_streamlit
from playwright.sync_api import expect, sync_playwright

from labelwise.labels.store import LabelStore

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
N_LABELS = 5
#: The classic Label page (the app's Label page is the labeling card, whose crash and replay
#: test is in test_label_card_browser.py).
CLASSIC_PATH = "/label"


def _start_server(workdir: Path, port: int) -> subprocess.Popen:
    return start_streamlit(workdir, port=port, seconds=90)[0]


def _labeled_count(page) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Labeled").first
    return int(re.findall(r"\d+", metric.inner_text())[-1])


def _wait_for_count(page, expected: int) -> None:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Labeled").first
    expect(metric).to_contain_text(str(expected), timeout=60_000)
    deadline = time.monotonic() + 60
    while _labeled_count(page) != expected and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert _labeled_count(page) == expected


def _open_label_page(browser, port: int):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"http://127.0.0.1:{port}{CLASSIC_PATH}")
    expect(page.get_by_text("Label this item")).to_be_visible(timeout=120_000)
    expect(page.locator(".st-key-cls_0 button").first).to_be_enabled(timeout=60_000)
    return page


def _store_labels(workdir: Path) -> dict:
    store = LabelStore(workdir / "labelwise-data")
    try:
        table = store.current_labels("fruits")
        return dict(zip(table["item_id"], table["label"], strict=True))
    finally:
        store.close()


def test_labels_survive_sigkill_of_the_server(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = _start_server(tmp_path, port)
    clicked = []
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = _open_label_page(browser, port)
            assert _labeled_count(page) == 0
            for n in range(N_LABELS):
                button = page.locator(f".st-key-cls_{n % 6} button").first
                clicked.append(button.inner_text().split()[0])
                button.click()
                _wait_for_count(page, n + 1)
                # The page shows the next item only after the label was committed to disk.
                assert sorted(_store_labels(tmp_path).values()) == sorted(clicked)
            page.screenshot(path=str(ARTIFACTS / "crash-before-kill.png"), full_page=True)
            browser.close()
        before = _store_labels(tmp_path)
    finally:
        server.send_signal(signal.SIGKILL)  # a crash: no shutdown hooks, no checkpoint
        server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL
    assert len(before) == N_LABELS

    port = free_port()
    server = _start_server(tmp_path, port)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = _open_label_page(browser, port)
            _wait_for_count(page, N_LABELS)
            page.screenshot(path=str(ARTIFACTS / "crash-after-restart.png"), full_page=True)
            # Labeling continues where it stopped.
            page.locator(".st-key-cls_0 button").first.click()
            _wait_for_count(page, N_LABELS + 1)
            browser.close()
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    after = _store_labels(tmp_path)
    assert {k: after[k] for k in before} == before
    assert len(after) == N_LABELS + 1
    for name in ("crash-before-kill.png", "crash-after-restart.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000  # not a blank page
