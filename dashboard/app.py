"""labelwise dashboard entry point: ``streamlit run dashboard/app.py``."""

import time

import streamlit as st

# Start of this run, for the Label page's server-time read-out (benchmarks/label_click.py).
st.session_state["timing_run_start"] = time.perf_counter()

st.set_page_config(page_title="labelwise", page_icon=":material/label:", layout="wide")

PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/database:"),
    st.Page("views/label.py", title="Label", icon=":material/label:", default=True),
    st.Page("views/compare.py", title="Compare", icon=":material/monitoring:"),
    st.Page("views/explore.py", title="Explore", icon=":material/scatter_plot:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
]

st.navigation(PAGES).run()
