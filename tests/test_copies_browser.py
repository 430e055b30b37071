"""The Label page's near-copies keys in Debian's chromium: Alt+G gives the latest item's label to
its near-copies (one event group in the store), Alt+Z takes them back.

No built-in pack has enough copies (the fruit pool has one group of two), so the test writes
a small text pack of its own (``LABELWISE_PACKS_DIR``): 200 distinct items and six groups of
three near-copies (cosine similarity above 0.9999, far above the rest). The page opens on it,
a labeler's label on one copy is written to the store, and the page is reloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_helpers import (
    TIMEOUT_MS,
    launch_chromium,
    new_context,
    start_streamlit,
    stop_server,
    wait_shown,
)
from playwright.sync_api import expect, sync_playwright

from labelwise import load_dataset
from labelwise.dashboard.labeling import holdout_split
from labelwise.data.packs import write_pack
from labelwise.labels.store import LabelStore

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)
PACK = "copies"


def copies_pack(packs: Path) -> None:
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(200, 16))
    bases = rng.normal(size=(6, 16))
    copies = np.repeat(bases, 3, axis=0) + 1e-3 * rng.normal(size=(18, 16))
    vectors = np.vstack([distinct, copies]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    n = len(vectors)
    labels = np.where(vectors[:, 0] > 0, "yes", "no")
    items = pd.DataFrame({"id": [f"t{i:03d}" for i in range(n)],
                          "text": [f"item {i}" for i in range(n)]})
    write_pack(packs / "packs" / PACK, name=PACK, kind="text", vectors=vectors, items=items,
               labels=labels, vector_dtype="float32")


def a_copy_group_in_the_pool(monkeypatch, packs: Path) -> list[str]:
    """The ids of the first copy group whose three items are all in the labeling pool."""
    monkeypatch.setenv("LABELWISE_PACKS_DIR", str(packs))
    pool_ids = set(holdout_split(load_dataset(PACK)).pool.ids)
    for g in range(6):
        ids = [f"t{200 + 3 * g + k:03d}" for k in range(3)]
        if set(ids) <= pool_ids:
            return ids
    raise AssertionError("no copy group is wholly in the pool")


def current(workdir: Path) -> dict:
    store = LabelStore(workdir / "labelwise-data")
    try:
        table = store.current_labels(PACK)
        return dict(zip(table["item_id"], table["label"], strict=True))
    finally:
        store.close()


def test_alt_g_gives_the_copies_the_label_and_alt_z_takes_it_back(tmp_path, monkeypatch):
    packs = tmp_path / "packs-dir"
    copies_pack(packs)
    group = a_copy_group_in_the_pool(monkeypatch, packs)
    server, url = start_streamlit(tmp_path, env={"LABELWISE_PACKS_DIR": str(packs)})
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = new_context(browser).new_page()
            page.goto(url + "/")
            wait_shown(page)  # the page made the project
            store = LabelStore(tmp_path / "labelwise-data")
            try:
                store.record(PACK, group[0], "label", "yes", who="labeler")
            finally:
                store.close()
            page.reload()
            wait_shown(page)
            give = page.locator(".st-key-card_copies button")
            expect(give).to_contain_text("Give them")
            expect(page.get_by_text("Your latest item has 2 near-copies")).to_be_visible()
            page.keyboard.press("Alt+KeyG")
            expect(page.get_by_text("2 near-copies labeled.")).to_be_visible()
            labeled = current(tmp_path)
            assert {i: labeled.get(i) for i in group} == dict.fromkeys(group, "yes")
            store = LabelStore(tmp_path / "labelwise-data")
            try:
                events = store.events(PACK)
            finally:
                store.close()
            copies = events[events["item_id"].isin(group[1:])]
            assert copies["group_id"].notna().all() and copies["group_id"].nunique() == 1
            expect(page.locator(".st-key-card_copies_undo button")).to_be_visible()
            page.keyboard.press("Alt+KeyZ")
            expect(page.locator(".st-key-card_copies_undo button")).to_have_count(0)
            labeled = current(tmp_path)
            assert {i: labeled.get(i) for i in group} == {group[0]: "yes", group[1]: None,
                                                          group[2]: None}
            browser.close()
    finally:
        stop_server(server, kill=True)
