"""The Label page (the labeling card) in Debian's chromium: tabs, the store, a crash.

Starts ``streamlit run dashboard/app.py`` in a temporary folder (the label store goes to
``labelwise-data`` there) on the default fruits pack, and compares the store's events with
what each tab's card says it answered (``window.__labelwiseCard.events``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser_helpers import (
    TIMEOUT_MS,
    card,
    launch_chromium,
    new_context,
    readme_screenshot,
    start_streamlit,
    stop_server,
    wait_saved,
    wait_shown,
)
from playwright.sync_api import Page, expect, sync_playwright

from labelwise.labels.store import LabelStore

pytestmark = pytest.mark.browser
pytest_plugins = ["store_backends"]  # postgres_location: a fresh schema on the test server
expect.set_options(timeout=TIMEOUT_MS)
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"  # the first-item times measured here, not asserted
#: Where the card page is: the app's default page, at the root ("/label_card" is no page
#: path and opens Streamlit's "Page not found" dialog, which takes the focus).
CARD_PATH = "/"


def start_server(workdir: Path, port: int | None = None):
    """The whole app, its store in ``workdir``; returns the process and its URL."""
    return start_streamlit(workdir, port=port)


def open_tab(context, url: str) -> tuple[Page, float]:
    """The card page in a new tab; returns it and seconds until its first item was shown."""
    page = context.new_page()
    start = time.monotonic()
    page.goto(url + CARD_PATH)
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


def stop(server) -> None:
    stop_server(server, kill=True)  # a crash: nothing is flushed on the way out


def test_two_tabs_get_different_items_nothing_lost_and_undo_names_who_changed(tmp_path):
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = new_context(browser)
            first, seconds_first = open_tab(context, url)
            second, seconds_second = open_tab(context, url)
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
    server, url = start_server(tmp_path)
    port = int(url.rsplit(":", 1)[1])
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = new_context(browser)
            page, _ = open_tab(context, url)
            page.keyboard.press("1")
            wait_saved(page)
            stop(server)  # a crash, mid-session
            page.keyboard.press("2")  # the preloaded next item: answered while nobody listens
            page.wait_for_function("() => window.__labelwiseCard.queue().length === 1")
            server, _ = start_server(tmp_path, port)
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
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = new_context(browser)
            page, _ = open_tab(context, url)
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


def test_six_tabs_on_one_project_are_shown_six_different_items_and_answer_them_once(tmp_path):
    """Six tabs opened at once, then each answers three items while the others do too: at
    no point do two tabs show one item, and the store has each answer once."""
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = new_context(browser, 1000, 800)
            tabs = [context.new_page() for _ in range(6)]
            for tab in tabs:  # all six load at the same moment
                tab.goto(url + CARD_PATH, wait_until="commit")
            shown = [wait_shown(tab) for tab in tabs]
            assert len(set(shown)) == 6, shown
            for round_ in range(3):
                for index, tab in enumerate(tabs):
                    tab.keyboard.press("1" if (index + round_) % 2 else "2")
                for tab in tabs:
                    wait_saved(tab)
                on_screen = [wait_shown(tab) for tab in tabs]
                assert len(set(on_screen)) == 6, (round_, on_screen)
            answers = [a for tab in tabs for a in answered(tab)]
            refused = [r for tab in tabs for r in card(tab, "c.receipts")
                       if r["status"] != "saved"]
            browser.close()
    finally:
        stop(server)
    assert len(answers) == 18 and not refused, refused
    events = store_events(tmp_path)
    assert sorted(zip(events["item_id"], events["label"], strict=True)) == sorted(
        (a["item_id"], a["label"]) for a in answers)
    assert events["item_id"].is_unique


def test_two_servers_on_one_postgres_store_lose_and_double_nothing(tmp_path, postgres_location):
    """Issue 14: two dashboard servers (two ``streamlit run``) on one PostgreSQL store, a tab
    on each labeling the same project at once: the store's events are exactly what the two
    cards say they answered, every answer saved, no item answered twice."""
    env = {"LABELWISE_STORE": postgres_location}  # a fresh schema, dropped afterwards
    servers = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(start_streamlit(tmp_path / name, env=env))
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            tabs = [new_context(browser).new_page() for _ in servers]
            for tab, (_, url) in zip(tabs, servers, strict=True):
                tab.goto(url + CARD_PATH, wait_until="commit")
            shown = [wait_shown(tab) for tab in tabs]
            assert shown[0] != shown[1]
            for round_ in range(5):
                for index, tab in enumerate(tabs):
                    tab.keyboard.press("12"[(index + round_) % 2])
                for tab in tabs:
                    wait_saved(tab)
                on_screen = [wait_shown(tab) for tab in tabs]
                assert on_screen[0] != on_screen[1], round_
            answers = [answered(tab) for tab in tabs]
            refused = [r for tab in tabs for r in card(tab, "c.receipts")
                       if r["status"] != "saved"]
            browser.close()
    finally:
        for proc, _ in servers:
            stop_server(proc)
    assert [len(a) for a in answers] == [5, 5] and not refused, refused
    assert {a["item_id"] for a in answers[0]}.isdisjoint(a["item_id"] for a in answers[1])
    store = LabelStore(postgres_location)
    try:
        events = store.events("fruits")
    finally:
        store.close()
    assert sorted(zip(events["item_id"], events["label"], strict=True)) == sorted(
        (a["item_id"], a["label"]) for a in [*answers[0], *answers[1]])
    assert events["item_id"].is_unique and set(events["action"]) == {"label"}


def test_a_new_class_gets_the_next_key_and_keys_work_with_a_sidebar_link_focused(tmp_path):
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page, _ = open_tab(new_context(browser), url)
            buttons = page.locator(".lw-class")  # locators see into the card's shadow root
            expect(buttons.first).to_be_visible()
            classes = list(zip(buttons.locator(".lw-name").all_text_contents(),
                               buttons.locator("kbd").all_text_contents(), strict=True))
            assert len(classes) == 6  # the fruits pack's classes
            assert [k for _, k in classes] == [str(n + 1) for n in range(len(classes))]
            # A focused sidebar link (not a text box): "2" answers with the second class.
            link = page.locator('[data-testid="stSidebarNav"] a').last
            link.focus()
            page.keyboard.press("2")
            wait_saved(page)
            # The link was not followed: still the card page.
            expect(page.get_by_role("heading", name="Label · fruits")).to_be_visible()
            assert answered(page)[-1]["label"] == classes[1][0]
            # Typing in the sidebar's text box is typing.
            name = page.get_by_label("Your name", exact=True)
            name.focus()
            page.keyboard.press("1")
            page.keyboard.press("Backspace")
            assert len(answered(page)) == 1
            # A new class: its button shows the next key, and that key labels with it.
            page.get_by_label("New class", exact=True).fill("unsure")
            page.get_by_role("button", name="Add class").click()
            new_key = str(len(classes) + 1)
            button = buttons.last
            expect(button).to_contain_text("unsure")
            expect(button.locator("kbd")).to_have_text(new_key)
            link.focus()
            page.keyboard.press(new_key)
            wait_saved(page)
            assert answered(page)[-1]["label"] == "unsure"
            events = store_events(tmp_path)
            assert events["label"].tolist()[-1] == "unsure"
            assert events["who"].tolist() == ["labeler", "labeler"]
            # A few more answers, so the history shows, then the README's picture of the card.
            for key in ("1", "3", "5"):
                page.keyboard.press(key)
                wait_saved(page)
            page.mouse.click(1, 1)  # no hover highlight in the picture
            page.wait_for_timeout(500)
            assert readme_screenshot(page, "label").stat().st_size > 20_000
            browser.close()
    finally:
        stop(server)


def test_an_undone_skip_is_stored_and_survives_a_reload(tmp_path):
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page, _ = open_tab(new_context(browser), url)
            wait_shown(page)
            page.keyboard.press("s")
            wait_saved(page)
            page.keyboard.press("u")  # undo the skip: the item is back in the pool
            wait_saved(page)
            assert store_events(tmp_path)["action"].tolist() == ["skip", "unlabel"]
            page.reload()
            wait_shown(page)
            expect(page.locator('[data-role="progress"]')).to_contain_text("Labeled 0 of")
            # What a reloaded desk sets aside comes from the store: nothing, the skip was undone.
            store = LabelStore(tmp_path / "labelwise-data")
            try:
                assert store.skipped_items("fruits") == []
            finally:
                store.close()
            browser.close()
    finally:
        stop(server)


def test_a_reloaded_tab_gets_back_the_item_it_showed_and_can_answer_it(tmp_path):
    server, url = start_server(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = new_context(browser)
            page, _ = open_tab(context, url)
            shown = wait_shown(page)
            page.reload()
            # The card says hello with its tab id and the item it showed: still reserved for
            # this tab, so the desk offers it again (a new desk may show another one first).
            page.wait_for_function(f"() => window.__labelwiseCard && "
                                   f"window.__labelwiseCard.shown === {shown}",
                                   timeout=TIMEOUT_MS)
            other, _ = open_tab(context, url)  # another tab is never handed the same item
            assert wait_shown(other) != shown
            page.keyboard.press("1")
            wait_saved(page)
            events = store_events(tmp_path)
            assert events["action"].tolist() == ["label"]
            assert [a["item"] for a in answered(page)] == [shown]
            browser.close()
    finally:
        stop(server)
