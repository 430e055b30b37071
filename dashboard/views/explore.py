"""explore page (being built)."""

import streamlit as st

st.title("Explore")
st.write("This page is being built.")
