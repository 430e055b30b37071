"""Label-click latency: server time from clicking a class button to the next item being shown.

Drives the real dashboard (``dashboard/app.py``, Label page) with Streamlit's AppTest on a
dataset pack (default: fruits, 7,521 images), with the label store in a temporary folder. Each
click runs the button's callback (which commits the label to SQLite through
labelwise.labels.projects and
updates the kNN state) and then the whole script (next suggestion, prediction, U/I/D
percentiles, neighbours, holdout accuracy, the page's widgets). Server time per click =
callback time + script time, both measured inside the app; AppTest's own polling is excluded
(its wall time is reported separately).

Run: ``.venv/bin/python benchmarks/label_click.py [--pack fruits] [--clicks 40]``
Writes benchmarks/results/label_click.json and label_click.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from labelwise.dashboard.state import Source

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
RESULTS = ROOT / "benchmarks" / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(pack: str, clicks: int, warmup: int) -> dict:
    workdir = tempfile.mkdtemp(prefix="labelwise-bench-")
    os.chdir(workdir)  # the label store goes to ./labelwise-data here
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.session_state["dataset_source"] = Source("pack", pack)
    start = time.perf_counter()
    at.run()
    first_open = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"the Label page failed: {at.exception[0].value}")
    n_classes = sum(1 for b in at.button if b.key and b.key.startswith("cls_"))
    server, action, script, wall = [], [], [], []
    for n in range(warmup + clicks):
        button = at.button(key=f"cls_{n % n_classes}")
        start = time.perf_counter()
        button.click().run()
        elapsed = (time.perf_counter() - start) * 1e3
        if n < warmup:
            continue
        a = at.session_state["timing_action_ms"]
        s = at.session_state["timing_page_ms"]
        action.append(a)
        script.append(s)
        server.append(a + s)
        wall.append(elapsed)
    labeled = at.metric[0].value

    def stats(values):
        return {"median": round(statistics.median(values), 1),
                "p90": round(percentile(values, 0.9), 1), "max": round(max(values), 1)}

    return {
        "pack": pack, "clicks": clicks, "warmup_clicks": warmup, "labeled_at_end": labeled,
        "first_open_seconds": round(first_open, 2),
        "server_ms": stats(server), "callback_ms": stats(action), "script_ms": stats(script),
        "apptest_wall_ms": stats(wall),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        # Other work on the machine slows every number; the 1-minute load when done.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "command": f".venv/bin/python benchmarks/label_click.py --pack {pack} --clicks {clicks}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="fruits")
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    result = run(args.pack, args.clicks, args.warmup)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "label_click.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Label click to next item: {result['pack']} pack",
        "",
        f"`{result['command']}` on {result['machine']}.",
        "",
        "| per click (ms) | median | p90 | max |",
        "|---|---:|---:|---:|",
    ]
    for key, title in [("server_ms", "server time (callback + script)"),
                       ("callback_ms", "callback: store commit + kNN update"),
                       ("script_ms", "script: next item and the whole page"),
                       ("apptest_wall_ms", "AppTest wall time (includes its polling)")]:
        s = result[key]
        lines.append(f"| {title} | {s['median']} | {s['p90']} | {s['max']} |")
    lines += ["", f"Load average (1 min) at the end: {result['load_average_1min']}.",
              "", f"{result['clicks']} clicks after {result['warmup_clicks']} warm-up clicks; "
              f"first page open (pack, density, fingerprint): "
              f"{result['first_open_seconds']} s."]
    (RESULTS / "label_click.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
