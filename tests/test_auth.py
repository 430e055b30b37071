"""Logins and roles: the accounts file, the permission table, failed logins, the login gate.

The permission check is compared with the table of the issue (admin: everything; labeler: the
projects they are a member of; viewer: read-only), written out case by case over every role,
membership, action and project. The login gate runs in the real app through AppTest.
"""

from __future__ import annotations

import io
import itertools
import stat
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labelwise.cli.main import main
from labelwise.dashboard.auth import REFUSED, project_for
from labelwise.dashboard.state import Source
from labelwise.errors import InvalidInputError
from labelwise.labels import accounts
from labelwise.labels.accounts import (
    ACTIONS,
    ALL_PROJECTS,
    LoginThrottle,
    User,
    add_account,
    authenticate,
    can,
    load_accounts,
    visible_projects,
)

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 300


# -- the accounts file ----------------------------------------------------------------------
def test_add_writes_an_argon2_hash_never_the_password_and_only_for_the_owner(tmp_path):
    path = tmp_path / "accounts.toml"
    add_account(path, "ana@example.org", "labeler", "correct horse", ["digits", "fruits"])
    add_account(path, "root", "admin", "s3cret")
    text = path.read_text()
    assert "correct horse" not in text and "s3cret" not in text
    assert text.count("$argon2id$") == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    known = load_accounts(path)
    assert known["ana@example.org"].projects == ("digits", "fruits")
    assert known["ana@example.org"].role == "labeler"
    assert accounts.verify(known, "ana@example.org", "correct horse") is not None
    assert accounts.verify(known, "ana@example.org", "correct horsE") is None


def test_changing_a_role_keeps_the_password_and_names_are_checked(tmp_path):
    path = tmp_path / "accounts.toml"
    add_account(path, "ben", "viewer", "pw-1")
    add_account(path, "ben", "labeler", None, ["*"])
    assert accounts.verify(load_accounts(path), "ben", "pw-1").role == "labeler"
    for bad in ("", "a b", "x" * 65, "-lead", 'quo"te', "new\nline"):
        with pytest.raises(InvalidInputError):
            add_account(path, bad, "viewer", "pw")
    with pytest.raises(InvalidInputError):
        add_account(path, "cy", "owner", "pw")


def test_a_broken_accounts_file_is_an_error_not_an_open_door(tmp_path):
    path = tmp_path / "accounts.toml"
    path.write_text("[accounts.ana\nrole = ")
    with pytest.raises(InvalidInputError):
        load_accounts(path)


def test_accounts_command_adds_lists_and_removes(tmp_path, monkeypatch, capsys):
    path = tmp_path / "team" / "accounts.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("pa ss\n"))
    assert main(["accounts", "add", "ana", "--role", "labeler", "--project", "digits",
                 "--file", str(path), "--password-stdin"]) == 0
    assert accounts.verify(load_accounts(path), "ana", "pa ss") is not None
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    capsys.readouterr()
    assert main(["accounts", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ana\tlabeler\tdigits\tpassword" in listing and "argon2" not in listing
    assert main(["accounts", "remove", "ana"]) == 0
    assert load_accounts(path) == {}
    assert main(["accounts", "remove", "ana"]) == 2


# -- permissions ----------------------------------------------------------------------------
PROJECTS = ["digits", "fruits", "demo-abc", "demo-abc/digits", "demo-abcd", None]


def expected(role: str, members: set[str], sandbox: str | None, action: str,
             project: str | None) -> bool:
    """The issue's table, one case at a time."""
    if role == "admin":
        return True
    if action == "study":
        return True
    if sandbox is not None:
        mine = project is not None and (project == sandbox or project.startswith(sandbox + "/"))
        return mine and action in {"view", "label", "export", "create"}
    member = "*" in members or project in members
    if role == "labeler":
        if action == "create":  # only a project named for them, not through "*"
            return project is not None and project in members
        return member and project is not None and action in {"view", "label"}
    return member and project is not None and action == "view"


USERS = [
    *[User("u", role, frozenset(m)) for role, m in itertools.product(
        ["admin", "labeler", "viewer"], [set(), {"digits"}, {ALL_PROJECTS}])],
    User.demo_visitor("abc"),
    User.local_user(),
]


def test_can_matches_the_role_table_for_every_user_action_and_project():
    cases = 0
    for user, action, project in itertools.product(USERS, sorted(ACTIONS), PROJECTS):
        want = expected(user.role, set(user.projects), user.sandbox, action, project)
        assert can(user, action, project) == want, (user, action, project)
        cases += 1
    assert cases == len(USERS) * len(ACTIONS) * len(PROJECTS)


def test_unknown_actions_are_refused_loudly_and_lists_are_filtered():
    with pytest.raises(InvalidInputError):
        can(User.local_user(), "delete_everything", "digits")
    labeler = User("ana", "labeler", frozenset({"fruits"}))
    assert visible_projects(labeler, ["digits", "fruits", "moons"]) == ["fruits"]
    visitor = User.demo_visitor("abc")
    assert visible_projects(visitor, ["digits", "demo-abc/digits", "demo-abcx"]) == [
        "demo-abc/digits"]


# -- failed logins --------------------------------------------------------------------------
class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def team() -> dict:
    return {"ana": accounts.Account("ana", "labeler", ("digits",),
                                    accounts.hash_password("right"))}


def test_five_failures_lock_a_name_even_with_the_right_password_then_it_reopens(team):
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window=60, lockout=300, clock=clock)
    for _ in range(4):
        assert authenticate(team, "ana", "wrong", throttle) is None
    assert authenticate(team, "ana", "right", throttle).name == "ana"  # 4 < 5: not locked
    for _ in range(5):
        assert authenticate(team, "ana", "wrong", throttle) is None
    assert authenticate(team, "ANA ", "right", throttle) is None  # locked, any spelling
    clock.now += 301
    assert authenticate(team, "ana", "right", throttle).role == "labeler"


def test_failures_outside_the_window_do_not_add_up(team):
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window=60, lockout=300, clock=clock)
    for _ in range(10):
        assert authenticate(team, "ana", "wrong", throttle) is None
        clock.now += 31  # never three within a minute
    assert authenticate(team, "ana", "right", throttle) is not None


def test_unknown_names_answer_like_known_ones_and_lock_the_same_way(team):
    throttle = LoginThrottle(max_failures=2, clock=Clock())
    assert authenticate(team, "nobody", "right", throttle) is None
    assert authenticate(team, "nobody", "wrong", throttle) is None
    assert throttle.locked("nobody") and not throttle.locked("ana")
    sso_only = {"cy": accounts.Account("cy", "viewer")}
    assert authenticate(sso_only, "cy", "", throttle) is None
    assert authenticate(sso_only, "cy", "labelwise: no such account", throttle) is None


# -- the login gate in the app --------------------------------------------------------------
@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("LABELWISE_DEMO", raising=False)
    monkeypatch.delenv("LABELWISE_AUTH", raising=False)
    # Keep the suite quick; the delay itself is the same code path.
    monkeypatch.setattr("labelwise.dashboard.auth.FAILED_LOGIN_DELAY", 0.01)
    return tmp_path


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["dataset_source"] = Source("pack", "digits")
    at.run()
    assert not at.exception, at.exception
    return at


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    return at


def test_local_run_has_no_login(app_env):
    at = start()
    assert at.title[0].value == "Label · digits"
    assert "login_password" not in {w.key for w in at.text_input}
    assert at.session_state["labelwise_user"].local


def test_with_an_accounts_file_nothing_shows_before_a_correct_login(app_env, monkeypatch):
    path = app_env / "accounts.toml"
    add_account(path, "gate-ana", "labeler", "right", ["digits"])
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    at = start()
    assert [t.value for t in at.title] == ["labelwise"]
    assert not at.metric  # no page ran
    log_in(at, "gate-ana", "wrong")
    refused = [e.value for e in at.error]
    assert refused == [accounts_refused()]
    assert not at.metric
    log_in(at, "gate-nobody", "right")
    assert [e.value for e in at.error] == refused  # same words for an unknown name
    log_in(at, "gate-ana", "right")
    assert at.title[0].value == "Label · digits"
    user = at.session_state["labelwise_user"]
    assert (user.name, user.role, user.local) == ("gate-ana", "labeler", False)
    assert any("Signed in as" in c.value and "gate\\-ana" in c.value for c in at.sidebar.caption)


def test_lock_out_answers_with_the_same_message_in_the_app(app_env, monkeypatch):
    path = app_env / "accounts.toml"
    add_account(path, "gate-ben", "viewer", "right")
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    at = start()
    for _ in range(5):
        log_in(at, "gate-ben", "wrong")
    log_in(at, "gate-ben", "right")
    assert [e.value for e in at.error] == [accounts_refused()]
    assert not at.metric


def test_removing_an_account_ends_its_sessions(app_env, monkeypatch):
    path = app_env / "accounts.toml"
    add_account(path, "gate-cy", "admin", "right")
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    at = log_in(start(), "gate-cy", "right")
    assert at.title[0].value == "Label · digits"
    accounts.remove_account(path, "gate-cy")
    at.run()
    assert [t.value for t in at.title] == ["labelwise"]


def test_log_out_returns_to_the_login_screen(app_env, monkeypatch):
    path = app_env / "accounts.toml"
    add_account(path, "gate-di", "viewer", "right", ["*"])
    monkeypatch.setenv("LABELWISE_AUTH", str(path))
    at = log_in(start(), "gate-di", "right")
    at.sidebar.button(key="logout").click().run()
    assert [t.value for t in at.title] == ["labelwise"]


def test_demo_gives_each_visitor_a_private_sandbox(app_env, monkeypatch):
    monkeypatch.setenv("LABELWISE_DEMO", "1")
    one, two = start(), start()
    first, second = (at.session_state["labelwise_user"] for at in (one, two))
    assert first.sandbox and second.sandbox and first.sandbox != second.sandbox
    one.run()
    assert one.session_state["labelwise_user"] == first  # stays the same across reruns
    assert project_for(first, "digits") == f"{first.sandbox}/digits"
    assert can(first, "label", project_for(first, "digits"))
    assert not can(first, "view", project_for(second, "digits"))
    assert not can(first, "bring_data")


def accounts_refused() -> str:
    return REFUSED
