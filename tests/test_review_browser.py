"""The Review page in a real browser: change a suspect label, bulk-label "more like this", undo;
agreement between two labelers and a reviewer settling their disagreement.

The page is served on its own (``streamlit run dashboard/views/review.py``) over a store made
here: a digits project with 30 labels of the classes 0 and 1, one of them flipped, so the
flipped item is surely first in the queue (its five nearest other labels all disagree). A
second labeler, bo, answered six of those items first (two differently from ana), so the
current labels, and the queue, are ana's.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_helpers import (
    REPO,
    TIMEOUT_MS,
    launch_chromium,
    new_context,
    start_streamlit,
    stop_server,
)
from playwright.sync_api import Page, expect, sync_playwright

from labelwise import LabelStore, bind_project, load_dataset, strategy_settings
from labelwise.dashboard.labeling import holdout_split
from labelwise.labels.accounts import User

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)
PAGE = REPO / "dashboard" / "views" / "review.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("review")
    pool = holdout_split(load_dataset("digits")).pool
    store = LabelStore(workdir / "data")
    bind_project(store, "digits", pool, dataset_id="pack:digits",
                 settings=strategy_settings("U*I*D", k=5, seed=0))
    labels = np.asarray(pool.labels).astype(str)
    zeros, ones = np.flatnonzero(labels == "0")[:15], np.flatnonzero(labels == "1")[:15]
    flipped = int(zeros[0])
    # bo answers first, so ana's answers are the current labels: "1" twice where ana says "0".
    for row, label in zip([*zeros[1:5], *ones[1:3]], ["1", "1", "0", "0", "1", "1"],
                          strict=True):
        store.record("digits", pool.ids[row], "label", label, who="bo")
    for row in [*zeros, *ones]:
        label = "1" if row == flipped else labels[row]
        store.record("digits", pool.ids[row], "label", label, who="ana")
    return workdir, store, pool, flipped


@pytest.fixture(scope="module")
def page(project):
    workdir = project[0]
    proc, url = start_streamlit(workdir, script=PAGE,
                                env={"LABELWISE_DATA_DIR": str(workdir / "data")})
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = new_context(browser, 1400, 1200).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
            browser.close()
    finally:
        stop_server(proc)


def wait_idle(page: Page) -> None:
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
                 + '[data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')""",
        timeout=TIMEOUT_MS)


def current(store: LabelStore) -> dict:
    table = store.current_labels("digits")
    return dict(zip(table["item_id"], zip(table["label"], table["who"], strict=True),
                    strict=True))


def test_review_queue_change_then_bulk_label_and_undo(page, project) -> None:
    _, store, pool, flipped = project
    reviewer = User.local_user().name
    flipped_id = pool.ids[flipped]
    heading = page.get_by_role("heading", name=f"Rank 1: item {flipped_id}")
    expect(heading).to_be_visible()
    expect(page.get_by_text("Suggested: 0")).to_be_visible()
    # "Change to" lists the other classes: here only "0".
    page.locator(".st-key-review_change_0 button").click()
    expect(heading).to_have_count(0)
    wait_idle(page)
    assert current(store)[flipped_id] == ("0", reviewer)
    history = store.events("digits")
    assert history[history["item_id"] == flipped_id]["label"].tolist() == ["1", "0"]

    # Keep the next one: a label event with the same label, under the reviewer's name.
    next_heading = page.get_by_role("heading", name=re.compile(r"^Rank \d+: item \S+$"))
    expect(next_heading).to_be_visible()
    kept_id = next_heading.inner_text().rsplit(" ", 1)[-1]
    before = current(store)[kept_id][0]
    page.locator(".st-key-review_keep button").click()
    expect(page.get_by_role("heading", name=re.compile(f": item {kept_id}$"))).to_have_count(0)
    wait_idle(page)
    assert current(store)[kept_id] == (before, reviewer)

    # More like this: the 12 nearest unlabeled items of the last labeled one, all with the
    # class preselected on the page.
    page.get_by_role("tab", name="More like this").click()
    apply = page.locator(".st-key-review_more_apply button")
    expect(apply).to_have_text("Label 12 items")
    n_before = len(current(store))
    apply.click()
    done = page.get_by_text(re.compile(r"^Last bulk labeling: 12 items as \S+\.$"))
    expect(done).to_be_visible()
    wait_idle(page)
    bulk_label = done.inner_text().rsplit(" ", 1)[-1].rstrip(".")
    after = current(store)
    assert len(after) == n_before + 12
    fresh = [i for i, (_, who) in after.items() if who == reviewer and i not in
             (flipped_id, kept_id)]
    assert len(fresh) == 12 and all(after[i][0] == bulk_label for i in fresh)

    # One undo puts all twelve back in the pool (as store events: the history keeps them).
    page.locator(".st-key-review_undo_bulk button").click()
    expect(page.get_by_text("Last bulk labeling")).to_have_count(0)
    wait_idle(page)
    assert len(current(store)) == n_before
    events = store.events("digits")
    assert (events["action"] == "unlabel").sum() == 12

    # Near-duplicates: the panel counts pairs and groups at the suggested threshold.
    page.get_by_role("tab", name="Near-duplicates").click()
    expect(page.get_by_text("pairs and", exact=False).first).to_be_visible()
    page.screenshot(path=str(REPO / "tests" / "artifacts" / "review.png"))


def test_agreement_kappa_and_a_reviewer_settles_a_disagreement(page, project) -> None:
    _, store, pool, _ = project
    reviewer = User.local_user().name
    zeros = np.flatnonzero(np.asarray(pool.labels).astype(str) == "0")
    contested = pool.ids[int(zeros[1])]  # ana "0", bo "1"
    page.get_by_role("tab", name="Agreement").click()
    # Six items both answered, four alike: kappa (4/6 - 4/9) / (1 - 4/9) = 0.400.
    pair = page.get_by_role("row").filter(has_text="ana").filter(has_text="bo")
    expect(pair).to_contain_text("0.400")
    expect(pair).to_contain_text("0.667")
    expect(page.get_by_text("Gwet's AC1").first).to_be_visible()
    card = page.locator('[class*="st-key-agree_item_"]').filter(has_text=f"Item {contested}")
    expect(card).to_contain_text("bo: 1")
    expect(card).to_contain_text("ana: 0")
    card.get_by_role("button", name="1", exact=True).click()
    expect(page.locator('[class*="st-key-agree_item_"]').filter(
        has_text=f"Item {contested}")).to_have_count(0)
    wait_idle(page)
    # The settled label is the current one; both answers stay in the history.
    assert current(store)[contested] == ("1", reviewer)
    events = store.events("digits")
    mine = events[events["item_id"] == contested]
    assert list(zip(mine["who"], mine["label"], strict=True)) == [
        ("bo", "1"), ("ana", "0"), (reviewer, "1")]
    settled = page.get_by_text(re.compile(r"^Settled \(1\)$"))
    expect(settled).to_be_visible()
    settled.click()
    expect(page.get_by_text(f"Item {contested}: 1 (settled by {reviewer})")).to_be_visible()
    page.screenshot(path=str(REPO / "tests" / "artifacts" / "review_agreement.png"))

    # The local user is an admin: they set the double labeling share, kept in the settings.
    share = page.locator(".st-key-agree_overlap_share input")
    share.fill("10")
    share.press("Enter")
    page.locator(".st-key-agree_overlap_save button").click()
    expect(page.get_by_text(re.compile(r"^Share of items that get a second labeler: 10%"))
           ).to_be_visible()
    assert store.open_project("digits").settings["overlap_share"] == 0.1


def inside(px: np.ndarray, py: np.ndarray, polygon: list[tuple[float, float]]) -> np.ndarray:
    """Ray casting, as the map's script does it."""
    hit = np.zeros(len(px), dtype=bool)
    for (xi, yi), (xj, yj) in zip(polygon, polygon[-1:] + polygon[:-1], strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = ((yi > py) != (yj > py)) & (px < (xj - xi) * (py - yi) / (yj - yi) + xi)
        hit ^= cross
    return hit


def near_an_edge(px: np.ndarray, py: np.ndarray, polygon: list[tuple[float, float]],
                 within: float = 1.5) -> np.ndarray:
    """Points within ``within`` px of the lasso's outline (mouse positions are rounded)."""
    near = np.zeros(len(px), dtype=bool)
    for (ax, ay), (bx, by) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        t = np.clip(((px - ax) * (bx - ax) + (py - ay) * (by - ay))
                    / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
        near |= np.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay))) <= within
    return near


def test_a_lasso_on_the_map_selects_the_items_inside_and_labels_them_in_one_group(
        page, project) -> None:
    from sklearn.decomposition import PCA

    from labelwise.dashboard.lasso import unit_square

    _, store, pool, _ = project
    reviewer = User.local_user().name
    page.get_by_role("tab", name="Map").click()
    canvas = page.get_by_test_id("labelwise-lasso").locator("canvas")
    expect(canvas).to_be_visible()
    expect(page.get_by_text(re.compile("^Nothing selected"))).to_be_visible()
    box = canvas.bounding_box()
    size = canvas.evaluate("c => [c.clientWidth, c.clientHeight]")
    # Where the script draws each item (the page's layout: PCA of the pool, into the canvas).
    unit = np.round(unit_square(PCA(n_components=2, random_state=0).fit_transform(
        pool.vectors).astype(np.float32)), 5)
    pad = 12
    px = pad + unit[:, 0] * (size[0] - 2 * pad)
    py = pad + (1 - unit[:, 1]) * (size[1] - 2 * pad)
    corners = [(0.30, 0.20), (0.72, 0.28), (0.62, 0.80), (0.22, 0.66)]
    polygon = [(round(box["x"] + fx * box["width"]), round(box["y"] + fy * box["height"]))
               for fx, fy in corners]
    page.mouse.move(*polygon[0])
    page.mouse.down()
    for point in [*polygon[1:], polygon[0]]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()
    local = [(x - box["x"], y - box["y"]) for x, y in polygon]
    expected = inside(px, py, local)
    sent = page.evaluate("() => window.__labelwiseLasso.sent.rows")
    got = np.zeros(len(pool), dtype=bool)
    got[sent] = True
    sure = ~near_an_edge(px, py, local)
    assert expected.sum() > 20  # the lasso holds a good share of the pool
    assert np.array_equal(got[sure], expected[sure])

    labeled_before = current(store)
    fresh = [r for r in sent if pool.ids[r] not in labeled_before]
    expect(page.get_by_text(re.compile(rf"^{len(sent)} selected: {len(fresh)} unlabeled"))
           ).to_be_visible()
    apply = page.locator(".st-key-review_map_apply button")
    expect(apply).to_have_text(f"Label {len(fresh)} items")
    last_event = store.events("digits")["id"].max()
    apply.click()
    expect(page.get_by_text(re.compile(rf"^Last bulk labeling: {len(fresh)} items as \S+\.$"))
           ).to_be_visible()
    expect(page.get_by_text(re.compile("^Nothing selected"))).to_be_visible()  # emptied
    wait_idle(page)
    after = current(store)
    assert {pool.ids[r] for r in fresh} == set(after) - set(labeled_before)
    assert all(after[pool.ids[r]][1] == reviewer for r in fresh)
    new = store.events("digits", since=last_event)
    assert set(new["item_id"]) == {pool.ids[r] for r in fresh} and len(new) == len(fresh)
    assert (new["action"] == "label").all()
    assert new["group_id"].notna().all() and new["group_id"].nunique() == 1  # one group
    page.screenshot(path=str(REPO / "tests" / "artifacts" / "review_map.png"))

    # One undo takes the whole lasso back.
    page.locator(".st-key-review_undo_bulk button").click()
    expect(page.get_by_text("Last bulk labeling")).to_have_count(0)
    wait_idle(page)
    assert current(store) == labeled_before
