"""The ``labelwise`` command line.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func`` default is called with the parsed arguments; list the module in
``COMMAND_MODULES`` to make it available.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import LabelwiseError

COMMAND_MODULES: list[str] = [
    "labelwise.cli.dashboard", "labelwise.cli.accounts", "labelwise.cli.packs",
    "labelwise.cli.export", "labelwise.cli.simulate", "labelwise.cli.review"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelwise", description="Active learning over pre-trained embeddings: label fewer "
        "items for a good classifier.")
    parser.add_argument("--version", action="version", version="labelwise 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LabelwiseError as exc:
        print(f"labelwise: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
