"""Accounts, roles and project memberships for a shared dashboard (no Streamlit here).

A deployment turns logins on by pointing ``LABELWISE_AUTH`` (or ``labelwise dashboard
--accounts FILE``) at an accounts file the operator manages with ``labelwise accounts add``::

    # labelwise accounts: passwords are argon2id hashes, never the passwords themselves.
    [accounts."ana"]
    role = "labeler"
    projects = ["digits", "fruits"]
    password = "$argon2id$v=19$m=65536,t=3,p=4$..."

Roles (:data:`ROLES`):

* ``admin``: every project, export, delete and restore, bring data in (upload, server path);
* ``labeler``: labels the projects they are a member of (``projects``; ``"*"`` means all);
* ``viewer``: reads the projects they are a member of, changes nothing.

A public demo gives each visitor a :class:`User` with a private ``sandbox``: they label and
export projects under that prefix only. :func:`can` is the one permission check the pages call.

Passwords are checked by argon2 (its verify compares in constant time); unknown names are
checked against a dummy hash so they take as long as known ones, and :class:`LoginThrottle`
locks a name out after repeated failures whether or not the name exists, so neither the
messages nor the timing tell which accounts exist.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import InvalidInputError

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROLES = ("admin", "labeler", "viewer")
ALL_PROJECTS = "*"
AUTH_ENV = "LABELWISE_AUTH"

#: What a page may ask :func:`can` about.
ACTIONS = frozenset({
    "view",        # see a project's labels and progress (Label, Export table)
    "label",       # label, unlabel, skip, undo, add a class
    "export",      # download a project's labels or kNN model
    "delete",      # delete a project
    "restore",     # restore a deleted project
    "create",      # start a new project (new name, or a dataset nobody labeled yet)
    "bring_data",  # upload a file or read a path on the server (Data page)
    "study",       # run simulations (Compare, Explore): reads no project, writes nothing
})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_HASHER = PasswordHasher()
# Checked when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _HASHER.hash("labelwise: no such account")


@dataclass(frozen=True)
class User:
    """Who is using the dashboard, and what they may touch.

    Attributes
    ----------
    name : str
        Recorded as the labeler of every label they make.
    role : str
        One of :data:`ROLES`.
    projects : frozenset of str
        Projects they are a member of; ``{"*"}`` means every project. Ignored for admins.
    sandbox : str, optional
        Demo visitors only: they may act on projects named ``sandbox`` or ``sandbox/...``.
    local : bool
        A local single-user run (logins off): the person may type the labeler name.
    """

    name: str
    role: str
    projects: frozenset[str] = field(default_factory=frozenset)
    sandbox: str | None = None
    local: bool = False

    #: ``projects`` of a member of every project.
    EVERY_PROJECT: ClassVar[frozenset[str]] = frozenset({ALL_PROJECTS})

    @classmethod
    def local_user(cls, name: str = "labeler") -> User:
        """The single person of a local run without logins: an admin who names themselves."""
        return cls(name=name, role="admin", local=True)

    @classmethod
    def demo_visitor(cls, token: str) -> User:
        """A public demo visitor, alone in the sandbox ``demo-<token>``."""
        return cls(name=f"visitor-{token}", role="labeler", sandbox=f"demo-{token}")

    def is_member(self, project: str | None) -> bool:
        """Whether ``project`` is one of this user's projects (admins: every project)."""
        if self.role == "admin":
            return True
        if project is None:
            return False
        if self.sandbox is not None:
            return in_sandbox(self.sandbox, project)
        return ALL_PROJECTS in self.projects or project in self.projects


def in_sandbox(sandbox: str, project: str) -> bool:
    return project == sandbox or project.startswith(sandbox + "/")


def can(user: User, action: str, project: str | None = None) -> bool:
    """Whether ``user`` may do ``action`` (one of :data:`ACTIONS`) on ``project``.

    ``project`` is the project's name, or None for actions that are not about one project
    (``bring_data``, ``study``, ``create`` of a project not named yet).
    """
    if action not in ACTIONS:
        raise InvalidInputError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    if user.role == "admin":
        return True
    if action == "study":
        return True
    if user.sandbox is not None:  # demo visitor: anything on their own sandbox, nothing else
        return action in {"view", "label", "export", "create"} and (
            project is not None and in_sandbox(user.sandbox, project))
    if action == "view":
        return user.is_member(project)
    if action == "label":
        return user.role == "labeler" and user.is_member(project)
    if action == "create":
        # A labeler may start a project the operator named for them, so an admin need not open
        # it first; membership through "*" does not let them create arbitrary projects.
        return user.role == "labeler" and project is not None and project in user.projects
    return False


def visible_projects(user: User, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that ``user`` may view, in the same order."""
    return [name for name in names if can(user, "view", name)]


# -- the accounts file ---------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    """One entry of the accounts file (``password_hash`` is None for single sign-on only)."""

    name: str
    role: str
    projects: tuple[str, ...] = ()
    password_hash: str | None = None

    def user(self) -> User:
        return User(name=self.name, role=self.role, projects=frozenset(self.projects))


def check_name(name: str) -> str:
    """An account name: letters, digits and ``. _ @ + -`` (so e-mail addresses fit)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            "an account name has 1 to 64 letters, digits or . _ @ + - and starts with a letter "
            "or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def load_accounts(path: str | os.PathLike) -> dict[str, Account]:
    """The accounts of ``path`` by name (a missing file has none)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not a valid accounts file: {exc}") from None
    accounts = {}
    for name, entry in (data.get("accounts") or {}).items():
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{path}: account {name!r} must be a table")
        projects = entry.get("projects", [])
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            raise InvalidInputError(f"{path}: projects of {name!r} must be a list of names")
        password = entry.get("password")
        accounts[name] = Account(check_name(name), check_role(entry.get("role", "viewer")),
                                 tuple(projects), password if isinstance(password, str) else None)
    return accounts


def _toml_string(value: str) -> str:
    # A JSON string with only ASCII output is also a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def dump_accounts(accounts: dict[str, Account]) -> str:
    """The text of an accounts file holding ``accounts``."""
    lines = ["# labelwise accounts: edit with `labelwise accounts add`. Passwords are argon2id",
             "# hashes, never the passwords themselves. Keep this file readable by the server",
             "# only (chmod 600)."]
    for name in sorted(accounts):
        account = accounts[name]
        lines += ["", f"[accounts.{_toml_string(name)}]", f"role = {_toml_string(account.role)}",
                  "projects = [" + ", ".join(map(_toml_string, account.projects)) + "]"]
        if account.password_hash is not None:
            lines.append(f"password = {_toml_string(account.password_hash)}")
    return "\n".join(lines) + "\n"


def save_accounts(path: str | os.PathLike, accounts: dict[str, Account]) -> None:
    """Write the accounts file atomically, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(dump_accounts(accounts))
    os.replace(temporary, path)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (with its own random salt)."""
    if not password:
        raise InvalidInputError("a password cannot be empty")
    return _HASHER.hash(password)


def add_account(path: str | os.PathLike, name: str, role: str, password: str | None,
                projects: Iterable[str] = ()) -> Account:
    """Add or replace account ``name`` in the file at ``path``; returns the stored account.

    ``password`` None keeps the account's current password (or none: single sign-on only).
    """
    accounts = load_accounts(path)
    previous = accounts.get(check_name(name))
    password_hash = (hash_password(password) if password is not None
                     else None if previous is None else previous.password_hash)
    account = Account(name, check_role(role), tuple(projects), password_hash)
    accounts[name] = account
    save_accounts(path, accounts)
    return account


def remove_account(path: str | os.PathLike, name: str) -> bool:
    """Remove account ``name``; returns whether it was there."""
    accounts = load_accounts(path)
    if accounts.pop(name, None) is None:
        return False
    save_accounts(path, accounts)
    return True


def verify(accounts: dict[str, Account], name: str, password: str) -> Account | None:
    """The account if ``password`` is its password, else None (same cost for unknown names)."""
    account = accounts.get(name)
    stored = account.password_hash if account is not None else None
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return account if stored else None


# -- failed logins --------------------------------------------------------------------------
class LoginThrottle:
    """Counts failed logins per name and locks a name out after too many.

    Names are counted whether or not an account exists, so a lock-out reveals nothing.

    Parameters
    ----------
    max_failures : int
        Failures within ``window`` seconds that lock the name.
    window, lockout : float
        Seconds over which failures count, and how long the lock lasts.
    clock : callable
        Seconds, monotonic (``time.monotonic``; tests pass their own clock).
    """

    def __init__(self, max_failures: int = 5, window: float = 900.0, lockout: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().casefold()

    def locked(self, name: str) -> bool:
        with self._lock:
            return self._locked_until.get(self._key(name), -1.0) > self.clock()

    def failed(self, name: str) -> None:
        """Count a failed attempt for ``name``."""
        key, now = self._key(name), self.clock()
        with self._lock:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            recent.append(now)
            self._failures[key] = recent
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lockout
                self._failures[key] = []

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(self._key(name), None)


def authenticate(accounts: dict[str, Account], name: str, password: str,
                 throttle: LoginThrottle) -> User | None:
    """The user for a correct name and password; None otherwise or while the name is locked.

    A locked name is still verified (and the attempt counted), so a locked-out answer takes as
    long as any other and says the same thing.
    """
    account = verify(accounts, name, password)
    if throttle.locked(name) or account is None:
        throttle.failed(name)
        return None
    throttle.succeeded(name)
    return account.user()
