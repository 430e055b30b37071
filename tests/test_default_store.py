"""The default store every test sees follows ``LABELWISE_TEST_STORE`` (see conftest.py)."""

from __future__ import annotations

import os

from labelwise.labels.store import LabelStore, default_store_location, is_postgres_url


def test_default_store_is_the_backend_under_test(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    location = default_store_location()
    wanted = os.environ.get("LABELWISE_TEST_STORE", "sqlite")
    assert is_postgres_url(location) == (wanted == "postgresql")
    store = LabelStore()
    store.create_project("p", dataset_id="d", fingerprint="f")
    assert is_postgres_url(store.location) == (wanted == "postgresql")
    assert store.path is None if wanted == "postgresql" else store.path.exists()
