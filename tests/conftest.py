"""Fixtures every test module may use.

``shared_dir`` is the source material that sits beside the checkout (``../shared``: the fruit
photos, the Sentiment140 tweets, the MobileNet-v2 model), as in CI. Tests that need it fail
with a message saying where it was looked for; they never skip, so a missing folder cannot turn
a run green.

The ``slow`` marker (registered in pyproject.toml) tags tests that take seconds each. They run
by default, as in CI; ``pytest -m "not slow"`` leaves them out while iterating. Browser and
TensorFlow Hub tests are slow by nature and get the marker here; others carry it themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
SLOW_BY_NATURE = ("browser", "tfhub")  # a Chromium per test; importing TensorFlow


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_BY_NATURE):
            item.add_marker(pytest.mark.slow)


def _present(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"the shared source material is missing: {path} does not exist. These tests read "
            f"the folder 'shared' beside the checkout ({SHARED_DIR}: datasets/fruits, "
            "datasets/sentiment140, models/mobilenet_v2); put it there, as CI does.",
            pytrace=False)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``../shared`` folder beside the checkout; fails the test if it is missing."""
    return _present(SHARED_DIR)


@pytest.fixture(scope="session")
def fruits_dir(shared_dir: Path) -> Path:
    """``../shared/datasets/fruits``: 7,521 photos and their ``manifest.csv``."""
    return _present(shared_dir / "datasets" / "fruits" / "manifest.csv").parent


@pytest.fixture(scope="session")
def tweets_csv(shared_dir: Path) -> Path:
    """``../shared/datasets/sentiment140/sample20k.csv``: 20,000 tweets."""
    return _present(shared_dir / "datasets" / "sentiment140" / "sample20k.csv")
