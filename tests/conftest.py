"""Fixtures every test module may use.

``shared_dir`` is the source material that sits beside the checkout (``../shared``: the fruit
photos, the Sentiment140 tweets, the MobileNet-v2 model), as in CI. Tests that need it fail
with a message saying where it was looked for; they never skip, so a missing folder cannot turn
a run green.

The ``slow`` marker (registered in pyproject.toml) tags tests that take seconds each. They run
by default, as in CI; ``pytest -m "not slow"`` leaves them out while iterating. Browser and
TensorFlow Hub tests are slow by nature and get the marker here; others carry it themselves.

Both label-store backends: the ``store`` marker goes on every test of a module that touches a
store (by name, below); ``make test`` runs the suite on SQLite, then those tests again with
``LABELWISE_TEST_STORE=postgresql``, where every test's default store (``$LABELWISE_STORE``, which
the API, the CLI and dashboard servers started by a test read) is a fresh schema on the real
PostgreSQL server. Tests that name a SQLite file themselves keep it (they test SQLite).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
SLOW_BY_NATURE = ("browser", "tfhub")  # a Chromium per test; importing TensorFlow
#: A module whose source names one of these touches a label store (directly or via a page).
STORE_WORDS = ("LabelStore", "LABELWISE_STORE", "LABELWISE_DATA_DIR", "labelwise-data",
               "store_location", "resume_session", "dashboard")
STORE_BACKEND_ENV = "LABELWISE_TEST_STORE"
_touches_store: dict[Path, bool] = {}


def _module_touches_store(path: Path) -> bool:
    if path not in _touches_store:
        text = path.read_text(encoding="utf-8")
        _touches_store[path] = any(word in text for word in STORE_WORDS)
    return _touches_store[path]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "store: touches a label store; runs on both backends in `make test`")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_BY_NATURE):
            item.add_marker(pytest.mark.slow)
        if _module_touches_store(Path(item.path)):
            item.add_marker(pytest.mark.store)


@pytest.fixture(autouse=True)
def default_store_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``LABELWISE_TEST_STORE=postgresql``: the test's default store is a fresh schema."""
    backend = os.environ.get(STORE_BACKEND_ENV, "sqlite")
    if backend == "sqlite":
        yield
        return
    if backend != "postgresql":
        pytest.fail(f"{STORE_BACKEND_ENV} must be sqlite or postgresql, got {backend!r}",
                    pytrace=False)
    url = request.getfixturevalue("postgres_location")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("LABELWISE_STORE", url)
    yield


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


pytest_plugins = ["store_backends"]
