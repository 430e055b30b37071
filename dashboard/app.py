"""labelwise dashboard entry point: ``streamlit run dashboard/app.py``."""

import streamlit as st

st.set_page_config(page_title="labelwise", layout="wide")


def home() -> None:
    st.title("labelwise")
    st.write("Active learning over pre-trained embeddings. The pages are being built.")


st.navigation([st.Page(home, title="Home", default=True)]).run()
