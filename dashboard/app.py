"""labelwise dashboard entry point: ``labelwise dashboard`` (or ``streamlit run dashboard/app.py``).

Before any page runs, :func:`labelwise.dashboard.auth.login_gate` decides who this session is
(a local user, a logged-in account, or a demo visitor) and stops the run at the login screen
until then; pages read that user with ``auth.current_user()`` and ask ``auth.can(...)``.
"""

import time

import streamlit as st

from labelwise import LabelwiseError, load_scorer_modules
from labelwise.dashboard import auth

# Start of this run, for the Label page's server-time read-out (benchmarks/label_click.py).
st.session_state["timing_run_start"] = time.perf_counter()

st.set_page_config(page_title="labelwise", page_icon=":material/label:", layout="wide")

# Scorers of the user's own modules (LABELWISE_SCORERS=module,...) join U, I and D on the Label
# and Compare pages; a module is imported once per server, later runs find it in sys.modules.
try:
    load_scorer_modules()
except LabelwiseError as exc:
    st.error(str(exc), icon=":material/error:")

auth.login_gate()

PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/database:"),
    # The labeling card is the Label page; the classic page keeps what the card does not
    # have yet (strategy settings, batch forms, charts, neighbours, disagreements). URL paths
    # stay the files' names (label_card, label): AppTest's switch_page finds pages by them.
    st.Page("views/label_card.py", title="Label", icon=":material/label:", default=True),
    st.Page("views/label.py", title="Label (classic)", icon=":material/tune:"),
    st.Page("views/compare.py", title="Compare", icon=":material/monitoring:"),
    st.Page("views/explore.py", title="Explore", icon=":material/scatter_plot:"),
    st.Page("views/review.py", title="Review", icon=":material/rule:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
]

st.navigation(PAGES).run()
