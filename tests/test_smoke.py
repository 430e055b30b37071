import numpy as np

from core import LabelingSession


def test_session_labels_and_suggests():
    X = np.eye(4, dtype=np.float32)
    session = LabelingSession(X, "U*D", seed=0)
    first = session.next()
    session.label(first, "a")
    assert session.next() != first
