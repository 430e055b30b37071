"""The "Label (card)" page of the real app in Debian's chromium: two tabs, the store, a crash.

Starts ``streamlit run dashboard/app.py`` in a temporary folder (the label store goes to
``labelwise-data`` there) on the default fruits pack, and compares the store's events with
what each tab's card says it answered (``window.__labelwiseCard.events``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from test_card_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, card, wait_saved, wait_shown

from labelwise.labels.store import LabelStore

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"  # the first-item times measured here, not asserted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path, port: int) -> subprocess.Popen:
    """The whole app on ``port``, its store in ``workdir``; waits (bounded) for its health."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LABELWISE_DATA_DIR", "LABELWISE_STORE")}
    log = open(workdir / f"server-{port}.log", "a")  # noqa: SIM115 -- lives with the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            assert proc.poll() is None, (workdir / f"server-{port}.log").read_text()
            time.sleep(0.5)
    proc.kill()
    proc.wait(timeout=30)
    raise AssertionError("the Streamlit server did not come up within 90 s")


def open_tab(context, port: int) -> tuple[Page, float]:
    """The card page in a new tab; returns it and seconds until its first item was shown."""
    page = context.new_page()
    start = time.monotonic()
    page.goto(f"http://127.0.0.1:{port}/label_card")
    wait_shown(page)
    return page, time.monotonic() - start


def answered(page: Page) -> list[dict]:
    return card(page, "c.events.filter(e => e.type === 'answer')")


def store_events(workdir: Path):
    store = LabelStore(workdir / "labelwise-data")
    try:
        return store.events("fruits")
    finally:
        store.close()


def record(workdir: Path, item_id: str, label: str, who: str) -> None:
    store = LabelStore(workdir / "labelwise-data")
    try:
        store.record("fruits", item_id, "label", label, who=who)
    finally:
        store.close()


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)


def test_two_tabs_get_different_items_nothing_lost_and_undo_names_who_changed(tmp_path):
    server = start_server(tmp_path, port := free_port())
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            first, seconds_first = open_tab(context, port)
            second, seconds_second = open_tab(context, port)
            assert card(first, "c.shown") != card(second, "c.shown")
            for keys in ("1212", "2121"):
                for key_first, key_second in zip(keys[:2], keys[2:], strict=True):
                    first.keyboard.press(key_first)
                    second.keyboard.press(key_second)
                    wait_saved(first)
                    wait_saved(second)
            mine, theirs = answered(first), answered(second)
            assert {a["item_id"] for a in mine}.isdisjoint(a["item_id"] for a in theirs)
            events = store_events(tmp_path)
            stored = sorted(zip(events["item_id"], events["label"], strict=True))
            assert stored == sorted((a["item_id"], a["label"]) for a in [*mine, *theirs])
            # Ben relabels the first tab's latest item: its undo is refused and names him.
            other_label = "freshoranges" if mine[-1]["label"] != "freshoranges" else "freshbanana"
            record(tmp_path, mine[-1]["item_id"], other_label, "ben")
            first.keyboard.press("u")
            wait_saved(first)
            entry = first.locator('[data-role="log"] li').first
            expect(entry).to_have_attribute("data-status", "refused")
            expect(entry).to_contain_text("changed since by ben")
            # The second tab's undo is stored as an event, so a reload keeps it.
            second.keyboard.press("u")
            wait_saved(second)
            assert store_events(tmp_path)["action"].tolist()[-1] == "unlabel"
            second.reload()
            wait_shown(second)
            labeled = 4 + 4 - 1  # eight answers, one undone; ben's relabel replaced one
            expect(second.locator('[data-role="progress"]')).to_contain_text(
                f"Labeled {labeled} of")
            browser.close()
    finally:
        stop(server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.joinpath("label_card_first_item.json").write_text(json.dumps(
        {"pack": "fruits", "first_tab_s": round(seconds_first, 2),
         "second_tab_s": round(seconds_second, 2),
         "note": "cold server: includes loading the pack and the density once"}, indent=1))


def test_answers_queued_while_the_server_is_down_are_replayed_after_a_restart(tmp_path):
    port = free_port()
    server = start_server(tmp_path, port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            page, _ = open_tab(context, port)
            page.keyboard.press("1")
            wait_saved(page)
            stop(server)  # a crash, mid-session
            page.keyboard.press("2")  # the preloaded next item: answered while nobody listens
            page.wait_for_function("() => window.__labelwiseCard.queue().length === 1")
            server = start_server(tmp_path, port)
            page.reload()  # the card replays its queue from localStorage
            wait_shown(page)
            wait_saved(page)
            expect(page.locator('[data-role="progress"]')).to_contain_text("Labeled 2 of")
            browser.close()
    finally:
        stop(server)
    events = store_events(tmp_path)
    assert events["action"].tolist() == ["label", "label"]
    assert sorted(events["label"]) == ["freshapples", "freshbanana"]


def test_a_double_press_answers_only_items_that_were_shown(tmp_path):
    server = start_server(tmp_path, port := free_port())
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.set_default_timeout(TIMEOUT_MS)
            page, _ = open_tab(context, port)
            for key in "112211":
                page.keyboard.press(key)  # no wait: pairs of presses faster than the server
            wait_saved(page)
            events = card(page, "c.events")
            browser.close()
    finally:
        stop(server)
    shown, answers = None, []
    for event in events:
        if event["type"] == "shown":
            shown = event["item"]
        else:
            assert event["item"] == shown, events  # the item on screen at the key press
            answers.append(event)
            shown = None  # a second press needs the next item on screen first
    stored = store_events(tmp_path)
    assert sorted(zip(stored["item_id"], stored["label"], strict=True)) == sorted(
        (a["item_id"], a["label"]) for a in answers)
    assert stored["item_id"].is_unique
