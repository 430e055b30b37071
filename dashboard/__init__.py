"""Streamlit front end (``labelwise.dashboard``): thin pages over the public ``labelwise`` API."""

if __name__ != "labelwise.dashboard":  # pragma: no cover - guards a checkout's folder name
    raise ImportError(
        f"this folder is the package 'labelwise.dashboard' (imported here as {__name__!r}); "
        "install labelwise with `pip install -e .`")
