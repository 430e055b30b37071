"""The lasso map's HTML, CSS and JavaScript, handed inline to Streamlit's components v2.

A canvas scatter of the pool (no iframe, nothing fetched): drag to draw a lasso, and the
points inside it become the selection; Shift+drag adds to it, Alt+drag takes away, Escape
or the Clear button empties it. The selection goes back to the server as the component state
``selection``: ``{"token": <the token of the data drawn>, "rows": [pool rows]}``, so a
selection made on an older drawing is recognised as such. Legend names (user text) are put
into the DOM with ``textContent`` only.

``window.__labelwiseLasso`` exposes, for tests, the canvas geometry (``toPixel(x, y)``) and
the last selection sent.
"""

from __future__ import annotations

HTML = """
<div class="lw-lasso" data-testid="labelwise-lasso">
  <div class="lw-lasso-bar">
    <span data-role="count">Nothing selected.</span>
    <button type="button" data-role="clear">Clear <kbd>Esc</kbd></button>
  </div>
  <canvas data-role="canvas" aria-label="Map of the pool: drag to draw a lasso"></canvas>
  <div class="lw-lasso-legend" data-role="legend"></div>
</div>
"""

CSS = """
.lw-lasso { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #222);
  display: flex; flex-direction: column; gap: 0.4rem; }
.lw-lasso-bar { display: flex; gap: 1rem; align-items: center; font-size: 0.95rem; }
.lw-lasso canvas { width: 100%; border: 1px solid var(--st-border-color, #ddd);
  border-radius: 0.5rem; background: var(--st-background-color, #fff); cursor: crosshair;
  touch-action: none; }
.lw-lasso button { font: inherit; padding: 0.2rem 0.7rem; cursor: pointer;
  border-radius: var(--st-button-radius, 0.5rem); border: 1px solid var(--st-border-color, #ccc);
  background: var(--st-background-color, #fff); color: inherit; }
.lw-lasso kbd { font-family: var(--st-code-font, monospace); font-size: 0.8em;
  padding: 0 0.3em; border: 1px solid currentColor; border-radius: 0.25em; opacity: 0.7; }
.lw-lasso-legend { display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; font-size: 0.85rem; }
.lw-lasso-legend span::before { content: ""; display: inline-block; width: 0.7em;
  height: 0.7em; margin-right: 0.35em; border-radius: 50%; background: var(--swatch); }
"""

JS = r"""
const MAPS = new WeakMap();
const PAD = 12;          // px between the canvas edge and the outermost points
const MIN_STEP = 3;      // px between two recorded lasso vertices

// Ray casting: whether (px, py) is inside the polygon of vertices xs, ys.
function inside(px, py, xs, ys) {
  let hit = false;
  for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
    if ((ys[i] > py) !== (ys[j] > py)
        && px < (xs[j] - xs[i]) * (py - ys[i]) / (ys[j] - ys[i]) + xs[i]) {
      hit = !hit;
    }
  }
  return hit;
}

class LassoMap {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector('[data-role="canvas"]');
    this.count = root.querySelector('[data-role="count"]');
    this.legend = root.querySelector('[data-role="legend"]');
    this.data = null;
    this.selected = new Set();
    this.path = null;
    this.mode = "replace";
    this.setStateValue = null;
    this.stats = { sent: null, toPixel: (x, y) => this.toPixel(x, y),
                   canvas: () => this.canvas.getBoundingClientRect() };
    window.__labelwiseLasso = this.stats;
    this.onDown = (e) => this.down(e);
    this.onMove = (e) => this.move(e);
    this.onUp = (e) => this.up(e);
    this.onKey = (e) => { if (e.key === "Escape" && this.selected.size) { this.clear(); } };
    this.canvas.addEventListener("pointerdown", this.onDown);
    this.canvas.addEventListener("pointermove", this.onMove);
    this.canvas.addEventListener("pointerup", this.onUp);
    window.addEventListener("keydown", this.onKey);
    root.querySelector('[data-role="clear"]').addEventListener("click", (e) => {
      e.currentTarget.blur();
      this.clear();
    });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
    this.cleanup = () => {
      window.removeEventListener("keydown", this.onKey);
      this.resize.disconnect();
      MAPS.delete(root);
    };
  }

  update(data) {
    const fresh = !this.data || this.data.token !== data.token;
    this.data = data;
    if (fresh) {
      // A new map, or a new drawing (the server emptied the selection): start from the
      // selection the server holds for this drawing.
      this.selected = new Set(data.selected || []);
      this.showLegend();
    }
    this.draw();
    this.showCount();
  }

  showLegend() {
    this.legend.replaceChildren();
    (this.data.legend || []).forEach((name, k) => {
      const item = document.createElement("span");
      item.textContent = String(name);
      item.style.setProperty("--swatch", this.data.palette[k % this.data.palette.length]);
      this.legend.appendChild(item);
    });
  }

  // Data coordinates are in [0, 1] (the server scales them); y grows upwards.
  toPixel(x, y) {
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    return [PAD + x * (w - 2 * PAD), PAD + (1 - y) * (h - 2 * PAD)];
  }

  draw() {
    if (!this.data) { return; }
    const canvas = this.canvas, ratio = window.devicePixelRatio || 1;
    canvas.style.height = `${this.data.height}px`;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const { x, y, colour, labeled, rows, palette } = this.data;
    // Unlabeled first, labeled on top (squares), the selection ringed on top of all.
    for (const pass of [0, 1]) {
      for (let i = 0; i < x.length; i++) {
        if (labeled[i] !== pass) { continue; }
        const [px, py] = this.toPixel(x[i], y[i]);
        ctx.fillStyle = palette[colour[i] % palette.length];
        if (pass) {
          ctx.globalAlpha = 1;
          ctx.fillRect(px - 3.5, py - 3.5, 7, 7);
          ctx.strokeStyle = "#000";
          ctx.lineWidth = 0.8;
          ctx.strokeRect(px - 3.5, py - 3.5, 7, 7);
        } else {
          ctx.globalAlpha = 0.55;
          ctx.beginPath();
          ctx.arc(px, py, 2.6, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.globalAlpha = 1;
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 1.4;
    for (let i = 0; i < x.length; i++) {
      if (!this.selected.has(rows[i])) { continue; }
      const [px, py] = this.toPixel(x[i], y[i]);
      ctx.beginPath();
      ctx.arc(px, py, 4.5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.path && this.path.xs.length > 1) {
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(this.path.xs[0], this.path.ys[0]);
      for (let k = 1; k < this.path.xs.length; k++) {
        ctx.lineTo(this.path.xs[k], this.path.ys[k]);
      }
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  local(e) {
    const box = this.canvas.getBoundingClientRect();
    return [e.clientX - box.left, e.clientY - box.top];
  }

  down(e) {
    if (!this.data || e.button !== 0) { return; }
    this.canvas.setPointerCapture(e.pointerId);
    this.mode = e.shiftKey ? "add" : (e.altKey ? "remove" : "replace");
    const [px, py] = this.local(e);
    this.path = { xs: [px], ys: [py] };
    e.preventDefault();
  }

  move(e) {
    if (!this.path) { return; }
    const [px, py] = this.local(e);
    const n = this.path.xs.length - 1;
    if (Math.hypot(px - this.path.xs[n], py - this.path.ys[n]) < MIN_STEP) { return; }
    this.path.xs.push(px);
    this.path.ys.push(py);
    this.draw();
  }

  up(e) {
    if (!this.path) { return; }
    this.move(e);
    const { xs, ys } = this.path;
    this.path = null;
    if (xs.length < 3) { this.draw(); return; }  // a click, not a lasso
    const { x, y, rows } = this.data;
    const hits = [];
    for (let i = 0; i < x.length; i++) {
      const [px, py] = this.toPixel(x[i], y[i]);
      if (inside(px, py, xs, ys)) { hits.push(rows[i]); }
    }
    if (this.mode === "replace") { this.selected = new Set(hits); }
    else if (this.mode === "add") { hits.forEach((r) => this.selected.add(r)); }
    else { hits.forEach((r) => this.selected.delete(r)); }
    this.changed();
  }

  clear() {
    this.selected = new Set();
    this.changed();
  }

  changed() {
    this.draw();
    this.showCount();
    const value = { token: this.data.token, rows: [...this.selected].sort((a, b) => a - b) };
    this.stats.sent = value;
    if (this.setStateValue) { this.setStateValue("selection", value); }
  }

  showCount() {
    const n = this.selected.size;
    this.count.textContent = n ? `${n} selected on the map.`
      : "Nothing selected: drag to draw a lasso (Shift adds, Alt takes away).";
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let map = MAPS.get(parentElement);
  if (!map) {
    map = new LassoMap(parentElement);
    MAPS.set(parentElement, map);
  }
  map.setStateValue = setStateValue;
  map.update(data);
  return map.cleanup;
}
"""
