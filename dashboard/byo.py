"""Bring your own data: upload a file or name a path on the server (via core.loaders)."""

from __future__ import annotations

import streamlit as st


def upload_form() -> None:
    st.info("Uploading your own data arrives with core.loaders.")


def path_form() -> None:
    st.info("Loading from a server path arrives with core.loaders.")
