"""Server paths on the Data page: off without allowed roots, and nothing outside the roots leaks.

Each attack from the issue is replayed in the real app (AppTest) with a planted secret file in
one temporary folder and the allowed root set to another; none of them may show or read it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labelwise.dashboard.byo import NOT_ALLOWED, resolve_server_path
from labelwise.dashboard.state import Source

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300
SECRET = "BEGIN-PLANTED-SECRET-7f3a"


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """(root, secret file): the root is allowed, the secret lies outside it."""
    monkeypatch.chdir(tmp_path)
    for name in ("LABELWISE_DATA_DIR", "LABELWISE_DEMO", "LABELWISE_AUTH"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "root"
    root.mkdir()
    private = tmp_path / "private"
    private.mkdir()
    secret = private / "id_rsa"
    secret.write_text(f"{SECRET}\nsecond line\n")
    (root / "texts.csv").write_text("text,label\n" + "".join(
        f"text number {i},{'ab'[i % 2]}\n" for i in range(20)))
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(root))
    return root, secret


def data_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset_source"] = Source("pack", "moons")
    at.switch_page("views/data.py")
    at.run()
    assert not at.exception, at.exception
    return at


def everything_shown(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "text")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts) + "\n".join(str(m.value) for m in at.metric)


def typed(at: AppTest, path: str) -> AppTest:
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(path).run()
    assert not at.exception, at.exception
    return at


def test_without_roots_the_server_path_choice_is_not_offered(folders, monkeypatch):
    monkeypatch.delenv("LABELWISE_DATA_ROOTS")
    at = data_page()
    assert at.radio(key="data_where").options == ["Built-in pack", "Upload a file"]
    assert not [w for w in at.text_input if w.key == "byo_path"]


def test_a_file_inside_the_root_loads(folders):
    root, _ = folders
    at = typed(data_page(), str(root / "texts.csv"))
    assert not at.error
    at.button(key="byo_load").click().run()
    assert not at.exception and not at.error
    assert next(m.value for m in at.metric if m.label == "Items") == "20"


@pytest.mark.parametrize("attack", ["secret", "symlink", "dotdot", "missing", "etc", "usr",
                                    "dev_zero"])
def test_paths_outside_the_root_show_one_message_and_nothing_of_the_file(folders, attack):
    root, secret = folders
    link = root / "innocent.csv"
    link.symlink_to(secret)
    path = {"secret": str(secret), "symlink": str(link),
            "dotdot": str(root / ".." / "private" / "id_rsa"),
            "missing": str(root / "no-such.csv"), "etc": "/etc/os-release", "usr": "/usr",
            "dev_zero": "/dev/zero"}[attack]
    at = typed(data_page(), path)
    assert [e.value for e in at.error] == [NOT_ALLOWED]
    shown = everything_shown(at)
    assert SECRET not in shown and "second line" not in shown
    assert "Detected" not in shown  # no column guess: the file was never read
    assert not [b for b in at.button if b.key == "byo_load"]


def test_resolve_refuses_devices_and_keeps_regular_files_and_folders(folders, tmp_path):
    root, secret = folders
    roots = [root.resolve()]
    assert resolve_server_path(str(root / "texts.csv"), roots) == (root / "texts.csv").resolve()
    assert resolve_server_path(str(root), roots) == root.resolve()
    assert resolve_server_path(str(secret), roots) is None
    assert resolve_server_path("/dev/zero", [Path("/dev")]) is None
    fifo = root / "pipe"
    os.mkfifo(fifo)
    assert resolve_server_path(str(fifo), roots) is None
    assert resolve_server_path(str(root / "texts.csv"), []) is None
    assert resolve_server_path("bad\0path", roots) is None
