"""Who is using the dashboard: the login gate ``app.py`` runs before ``st.navigation``.

One setting picks the mode (see ``labelwise dashboard --help`` and the README's "Deploying"):

* nothing set: a local single-user run, no login; the person is an admin who types their name;
* ``LABELWISE_AUTH=/path/accounts.toml`` (``--accounts``): built-in accounts with argon2
  password hashes (``labelwise accounts add``);
* an ``[auth]`` section in Streamlit's secrets: single sign-on through ``st.login`` (OIDC); with
  an accounts file as well, its entries (by e-mail) give the roles and only they get in;
* ``LABELWISE_DEMO=1`` (``--demo``): a public demo, every visitor in a private sandbox project.

Pages read the user with :func:`current_user` and ask :func:`labelwise.labels.accounts.can`.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import streamlit as st

from labelwise import (
    LabelwiseError,
    LoginThrottle,
    User,
    authenticate,
    can,
    load_accounts,
    visible_projects,
)
from labelwise.dashboard.widgets import escape_markdown

# The pages' whole permissions API, from one import: ``from labelwise.dashboard import auth``.
__all__ = ["User", "can", "current_user", "labeler_name", "login_gate", "project_for",
           "visible_projects"]

DEMO_ENV = "LABELWISE_DEMO"
AUTH_ENV = "LABELWISE_AUTH"
USER_KEY = "labelwise_user"
# Seconds a failed login waits before answering: slows guessing down even below the lock-out.
FAILED_LOGIN_DELAY = 1.0
REFUSED = ("Name or password not accepted. After 5 failed attempts a name is paused for 15 "
           "minutes.")


def demo_enabled() -> bool:
    return os.environ.get(DEMO_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def accounts_path() -> Path | None:
    value = os.environ.get(AUTH_ENV, "").strip()
    return Path(value).expanduser() if value else None


def oidc_configured() -> bool:
    """Whether the operator configured ``[auth]`` in Streamlit's secrets (for ``st.login``)."""
    try:
        return bool(st.secrets.load_if_toml_exists() and st.secrets.get("auth"))
    except (FileNotFoundError, LabelwiseError, ValueError, TypeError):
        return False


@st.cache_resource(show_spinner=False)
def _throttle() -> LoginThrottle:
    """One failed-login counter for the whole server (all sessions share it)."""
    return LoginThrottle()


@st.cache_data(show_spinner=False, max_entries=4)
def _accounts(path: str, modified_ns: int) -> dict:
    # Keyed by the file's modification time: an operator's edit applies on the next rerun.
    return load_accounts(path)


def _load_accounts(path: Path) -> dict:
    modified = path.stat().st_mtime_ns if path.exists() else -1
    return _accounts(str(path), modified)


def current_user() -> User:
    """The user of this session (set by :func:`login_gate`; a local admin before it runs)."""
    return st.session_state.get(USER_KEY) or User.local_user()


def labeler_name(user: User, typed: str | None = None) -> str:
    """The name recorded with a label: the logged-in account; typed only in a local run."""
    if user.local and typed and typed.strip():
        return typed.strip()
    return user.name


def project_for(user: User, name: str) -> str:
    """The project a user works in for ``name``: demo visitors get their sandbox's copy."""
    if user.sandbox is None or user.is_member(name):
        return name
    return f"{user.sandbox}/{name}"


def login_gate() -> User:
    """Decide who this session is; draws the login screen and stops the run until then."""
    path = accounts_path()
    if demo_enabled():
        user = _demo()
    elif oidc_configured():
        user = _single_sign_on(path)
    elif path is not None:
        user = _password_login(path)
    else:
        user = User.local_user()
    st.session_state[USER_KEY] = user
    _sidebar(user)
    return user


def _demo() -> User:
    user = st.session_state.get(USER_KEY)
    if user is None or user.sandbox is None:
        # Unguessable, so one visitor cannot open another visitor's sandbox.
        user = User.demo_visitor(secrets.token_hex(6))
    return user


def _refresh(user: User | None, known: dict) -> User | None:
    """The session's user with the file's current role, or None once their account is gone."""
    if user is None or user.local or user.sandbox is not None:
        return None
    account = known.get(user.name)
    return None if account is None else account.user()


def _password_login(path: Path) -> User:
    try:
        known = _load_accounts(path)
    except LabelwiseError as exc:
        st.error(f"The accounts file cannot be read: {exc}")
        st.stop()
    user = _refresh(st.session_state.get(USER_KEY), known)
    if user is not None:
        return user
    st.session_state.pop(USER_KEY, None)
    st.title("labelwise")
    with st.form("login"):
        name = st.text_input("Name", key="login_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        user = authenticate(known, name.strip(), password, _throttle())
        if user is not None:
            st.session_state[USER_KEY] = user
            st.rerun()
        time.sleep(FAILED_LOGIN_DELAY)
        st.error(REFUSED)
    st.stop()
    raise AssertionError("st.stop() ends the run")  # pragma: no cover


def _single_sign_on(path: Path | None) -> User:
    if not st.user.is_logged_in:
        st.title("labelwise")
        st.button("Log in", type="primary", on_click=st.login, key="login_sso")
        st.stop()
    name = str(st.user.get("email") or st.user.get("sub") or "")
    if path is None:
        # The identity provider decides who gets in; everyone labels every project.
        return User(name=name, role="labeler", projects=User.EVERY_PROJECT)
    account = _load_accounts(path).get(name)
    if account is None:
        st.title("labelwise")
        st.error("Your account has no access to this labelwise server: ask its administrator "
                 "to add you.")
        st.button("Log out", on_click=st.logout, key="logout_sso")
        st.stop()
    return account.user()


def log_out() -> None:
    st.session_state.pop(USER_KEY, None)
    if oidc_configured():
        st.logout()


def _sidebar(user: User) -> None:
    if user.local:
        return
    sb = st.sidebar
    if user.sandbox is not None:
        sb.caption("Public demo: your labels go to a private sandbox project that only this "
                   "browser tab can see.")
        return
    sb.caption(f"Signed in as **{escape_markdown(user.name)}** ({user.role})")
    sb.button("Log out", key="logout", on_click=log_out)
