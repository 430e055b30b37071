"""End to end in a real browser: the dashboard served by `streamlit run`, driven by Playwright.

Debian's chromium (/usr/bin/chromium; `make test` installs it) is driven, never a browser
downloaded by Playwright. The server runs in a temporary working directory (with a copy of the
project's .streamlit/config.toml) so its label store starts empty. Screenshots go to
tests/artifacts/; with LABELWISE_UPDATE_SCREENSHOTS=1 the README's copies in docs/screenshots/
are refreshed too (a plain test run never rewrites tracked files).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from labelwise import load_dataset

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--run-all-compositor-stages-before-draw"]
TIMEOUT_MS = 120_000  # generous: the first open loads the fruits pack and its density

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer at {url} within {seconds} s")


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run dashboard/app.py` on a free loopback port, working in ``workdir``."""
    (workdir / ".streamlit").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", workdir / ".streamlit" / "config.toml")
    port = free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    env = {k: v for k, v in os.environ.items() if k != "LABELWISE_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except RuntimeError:
        proc.kill()
        raise
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def metric(page: Page, label: str):
    """The value element of the st.metric whose label is ``label``."""
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]')


def screenshot(page: Page, name: str, *, readme: str | None = None) -> Path:
    """Save the viewport to tests/artifacts/<name>.png (and, when asked to by
    LABELWISE_UPDATE_SCREENSHOTS=1, to docs/screenshots/<readme>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if readme and os.environ.get("LABELWISE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{readme}.png")
    return path


def assert_not_blank(path: Path) -> None:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert pixels.std() > 10, f"{path} looks blank (pixel std {pixels.std():.1f})"
    # More than a handful of distinct grey levels: text, images and charts drew.
    assert len(np.unique(pixels)) > 50, f"{path} has almost no detail"


def set_number(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def wait_idle(page: Page) -> None:
    """Wait until Streamlit shows no running indicator and no stale (faded) element."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
                 + '[data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')""",
        timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install -y chromium"
    workdir = tmp_path_factory.mktemp("dashboard")
    proc, url = start_server(workdir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            # The classic page (views/label.py, url path "label"); the card is the default.
            page.goto(url + "/label")
            yield page, url, workdir
            browser.close()
    finally:
        stop_server(proc)


def test_label_five_fruits_undo_one_and_compare(browser_page):
    page, _url, workdir = browser_page
    try:
        label_then_compare(page, workdir)
    except Exception:
        screenshot(page, "failure")  # what the browser showed when the test failed
        raise


def label_then_compare(page: Page, workdir: Path) -> None:
    expect(page.get_by_role("heading", name="Label · fruits")).to_be_visible(timeout=TIMEOUT_MS)
    labeled = metric(page, "Labeled")
    accuracy = metric(page, "Holdout accuracy")
    expect(labeled).to_have_text("0", timeout=TIMEOUT_MS)
    expect(accuracy).to_have_text("—")
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()

    # Five labels by clicking the right class button: the caption names the item, the pack
    # knows its true class, and the buttons are the pack's classes in sorted order.
    fruits = load_dataset("fruits")
    truth = dict(zip(fruits.ids.tolist(), fruits.labels.tolist(), strict=True))
    caption = page.get_by_text(re.compile(r"^item \S+$")).first
    for n in range(1, 6):
        wait_idle(page)
        item_id = caption.inner_text().removeprefix("item ")
        button = fruits.classes.index(truth[item_id])
        page.locator(f".st-key-cls_{button} button").click()
        expect(labeled).to_have_text(str(n), timeout=TIMEOUT_MS)
    wait_idle(page)
    expect(accuracy).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    first_accuracy = accuracy.inner_text()

    # Keyboard: "3" labels with the third class; "u" undoes it.
    page.get_by_role("heading", name="Label · fruits").click()
    page.keyboard.press("3")
    expect(labeled).to_have_text("6", timeout=TIMEOUT_MS)
    wait_idle(page)
    page.keyboard.press("u")
    expect(labeled).to_have_text("5", timeout=TIMEOUT_MS)
    wait_idle(page)

    # Typing in the new-class box is typing, not shortcuts: "s", "u" and "1" do nothing there.
    new_class = page.get_by_label("New class", exact=True)
    new_class.fill("")
    new_class.press_sequentially("su1")
    expect(new_class).to_have_value("su1")
    page.wait_for_timeout(1000)
    expect(labeled).to_have_text("5")
    expect(metric(page, "Skipped")).to_have_text("0")
    new_class.fill("")
    new_class.press("Tab")
    wait_idle(page)

    # Undo one of the clicked labels with the button.
    page.locator(".st-key-undo_btn button").click()
    expect(labeled).to_have_text("4", timeout=TIMEOUT_MS)
    wait_idle(page)
    assert accuracy.inner_text().endswith("%")
    assert first_accuracy.endswith("%")
    expect(page.get_by_text("Predicted:")).to_be_visible()
    # The classic page; the README shows the card (tests/test_label_card_browser.py).
    shot = screenshot(page, "label_classic")
    assert_not_blank(shot)

    # A small comparison: 2 folds, budget 20.
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare strategies")).to_be_visible()
    set_number(page, "Folds", "2")
    set_number(page, "Label budget", "20")
    page.get_by_role("button", name="Run comparison").click()
    expect(page.get_by_text(re.compile("2 folds, budget 20"))).to_be_visible()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart.locator("canvas, svg").first).to_be_visible(timeout=TIMEOUT_MS)
    table = page.locator('[data-testid="stDataFrame"]')
    expect(table).to_be_visible()
    expect(page.get_by_role("button", name="Download results (CSV)")).to_be_visible()
    wait_idle(page)
    page.wait_for_timeout(1500)  # let Vega finish drawing before the screenshot
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    shot = screenshot(page, "compare")
    assert_not_blank(shot)
    chart_shot = ARTIFACTS / "compare_chart.png"
    chart.screenshot(path=str(chart_shot))
    assert_not_blank(chart_shot)

    # For the README, a comparison with narrower bands: 6 folds, budget 100.
    page.get_by_role("heading", name="Compare strategies").scroll_into_view_if_needed()
    set_number(page, "Folds", "6")
    set_number(page, "Label budget", "100")
    page.get_by_role("button", name="Run comparison").click()
    # 6 folds x 100 labels with the default (auto) model: a minute or two on a quiet 2-core
    # machine, several on a busy one. The wait guards against a hang; it times nothing.
    expect(page.get_by_text(re.compile("6 folds, budget 100"))).to_be_visible(
        timeout=5 * TIMEOUT_MS)
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.locator('[data-testid="stVegaLiteChart"]').first.scroll_into_view_if_needed()
    assert_not_blank(screenshot(page, "compare_readme", readme="compare"))

    # The labels were committed to the store in the server's working directory.
    assert (workdir / "labelwise-data" / "labelwise.sqlite").exists()
