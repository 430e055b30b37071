"""export page (being built)."""

import streamlit as st

st.title("Export")
st.write("This page is being built.")
