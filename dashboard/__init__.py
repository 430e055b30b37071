"""Streamlit front end: thin pages over the `core` engine."""
