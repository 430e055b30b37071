"""The labeling card: a Streamlit custom component (components v2) in front of a desk.

Usage, in a Streamlit script::

    desk = Desk(session, dataset.classes)              # labelwise.dashboard.desk
    labeling_card(desk, ItemViews(dataset), scope="fruits")

The card handles keys and clicks in the page (:mod:`labelwise.dashboard.card.frontend`) and
sends its queue of answers back as the component state ``outbox``::

    {"desk_id": "<tab id>", "attempt": 7,
     "answers": [{"desk_id", "client_seq", "item", "kind": "label"|"skip"|"undo", "label"}]}

:func:`labeling_card` hands those answers to :meth:`Desk.receive` before drawing the card,
then sends the card the desk's offer and the receipts (see :func:`card_data`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from labelwise import Dataset, InvalidInputError

from ..desk import Desk, Offer, Preview, Receipt, key_hints
from .frontend import CSS, HTML, JS

COMPONENT_NAME = "labelwise_labeling_card"
_MOUNT = st.components.v2.component(COMPONENT_NAME, html=HTML, css=CSS, js=JS)

ItemView = Callable[[int], Mapping[str, Any]]

# Image formats a browser shows as they are, by their first bytes.
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def image_data_url(image: bytes | str | Path) -> str:
    """The image (bytes, or a path to read) as a data URL, at its own resolution.

    JPEG, PNG, GIF and WebP go as they are; anything else Pillow reads is converted to PNG.
    """
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    mime = next((m for sig, m in _SIGNATURES if data.startswith(sig)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        from PIL import Image

        buffer = BytesIO()
        with Image.open(BytesIO(data)) as img:
            img.save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class ItemViews:
    """What the card shows of each item of ``dataset``: its image at the source's resolution,
    or its text, with its id.

    Parameters
    ----------
    dataset : Dataset
        The pool (row ``i`` of ``dataset.items`` is pool item ``i``).
    keep : int, default=512
        Views kept ready (an image's data URL is built once).
    """

    def __init__(self, dataset: Dataset, *, keep: int = 512) -> None:
        self.items = dataset.items
        self.keep = keep
        self._views: dict[int, dict[str, Any]] = {}

    def __call__(self, item: int) -> dict[str, Any]:
        view = self._views.get(item)
        if view is None:
            view = self._views[item] = self._build(item)
            if len(self._views) > self.keep:
                self._views.pop(next(iter(self._views)))
        return view

    def _build(self, item: int) -> dict[str, Any]:
        row = self.items.iloc[item]
        view: dict[str, Any] = {"item": int(item), "id": str(row["id"])}
        columns = [c for c in self.items.columns if c != "id"]
        if "image" in columns and row["image"] is not None:
            view["src"] = image_data_url(row["image"])
        elif "text" in columns:
            view["text"] = str(row["text"])
        else:
            view["text"] = "\n".join(f"{c}: {row[c]}" for c in columns)
        return view


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _class_entries(classes: tuple[Hashable, ...]) -> list[dict[str, Any]]:
    keys = key_hints(len(classes))
    return [{"name": str(c), "value": _jsonable(c), "key": k}
            for c, k in zip(classes, keys, strict=True)]


def card_data(offer: Offer, view_of: ItemView, *, scope: str,
              receipts: Sequence[Receipt] = (), error: str | None = None,
              withheld: Collection[int] = (), tab: str | None = None,
              wording: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON the card is drawn from.

    ``current`` and each next item are views (``item``, ``id``, ``src`` or ``text``) with the
    model's ``prediction_index`` (into ``classes``; None before any label) and
    ``confidence``; ``next`` is ``{"labels": [one per class], "skip": ...}`` where None means
    nothing is left to label; ``receipts`` say what became of the answers received.
    Items in ``withheld`` (offered but held by another session) are never sent: a next item
    becomes ``{"withheld": true}`` (the card waits for the server there), a withheld current
    item makes the card wait (``"waiting": true``), as does an offer without a current item
    while items are unlabeled (other sessions hold them all). ``tab`` is the card's tab id
    once the server has heard it (until then a new card says hello: its tab id and the item
    it showed before a reload, :func:`outbox_shown`).
    """
    column = {c: j for j, c in enumerate(offer.classes)}
    withheld = set(withheld)

    def view(preview: Preview | None) -> dict[str, Any] | None:
        if preview is None or preview.item is None:
            return None
        if preview.item in withheld:
            return {"withheld": True}
        out = dict(view_of(preview.item))
        out["prediction_index"] = column.get(preview.prediction)
        out["confidence"] = preview.confidence
        return out

    nexts = None
    # Wait (instead of "all labeled") while another session holds the item, or every item
    # left: they come back if its tab is closed and its reservations expire.
    waiting = offer.current.item in withheld or (
        offer.current.item is None and offer.n_labeled < offer.n_items)
    if offer.current.item is not None and not waiting:
        nexts = {"labels": [view(p) for p in offer.after_label], "skip": view(offer.after_skip)}
    return {
        "scope": scope,
        "version": offer.version,
        "classes": _class_entries(offer.classes),
        "current": None if waiting else view(offer.current),
        "waiting": waiting,
        "next": nexts,
        "progress": {"labeled": offer.n_labeled, "items": offer.n_items,
                     "accuracy": offer.accuracy},
        "undo_items": dict(offer.undo_items),
        "receipts": [r.to_payload() for r in receipts],
        "error": error,
        "tab": tab,
        # The card's own words where a desk means something else by them (review mode):
        # "prediction" before the hinted class, "progress" before the count, "finish".
        "wording": dict(wording or {}),
    }


@dataclass(frozen=True)
class CardRun:
    """What one run of :func:`labeling_card` did: the receipts of the answers it received
    (replays included) and the offer the card was drawn from."""

    receipts: list[Receipt]
    offer: Offer


def answers_from(outbox: Any, desk: Desk) -> list[dict[str, Any]]:
    """The answers of a card's ``outbox`` state, labels mapped back to the desk's classes
    (JSON turns every class into a string, number or bool)."""
    if not isinstance(outbox, Mapping) or not isinstance(outbox.get("answers"), list):
        return []
    by_json = {json.dumps(_jsonable(c)): c for c in desk.classes}
    answers = []
    for answer in outbox["answers"]:
        if isinstance(answer, Mapping) and answer.get("label") is not None:
            key = json.dumps(answer["label"])
            answer = {**answer, "label": by_json.get(key, answer["label"])}
        answers.append(answer)
    return answers


def outbox_desk_id(key: str) -> str | None:
    """The tab id (``desk_id``) of the card ``key``'s latest outbox, once it sent one."""
    outbox = _outbox(key)
    desk_id = outbox.get("desk_id") if isinstance(outbox, Mapping) else None
    return desk_id if isinstance(desk_id, str) and desk_id else None


def outbox_shown(key: str) -> int | None:
    """The item the card ``key`` says it showed before a reload (its hello), if any."""
    outbox = _outbox(key)
    shown = outbox.get("shown") if isinstance(outbox, Mapping) else None
    return shown if isinstance(shown, int) and not isinstance(shown, bool) and shown >= 0 else None


def _outbox(key: str) -> Any:
    state = st.session_state.get(key)
    if state is None:
        return None
    return state.get("outbox") if isinstance(state, Mapping) else getattr(state, "outbox", None)


def receive_outbox(desk: Desk, key: str = "labelwise_card"
                   ) -> tuple[list[Receipt], str | None]:
    """Hand the card ``key``'s outbox to :meth:`Desk.receive`: the receipts, and the message
    to show when the answers could not be applied (they stay queued in the card then).

    Receiving twice is harmless: replays return the first receipts.
    """
    try:
        return desk.receive(answers_from(_outbox(key), desk)), None
    except InvalidInputError as err:
        return [], f"an answer was malformed ({err}); it was not applied"
    except Exception as err:  # the store is away: answers stay queued in the card and come back
        return [], f"could not save yet ({type(err).__name__}: {err}); retrying"


def labeling_card(desk: Desk, view_of: ItemView, *, scope: str = "default",
                  key: str = "labelwise_card",
                  received: tuple[list[Receipt], str | None] | None = None,
                  withheld: Collection[int] = (),
                  wording: Mapping[str, str] | None = None) -> CardRun:
    """Draw the labeling card for ``desk`` and apply the answers it sent.

    Parameters
    ----------
    desk : Desk
        The server side (:class:`labelwise.dashboard.desk.Desk`).
    view_of : callable
        ``view_of(item)``: what to show of pool item ``item`` (e.g. :class:`ItemViews`).
    scope : str
        Names the project in the browser's storage, so a queue is replayed only to the
        project it was answered in.
    key : str
        The component's key (one card per key on a page).
    received : tuple, optional
        What :func:`receive_outbox` returned, when the page received the answers itself
        (e.g. to reserve the new offer's items before drawing it); else received here.
    withheld : collection of int, optional
        Offered items the card must not show (see :func:`card_data`).
    wording : mapping, optional
        Replaces the card's words (shown as text): ``prediction`` (default "Model: "),
        ``progress`` (default "Labeled"), ``finish`` (default "All items labeled.").

    Returns
    -------
    CardRun
    """
    receipts, error = receive_outbox(desk, key) if received is None else received
    offer = desk.offer()
    data = card_data(offer, view_of, scope=scope, receipts=receipts, error=error,
                     withheld=withheld, tab=outbox_desk_id(key), wording=wording)
    _MOUNT(key=key, data=data, default={"outbox": None}, on_outbox_change=_ignore)
    return CardRun(receipts, offer)


def _ignore() -> None:
    """The outbox is read before the card is drawn; the callback only declares the state."""
