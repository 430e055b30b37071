"""``labelwise simulate`` end to end: a built-in pack and a user's pack folder."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelwise.cli.main import main
from labelwise.data.packs import write_pack
from labelwise.engine.strategy import expand_strategies


def test_auto_runs_from_the_command_line_and_keeps_its_settings(tmp_path):
    strategies = expand_strategies("auto,U*I*D", uncertainty="entropy", density="knn")
    assert [s.label for s in strategies] == ["auto (entropy, knn density)",
                                             "U*I*D (entropy, knn density)"]
    out = tmp_path / "results"
    code = main(["simulate", "--dataset", "digits", "--strategies", "auto", "--folds", "2",
                 "--budget", "15", "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert table["strategy"].unique().tolist() == ["random", "auto (margin, knn density)"]
    auto = table[table["strategy"].str.startswith("auto")]
    assert auto["classes_seen"].max() > 1 and auto["accuracy"].notna().all()


def test_simulate_digits_writes_table_summary_and_chart(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["simulate", "--dataset", "digits", "--strategies", "U*I*D,U",
                 "--folds", "2", "--budget", "12", "--target", "0.5", "--out", str(out),
                 "--seed", "3", "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == ["strategy", "fold", "n_labeled", "model", "accuracy", "f1",
                                   "classes_seen", "seconds", "stop_at", "accuracy_at_stop"]
    assert table["model"].isin(["knn", "graph"]).all()  # the default model is auto
    assert table["strategy"].unique().tolist() == [
        "random", "U*I*D (margin, knn density)", "U (margin)"]
    assert len(table) == 3 * 2 * 13
    summary = (out / "summary.md").read_text()
    assert "| strategy | folds | labels to 0.5 |" in summary
    assert "| random | 2 |" in summary
    with Image.open(out / "curves.png") as png:
        assert png.format == "PNG" and png.width > 400
    assert "vega" in (out / "curves.html").read_text()
    assert "summary.md" in capsys.readouterr().out


def test_simulate_a_user_pack_folder_with_group_split(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    vectors = rng.normal(size=(2, 8))[y] + rng.normal(scale=0.8, size=(120, 8))
    folder = write_pack(tmp_path / "mine", name="mine", kind="points",
                        vectors=vectors.astype(np.float32),
                        items=pd.DataFrame({"id": [f"p{i}" for i in range(120)]}),
                        labels=np.array(["no", "yes"], dtype=object)[y],
                        groups=np.arange(120) // 3, vector_dtype="float32")
    out = tmp_path / "out"
    code = main(["simulate", "--dataset", str(folder), "--split", "group", "--folds", "3",
                 "--budget", "5", "--batch", "2", "--format", "parquet", "--out", str(out),
                 "--quiet", "--jobs", "2"])
    assert code == 0
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table["n_labeled"].unique()) == [2, 4, 6, 7]


def test_simulate_a_users_embeddings_csv(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    vectors = rng.normal(size=(3, 6))[y] + rng.normal(scale=0.8, size=(90, 6))
    table = pd.DataFrame(vectors, columns=[f"v{i}" for i in range(6)])
    table.insert(0, "answer", np.array(["a", "b", "c"])[y])
    table.insert(0, "id", [f"row{i}" for i in range(90)])
    table.to_csv(tmp_path / "mine.csv", index=False)
    out = tmp_path / "out"
    code = main(["simulate", "--dataset", str(tmp_path / "mine.csv"), "--label-column",
                 "answer", "--folds", "2", "--budget", "4", "--out", str(out), "--quiet"])
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert results["n_labeled"].max() == 6 and len(results) == 2 * 2 * 5


def test_bad_options_give_a_clear_error(tmp_path, capsys):
    code = main(["simulate", "--dataset", "digits", "--split", "group", "--out",
                 str(tmp_path), "--quiet"])
    assert code == 2
    assert "groups" in capsys.readouterr().err
    code = main(["simulate", "--dataset", "no-such-pack", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "no-such-pack" in capsys.readouterr().err
    code = main(["simulate", "--dataset", "digits", "--uncertainty", "gini", "--quiet",
                 "--out", str(tmp_path)])
    assert code == 2
    assert "gini" in capsys.readouterr().err


def test_uncertainty_and_density_options_multiply_strategies():
    labels = [s.label for s in expand_strategies("random,U,I*D,U*I*D",
                                                 uncertainty="margin,entropy",
                                                 density="knn,global")]
    assert labels == [
        "random", "U (margin)", "U (entropy)", "I*D (knn density)", "I*D (global density)",
        "U*I*D (margin, knn density)", "U*I*D (margin, global density)",
        "U*I*D (entropy, knn density)", "U*I*D (entropy, global density)"]


def test_simulate_model_option_reaches_the_sessions(tmp_path, capsys):
    out = tmp_path / "graph"
    code = main(["simulate", "--dataset", "moons", "--strategies", "U", "--folds", "2",
                 "--budget", "12", "--model", "graph", "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert (table["model"] == "graph").all()
    assert "model graph" in (out / "summary.md").read_text()
    with pytest.raises(SystemExit):
        main(["simulate", "--dataset", "moons", "--model", "svm", "--quiet"])
    assert "invalid choice: 'svm'" in capsys.readouterr().err
