"""``labelwise accounts add|remove|list``: the dashboard's built-in accounts file.

The password is asked twice without echo (or read from standard input with
``--password-stdin``, for scripts) and only its argon2id hash is written.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from ..errors import InvalidInputError


def _file(args: argparse.Namespace) -> str:
    from ..labels.accounts import AUTH_ENV

    path = args.file or os.environ.get(AUTH_ENV)
    if not path:
        raise InvalidInputError("say which accounts file: --file FILE (or set LABELWISE_AUTH)")
    return path


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.keep_password:
        return None
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise InvalidInputError("the two passwords differ; nothing was written")
    return first


def _add(args: argparse.Namespace) -> int:
    from ..labels.accounts import add_account, check_name, check_role

    check_name(args.name)
    check_role(args.role)
    path = _file(args)
    account = add_account(path, args.name, args.role, _password(args), args.project)
    where = ", ".join(account.projects) or ("every project" if account.role == "admin"
                                            else "no project yet")
    print(f"{account.name}: {account.role} ({where}) in {path}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from ..labels.accounts import remove_account

    path = _file(args)
    if not remove_account(path, args.name):
        raise InvalidInputError(f"no account {args.name!r} in {path}")
    print(f"removed {args.name} from {path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..labels.accounts import load_accounts

    for account in load_accounts(_file(args)).values():
        login = "password" if account.password_hash else "single sign-on only"
        print(f"{account.name}\t{account.role}\t{','.join(account.projects) or '-'}\t{login}")
    return 0


def register(subparsers) -> None:
    """Add the ``accounts`` sub-command."""
    parser = subparsers.add_parser(
        "accounts", help="manage the dashboard's logins (hashed passwords, roles, projects)",
        description="Manage the accounts file that `labelwise dashboard --accounts FILE` "
        "reads. Roles: admin (every project, export, delete and restore), labeler (labels "
        "the projects listed with --project; '*' for all), viewer (reads them only).")
    actions = parser.add_subparsers(dest="accounts_command", required=True)
    file_help = "accounts file (default: $LABELWISE_AUTH)"

    add = actions.add_parser("add", help="add an account, or change one's role and password")
    add.add_argument("name", help="account name (letters, digits, . _ @ + -)")
    add.add_argument("--role", required=True, choices=["admin", "labeler", "viewer"])
    add.add_argument("--project", action="append", default=[], metavar="PROJECT",
                     help="a project the account is a member of (repeat; '*' for all)")
    add.add_argument("--file", default=None, help=file_help)
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    secret.add_argument("--keep-password", action="store_true",
                        help="keep the account's password (or none: single sign-on only)")
    add.set_defaults(func=_add)

    remove = actions.add_parser("remove", help="remove an account")
    remove.add_argument("name")
    remove.add_argument("--file", default=None, help=file_help)
    remove.set_defaults(func=_remove)

    listing = actions.add_parser("list", help="list accounts (never their hashes)")
    listing.add_argument("--file", default=None, help=file_help)
    listing.set_defaults(func=_list)
