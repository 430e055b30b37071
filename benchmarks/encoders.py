"""Encoder throughput: items per second for each encoder, embedding and from the cache.

Run: ``.venv/bin/python benchmarks/encoders.py [--images 256] [--texts 2000] [--threads 1 2]``
(writes benchmarks/results/encoders.json and .md). Needs ../shared beside the clone for real
inputs (fruit photos, Sentiment140 tweets).

* ``mobilenet_v2``: fruit photos (JPEG files, decoding and resizing included);
* ``use``: tweets;
* ``tfhub:<folder>``: a small SavedModel built here (byte histogram of texts), which measures
  the TF-Hub wrapper's own cost per batch rather than any real model's speed;
* ``cached``: the same items again through the on-disk cache (hash + SQLite lookup).
Model loading is excluded (one warm-up batch first). Each figure is the best of ``--repeats``
runs with a fresh, empty cache folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from labelwise.data.encoders import get_encoder

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"


def throughput(name: str, items: list, threads: int, repeats: int) -> dict:
    best_embed = best_cached = 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            encoder = get_encoder(name, cache_dir=cache, threads=threads)
            encoder.encode(items[:4], batch_size=4)  # warm-up: loads the model
            todo = items[4:]
            start = time.perf_counter()
            encoder.encode(todo)
            best_embed = max(best_embed, len(todo) / (time.perf_counter() - start))
            start = time.perf_counter()
            encoder.encode(todo)
            best_cached = max(best_cached, len(todo) / (time.perf_counter() - start))
    return {"encoder": name.split(":")[0] + (":<local SavedModel>" if ":" in name else ""),
            "threads": threads, "items": len(items) - 4,
            "items_per_s": round(best_embed, 1), "cached_items_per_s": round(best_cached, 1)}


def tfhub_model(folder: Path) -> str:
    import tensorflow as tf

    class ByteHistogram(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            buckets = tf.strings.to_hash_bucket_fast(tf.strings.bytes_split(texts), 64)
            return tf.math.bincount(buckets, minlength=64, maxlength=64, axis=-1,
                                    dtype=tf.float32) + 1.0

    tf.saved_model.save(ByteHistogram(), str(folder))
    return f"tfhub:{folder}"


def to_markdown(result: dict) -> str:
    lines = [
        "# Encoder throughput (items per second)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}, {result['when']}",
        "",
        "| encoder | threads | items | embed items/s | cached items/s |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['encoder']} | {r['threads']} | {r['items']} | {r['items_per_s']} | "
                     f"{r['cached_items_per_s']} |")
    lines += ["", "tfhub: a byte-histogram SavedModel built by the benchmark; it measures the "
              "wrapper's overhead, not a real TF-Hub model.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-tfhub", action="store_true")
    args = parser.parse_args()
    manifest = pd.read_csv(SHARED / "datasets" / "fruits" / "manifest.csv")
    photos = [SHARED / "datasets" / "fruits" / f
              for f in manifest["file"].sample(args.images + 4, random_state=0)]
    tweets = pd.read_csv(SHARED / "datasets" / "sentiment140" / "sample20k.csv",
                         nrows=args.texts + 4)["text"].tolist()
    rows = []
    for threads in args.threads:
        rows.append(throughput("mobilenet_v2", photos, threads, args.repeats))
        rows.append(throughput("use", tweets, threads, args.repeats))
    if not args.no_tfhub:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(throughput(tfhub_model(Path(folder) / "model"), tweets, 1, args.repeats))
    command = (f".venv/bin/python benchmarks/encoders.py --images {args.images} --texts "
               f"{args.texts} --threads {' '.join(map(str, args.threads))} --repeats "
               f"{args.repeats}" + (" --no-tfhub" if args.no_tfhub else ""))
    result = {"command": command,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}, load average at start "
                         f"{os.getloadavg()[0]:.1f}",
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encoders.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "encoders.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
