"""Small display helpers shared by the pages: items, keyboard shortcuts, data URLs."""

from __future__ import annotations

import base64
import json

import streamlit as st

from labelwise import LabelwiseError, thumbnail_jpeg

# Like streamlit_shortcuts.add_shortcuts (same element lookup: the `.st-key-<key>` class that
# Streamlit puts on keyed widgets), but key presses typed into a text field are left alone, so
# typing "u" or "s" in the new-class box never triggers undo or skip.
_SHORTCUT_JS = """<script>
const doc = window.parent.document;
const win = window.parent.window;
win.__labelwiseShortcuts = %s;
if (!win.__labelwiseShortcutsReady) {
  win.__labelwiseShortcutsReady = true;
  doc.addEventListener('keydown', function (e) {
    const t = e.target;
    const tag = (t && t.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || (t && t.isContentEditable)) {
      return;
    }
    if (e.ctrlKey || e.altKey || e.metaKey) { return; }
    const key = win.__labelwiseShortcuts[e.key.toLowerCase()];
    if (!key) { return; }
    const el = doc.querySelector('.st-key-' + key + ' button');
    if (el && !el.disabled) { e.preventDefault(); el.click(); }
  });
}
</script>"""


def keyboard_shortcuts(mapping: dict[str, str]) -> None:
    """Bind keys to keyed buttons: ``{"1": "class_0", "u": "undo"}``."""
    # Our own constant script (only the key map varies, JSON-encoded), run in the page itself.
    st.html(_SHORTCUT_JS % json.dumps(mapping), unsafe_allow_javascript=True)


def image_bytes(value) -> bytes | None:
    """Thumbnail bytes from an items cell (bytes, or a path to an image file)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str) and value:
        try:
            with open(value, "rb") as handle:
                return handle.read()
        except OSError:
            return None
    return None


def data_url(value, size: int = 64) -> str | None:
    """A small JPEG ``data:`` URL of an image cell, for chart tooltips."""
    raw = image_bytes(value)
    if raw is None:
        return None
    try:
        jpeg = thumbnail_jpeg(raw, size)
    except LabelwiseError:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def item_text(dataset, row: int, limit: int | None = None) -> str:
    """A plain-text description of an item (its text, or its id and coordinates)."""
    items = dataset.items
    if "text" in items.columns:
        text = str(items["text"].iat[row])
    elif {"x", "y"} <= set(items.columns):
        text = f"point ({items['x'].iat[row]:.2f}, {items['y'].iat[row]:.2f})"
    else:
        text = f"item {items['id'].iat[row]}"
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def show_item(dataset, row: int, *, width: int = 320, caption: str | None = None) -> None:
    """Show one item big enough to judge: its image, or its text as plain text (never HTML)."""
    items = dataset.items
    if "image" in items.columns:
        raw = image_bytes(items["image"].iat[row])
        if raw is not None:
            st.image(raw, width=width, caption=caption)
            return
    if caption:
        st.caption(caption)
    # st.text shows the string verbatim: tags in a tweet stay visible characters.
    st.text(item_text(dataset, row))


def format_label(value) -> str:
    """A label as plain text (for tables and charts, which show text literally)."""
    return "—" if value is None else str(value)


# Every ASCII punctuation character may be backslash-escaped in CommonMark, and the escaped
# character is always shown literally; escaping all of them means no syntax (links, images,
# emphasis, code, headings, tables, HTML, math, Streamlit's :color[...] directives) can form.
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# Invisible, and not a word character: breaks the spans that GitHub-flavoured Markdown turns
# into links after escapes are resolved (http://..., www...., name@host) and emoji :codes:.
_WORD_JOINER = "\u2060"
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def escape_markdown(value) -> str:
    """Any user-given string (label, id, file, project, labeler or column name) shown
    literally where Streamlit reads Markdown: ``st.markdown``/``st.caption``/``st.write``,
    titles, widget labels and help, metric labels and values, image captions, expanders.

    Every ASCII punctuation character is backslash-escaped, line breaks become spaces (a
    label is one line), and a word joiner (U+2060, invisible) follows each ``:`` and ``@`` and
    splits ``www.``, so no automatic link or emoji code can form either.
    """
    out = []
    text = str(value)
    for n, char in enumerate(text):
        if char in _LINE_BREAKS:
            out.append(" ")
        elif char in _PUNCTUATION:
            if char == "." and text[max(0, n - 3):n].lower() == "www":
                out.append(_WORD_JOINER)
            out.append("\\" + char)
            if char in ":@":
                out.append(_WORD_JOINER)
        else:
            out.append(char)
    return "".join(out)


def markdown_label(value) -> str:
    """A label for a Markdown context: :func:`format_label`, then :func:`escape_markdown`."""
    return escape_markdown(format_label(value))
