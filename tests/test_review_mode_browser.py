"""The Label page's review mode in Debian's chromium: keep, change, skip and undo with keys.

Starts ``streamlit run dashboard/app.py`` in a temporary folder on the default fruits pack,
labels eight items with the card, switches the sidebar's mode to "Review likely mistakes" and
walks the queue; the store's events and the order the card showed the items in are compared
with the queue the page lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import (
    TIMEOUT_MS,
    card,
    launch_chromium,
    new_context,
    start_streamlit,
    stop_server,
    wait_saved,
    wait_shown,
)
from playwright.sync_api import Page, expect, sync_playwright

from labelwise.labels.store import LabelStore

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)


def store_events(workdir: Path):
    store = LabelStore(workdir / "labelwise-data")
    try:
        return store.events("fruits")
    finally:
        store.close()


def review_queue(page: Page) -> list[tuple[str, str]]:
    """(item id, label) of each row of the page's review queue, in its order."""
    text = page.get_by_test_id("stText").filter(has_text="1. ").first.text_content()
    rows = []
    for line in text.splitlines():
        if not line[:1].isdigit():
            continue
        head, rest = line.split(" \u2014 labeled ", 1)
        rows.append((head.split(". ", 1)[1], rest.split(", suggested ", 1)[0]))
    return rows


SHOWN = "c.events.filter(e => e.type === 'shown').length"


def press(page: Page, key: str) -> None:
    """Press ``key`` once the card's item is fully shown (a key is ignored before that), and
    wait until the item it brings is shown and the answer saved."""
    wait_shown(page)
    before = card(page, SHOWN)
    page.keyboard.press(key)
    page.wait_for_function(f"() => {{ const c = window.__labelwiseCard; return {SHOWN} > "
                           f"{before}; }}", timeout=TIMEOUT_MS)
    wait_saved(page)


def shown_ids(page: Page) -> list[str]:
    """The ids of the items the card showed, in order (a repeat in a row counted once)."""
    ids = card(page, "c.events.filter(e => e.type === 'shown').map(e => e.item)")
    views = {a["item"]: a["item_id"] for a in card(page, "c.events.filter("
                                                         "e => e.type === 'answer')")}
    out = []
    for item in ids:
        if not out or out[-1] != item:
            out.append(item)
    return [views.get(item, item) for item in out]


def test_review_mode_keeps_changes_skips_and_undoes_in_queue_order(tmp_path):
    server, url = start_streamlit(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = new_context(browser).new_page()
            page.goto(url + "/")
            wait_shown(page)
            for key in "12345612":
                press(page, key)
            labeled = store_events(tmp_path)
            assert len(labeled) == 8 and set(labeled["action"]) == {"label"}
            classes = page.locator(".lw-class .lw-name").all_text_contents()
            keys = page.locator(".lw-class kbd").all_text_contents()

            page.get_by_test_id("stSidebar").get_by_text("Review likely mistakes").click()
            # The labeling card stays on screen (stale) until the run that draws the review
            # card ends: then the review card is the only one.
            expect(page.locator('[data-role="meta"]', has_text="; the model suggests")
                   ).to_be_visible()
            expect(page.locator(".lw-card")).to_have_count(1)
            meta = page.locator('[data-role="meta"]')
            wait_shown(page)
            # A card of its own: nothing answered on it yet.
            assert card(page, "c.events.filter(e => e.type === 'answer').length") == 0
            queue = review_queue(page)
            assert sorted(i for i, _ in queue) == sorted(labeled["item_id"])
            (first, first_label), (second, second_label), (third, _) = queue[:3]
            expect(meta).to_contain_text(f"id {first} \u00b7 labeled {first_label}")
            # The card's words say what review means: the current label, the queue walked.
            expect(page.locator('[data-role="prediction"]')).to_contain_text(
                f"Labeled {first_label}")
            expect(page.locator('[data-role="progress"]')).to_contain_text("Reviewed 0 of")
            press(page, "Enter")  # keep
            other = next(c for c in classes if c != second_label)
            press(page, keys[classes.index(other)])  # change
            press(page, "s")
            expect(meta).to_contain_text(f"id {queue[3][0]} \u00b7 labeled {queue[3][1]}")
            press(page, "u")  # undoes the skip: the third item again
            assert card(page, "c.shown") is not None
            expect(meta).to_contain_text(f"id {third} ")
            press(page, "u")  # undoes the change: the second item, its label back
            expect(meta).to_contain_text(f"id {second} \u00b7 labeled {second_label}")
            shown = shown_ids(page)
            refused = [r for r in card(page, "c.receipts") if r["status"] != "saved"]
            # The history lists the latest answers first (the undo's label on the second
            # item): its buttons change a label, and the reruns that follow set nothing back.
            history = page.get_by_test_id("stPopover").first
            expect(history).to_contain_text(second_label)
            history.get_by_role("button").first.click()
            page.get_by_test_id("stPopoverBody").get_by_role(
                "button", name=other, exact=True).click()
            expect(page.get_by_test_id("stPopover").first).to_contain_text(other)
            wait_shown(page)
            browser.close()
    finally:
        stop_server(server, kill=True)
    assert not refused, refused
    # The queue's order (the fourth item is shown by its pool index: it was not answered),
    # then each undo brings its item back.
    assert len(shown) == 6 and shown[:3] + shown[4:] == [first, second, third, third, second]
    events = store_events(tmp_path).iloc[8:]
    assert events[["item_id", "action", "label", "who"]].values.tolist() == [
        [first, "label", first_label, "labeler"],  # a keep is a label event: reviewed
        [second, "label", other, "labeler"],
        [second, "label", second_label, "labeler"],  # the undo, marked by its group
        [second, "label", other, "labeler"],  # the history's change
    ]
    assert events["group_id"].iloc[2] == -events["group_id"].iloc[1]
