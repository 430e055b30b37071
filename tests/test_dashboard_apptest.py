"""Page logic of the dashboard, run by Streamlit's AppTest against the real app and packs.

Each test works in its own folder (the label store goes to ./labelwise-data there) and opens
a small built-in pack (digits or moons) to stay quick; the browser test covers fruits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labelwise.dashboard.state import Source
from labelwise.labels.store import LabelStore

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300


@pytest.fixture(autouse=True)
def _own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)


def open_app(pack: str = "digits", page: str | None = "views/label.py") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset_source"] = Source("pack", pack)
    if page is not None:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str):
    return next(m.value for m in at.metric if m.label == label)


def current_item(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("item "))


# -- Label --------------------------------------------------------------------------------
def test_label_click_counts_updates_accuracy_and_undo_restores_the_item():
    at = open_app()
    assert metric(at, "Labeled") == "0"
    assert metric(at, "Holdout accuracy") == "—"
    first = current_item(at)
    at.button(key="cls_0").click().run()
    assert metric(at, "Labeled") == "1"
    assert metric(at, "Holdout accuracy").endswith("%")
    assert current_item(at) != first
    at.button(key="cls_1").click().run()
    assert metric(at, "Labeled") == "2"
    at.button(key="undo_btn").click().run()
    at.button(key="undo_btn").click().run()
    assert metric(at, "Labeled") == "0"
    assert current_item(at) == first
    assert not at.exception


def test_labels_are_committed_to_the_store_and_resume_in_a_new_tab():
    at = open_app()
    for n in range(3):
        at.button(key=f"cls_{n}").click().run()
    store = LabelStore()
    assert len(store.current_labels("digits")) == 3
    fresh_tab = open_app()
    assert metric(fresh_tab, "Labeled") == "3"


def test_other_labelers_labels_appear_on_rerun_and_disagreements_are_listed():
    ana, ben = open_app(), open_app()
    ben.text_input(key="who").input("ben").run()
    ana.button(key="cls_0").click().run()
    ben.run()
    assert metric(ben, "Labeled") == "1"
    labeled_id = LabelStore().current_labels("digits")["item_id"].iloc[0]
    # Ben relabels the same item differently, straight through the store.
    LabelStore().record("digits", labeled_id, "label", "9", who="ben")
    ana.run()
    expander = next(e for e in ana.expander if e.label.startswith("Disagreements"))
    assert expander.label.endswith("(1 items)")


def test_skip_moves_on_and_undo_brings_the_item_back():
    at = open_app()
    first = current_item(at)
    at.button(key="skip_btn").click().run()
    assert metric(at, "Skipped") == "1"
    assert current_item(at) != first
    at.button(key="undo_btn").click().run()
    assert metric(at, "Skipped") == "0"
    assert current_item(at) == first


def test_strategy_toggles_change_the_strategy():
    at = open_app()
    assert metric(at, "Strategy").replace("\\", "") == "U*I*D"
    at.checkbox(key="use_I").uncheck().run()
    assert metric(at, "Strategy").replace("\\", "") == "U*D"
    at.checkbox(key="use_U").uncheck().run()
    at.checkbox(key="use_D").uncheck().run()
    assert metric(at, "Strategy") == "random"
    at.selectbox(key="uncertainty").select("margin").run()
    at.number_input(key="k").set_value(7).run()
    at.button(key="cls_0").click().run()
    assert metric(at, "Labeled") == "1"
    assert not at.exception


def test_auto_says_which_mix_picked_the_item_and_why():
    at = open_app()
    at.toggle(key="use_auto").set_value(True).run()
    assert metric(at, "Strategy") == "auto"
    assert at.checkbox(key="use_I").disabled
    for n in range(12):
        at.button(key=f"cls_{n % 3}").click().run()
    assert metric(at, "Labeled") == "12"
    picked = [m.value for m in at.markdown if m.value.startswith("Picked by")]
    assert len(picked) == 1 and "U" in picked[0] and "(auto)" in picked[0]
    assert any("of the pool has a labeled item" in c.value for c in at.caption)
    assert not at.exception


def test_new_class_gets_a_button():
    at = open_app()
    n_buttons = sum(1 for b in at.button if (b.key or "").startswith("cls_"))
    at.text_input(key="new_class").input("smudge").run()
    at.button(key="add_class_btn").click().run()
    buttons = [b for b in at.button if (b.key or "").startswith("cls_")]
    assert len(buttons) == n_buttons + 1
    assert buttons[-1].label.startswith("smudge")
    buttons[-1].click().run()
    assert metric(at, "Labeled") == "1"


def test_batch_mode_labels_several_items_at_once_and_reserves_them():
    at = open_app()
    at.toggle(key="batch_mode").set_value(True).run()
    at.slider(key="batch_size").set_value(4).run()
    boxes = [s for s in at.selectbox if (s.key or "").startswith("batch_")]
    assert len(boxes) == 4
    assert len(LabelStore().reservations("digits")) == 4
    for box in boxes:
        box.select("3")
    at.button(key="submit_batch").click().run()
    assert metric(at, "Labeled") == "4"
    assert set(LabelStore().current_labels("digits")["label"]) == {"3"}


def batch_boxes(at: AppTest) -> list:
    return [s for s in at.selectbox if (s.key or "").startswith("batch_")]


def test_batch_answers_start_empty_with_hints_and_only_chosen_ones_are_stored():
    at = open_app()
    at.toggle(key="batch_mode").set_value(True).run()
    at.slider(key="batch_size").set_value(4).run()
    boxes = batch_boxes(at)
    assert [b.value for b in boxes] == [None] * 4  # nothing pre-filled, even before labels
    assert not [c for c in at.caption if c.value.startswith("model says:")]
    boxes[0].select("7")
    boxes[1].select("(skip)")
    at.button(key="submit_batch").click().run()  # boxes 2 and 3 left empty
    assert not at.exception, at.exception
    store = LabelStore()
    current = store.current_labels("digits")
    assert current["label"].tolist() == ["7"]
    assert store.events("digits")["action"].tolist() == ["label", "skip"]
    assert metric(at, "Labeled") == "1"

    # With a label the model has hints; still every new box starts empty.
    boxes = batch_boxes(at)
    assert len(boxes) == 4 and [b.value for b in boxes] == [None] * 4
    hints = [c.value.removeprefix("model says: ") for c in at.caption
             if c.value.startswith("model says:")]
    assert hints == ["7"] * 4  # one class labeled: the model says it everywhere
    at.button(key="accept_hints").click().run()
    assert [b.value for b in batch_boxes(at)] == ["7"] * 4
    assert len(store.current_labels("digits")) == 1  # accepting is not submitting
    at.button(key="submit_batch").click().run()
    assert not at.exception, at.exception
    assert metric(at, "Labeled") == "5"
    assert store.current_labels("digits")["label"].tolist() == ["7"] * 5


def test_texts_are_shown_as_plain_text(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    rows = [("id", "text", "label"),
            ("a", "<script>alert(1)</script> **bold**", "x"),
            *[(f"r{i}", f"plain text number {i}", "y" if i % 2 else "x") for i in range(30)]]
    with open(tmp_path / "texts.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    at = open_app(page="views/data.py")
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(str(tmp_path / "texts.csv")).run()
    at.button(key="byo_load").click().run()
    assert not at.exception and not at.error
    assert metric(at, "Items") == "31"
    at.switch_page("views/label.py").run()
    assert not at.exception
    # st.text elements carry the string verbatim; nothing went through Markdown or HTML.
    assert all(not m.value.count("<script>") for m in at.markdown)
    for _ in range(31):
        shown = [t.value for t in at.text]
        if any("<script>" in t for t in shown):
            assert "<script>alert(1)</script> **bold**" in shown
            break
        at.button(key="cls_0").click().run()
    else:
        pytest.fail("the HTML text was never suggested")


def test_switching_dataset_opens_that_datasets_own_project():
    at = open_app("digits")
    at.button(key="cls_0").click().run()
    at.switch_page("views/data.py").run()
    at.selectbox(key="pack_choice").select("moons").run()
    at.button(key="open_pack").click().run()
    at.switch_page("views/label.py").run()
    assert not at.exception and not at.error
    assert metric(at, "Labeled") == "0"
    at.button(key="cls_0").click().run()
    assert {p.name for p in LabelStore().list_projects()} == {"digits", "moons"}


@pytest.mark.parametrize("pack", ["fruits", "sentiment140", "digits", "moons"])
def test_every_page_works_on_every_pack(pack):
    at = open_app(pack)
    assert at.title[0].value == f"Label · {pack}"
    at.button(key="cls_0").click().run()
    assert metric(at, "Labeled") == "1"
    assert metric(at, "Holdout accuracy").endswith("%")
    for page in ("views/data.py", "views/compare.py", "views/export.py", "views/explore.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
    at.button(key="exp_step_1").click().run()
    assert metric(at, "Picks by the strategy") == "1"


# -- Data ---------------------------------------------------------------------------------
def test_data_page_shows_size_classes_and_errors_as_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_DATA_ROOTS", str(tmp_path))
    at = open_app("moons", page="views/data.py")
    assert metric(at, "Items") == "1,000"
    assert metric(at, "Classes") == "2"
    at.radio(key="data_where").set_value("Path on the server").run()
    at.text_input(key="byo_path").input(str(tmp_path / "no-such-file.csv")).run()
    assert "not available" in at.error[0].value
    assert not at.exception


# -- Compare ------------------------------------------------------------------------------
def test_compare_runs_small_and_the_target_slider_does_not_rerun_it():
    at = open_app("moons", page="views/compare.py")
    at.number_input(key="cmp_folds").set_value(2)
    at.number_input(key="cmp_budget").set_value(10)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    saved = at.session_state["compare_results"]
    results = saved["results"]
    assert set(results["strategy"]) >= {"random"}
    assert results["fold"].nunique() == 2
    table = at.dataframe[0].value
    assert "efficiency" in table.columns and "aulc" in table.columns
    at.slider(key="cmp_target").set_value(0.7).run()
    assert at.session_state["compare_results"]["results"] is results
    assert "labels to 70%" in str(at.dataframe[0].proto)
    assert any(b.proto.label == "Download results (CSV)" for b in at.get("download_button"))


# -- Explore ------------------------------------------------------------------------------
def test_explore_steps_an_oracle_run():
    at = open_app("moons", page="views/explore.py")
    assert metric(at, "Picks by the strategy") == "0"
    at.button(key="exp_step_1").click().run()
    assert metric(at, "Picks by the strategy") == "1"
    at.button(key="exp_step_10").click().run()
    assert metric(at, "Picks by the strategy") == "11"
    assert metric(at, "Labeled by the oracle") == "13"
    at.button(key="exp_reset").click().run()
    assert metric(at, "Picks by the strategy") == "0"
    assert not at.exception


# -- Export -------------------------------------------------------------------------------
def test_export_offers_every_format_after_labeling():
    at = open_app()
    for n in range(3):
        at.button(key=f"cls_{n}").click().run()
    at.switch_page("views/export.py").run()
    assert not at.exception
    assert metric(at, "Labeled items") == "3"
    labels = {b.proto.label for b in at.get("download_button")}
    # The export page may offer more formats (its own tests list them all).
    assert labels >= {"CSV", "JSON Lines", "Label Studio tasks (JSON)", "kNN model (.npz)"}
