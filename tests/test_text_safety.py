"""Text from users stays text: labels, ids, texts, file and column names never become Markdown.

Unit tests pin :func:`labelwise.dashboard.widgets.escape_markdown` down against a reference
reading of what Markdown would make of a string; the AppTest tests feed the real pages a dataset
whose every user-given string is a Markdown or HTML payload (uploaded as a CSV on the Data page),
label a few items, and inspect every element whose text Streamlit renders as Markdown.
"""

from __future__ import annotations

import csv
import io
import re
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from labelwise.dashboard.state import Source
from labelwise.dashboard.widgets import escape_markdown, markdown_label
from labelwise.data.packs import write_pack

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300
EVIL = "evil.example"

# Each of these, written into a Markdown context unescaped, makes a link, an image, a tag or an
# automatic link; FORMATTING makes a heading, emphasis, code, a table, a colour and math.
FORMATTING = f"# heading *em* _em_ `code` | cell | ~~del~~ :red[{EVIL}] $x$ \\"
LINKS = [
    f"[Session expired - log in again](http://{EVIL}/login)",
    f"![x](http://{EVIL}/pixel.png)",
    f"<img src=x onerror=alert(1)> {EVIL}",
    f"www.{EVIL}",
    f"mail ana@{EVIL}",
    f"line one\n\n[two](https://{EVIL}/two)",
]
PAYLOADS = [*LINKS, FORMATTING]

# What GitHub-flavoured Markdown (as Streamlit's front end reads it) turns into a link, image
# or tag. Applied to a source string, and (autolinks) to its text once escapes are resolved.
_UNESCAPED = r"(?<!\\)(?:\\\\)*"
LINK_OR_IMAGE = re.compile(_UNESCAPED + r"\]\s*\(")
REFERENCE = re.compile(_UNESCAPED + r"\]\s*\[")
TAG = re.compile(_UNESCAPED + r"<[A-Za-z/!?]")
AUTOLINK = re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE)
EMAIL = re.compile(r"[-.\w+]+@[-\w]+\.[-\w]")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def resolved(markdown: str) -> str:
    """The text of ``markdown`` once its backslash escapes are read (word joiners kept)."""
    return _ESCAPE.sub(r"\1", markdown)


def markup_in(markdown: str) -> list[str]:
    """The link, image, tag and automatic-link spans Markdown would make of ``markdown``."""
    text = resolved(markdown)
    found = [m.group() for p in (LINK_OR_IMAGE, REFERENCE, TAG) for m in p.finditer(markdown)]
    return found + [m.group() for p in (AUTOLINK, EMAIL) for m in p.finditer(text)]


def literal(markdown: str) -> str:
    """What a reader sees of escaped text: escapes read, word joiners invisible."""
    return resolved(markdown).replace("\u2060", "")


# -- the helper -----------------------------------------------------------------------------
@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_escaped_and_read_back_literally(payload):
    escaped = escape_markdown(payload)
    if payload in LINKS:
        assert markup_in(payload), "a payload that is no link proves nothing"
    assert markup_in(escaped) == []
    assert not set(_ESCAPE.sub("", escaped)) & set(string.punctuation)
    assert "\n" not in escaped
    assert literal(escaped) == payload.replace("\n", " ")


def test_every_markdown_significant_character_is_escaped():
    for char in "[]()!*_`<>#|~\\{}+-.:$&=^\"'":
        assert escape_markdown(char).replace("\u2060", "") == "\\" + char, char
    assert escape_markdown("plain words 123 é") == "plain words 123 é"
    assert markdown_label(None) == "—"


@given(st.text(alphabet=string.printable + "é€\u2028", max_size=60))
def test_any_text_reads_back_as_itself_and_makes_no_markup(text):
    escaped = escape_markdown(text)
    assert markup_in(escaped) == []
    assert literal(escaped) == re.sub(r"[\n\r\v\f\u2028]", " ", text)
    # Nothing is left unescaped that Markdown would read: every ASCII punctuation character
    # of the output is part of a backslash escape.
    bare = _ESCAPE.sub("", escaped)
    assert not set(bare) & set(string.punctuation)


# -- the pages ------------------------------------------------------------------------------
# Element types whose text Streamlit shows verbatim (or that are our own constant HTML).
PLAIN = {"text", "code", "json", "html", "arrow_data_frame", "arrow_vega_lite_chart",
         "vega_lite_chart", "exception", "deck_gl_json_chart"}
# Proto fields rendered as Markdown: bodies, labels, help tooltips, captions.
MARKDOWN_FIELDS = {"body", "label", "help", "caption"}


def _strings(message, fields, out: list[str]) -> None:
    for descriptor, value in message.ListFields():
        values = value if descriptor.is_repeated else [value]
        for item in values:
            if descriptor.type == descriptor.TYPE_MESSAGE:
                _strings(item, fields, out)
            elif descriptor.type == descriptor.TYPE_STRING and descriptor.name in fields:
                out.append(item)


def markdown_texts(at: AppTest) -> list[tuple[str, str]]:
    """(element type, text) of every string the page renders as Markdown."""
    out = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or node.type in PLAIN:
            continue
        found: list[str] = []
        _strings(proto, MARKDOWN_FIELDS, found)
        out += [(node.type, text) for text in found]
    return out


def unescaped_payloads(at: AppTest) -> list[tuple[str, str, list[str]]]:
    """Elements that show a payload with its markup live: (type, text, markup found)."""
    return [(kind, text, markup_in(text)) for kind, text in markdown_texts(at)
            if EVIL in literal(text) and markup_in(text)]


def payload_csv() -> bytes:
    """Thirty texts whose ids, labels and texts are payloads; one column name is too."""
    classes = PAYLOADS[:3]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "label", f"[col](http://{EVIL}/col)"])
    for n in range(30):
        writer.writerow([f"{PAYLOADS[n % len(PAYLOADS)]} #{n}",
                         f"{PAYLOADS[(n + 3) % len(PAYLOADS)]} text number {n}",
                         classes[n % 3], PAYLOADS[n % len(PAYLOADS)]])
    return buffer.getvalue().encode("utf-8")


FILE_NAME = f"[file](http:__{EVIL}) _x_.csv"


@pytest.fixture(autouse=True)
def _own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("LABELWISE_AUTH", raising=False)
    monkeypatch.delenv("LABELWISE_DEMO", raising=False)


@pytest.fixture
def loaded() -> AppTest:
    """The app with the payload dataset uploaded on the Data page and opened."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/data.py").run()
    at.radio(key="data_where").set_value("Upload a file").run()
    at.file_uploader(key="byo_upload").upload(FILE_NAME, payload_csv(), "text/csv").run()
    assert not at.exception, at.exception
    at.button(key="byo_load").click().run()
    assert not at.exception, at.exception
    return at


def report(found) -> str:
    return "\n".join(f"{kind}: {text!r} -> {markup}" for kind, text, markup in found)


def collect(at: AppTest, found: list) -> None:
    """Add what this run shows with live markup to ``found`` (once per element text)."""
    found += [f for f in unescaped_payloads(at) if f not in found]


def test_data_page_shows_the_uploaded_payloads_as_text(loaded):
    at = loaded
    assert any(m.label == "Items" and m.value == "30" for m in at.metric)
    found = unescaped_payloads(at)
    assert not found, report(found)


def test_label_page_shows_payload_classes_ids_and_predictions_as_text(loaded):
    at = loaded
    at.switch_page("views/label.py").run()
    assert not at.exception, at.exception
    found: list = []
    for n in range(4):
        collect(at, found)
        at.button(key=f"cls_{n % 3}").click().run()
        assert not at.exception, at.exception
    collect(at, found)
    assert any(m.label == "Labeled" and m.value == "4" for m in at.metric)
    # The payload classes are on their buttons, literally.
    labels = {literal(b.label).split(" :gray[")[0] for b in at.button
              if (b.key or "").startswith("cls_")}
    assert set(PAYLOADS[:3]) <= labels
    at.toggle(key="batch_mode").set_value(True).run()
    assert not at.exception, at.exception
    collect(at, found)
    assert not found, report(found)


def test_explore_and_export_show_the_payloads_as_text(loaded):
    at = loaded
    at.switch_page("views/label.py").run()
    at.button(key="cls_0").click().run()
    at.switch_page("views/explore.py").run()
    assert not at.exception, at.exception
    at.button(key="exp_step_1").click().run()
    found: list = []
    collect(at, found)
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    collect(at, found)
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    collect(at, found)
    assert not found, report(found)


def image_pack(folder: Path) -> Path:
    """Forty small images in a pack whose ids and labels are payloads (vectors made here)."""
    rng = np.random.default_rng(0)
    classes = np.array(LINKS[:3], dtype=object)
    y = np.arange(40) % 3
    images = []
    for _ in range(40):
        out = io.BytesIO()
        Image.new("RGB", (8, 8), tuple(int(v) for v in rng.integers(0, 255, 3))).save(out, "PNG")
        images.append(out.getvalue())
    vectors = rng.normal(size=(3, 16))[y] + rng.normal(scale=0.5, size=(40, 16))
    items = pd.DataFrame({"id": [f"{PAYLOADS[n % len(PAYLOADS)]} #{n}" for n in range(40)],
                          "image": images})
    return write_pack(folder / "pack", name="payload-images", kind="image",
                      vectors=vectors.astype(np.float32), items=items, labels=classes[y],
                      vector_dtype="float32")


def test_image_captions_of_neighbours_and_samples_are_text(tmp_path):
    pack = image_pack(tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset_source"] = Source("pack", str(pack))
    at.switch_page("views/label.py")  # the classic page: the card is the default Label page
    at.run()
    assert not at.exception, at.exception
    found: list = []
    for n in range(4):
        at.button(key=f"cls_{n % 3}").click().run()
        assert not at.exception, at.exception
        collect(at, found)
    assert any(m.label == "Labeled" and m.value == "4" for m in at.metric)
    assert any(node.type == "image" for node in at._tree), "the neighbours are images"
    at.switch_page("views/data.py").run()
    assert not at.exception, at.exception
    collect(at, found)
    assert not found, report(found)


# -- in a real browser ----------------------------------------------------------------------
# The reference reading above is ours; this asks Streamlit's own front end. A small app shows
# every payload, escaped, in each kind of Markdown context the pages use.
SHOWCASE = '''
import io
import json
import sys

import streamlit as st
from PIL import Image

from labelwise.dashboard.widgets import escape_markdown

payloads = json.loads(sys.argv[1])
picture = io.BytesIO()
Image.new("RGB", (4, 4), (200, 30, 30)).save(picture, "PNG")
for n, text in enumerate(payloads):
    safe = escape_markdown(text)
    st.markdown(f"Predicted: **{safe}**")
    st.caption(f"item {safe}")
    st.button(safe, key=f"b{n}")
    st.metric(safe, safe)
    st.image(picture.getvalue(), caption=safe)
# The control: the first payload unescaped must make a link, or the checks prove nothing.
with st.container(key="raw"):
    st.markdown(payloads[0])
'''


@pytest.mark.browser
def test_escaped_payloads_render_as_their_own_text_in_chromium(tmp_path):
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from playwright.sync_api import sync_playwright

    script = tmp_path / "showcase.py"
    script.write_text(SHOWCASE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--", json.dumps(PAYLOADS)],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            page.locator('[data-testid="stImage"]').nth(len(PAYLOADS) - 1).wait_for(
                timeout=90_000)
            main = page.locator('[data-testid="stMain"]')
            assert page.locator(".st-key-raw a").count() == 1
            assert main.locator("a").count() == 1  # the control's only
            assert main.locator("img").count() == len(PAYLOADS)  # our pictures only
            assert main.locator("h1, h2, h3, em, code, table, del, script").count() == 0
            # HTML shows runs of white space as one space.
            shown = re.sub(r"\s+", " ", main.inner_text().replace("\u2060", ""))
            for payload in PAYLOADS:
                literal_text = re.sub(r"\s+", " ", payload)
                for context in ("Predicted: ", "item ", ""):
                    assert context + literal_text in shown, (context, payload)
            browser.close()
        assert not [r for r in requests if EVIL in r]  # nothing was fetched from the payloads
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
