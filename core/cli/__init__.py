"""The ``labelwise`` command line (argparse only; the work is done by the layers below)."""

from .main import main

__all__ = ["main"]
