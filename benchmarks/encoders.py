"""Encoders: how well the text encoders separate the tweets, and items per second for each.

Run: ``.venv/bin/python benchmarks/encoders.py [--images 256] [--texts 2000] [--e5-texts 300]
[--threads 1 2] [--accuracy-tweets 3000]`` (writes benchmarks/results/encoders.json and .md).
Needs ../shared beside the clone for real inputs (fruit photos, Sentiment140 tweets).

Accuracy: leave-one-out k-NN accuracy (k = 5 and 15, cosine, exact; each tweet is predicted
by the majority of its k most similar *other* tweets, similarity ties to the lower index; k is
odd and there are two classes, so votes never tie) of ``use`` and ``e5_small`` on the same
tweets: the first ``--accuracy-tweets`` rows of sample20k.csv embedded in float32 (through the
embedding cache), and all 20,000 as stored in the packs ``sentiment140`` and
``sentiment140-e5`` (uint8 codes), for the packs that are present.

Throughput:

* ``mobilenet_v2``: fruit photos (JPEG files, decoding and resizing included);
* ``use``: tweets; ``e5_small``: the first ``--e5-texts`` of the same tweets (it is about 10x
  slower per text, so fewer keep the run short);
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

import numpy as np
import pandas as pd

from labelwise import load_dataset
from labelwise.data.encoders import get_encoder
from labelwise.data.packs import available_packs
from labelwise.engine.topk import top_k
from labelwise.engine.vectors import as_unit_rows

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


TEXT_ENCODERS = {"use": "sentiment140", "e5_small": "sentiment140-e5"}
KS = (5, 15)
CHUNK = 2048


def loo_knn_accuracy(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Leave-one-out k-NN accuracy, cosine, exact; ties in similarity to the lower index."""
    unit = as_unit_rows(vectors)
    codes = np.unique(labels, return_inverse=True)[1]
    right = 0
    for start in range(0, len(unit), CHUNK):
        sims = unit[start:start + CHUNK] @ unit.T
        rows = np.arange(len(sims))
        sims[rows, rows + start] = -np.inf
        near, _ = top_k(sims, k, overwrite=True)  # similarity ties to the lower index
        votes = np.apply_along_axis(np.bincount, 1, codes[near], minlength=codes.max() + 1)
        right += int((votes.argmax(axis=1) == codes[start:start + CHUNK]).sum())
    return right / len(unit)


def accuracy_rows(tweets: pd.DataFrame) -> list[dict]:
    labels = tweets["target"].to_numpy()
    rows = []
    for name, pack in TEXT_ENCODERS.items():
        vectors = get_encoder(name).encode(tweets["text"].astype(str).tolist())
        row = {"encoder": name, "tweets": len(tweets), "vectors": "float32"}
        row.update({f"loo_{k}nn": round(loo_knn_accuracy(vectors, labels, k), 4) for k in KS})
        rows.append(row)
        if pack not in available_packs():  # e.g. sentiment140-e5 before it is built
            continue
        dataset = load_dataset(pack)
        row = {"encoder": name, "tweets": len(dataset), "vectors": f"pack {pack} (uint8)"}
        row.update({f"loo_{k}nn": round(loo_knn_accuracy(dataset.vectors, dataset.labels, k), 4)
                    for k in KS})
        rows.append(row)
    return rows


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
        "# Text encoders on Sentiment140, and encoder throughput",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}, {result['when']}",
        "",
        "## Leave-one-out k-NN accuracy (cosine, exact, the same tweets for both encoders)",
        "",
        "| encoder | tweets | vectors | LOO 5-NN | LOO 15-NN |",
        "|---|---|---|---|---|",
    ]
    for r in result["accuracy"]:
        lines.append(f"| {r['encoder']} | {r['tweets']:,} | {r['vectors']} | "
                     f"{r['loo_5nn']:.4f} | {r['loo_15nn']:.4f} |")
    lines += [
        "",
        "## Throughput (items per second)",
        "",
        "| encoder | threads | items | embed items/s | cached items/s |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['encoder']} | {r['threads']} | {r['items']} | {r['items_per_s']} | "
                     f"{r['cached_items_per_s']} |")
    if any(r["encoder"].startswith("tfhub") for r in result["rows"]):
        lines += ["", "tfhub: a byte-histogram SavedModel built by the benchmark; it measures "
                  "the wrapper's overhead, not a real TF-Hub model."]
    lines += ["", "Figures from a busy machine (see the load average above) are lower than on a "
              "quiet one; compare rows of one run, not runs.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--e5-texts", type=int, default=300)
    parser.add_argument("--accuracy-tweets", type=int, default=3000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-tfhub", action="store_true")
    args = parser.parse_args()
    manifest = pd.read_csv(SHARED / "datasets" / "fruits" / "manifest.csv")
    photos = [SHARED / "datasets" / "fruits" / f
              for f in manifest["file"].sample(args.images + 4, random_state=0)]
    sample = pd.read_csv(SHARED / "datasets" / "sentiment140" / "sample20k.csv")
    tweets = sample["text"].iloc[:args.texts + 4].tolist()
    accuracy = accuracy_rows(sample.iloc[:args.accuracy_tweets])
    rows = []
    for threads in args.threads:
        rows.append(throughput("mobilenet_v2", photos, threads, args.repeats))
        rows.append(throughput("use", tweets, threads, args.repeats))
        rows.append(throughput("e5_small", tweets[:args.e5_texts + 4], threads, args.repeats))
    if not args.no_tfhub:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(throughput(tfhub_model(Path(folder) / "model"), tweets, 1, args.repeats))
    command = (f".venv/bin/python benchmarks/encoders.py --images {args.images} --texts "
               f"{args.texts} --e5-texts {args.e5_texts} --accuracy-tweets "
               f"{args.accuracy_tweets} --threads {' '.join(map(str, args.threads))} --repeats "
               f"{args.repeats}" + (" --no-tfhub" if args.no_tfhub else ""))
    result = {"command": command,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}, load average at start "
                         f"{os.getloadavg()[0]:.1f}",
              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "accuracy": accuracy, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encoders.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "encoders.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
