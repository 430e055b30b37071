"""The labeling card in a real browser: dashboard/views/desk_preview.py under `streamlit run`.

Debian's chromium through Playwright (never a downloaded browser). One server serves the
module; every test opens its own desk (the ``desk`` query parameter), so tests do not share
labels. The card exposes what it showed and answered on ``window.__labelwiseCard`` (see
labelwise.dashboard.card.frontend); the server's side is read from the card's own text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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

from labelwise.data.packs import write_pack

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "dashboard" / "views" / "desk_preview.py"
MARKUP = '<b>bold</b> <img src=x onerror="window.__pwned = 1"> & more'

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)


def tiny_text_pack(folder: Path) -> Path:
    """Four texts, one of them markup, with numeric class names ("1", "10", "2")."""
    rng = np.random.default_rng(0)
    texts = [MARKUP, "plain words", "more words", "last one"]
    items = pd.DataFrame({"id": ["<i>a</i>", "b", "c", "d"], "text": texts})
    return write_pack(folder, name="tiny", kind="text", vectors=rng.normal(size=(4, 8)),
                      items=items, labels=["1", "10", "2", "1"], vector_dtype="float32")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("desk")
    pack = tiny_text_pack(workdir / "tiny")
    proc, url = start_streamlit(workdir, script=PAGE)
    try:
        yield url, pack
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser(server):
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = new_context(browser)
    yield context
    context.close()


def open_card(context, server, desk: str, **params) -> Page:
    url, pack = server
    query = {"desk": desk, **params}
    if query.get("dataset") == "tiny":
        query["dataset"] = str(pack)
    page = context.new_page()
    page.goto(url + "/?" + "&".join(f"{k}={v}" for k, v in query.items()))
    wait_shown(page)
    return page


def statuses(page: Page) -> list[str]:
    return page.locator('[data-role="log"] li').evaluate_all(
        "nodes => nodes.map(n => n.dataset.status)")


def test_keys_swap_to_the_preloaded_item_at_once_and_every_answer_is_saved(context, server):
    page = open_card(context, server, "keys")
    buttons = page.locator("button.lw-class")
    expect(buttons).to_have_count(6)
    # The key is shown apart from the name.
    assert buttons.first.locator("kbd").inner_text() == "1"
    assert buttons.first.locator(".lw-name").inner_text() == "freshapples"
    img = page.locator('[data-role="item"] img')
    size = img.evaluate("i => [i.naturalWidth, i.width]")
    assert size[0] > 0 and size[0] == size[1]  # the source's own resolution
    for n, key in enumerate(["1", "4", "s", "2"], start=1):
        wait_saved(page)
        page.keyboard.press(key)
        page.wait_for_function(f"() => window.__labelwiseCard.timings.length === {n}")
        timing = card(page, "c.timings[c.timings.length - 1]")
        assert timing["path"] == "preloaded"
        assert card(page, "c.shown") == timing["next"]
    wait_saved(page)
    assert statuses(page) == ["saved"] * 4
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 3 of 7218")
    expect(page.locator('[data-role="log"] li').first).to_contain_text("labeled “freshbanana”")


def test_enter_accepts_the_prediction_and_undo_brings_the_item_back(context, server):
    page = open_card(context, server, "undo")
    first = card(page, "c.shown")
    assert page.locator('[data-role="accept"]').is_disabled()  # no model before a label
    page.keyboard.press("3")
    wait_saved(page)
    second = card(page, "c.shown")
    expect(page.locator('[data-role="prediction"]')).to_contain_text("Model: freshoranges")
    page.keyboard.press("Enter")
    wait_saved(page)
    expect(page.locator('[data-role="log"] li').first).to_contain_text("labeled “freshoranges”")
    page.keyboard.press("u")
    page.wait_for_function(f"() => window.__labelwiseCard.shown === {second}")
    wait_saved(page)
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 1 of 7218")
    page.keyboard.press("u")
    page.wait_for_function(f"() => window.__labelwiseCard.shown === {first}")
    wait_saved(page)
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 0 of 7218")


def test_a_fast_burst_of_keys_only_ever_answers_items_that_were_shown(context, server):
    page = open_card(context, server, "burst")
    for key in "1212121212":
        page.keyboard.press(key)  # no wait: faster than the server and the decoder
    wait_saved(page)
    page.wait_for_timeout(300)
    events = card(page, "c.events")
    last_shown = None
    answered = []
    for event in events:
        if event["type"] == "shown":
            last_shown = event["item"]
        else:
            assert event["item"] == last_shown, events  # the item on screen at the key press
            answered.append(event["item"])
            last_shown = None  # the next key needs the next item shown first
    assert answered and len(set(answered)) == len(answered)
    assert set(statuses(page)) == {"saved"}


def test_keys_typed_into_a_text_box_stay_there(context, server):
    page = open_card(context, server, "textbox")
    shown = card(page, "c.shown")
    box = page.get_by_label("Notes (keys typed here stay here)")
    box.click()
    page.keyboard.type("1s u2")
    expect(box).to_have_value("1s u2")
    assert card(page, "c.events.filter(e => e.type === 'answer').length") == 0
    assert card(page, "c.shown") == shown


def test_the_queue_survives_being_offline_and_a_reload_and_is_replayed_once(context, server):
    page = open_card(context, server, "offline")
    context.set_offline(True)
    page.wait_for_timeout(500)
    page.keyboard.press("1")
    page.wait_for_function("() => window.__labelwiseCard.timings.length === 1")
    page.keyboard.press("2")
    page.wait_for_timeout(300)
    queued = card(page, "c.queue()")
    assert [a["client_seq"] for a in queued] == [1, 2]
    expect(page.locator('[data-role="net"]')).to_contain_text("2 answer(s) waiting")
    stored = page.evaluate("() => Object.entries(localStorage).filter(([k]) => "
                           "k.startsWith('labelwise.card.'))")
    context.set_offline(False)
    page.reload()  # the queue is in localStorage: the reloaded card sends it
    wait_shown(page)
    wait_saved(page)
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 2 of 7218")
    assert statuses(page) == ["saved", "saved"]
    # The same answers again (a replay after a crash): the server acknowledges, applies nothing.
    for key, value in stored:
        page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, value])
    page.reload()
    wait_shown(page)
    wait_saved(page)
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 2 of 7218")
    # The card numbers its next answers after the replayed ones.
    page.keyboard.press("s")
    wait_saved(page)
    assert card(page, "c.events.filter(e => e.type === 'answer').pop().client_seq") == 3


def test_an_item_labeled_in_another_tab_is_refused_with_the_reason(context, server):
    mine = open_card(context, server, "tabs")
    theirs = open_card(context, server, "tabs")
    item = card(mine, "c.shown")
    assert card(theirs, "c.shown") == item
    assert card(mine, "c.deskId") != card(theirs, "c.deskId")  # one desk id per tab
    theirs.keyboard.press("1")
    wait_saved(theirs)
    mine.keyboard.press("2")
    mine.wait_for_function("() => window.__labelwiseCard.queue().length === 0")
    entry = mine.locator('[data-role="log"] li').first
    expect(entry).to_have_attribute("data-status", "refused")
    expect(entry).to_contain_text("labeled meanwhile")


def test_texts_ids_and_numeric_class_names_are_shown_as_text_and_a_finish(context, server):
    page = open_card(context, server, "tiny", dataset="tiny")
    names = page.locator("button.lw-class .lw-name").all_inner_texts()
    keys = page.locator("button.lw-class kbd").all_inner_texts()
    assert (names, keys) == (["1", "10", "2"], ["1", "2", "3"])
    texts = []
    for _ in range(4):
        texts.append(page.locator('[data-role="item"] .lw-text').inner_text())
        page.keyboard.press("3")  # class "2", not class "1"
        wait_saved(page)
    assert MARKUP in texts
    assert page.locator('[data-role="item"] b, [data-role="item"] img').count() == 0
    assert page.locator('[data-role="meta"] i').count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(page.locator('[data-role="log"] li').first).to_contain_text("labeled “2”")
    expect(page.locator('[data-role="finish"]')).to_be_visible()
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 4 of 4")
    page.keyboard.press("u")
    wait_saved(page)
    expect(page.locator('[data-role="finish"]')).to_be_hidden()
    expect(page.locator('[data-role="progress"]')).to_have_text("Labeled 3 of 4")
