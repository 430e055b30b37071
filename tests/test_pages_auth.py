"""Roles on the pages, run in the real app through AppTest: Label, Export, Data and the demo.

Projects are made by a local (admin) session first; then the accounts file is switched on and
a session starts as the account under test (its entry in the file is what the gate checks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labelwise.dashboard.state import Source
from labelwise.labels.accounts import add_account, load_accounts
from labelwise.labels.store import LabelStore

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300


@pytest.fixture(autouse=True)
def _own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("LABELWISE_DATA_DIR", "LABELWISE_DEMO", "LABELWISE_AUTH",
                 "LABELWISE_DATA_ROOTS"):
        monkeypatch.delenv(name, raising=False)


def session(pack: str = "digits", page: str = "views/label.py", user=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset_source"] = Source("pack", pack)
    if user is not None:
        at.session_state["labelwise_user"] = user
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def label_once(at: AppTest) -> AppTest:
    at.button(key="cls_0").click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def team(tmp_path, monkeypatch):
    """Projects digits and moons with labels, then logins on; returns the accounts by name."""
    label_once(session("digits"))
    label_once(session("moons"))
    path = tmp_path / "accounts.toml"
    add_account(path, "vi", "viewer", "pw", ["digits"])
    add_account(path, "la", "labeler", "pw", ["digits"])
    add_account(path, "wide", "viewer", "pw", ["*"])
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    return {name: account.user() for name, account in load_accounts(path).items()}


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_a_viewer_sees_the_project_but_every_change_is_disabled(team):
    at = session(user=team["vi"])
    assert metric(at, "Labeled") == "1"
    assert "who" not in {w.key for w in at.sidebar.text_input}  # no name box with logins
    for key in ("cls_0", "cls_1", "skip_btn", "undo_btn", "add_class_btn"):
        assert at.button(key=key).disabled, key
    assert at.text_input(key="new_class").disabled
    assert any("not change it" in c.value for c in at.caption)
    at.sidebar.toggle(key="batch_mode").set_value(True).run()
    assert at.button(key="submit_batch").disabled


def test_a_labeler_labels_under_their_account_name_only_in_their_projects(team):
    at = label_once(session(user=team["la"]))
    assert metric(at, "Labeled") == "2"
    assert set(LabelStore().current_labels("digits")["who"]) == {"labeler", "la"}
    other = session("moons", user=team["la"])
    assert not other.metric  # refused before the project opens
    assert "not available to your account" in other.warning[0].value
    assert not any(b.key == "cls_0" for b in other.button)


def test_a_viewer_cannot_start_a_project(team):
    at = session("digits", user=team["wide"])
    at.sidebar.text_input(key="project_name::pack:digits").input("fresh").run()
    assert not at.metric
    assert [w.value for w in at.warning] == [
        "Project fresh has not been started, and your role cannot start a project: ask an "
        "administrator."]


def test_export_lists_only_visible_projects_without_the_store_path_or_downloads(team):
    at = session(page="views/export.py", user=team["la"])
    assert at.selectbox(key="export_project").options == ["digits"]
    assert not any("Label store" in c.value for c in at.caption)
    assert not at.get("download_button")
    assert metric(at, "Labeled items") == "1"


def test_data_page_offers_bringing_data_only_to_who_may(team, tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    assert session(page="views/data.py", user=team["la"]).radio(
        key="data_where").options == ["Built-in pack"]
    monkeypatch.delenv("LABELWISE_AUTH")
    assert session(page="views/data.py").radio(key="data_where").options == [
        "Built-in pack", "Upload a file", "Path on the server"]


def test_demo_visitors_never_see_each_others_sandbox(monkeypatch):
    monkeypatch.setenv("LABELWISE_DEMO", "1")
    one = label_once(session())
    first = one.session_state["labelwise_user"]
    assert {p.name for p in LabelStore().list_projects()} == {f"{first.sandbox}/digits"}
    two = session()
    assert metric(two, "Labeled") == "0"  # their own fresh sandbox
    label_once(two)
    export = two.switch_page("views/export.py").run()
    second = two.session_state["labelwise_user"]
    assert export.selectbox(key="export_project").options == [f"{second.sandbox}/digits"]
    assert {b.proto.label for b in export.get("download_button")} >= {"CSV"}
    data = two.switch_page("views/data.py").run()
    assert data.radio(key="data_where").options == ["Built-in pack"]


def test_an_upload_belongs_to_its_session_and_goes_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    (tmp_path / "texts.csv").write_text("text,label\n" + "".join(
        f"text number {i},{'ab'[i % 2]}\n" for i in range(20)))
    at = session(page="views/data.py")
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(str(tmp_path / "texts.csv")).run()
    at.button(key="byo_load").click().run()
    assert not at.exception and not at.error
    source = at.session_state["dataset_source"]
    assert source.kind == "custom"
    assert source.name in at.session_state["_custom_datasets"]
    # Another session cannot open it: the dataset lives in the first session's state only.
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.session_state["dataset_source"] = source
    other.switch_page("views/data.py").run()
    assert not other.exception
    assert other.session_state["dataset_source"] != source


def test_long_embedding_asks_first_with_an_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    rows = 100_000  # at the measured 442 texts/s: about 4 minutes
    (tmp_path / "many.csv").write_text("text,label\n" + "".join(
        f"text {i},{'ab'[i % 2]}\n" for i in range(rows)))
    at = session(page="views/data.py")
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(str(tmp_path / "many.csv")).run()
    assert not at.exception and not at.error
    assert at.button(key="byo_load").disabled
    ask = at.checkbox(key="byo_confirm")
    assert ask.label == "Yes, embed them: about 4 minutes to embed 100,000 texts"
    ask.check().run()
    assert not at.button(key="byo_load").disabled


def test_short_embedding_does_not_ask(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    (tmp_path / "few.csv").write_text("text,label\nhello,a\nworld,b\n")
    at = session(page="views/data.py")
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(str(tmp_path / "few.csv")).run()
    assert not any(c.key == "byo_confirm" for c in at.checkbox)
    assert not at.button(key="byo_load").disabled
