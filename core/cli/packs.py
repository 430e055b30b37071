"""``labelwise build-pack NAME [--source PATH] [--out DIR]``: (re)build a data pack."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``build-pack`` sub-command."""
    from ..data.builders import builders

    parser = subparsers.add_parser(
        "build-pack",
        help="rebuild a data pack from its source",
        description="Rebuild a data pack from its source material into data/packs/NAME "
        "(or --out), with the kNN graph and density of its items and of the dashboard's "
        "labeling pool. The exact command used for each shipped pack is in its metadata.json.",
    )
    parser.add_argument("name", choices=builders(), help="pack to build")
    parser.add_argument("--source", default=None,
                        help="source folder or file (fruits: the fruits folder with "
                        "manifest.csv; sentiment140 and sentiment140-e5: sample20k.csv)")
    parser.add_argument("--out", default=None, help="destination folder (default data/packs/NAME)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..data.builders import build_pack
    from ..data.catalog import load_dataset

    bars: list[tqdm] = []  # created on the first progress call: some packs embed nothing

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="item", desc=f"embedding {args.name}"))
        bars[0].update(done - bars[0].n)

    try:
        folder = build_pack(args.name, source=args.source, out=args.out, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    dataset = load_dataset(folder)
    pools = ", ".join(f"{p['name']} ({p['n_items']} items)"
                      for p in dataset.metadata.get("pools", []))
    print(f"built {folder}: {len(dataset)} items, {dataset.vectors.shape[1]}-d, "
          f"{len(dataset.classes)} classes; graph and density stored for: {pools or 'none'}")
    return 0
