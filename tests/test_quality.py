"""Label quality: review queue (leave-one-out), near-duplicates, more like this, content hashes.

Every definition is checked against a from-scratch computation on small inputs: the
leave-one-out vote against a session rebuilt without the item, the graph's leave-one-out rows
against a model rebuilt without the label, duplicate groups against all pairs and a union-find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import InvalidInputError, LabelingSession, UnknownItemError
from labelwise.data.datasets import Dataset
from labelwise.data.duplicates import content_hash, content_hashes, exact_duplicate_groups
from labelwise.engine.graph import GraphModel, PoolGraph
from labelwise.engine.index import NeighborIndex
from labelwise.engine.quality import (
    SUSPECT_COLUMNS,
    choose_k,
    groups_of_pairs,
    knn_loo,
    more_like_this,
    near_duplicate_groups,
    nearest_similarities,
    similar_pairs,
    suggest_threshold,
    suspect_labels,
)


def tied_vectors(n: int, d: int, seed: int) -> np.ndarray:
    """Small-integer vectors with repeated rows, so similarities tie on purpose."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-2, 3, size=(n // 2, d)).astype(np.float32)
    base[np.all(base == 0, axis=1), 0] = 1.0
    return np.concatenate([base, base[rng.integers(0, len(base), n - len(base))]])


def clustered(n_per: int, centers: int, d: int, seed: int, spread: float = 0.15):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((centers, d))
    X = np.concatenate([mu[c] + spread * rng.standard_normal((n_per, d)) for c in range(centers)])
    y = np.repeat([f"c{c}" for c in range(centers)], n_per)
    return X.astype(np.float32), y


@pytest.mark.parametrize("weights", ["uniform", "similarity"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knn_loo_equals_session_without_the_item(weights: str, seed: int) -> None:
    X = tied_vectors(40, 4, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(40)[:25]
    labels = rng.choice(["a", "b", "c"], size=25)
    full = LabelingSession(X, "random", k=3, weights=weights, model="knn")
    full.label_many(order, labels)
    view = full.view()
    items = view.labeled
    loo = knn_loo(view.vectors, items, view.codes[items], view.n_classes, k=3, weights=weights)
    for j, item in enumerate(items):
        rest = LabelingSession(X, "random", k=3, weights=weights, model="knn")
        for cls in full.classes:  # the same class columns as the full session
            rest.add_class(cls)
        keep = [i for i in items if i != item]
        rest.label_many(keep, [full.labels[int(i)] for i in keep])
        np.testing.assert_allclose(loo.proba[j], rest.predict_proba([int(item)])[0], atol=1e-12)
        expected = rest.predict([int(item)])[0]
        assert full.classes[loo.predicted[j]] == expected


def test_suspect_labels_puts_planted_flips_first() -> None:
    X, y = clustered(30, 3, 8, seed=3)
    labels = y.copy()
    flipped = [5, 40, 77]
    labels[5], labels[40], labels[77] = "c1", "c2", "c0"
    session = LabelingSession(X, "random", k=5)
    session.label_many(range(len(X)), labels)
    queue = suspect_labels(session)
    assert tuple(queue.columns) == SUSPECT_COLUMNS
    assert len(queue) == len(X)
    assert set(queue["item"].head(3)) == set(flipped)
    assert queue["rank"].tolist() == list(range(1, len(X) + 1))
    assert (queue["score"].diff().dropna() >= -1e-12).all()
    top = queue.iloc[0]
    assert top["score"] == 0.0 and top["suggested"] == y[top["item"]]
    assert "nearest other labels" in top["reason"]
    # The view gives the same queue as the session.
    pd.testing.assert_frame_equal(suspect_labels(session.view()), queue)


@pytest.mark.parametrize("seed", [0, 1])
def test_suspect_labels_order_ties_by_counter_vote_then_label_order(seed: int) -> None:
    # Repeated small-integer vectors and three labels: many equal scores on purpose.
    X = tied_vectors(40, 3, seed)
    rng = np.random.default_rng(seed)
    picks = rng.permutation(40)[:30]
    session = LabelingSession(X, "random", k=4, model="knn")
    session.label_many(picks, rng.choice(["a", "b", "c"], size=30))
    view = session.view()
    items = view.labeled
    loo = knn_loo(view.vectors, items, view.codes[items], view.n_classes, k=4)
    position = {int(i): n for n, i in enumerate(items)}
    rows = np.arange(len(items))
    score = loo.proba[rows, view.codes[items]]
    counter = loo.proba[rows, loo.predicted]
    expected = sorted(items.tolist(), key=lambda i: (round(score[position[i]], 9),
                                                     -round(counter[position[i]], 9),
                                                     position[i]))
    queue = suspect_labels(session, k=4, weights="uniform")
    assert queue["item"].tolist() == expected
    assert queue["score"].round(9).duplicated().any()  # the ties really happen


def test_suspect_labels_edge_cases() -> None:
    X, _ = clustered(5, 2, 4, seed=0)
    session = LabelingSession(X, "random")
    assert suspect_labels(session).empty
    session.label(0, "x")
    only = suspect_labels(session)
    assert only["suggested"].tolist() == [None] and only["score"].tolist() == [0.0]
    with pytest.raises(InvalidInputError, match="k must be"):
        suspect_labels(session, k=0)
    with pytest.raises(InvalidInputError, match="model must be"):
        suspect_labels(session, model="forest")
    with pytest.raises(InvalidInputError, match="LabelingSession"):
        suspect_labels(np.zeros(3))


def test_choose_k_prefers_the_best_loo_accuracy_and_smaller_on_ties() -> None:
    X, y = clustered(20, 3, 6, seed=1)
    session = LabelingSession(X, "random")
    session.label_many(range(len(X)), y)
    view = session.view()
    items = view.labeled
    k = choose_k(view.vectors, items, view.codes[items], view.n_classes, candidates=(3, 5))
    assert k == 3  # both are perfect on well-separated clusters: the smaller wins


def test_graph_loo_equals_model_rebuilt_without_the_label() -> None:
    X, y = clustered(15, 3, 6, seed=4, spread=0.4)
    session = LabelingSession(X, "random")
    picks = np.random.default_rng(0).permutation(len(X))[:20]
    session.label_many(picks, y[picks])
    graph = PoolGraph.build(session.vectors)
    codes = session.view().codes
    model = GraphModel(graph, tol=1e-9)
    for item in session.labeled:
        model.add(int(item), int(codes[item]))
    queue = suspect_labels(session, model="graph", graph_model=model)
    for _, row in queue.iterrows():
        rest = GraphModel(graph, tol=1e-9)
        for item in session.labeled:
            if item != row["item"]:
                rest.add(int(item), int(codes[item]))
        raw = rest.scores([row["item"]], len(session.classes))[0]
        expected = raw[session.classes.index(row["label"])] / raw.sum() if raw.sum() else 0.0
        assert row["score"] == pytest.approx(expected, abs=1e-6)


def test_graph_model_is_built_when_the_session_has_none() -> None:
    X, y = clustered(10, 2, 5, seed=5)
    session = LabelingSession(X, "random")
    session.label_many(range(len(X)), y)
    built = suspect_labels(session, model="graph")
    model = GraphModel(PoolGraph.build(session.vectors))
    for item in session.labeled:
        model.add(int(item), int(session.view().codes[item]))
    pd.testing.assert_frame_equal(built, suspect_labels(session, model="graph",
                                                        graph_model=model))


def test_graph_is_used_when_the_session_says_so() -> None:
    X, y = clustered(10, 2, 5, seed=2)
    session = LabelingSession(X, "random")
    session.label_many(range(len(X)), y)
    graph = GraphModel(PoolGraph.build(session.vectors))
    for item in session.labeled:
        graph.add(int(item), int(session.view().codes[item]))

    class GraphSession:  # what the session will expose once it carries a graph model
        model_name = "graph"
        graph_model = graph

        def view(self):
            return session.view()

    queue = suspect_labels(GraphSession())
    assert queue["reason"].str.contains("label spreading").all()


# -- near-duplicates ------------------------------------------------------------------------------
def brute_groups(X: np.ndarray, threshold: float) -> list[list[int]]:
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = unit @ unit.T
    parent = list(range(len(X)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a in range(len(X)):
        for b in range(a + 1, len(X)):
            if sims[a, b] >= threshold:
                parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(X)):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))


@pytest.mark.parametrize("seed", [0, 1])
# Thresholds between the attainable similarities, so float32 rounding cannot decide a pair.
@pytest.mark.parametrize("threshold", [0.79, 0.949, 0.9999])
def test_near_duplicate_groups_equal_all_pairs_components(seed: int, threshold: float) -> None:
    X = tied_vectors(60, 3, seed)
    groups = near_duplicate_groups(X, threshold, n_neighbors=59)
    assert [g.tolist() for g in groups] == brute_groups(X, threshold)


def test_near_duplicates_through_hnsw_find_planted_copies() -> None:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 32)).astype(np.float32)
    X[300:310] = X[:10] + 1e-3 * rng.standard_normal((10, 32)).astype(np.float32)
    index = NeighborIndex(X / np.linalg.norm(X, axis=1, keepdims=True), exact_threshold=50)
    assert not index.exact
    groups = near_duplicate_groups(None, 0.99, index=index)
    assert [g.tolist() for g in groups] == [[i, 300 + i] for i in range(10)]
    pairs = similar_pairs(None, 0.99, index=index)
    assert pairs[["a", "b"]].values.tolist() == sorted(
        [[i, 300 + i] for i in range(10)], key=lambda p: -pairs.set_index(
            ["a", "b"]).loc[tuple(p), "similarity"])


def test_groups_of_filtered_pairs_equal_a_new_search() -> None:
    X = tied_vectors(60, 3, 4)
    candidates = similar_pairs(X, 0.5, n_neighbors=59)
    for threshold in (0.79, 0.949):
        kept = candidates[candidates["similarity"] >= threshold]
        assert [g.tolist() for g in groups_of_pairs(kept, len(X))] == [
            g.tolist() for g in near_duplicate_groups(X, threshold, n_neighbors=59)]


def test_suggested_threshold_separates_copies_from_the_bulk() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 16)).astype(np.float32)
    X[450:470] = X[:20] + 1e-3 * rng.standard_normal((20, 16)).astype(np.float32)
    top1 = nearest_similarities(X)
    threshold = suggest_threshold(top1=top1)
    bulk = np.delete(top1, np.r_[0:20, 450:470])
    assert bulk.max() < threshold < top1[:20].min()
    groups = near_duplicate_groups(X, threshold)
    assert [g.tolist() for g in groups] == [[i, 450 + i] for i in range(20)]
    assert suggest_threshold(X) == threshold


def test_duplicate_input_errors() -> None:
    X = np.eye(3, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="cosine similarity"):
        near_duplicate_groups(X, 1.5)
    with pytest.raises(InvalidInputError, match="number"):
        similar_pairs(X, "high")
    with pytest.raises(InvalidInputError, match="at least 2"):
        suggest_threshold(top1=np.array([0.5]))
    assert near_duplicate_groups(X, 0.5) == []


# -- more like this -------------------------------------------------------------------------------
def test_more_like_this_matches_brute_force_and_skips_labeled() -> None:
    X = tied_vectors(50, 4, 3)
    session = LabelingSession(X, "random")
    session.label_many([1, 2, 3], ["a", "b", "a"])
    got = more_like_this(session, 0, n=8)
    unit = session.vectors
    sims = unit @ unit[0]
    candidates = [i for i in range(50) if i not in (0, 1, 2, 3)]
    expected = sorted(candidates, key=lambda i: (-sims[i], i))[:8]
    assert got["item"].tolist() == expected
    np.testing.assert_allclose(got["similarity"], sims[expected])
    by_vector = more_like_this(session, X[0] * 3.0, n=8)  # scale does not matter
    assert 0 in by_vector["item"].tolist()  # a vector query does not leave item 0 out
    with_labeled = more_like_this(session, 0, n=49, include_labeled=True)
    assert {1, 2, 3} <= set(with_labeled["item"])
    with pytest.raises(UnknownItemError):
        more_like_this(session, 99)
    with pytest.raises(InvalidInputError, match="dimensions"):
        more_like_this(session, np.ones(7))
    with pytest.raises(InvalidInputError, match="positive"):
        more_like_this(session, 0, n=0)


# -- exact duplicates (content hashes) ------------------------------------------------------------
def test_content_hashes_group_equal_bytes_and_texts(tmp_path) -> None:
    texts = ["Great movie", "great  movie", "Great movie", "other", "other"]
    data = Dataset("t", np.eye(5, dtype=np.float32), None,
                   pd.DataFrame({"id": list("abcde"), "text": texts}), "text")
    assert [g.tolist() for g in exact_duplicate_groups(data)] == [[0, 2], [3, 4]]
    assert [g.tolist() for g in exact_duplicate_groups(data, normalize_text=True)] == [
        [0, 1, 2], [3, 4]]
    (tmp_path / "x.png").write_bytes(b"\x89PNG same")
    images = Dataset("i", np.eye(3, dtype=np.float32), None, pd.DataFrame(
        {"id": ["1", "2", "3"], "image": [b"\x89PNG same", str(tmp_path / "x.png"), b"other"]}),
        "image")
    hashes = content_hashes(images)
    assert hashes[0] == hashes[1] != hashes[2]
    # Bytes and a text with the same characters are different content.
    assert content_hash(b"abc") != content_hash("abc")
    with pytest.raises(InvalidInputError, match="cannot read"):
        content_hashes(Dataset("m", np.eye(1, dtype=np.float32), None, pd.DataFrame(
            {"id": ["1"], "image": [str(tmp_path / "missing.png")]}), "image"))
    with pytest.raises(InvalidInputError, match="no image or text column"):
        exact_duplicate_groups(Dataset("p", np.eye(1, dtype=np.float32), None,
                                       pd.DataFrame({"id": ["1"], "x": [0.0]}), "points"))
