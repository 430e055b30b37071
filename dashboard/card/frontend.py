"""The labeling card's HTML, CSS and JavaScript, handed inline to Streamlit's components v2.

Everything runs in the page (no iframe) and nothing is fetched at run time: images arrive as
data URLs in the card's data. User strings (labels, ids, texts) are put into the DOM with
``textContent`` only; the one ``innerHTML``-free template below is our own constant markup.

How the card works (see :mod:`labelwise.dashboard.desk` for the server side):

* every render brings an offer: the current item and, for each class and for skip, the item
  that comes next. Their images are decoded ahead of time, so a key press swaps to the next
  item at once; the answer goes into a queue kept in ``localStorage`` and is sent to the server
  (``setStateValue("outbox", ...)``) in the background;
* the server's receipts remove answers from the queue; each answer's fate ("saved", or the
  reason it was refused) is listed on the card. While answers are unacknowledged the card
  resends them with a growing delay, and after a reload it replays its queue: the server
  keeps replays idempotent by (desk id, client seq). The desk id is one per browser tab
  (``sessionStorage``);
* a key acts only on an item that is fully shown (its image decoded); when the person is
  ahead of the server the card says it is waiting and ignores answer keys until the next item
  arrives and is shown;
* ``window.__labelwiseCard.timings`` records, per answer, ``performance.now()`` at the key
  press and when the next item was shown (image decoded, next animation frame), for
  ``benchmarks/desk_latency.py``.
"""

from __future__ import annotations

HTML = """
<div class="lw-card" data-testid="labelwise-card">
  <div class="lw-top">
    <span class="lw-progress" data-role="progress"></span>
    <span class="lw-accuracy" data-role="accuracy"></span>
    <span class="lw-net" data-role="net"></span>
  </div>
  <div class="lw-stage" data-role="stage">
    <div class="lw-item" data-role="item"></div>
    <div class="lw-waiting" data-role="waiting" hidden>Waiting for the next item&hellip;</div>
    <div class="lw-finish" data-role="finish" hidden>
      <strong data-role="finish-text">All items labeled.</strong>
      <button type="button" data-role="finish-undo">Undo <kbd>u</kbd></button>
    </div>
  </div>
  <div class="lw-meta" data-role="meta"></div>
  <div class="lw-prediction" data-role="prediction"></div>
  <div class="lw-buttons" data-role="buttons"></div>
  <div class="lw-actions">
    <button type="button" data-role="accept">Accept prediction <kbd>Enter</kbd></button>
    <button type="button" data-role="skip">Skip <kbd>s</kbd></button>
    <button type="button" data-role="undo">Undo <kbd>u</kbd></button>
  </div>
  <ol class="lw-log" data-role="log" aria-live="polite"></ol>
</div>
"""

CSS = """
[hidden] { display: none !important; }
.lw-card { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #222);
  display: flex; flex-direction: column; gap: 0.6rem; }
.lw-top { display: flex; gap: 1.2rem; flex-wrap: wrap; font-size: 0.95rem; }
.lw-net { margin-left: auto; opacity: 0.8; }
.lw-stage { min-height: 240px; display: flex; align-items: center; justify-content: center;
  border: 1px solid var(--st-border-color, #ddd); border-radius: 0.5rem; padding: 0.5rem;
  background: var(--st-secondary-background-color, #f6f6f6); }
.lw-item { max-width: 100%; }
.lw-item img { display: block; max-width: 100%; height: auto; }
.lw-item .lw-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1.35rem;
  line-height: 1.5; max-width: 60rem; }
.lw-meta { font-size: 0.85rem; opacity: 0.75; }
.lw-prediction { font-size: 1rem; min-height: 1.4em; }
.lw-buttons, .lw-actions { display: flex; flex-wrap: wrap; gap: 0.4rem; }
.lw-card button { display: inline-flex; align-items: center; gap: 0.45rem; cursor: pointer;
  font: inherit; padding: 0.35rem 0.8rem; border-radius: var(--st-button-radius, 0.5rem);
  border: 1px solid var(--st-border-color, #ccc); background: var(--st-background-color, #fff);
  color: inherit; }
.lw-card button:disabled { opacity: 0.45; cursor: default; }
.lw-card button.lw-predicted { border-color: var(--st-primary-color, #ff4b4b); }
.lw-card kbd { font-family: var(--st-code-font, monospace); font-size: 0.8em;
  padding: 0 0.35em; border-radius: 0.25em; border: 1px solid currentColor; opacity: 0.7; }
.lw-log { margin: 0; padding-left: 1.2rem; font-size: 0.85rem; max-height: 9rem;
  overflow-y: auto; }
.lw-log .lw-refused { color: var(--st-red-color, #c00); }
.lw-log .lw-saved { color: var(--st-green-color, #080); }
.lw-finish { display: flex; flex-direction: column; align-items: center; gap: 0.6rem; }
"""

JS = r"""
const CARDS = new WeakMap();
// Inputs one types into: keys there are typing, not answers. A focused checkbox, slider,
// button or link (e.g. in the sidebar) leaves the keys to the card.
const TYPING_INPUTS = new Set(["", "text", "search", "email", "number", "password", "tel",
                               "url", "date", "datetime-local", "month", "time", "week"]);

function takesTyping(target) {
  if (!target || !target.tagName) { return false; }
  const tag = target.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select" || target.isContentEditable) { return true; }
  if (tag === "input") {
    return TYPING_INPUTS.has((target.getAttribute("type") || "").toLowerCase());
  }
  return target.getAttribute("role") === "combobox";  // a searchable select box
}
const RETRY_MS = [1500, 3000, 6000, 10000];
const KEEP_IMAGES = 48;

function randomId() {
  if (globalThis.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
  return "d" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

function tabDeskId() {
  const key = "labelwise.card.desk-id";
  let id = sessionStorage.getItem(key);
  if (!id) { id = randomId(); sessionStorage.setItem(key, id); }
  return id;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) { node.className = cls; }
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  return node;
}

function nextFrame() { return new Promise((resolve) => requestAnimationFrame(() => resolve())); }

class Card {
  constructor(root) {
    this.root = root;
    this.q = (role) => root.querySelector(`[data-role="${role}"]`);
    this.deskId = tabDeskId();
    this.scope = null;
    this.queue = [];
    this.nextSeq = 1;
    this.data = null;
    this.display = { kind: "waiting" };
    this.classes = [];
    this.keyOf = new Map();
    this.undoStack = [];
    this.log = new Map();
    this.images = new Map();
    this.pendingTiming = null;
    this.retry = 0;
    this.retryTimer = null;
    this.setStateValue = null;
    // For tests and the latency benchmark: what was shown and answered, in order.
    this.stats = { timings: [], events: [], receipts: [], shown: null, deskId: this.deskId,
                   queue: () => this.queue.slice() };
    window.__labelwiseCard = this.stats;
    this.onKeyDown = (event) => this.keyDown(event);
    this.onKeyUp = (event) => this.keyUp(event);
    window.addEventListener("keydown", this.onKeyDown, true);
    window.addEventListener("keyup", this.onKeyUp, true);
    // Buttons give the focus back, so Enter or space never also "clicks" a focused button.
    const click = (role, act) => this.q(role).addEventListener("click", (e) => {
      e.currentTarget.blur();
      act();
    });
    click("accept", () => this.accept());
    click("skip", () => this.answer("skip"));
    click("undo", () => this.undo());
    this.q("finish-undo").addEventListener("click", () => this.undo());
    this.cleanup = () => {
      window.removeEventListener("keydown", this.onKeyDown, true);
      window.removeEventListener("keyup", this.onKeyUp, true);
      clearTimeout(this.retryTimer);
      CARDS.delete(root);
    };
  }

  // -- storage: the queue survives a reload -------------------------------------------------
  storageKey() { return `labelwise.card.${this.scope}.${this.deskId}`; }

  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.storageKey()) || "null");
      if (saved && Array.isArray(saved.queue)) {
        this.queue = saved.queue;
        this.nextSeq = Math.max(saved.nextSeq || 1, 1);
        for (const a of this.queue) { this.note(a, "pending", "waiting for the server"); }
      }
    } catch (err) { console.warn("labelwise card: unreadable saved queue", err); }
  }

  // The item on screen, per tab and project: after a reload the card asks for it back (it is
  // still reserved for this tab), instead of being handed another item first.
  shownKey() { return `labelwise.card.shown.${this.scope}.${this.deskId}`; }

  rememberShown(item) {
    try { sessionStorage.setItem(this.shownKey(), String(item)); } catch (err) { /* full */ }
  }

  lastShown() {
    const value = Number.parseInt(sessionStorage.getItem(this.shownKey()) || "", 10);
    return Number.isInteger(value) && value >= 0 ? value : null;
  }

  hello() {
    // A new card with nothing to send still tells the server its tab id (what its
    // reservations belong to) and the item it showed before a reload.
    if (!this.setStateValue) { return; }
    this.attempt = (this.attempt || 0) + 1;
    this.setStateValue("outbox", { desk_id: this.deskId, answers: [], attempt: this.attempt,
                                   shown: this.lastShown() });
  }

  persist() {
    const value = JSON.stringify({ queue: this.queue, nextSeq: this.nextSeq });
    localStorage.setItem(this.storageKey(), value);
  }

  // -- data from the server -----------------------------------------------------------------
  update(data) {
    const first = this.data === null;
    this.data = data;
    if (first || this.scope !== data.scope) {
      this.scope = data.scope;
      this.load();
    }
    this.setClasses(data.classes);
    this.takeReceipts(data.receipts || []);
    this.preloadOffer(data);
    if (this.queue.length === 0) {
      this.retry = 0;
      this.adoptOffer(data);
    }
    this.renderStatus();
    if (this.queue.length && (first || data.error)) { this.send(); } else { this.armRetry(); }
    if (first && !this.queue.length && data.tab !== this.deskId) { this.hello(); }
  }

  setClasses(classes) {
    const same = JSON.stringify(classes) === JSON.stringify(this.classes);
    this.classes = classes;
    this.keyOf = new Map();
    classes.forEach((c, index) => { if (c.key) { this.keyOf.set(c.key, index); } });
    if (same) { return; }
    const box = this.q("buttons");
    box.replaceChildren();
    classes.forEach((c, index) => {
      const button = el("button", "lw-class");
      button.type = "button";
      button.dataset.index = String(index);
      if (c.key) { button.append(el("kbd", null, c.key)); }
      button.append(el("span", "lw-name", c.name));
      button.addEventListener("click", (e) => {
        e.currentTarget.blur();
        this.answer("label", index);
      });
      box.append(button);
    });
  }

  takeReceipts(receipts) {
    let changed = false;
    for (const r of receipts) {
      if (r.desk_id !== this.deskId) { continue; }
      const at = this.queue.findIndex((a) => a.client_seq === r.client_seq);
      if (at >= 0) {
        this.queue.splice(at, 1);
        changed = true;
        this.stats.receipts.push({ client_seq: r.client_seq, status: r.status,
                                   t: performance.now() });
      }
      const entry = this.log.get(r.client_seq);
      if (entry && entry.status === "pending") {
        this.note(entry.answer, r.status, r.status === "saved" ? "saved" : r.message);
      }
    }
    if (changed) { this.retry = 0; this.persist(); }
  }

  adoptOffer(data) {
    const current = data.current;
    // No current item: all labeled, or (waiting) another tab won it and the server chooses
    // again.
    if (!current) { this.show({ kind: data.waiting ? "waiting" : "finish" }); return; }
    const nextViews = data.next;
    if (this.display.kind === "item" && this.display.view.item === current.item) {
      this.display.view = current;  // same item: keep the image on screen, take the new offer
      this.display.next = nextViews;
      this.renderPrediction();
      return;
    }
    this.show({ kind: "item", view: current, next: nextViews });
  }

  preloadOffer(data) {
    const views = [data.current];
    if (data.next) { views.push(...data.next.labels, data.next.skip); }
    for (const view of views) { if (view && view.src) { this.image(view.src); } }
  }

  image(src) {
    let img = this.images.get(src);
    if (img) { this.images.delete(src); this.images.set(src, img); return img; }
    img = new Image();
    img.decoding = "async";
    img.src = src;
    img.decode().catch(() => {});
    this.images.set(src, img);
    while (this.images.size > KEEP_IMAGES) { this.images.delete(this.images.keys().next().value); }
    return img;
  }

  // -- what is on screen --------------------------------------------------------------------
  show(display) {
    this.display = display;
    display.shown = false;
    const item = this.q("item");
    this.q("waiting").hidden = display.kind !== "waiting";
    this.q("finish").hidden = display.kind !== "finish";
    item.hidden = display.kind !== "item";
    this.q("meta").textContent = "";
    if (display.kind !== "item") {
      item.replaceChildren();
      this.stats.shown = null;
      this.renderPrediction();
      this.renderStatus();
      return;
    }
    const view = display.view;
    const parts = [];
    if (view.id !== undefined && view.id !== null) { parts.push("id " + view.id); }
    if (view.caption) { parts.push(view.caption); }
    this.q("meta").textContent = parts.join(" \u00b7 ");
    let ready;
    if (view.src) {
      const img = this.image(view.src);
      img.alt = view.id !== undefined ? "item " + view.id : "item";
      item.replaceChildren(img);
      ready = img.decode();
    } else {
      const text = el("div", "lw-text", view.text !== undefined ? view.text : "");
      item.replaceChildren(text);
      ready = Promise.resolve();
    }
    this.renderPrediction();
    this.renderStatus();
    ready.catch(() => {}).then(nextFrame).then(() => {
      if (this.display !== display) { return; }
      display.shown = true;
      this.stats.shown = view.item;
      this.rememberShown(view.item);
      this.stats.events.push({ type: "shown", item: view.item, t: performance.now() });
      this.q("stage").dataset.shown = String(view.item);
      const timing = this.pendingTiming;
      // A preloaded answer waits for its own next item; one that had to wait, for whatever the
      // server shows next.
      if (timing && (timing.next === view.item || timing.path === "waited")) {
        timing.shown = performance.now();
        timing.latency = timing.shown - timing.key;
        this.stats.timings.push(timing);
        this.pendingTiming = null;
      }
    });
  }

  renderPrediction() {
    const box = this.q("prediction");
    const view = this.display.kind === "item" ? this.display.view : null;
    const predicted = view ? view.prediction_index : null;
    this.root.querySelectorAll("button.lw-class").forEach((b) => {
      b.classList.toggle("lw-predicted", Number(b.dataset.index) === predicted);
    });
    this.q("accept").disabled = predicted === null || predicted === undefined;
    if (!view || predicted === null || predicted === undefined) {
      box.textContent = view ? "No prediction yet: label a few items first." : "";
      return;
    }
    const name = this.classes[predicted] ? this.classes[predicted].name : "";
    const pct = view.confidence === null ? "" : ` (${Math.round(100 * view.confidence)}%)`;
    const words = (this.data && this.data.wording) || {};
    box.textContent = `${words.prediction || "Model: "}${name}${pct}`;
  }

  renderStatus() {
    const data = this.data;
    if (!data) { return; }
    const p = data.progress;
    const pending = this.queue.filter((a) => a.kind === "label").length;
    const more = pending ? ` (+${pending} on the way)` : "";
    const words = data.wording || {};
    const counted = `${p.labeled} of ${p.items}${more}`;
    this.q("progress").textContent = `${words.progress || "Labeled"} ${counted}`;
    this.q("finish-text").textContent = words.finish || "All items labeled.";
    this.q("accuracy").textContent = p.accuracy === null ? "Estimated accuracy: n/a"
      : `Estimated accuracy: ${(100 * p.accuracy).toFixed(1)}%`;
    let net = this.queue.length ? `${this.queue.length} answer(s) waiting for the server`
      : "All answers saved";
    if (data.error) { net += ` \u2014 server: ${data.error}`; }
    this.q("net").textContent = net;
    const finish = this.display.kind === "finish";
    this.q("skip").disabled = this.display.kind !== "item";
    this.q("undo").disabled = !this.canUndo();
    this.q("finish-undo").disabled = !this.canUndo();
    this.root.querySelectorAll("button.lw-class").forEach((b) => { b.disabled = finish; });
  }

  note(answer, status, text) {
    let entry = this.log.get(answer.client_seq);
    if (!entry) {
      entry = { answer, node: el("li") };
      this.log.set(answer.client_seq, entry);
      const list = this.q("log");
      list.prepend(entry.node);
      while (list.children.length > 8) { list.lastChild.remove(); }
    }
    entry.status = status;
    const what = answer.kind === "label" ? `labeled \u201c${answer.label_name}\u201d`
      : answer.kind;
    entry.node.className = "lw-" + status;
    entry.node.textContent = `#${answer.client_seq} item ${answer.item_id}: ${what} \u2014 ${text}`;
    entry.node.dataset.status = status;
  }

  // -- answers ------------------------------------------------------------------------------
  canUndo() {
    if (this.undoStack.length) { return true; }
    const items = this.data && this.data.undo_items;
    return Boolean(items && items[this.deskId] !== undefined);
  }

  answer(kind, index) {
    const display = this.display;
    if (display.kind !== "item" || !display.shown) { return false; }  // nothing is shown yet
    const view = display.view;
    const label = kind === "label" ? this.classes[index] : null;
    if (kind === "label" && !label) { return false; }
    const a = { desk_id: this.deskId, client_seq: this.nextSeq, item: view.item, kind,
                label: label ? label.value : null, label_name: label ? label.name : null,
                item_id: view.id };
    this.nextSeq += 1;
    this.queue.push(a);
    this.persist();
    this.stats.events.push({ type: "answer", item: view.item, kind, client_seq: a.client_seq,
                             item_id: view.id, label: a.label, t: performance.now() });
    this.note(a, "pending", "sending");
    this.undoStack.push(view);
    if (this.undoStack.length > 50) { this.undoStack.shift(); }
    const key = performance.now();
    // The offer's next item for this answer: a view, null (nothing left) or undefined (not
    // known yet: the person is ahead of the server, or the class is newer than the offer).
    let next = display.next ? (kind === "skip" ? display.next.skip
      : display.next.labels[index]) : undefined;
    if (next && next.withheld) { next = undefined; }  // held by another tab: not ours to show
    this.pendingTiming = { client_seq: a.client_seq, item: view.item,
                           next: next ? next.item : null, key,
                           path: next ? "preloaded" : "waited" };
    if (next) { this.show({ kind: "item", view: next, next: null }); }
    else if (next === null) { this.pendingTiming = null; this.show({ kind: "finish" }); }
    else { this.show({ kind: "waiting" }); }
    this.send();
    return true;
  }

  accept() {
    const display = this.display;
    if (display.kind !== "item") { return false; }
    const predicted = display.view.prediction_index;
    if (predicted === null || predicted === undefined) { return false; }
    return this.answer("label", predicted);
  }

  undo() {
    if (this.display.kind === "item" && !this.display.shown) { return false; }
    let view = this.undoStack.pop();
    let item = view ? view.item : undefined;
    if (view === undefined) {
      const items = this.data && this.data.undo_items;
      item = items ? items[this.deskId] : undefined;
      if (item === undefined) { return false; }
    }
    const a = { desk_id: this.deskId, client_seq: this.nextSeq, item, kind: "undo",
                label: null, label_name: null, item_id: view ? view.id : item };
    this.nextSeq += 1;
    this.queue.push(a);
    this.persist();
    this.note(a, "pending", "sending");
    this.pendingTiming = null;
    this.show(view ? { kind: "item", view, next: null } : { kind: "waiting" });
    this.send();
    return true;
  }

  send() {
    if (!this.setStateValue || !this.queue.length) { return; }
    this.attempt = (this.attempt || 0) + 1;
    const answers = this.queue.slice(0, 100).map((a) => ({
      desk_id: a.desk_id, client_seq: a.client_seq, item: a.item, kind: a.kind, label: a.label,
    }));
    this.setStateValue("outbox", { desk_id: this.deskId, answers, attempt: this.attempt });
    this.renderStatus();
    this.armRetry();
  }

  armRetry() {
    // Unacknowledged answers are sent again, less and less often while the server is away.
    clearTimeout(this.retryTimer);
    if (!this.queue.length) { return; }
    const delay = RETRY_MS[Math.min(this.retry, RETRY_MS.length - 1)];
    this.retryTimer = setTimeout(() => { this.retry += 1; this.send(); }, delay);
  }

  // -- keys ---------------------------------------------------------------------------------
  keyDown(event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) { return; }
    const target = event.composedPath ? event.composedPath()[0] : event.target;
    if (takesTyping(target)) { return; }
    if (!this.root.isConnected) { return; }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    let handled = true;
    if (event.repeat) {
      handled = this.keyOf.has(key) || ["Enter", " ", "u", "s"].includes(key);
    } else if (this.keyOf.has(key)) { this.answer("label", this.keyOf.get(key)); }
    else if (key === "Enter" || key === " ") { this.accept(); }
    else if (key === "u") { this.undo(); }
    else if (key === "s") { this.answer("skip"); }
    else { handled = false; }
    if (handled) {
      event.preventDefault();
      event.stopImmediatePropagation();
      this.swallowKeyUp = key;
    }
  }

  keyUp(event) {
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (this.swallowKeyUp === key) {  // a focused button would click on space's key-up
      event.preventDefault();
      event.stopImmediatePropagation();
      this.swallowKeyUp = null;
    }
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let card = CARDS.get(parentElement);
  if (!card) {
    card = new Card(parentElement);
    CARDS.set(parentElement, card);
  }
  card.setStateValue = setStateValue;
  card.update(data);
  return card.cleanup;
}
"""
