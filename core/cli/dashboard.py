"""``labelwise dashboard``: serve the Streamlit dashboard, on this machine only unless told.

The project's Streamlit settings (``.streamlit/config.toml`` of the checkout) are passed to
``streamlit run`` as ``--section.option`` flags, because Streamlit itself reads ``.streamlit/``
only from the working directory: started from any folder, the server gets the same settings.
The listen address, port, label store folder, accounts file and demo switch are flags too;
the app reads the last three from environment variables (``LABELWISE_DATA_DIR``,
``LABELWISE_AUTH``, ``LABELWISE_DEMO``), so ``streamlit run`` users can set them the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import sys
from pathlib import Path

from ..errors import InvalidInputError

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8501
DATA_DIR_ENV = "LABELWISE_DATA_DIR"
AUTH_ENV = "LABELWISE_AUTH"
DEMO_ENV = "LABELWISE_DEMO"
# Set by this command's own flags, whatever the settings file says.
COMMAND_LINE_OPTIONS = frozenset({"server.address", "server.port", "secrets.files"})


def dashboard_folder() -> Path:
    """The folder of ``labelwise.dashboard`` (found without importing Streamlit)."""
    spec = importlib.util.find_spec("labelwise.dashboard")
    if spec is None or spec.origin is None:  # pragma: no cover - broken install
        raise InvalidInputError("labelwise.dashboard is not installed")
    return Path(spec.origin).resolve().parent


def settings_file() -> Path:
    """The project's Streamlit settings: ``.streamlit/config.toml`` beside ``dashboard/``."""
    return dashboard_folder().parent / ".streamlit" / "config.toml"


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_flags(path: Path | None = None, skip: frozenset[str] = frozenset()) -> list[str]:
    """``--section.option=value`` flags for every option of a Streamlit ``config.toml``.

    A list value gives one flag per element (Streamlit's multi-valued options); options named
    in ``skip`` (``"server.port"``) are left out, for the command line to set.
    """
    path = settings_file() if path is None else path
    if not path.exists():
        return []
    flags = []
    for section, options in tomllib.loads(path.read_text(encoding="utf-8")).items():
        for name, value in options.items():
            if f"{section}.{name}" in skip:
                continue
            values = value if isinstance(value, list) else [value]
            flags += [f"--{section}.{name}={_flag_value(v)}" for v in values]
    return flags


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def dashboard_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for the parsed ``args``."""
    env = dict(os.environ)
    if args.data_dir is not None:
        env[DATA_DIR_ENV] = str(Path(args.data_dir).expanduser().resolve())
    if args.accounts is not None:
        accounts = Path(args.accounts).expanduser().resolve()
        if not accounts.is_file():
            raise InvalidInputError(
                f"no accounts file at {accounts}: create it with `labelwise accounts add NAME "
                f"--role admin --file {accounts}`")
        env[AUTH_ENV] = str(accounts)
    if args.demo:
        if args.accounts is not None or env.get(AUTH_ENV):
            raise InvalidInputError("--demo gives every visitor a sandbox without logging in; "
                                    "it cannot be combined with an accounts file")
        env[DEMO_ENV] = "1"
    else:
        env.pop(DEMO_ENV, None)
    cmd = [sys.executable, "-m", "streamlit", "run", str(dashboard_folder() / "app.py"),
           *settings_flags(skip=COMMAND_LINE_OPTIONS),
           f"--server.address={args.address}", f"--server.port={args.port}"]
    if args.secrets is not None:
        cmd.append(f"--secrets.files={Path(args.secrets).expanduser().resolve()}")
    return cmd, env


def _unguarded(args: argparse.Namespace, env: dict[str, str]) -> bool:
    """Whether the server is reachable from other machines with nobody asked to log in."""
    return not is_loopback(args.address) and not (
        env.get(AUTH_ENV) or env.get(DEMO_ENV) or args.secrets)


def _run(args: argparse.Namespace) -> int:
    cmd, env = dashboard_command(args)
    if _unguarded(args, env):
        print(f"labelwise: warning: listening on {args.address} without logins: anyone who can "
              "reach it can label, export and delete. Pass --accounts FILE (or --demo).",
              file=sys.stderr)
    sys.stdout.flush()
    if os.name == "posix":
        # Become the server: Ctrl-C and a supervisor's signals reach Streamlit directly.
        os.execve(sys.executable, cmd, env)
    import subprocess  # pragma: no cover - Windows

    return subprocess.call(cmd, env=env)  # pragma: no cover


def register(subparsers) -> None:
    """Add the ``dashboard`` sub-command."""
    parser = subparsers.add_parser(
        "dashboard", help="open the Streamlit dashboard (on this machine only by default)",
        description="Serve the labelwise dashboard. It listens on 127.0.0.1 (this machine "
        "only) unless --address says otherwise; logins are off unless --accounts (or "
        "LABELWISE_AUTH, or an [auth] section in Streamlit secrets) turns them on.")
    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder of the label store (default: $LABELWISE_DATA_DIR, else "
                             "./labelwise-data)")
    parser.add_argument("--accounts", default=None, metavar="FILE",
                        help="turn logins on with this accounts file (written by `labelwise "
                             "accounts add`); default: $LABELWISE_AUTH, else no logins")
    parser.add_argument("--demo", action="store_true",
                        help="public demo: no logins, every visitor labels in a private "
                             "sandbox project")
    parser.add_argument("--secrets", default=None, metavar="FILE",
                        help="Streamlit secrets file, e.g. with an [auth] section for single "
                             "sign-on through OpenID Connect")
    parser.set_defaults(func=_run)
