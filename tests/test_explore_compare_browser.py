"""Explore and Compare in a real browser: Steps update in place, runs cancel, pages remember.

The dashboard runs under ``streamlit run`` (label store in a temporary folder) and Debian's
chromium is driven through Playwright (never a downloaded browser). One server and one page
serve the whole module, in order: Explore on fruits, then Compare on moons (small, so the
simulations are quick). The server's log is checked for warnings and tracebacks at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser_helpers import readme_screenshot, start_streamlit, stop_server
from playwright.sync_api import Page, expect, sync_playwright

from labelwise import DENSITY_KINDS, expand_strategies, load_dataset, simulate, summary_table

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 120_000
IDLE_JS = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
    + '[data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')"""
# Streamlit scrolls its main section, not the window.
SCROLL_JS = "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
# The Compare settings every comparison below uses (the form's first-visit values otherwise).
SMALL = {"Folds": "2", "Label budget": "20"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]
expect.set_options(timeout=TIMEOUT_MS)


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """The whole app in ``workdir``; unlike the helper's default it keeps ``LABELWISE_STORE``,
    so the second pass of ``make test`` runs these pages on PostgreSQL."""
    keep = {k: os.environ[k] for k in ("LABELWISE_STORE",) if k in os.environ}
    return start_streamlit(workdir, env=keep)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install -y chromium"
    workdir = tmp_path_factory.mktemp("explore-compare")
    proc, url = start_server(workdir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            expect(page.get_by_role("heading", name="Label · fruits")).to_be_visible()
            yield page, workdir
            browser.close()
    finally:
        stop_server(proc)


def wait_idle(page: Page) -> None:
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)


def go(page: Page, link: str, heading: str) -> None:
    # A link clicked while the current page's script still runs can be lost (seen in CI on
    # the first visit, right after the Label page opened): click when the app is idle.
    wait_idle(page)
    page.get_by_role("link", name=link).click()
    try:
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    except AssertionError:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explore_compare_failure.png"))
        raise
    wait_idle(page)


def metric(page: Page, label: str):
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]')


def set_number(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def open_pack(page: Page, name: str) -> None:
    go(page, "Data", "Data")
    page.get_by_role("combobox", name="Built-in pack").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator(".st-key-open_pack button").click()
    expect(page.get_by_role("heading", name=f"Open: {name}")).to_be_visible()
    wait_idle(page)


def run_comparison(page: Page, settings: dict[str, str]) -> None:
    for label, value in settings.items():
        set_number(page, label, value)
    page.get_by_role("button", name="Run comparison").click()


def test_a_step_updates_explore_in_place_and_keeps_the_scroll(app):
    page, _ = app
    go(page, "Explore", "Explore")
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart.locator("canvas").first).to_be_visible()  # the canvas renderer, not SVG
    picks = metric(page, "Picks by the strategy")
    expect(picks).to_have_text("0")
    # Mark the nodes: a page rebuilt from scratch would replace them.
    page.evaluate("""() => {
        window.__title = document.querySelector('h1');
        window.__canvas = document.querySelector('[data-testid="stVegaLiteChart"] canvas');
    }""")
    step = page.locator(".st-key-exp_step_1 button")
    step.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollBy(0, 120)")
    scrolled = page.evaluate(SCROLL_JS)
    assert scrolled > 0
    for n in (1, 2, 3):
        step.click()
        expect(picks).to_have_text(str(n))
        wait_idle(page)
        assert page.evaluate(SCROLL_JS) == scrolled, "the Step moved the page"
    assert page.evaluate("() => window.__title === document.querySelector('h1')")
    assert page.evaluate("""() => window.__canvas ===
        document.querySelector('[data-testid="stVegaLiteChart"] canvas')"""), \
        "the map was redrawn from scratch instead of updated"
    expect(metric(page, "Labeled by the oracle")).to_have_text("5")  # 2 random + 3 picks
    expect(metric(page, "Holdout accuracy")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    assert readme_screenshot(page, "explore").stat().st_size > 20_000, "a blank screenshot"


def test_the_wheel_scrolls_the_page_over_the_map_and_neighbours_do_not_overlap(app):
    page, _ = app
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
    page.mouse.wheel(0, 300)
    page.wait_for_function(f"() => ({SCROLL_JS})() > 0", timeout=10_000)
    # The last pick and its labeled neighbours: equal cells side by side, no two overlapping.
    expect(page.get_by_text("Last pick and its nearest labeled neighbours")).to_be_visible()
    images = page.locator('[data-testid="stImage"]')
    boxes = [images.nth(i).bounding_box() for i in range(images.count())]
    assert len(boxes) == 5  # the last pick and the 4 other labeled items
    for n, a in enumerate(boxes):
        for b in boxes[n + 1:]:
            apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                     or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
            assert apart, f"thumbnails overlap: {a} and {b}"


def test_changing_k_refreshes_the_readouts_and_keeps_the_labels(app):
    page, _ = app
    accuracy = metric(page, "Holdout accuracy")
    set_number(page, "k (neighbours in the vote)", "1")
    wait_idle(page)
    expect(metric(page, "Labeled by the oracle")).to_have_text("5")
    expect(metric(page, "Picks by the strategy")).to_have_text("3")
    page.locator('[data-testid="stMetric"]').filter(has_text="Holdout accuracy").locator(
        '[data-testid="stTooltipIcon"]').first.hover()
    expect(page.get_by_text(re.compile(r"k = 1, uniform votes"))).to_be_visible()
    expect(accuracy).to_have_text(re.compile(r"^\d+(\.\d)?%$"))


def test_compare_can_be_cancelled(app):
    page, _ = app
    open_pack(page, "moons")
    go(page, "Compare", "Compare strategies")
    run_comparison(page, {"Folds": "64", "Label budget": "800"})
    expect(page.get_by_text(re.compile(r"Simulated [1-9]\d* of 192 strategy x fold runs"))
           ).to_be_visible()
    page.locator(".st-key-cmp_cancel button").click()
    expect(page.get_by_text(re.compile(r"Comparison cancelled after \d+ of 192"))
           ).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-cmp_cancel button")).to_have_count(0)
    expect(page.get_by_role("button", name="Run comparison")).to_be_enabled()
    done = int(re.search(r"after (\d+) of", page.get_by_text(
        re.compile("Comparison cancelled")).inner_text()).group(1))
    assert done < 192


def test_compare_keeps_settings_and_results_across_pages(app):
    page, _ = app
    run_comparison(page, SMALL)
    summary = page.get_by_text(re.compile("2 folds, budget 20"))
    expect(summary).to_be_visible()
    expect(page.locator('[data-testid="stVegaLiteChart"] canvas, '
                        '[data-testid="stVegaLiteChart"] svg').first).to_be_visible()
    wait_idle(page)
    go(page, "Explore", "Explore")
    go(page, "Compare", "Compare strategies")
    expect(summary).to_be_visible()
    expect(page.get_by_label("Folds", exact=True)).to_have_value("2")
    expect(page.get_by_label("Label budget", exact=True)).to_have_value("20")
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()


def first_lower_bound(settings: dict) -> tuple[float, str]:
    """A target random never reaches but a strategy does, and that strategy's "> x" text,
    from the same simulation run here (same settings and seed, so the same table)."""
    strategies = expand_strategies(["U*I*D", "U"], uncertainty=["margin"],
                                   density=next(iter(DENSITY_KINDS)))
    results = simulate(load_dataset("moons"), strategies, folds=int(settings["Folds"]),
                       test_size=0.1, n_init=2, budget=int(settings["Label budget"]), k=5,
                       seed=0)
    for target in np.round(np.arange(0.30, 1.0001, 0.01), 2):
        # The definition, from the curves: first labeled count where the mean reaches it.
        means = results.groupby(["strategy", "n_labeled"], sort=False)["accuracy"].mean()
        reached = {s: [n for n, a in curve.droplevel(0).items() if a >= target - 1e-9]
                   for s, curve in means.groupby(level=0, sort=False)}
        if reached["random"]:
            continue
        for name, counts in reached.items():
            if counts:
                random_run = int(results.loc[results["strategy"] == "random",
                                             "n_labeled"].max())
                assert summary_table(results, float(target)).set_index("strategy").loc[
                    name, "labels_to_target"] == counts[0]
                return float(target), f"{name} > {random_run / counts[0]:.2f}x"
    raise AssertionError("no target separates random from the strategies")


def test_a_target_random_never_reaches_shows_a_lower_bound(app):
    page, workdir = app
    target, bound = first_lower_bound(SMALL)
    slider = page.get_by_role("slider", name="Target accuracy")
    for _ in range(100):
        before = slider.get_attribute("aria-valuetext")
        if round(float(before), 2) == target:
            break
        slider.focus()
        slider.press("ArrowRight" if float(before) < target else "ArrowLeft")
        # One key, one step: wait for it before the next (a rerun may redraw the slider).
        expect(slider).not_to_have_attribute("aria-valuetext", before)
    wait_idle(page)
    assert round(float(slider.get_attribute("aria-valuetext")), 2) == target
    note = page.get_by_text(re.compile("so these efficiencies are lower bounds"))
    expect(note).to_contain_text(bound)
    # No rerun above (page switches, a remembered slider, the polling fragment) logged a
    # warning or a traceback.
    log = next(workdir.glob("server-*.log")).read_text()
    assert "Traceback" not in log and not re.search(r"\bWARNING\b", log), log[-3000:]
