"""``labelwise dashboard``: its flags, the ``streamlit run`` command it builds, a real start.

The real start serves the dashboard from a folder without ``.streamlit/`` on a free loopback
port and checks, in the kernel's socket table, that it listens on 127.0.0.1 and nowhere else.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tomllib

from labelwise.cli.dashboard import dashboard_command, settings_file, settings_flags
from labelwise.cli.main import build_parser
from labelwise.errors import InvalidInputError
from labelwise.labels.accounts import add_account

ROOT = Path(__file__).resolve().parent.parent


def parse(*argv: str):
    return build_parser().parse_args(["dashboard", *argv])


def option(cmd: list[str], name: str) -> list[str]:
    """Values given to ``--name`` in ``cmd``."""
    return [arg.split("=", 1)[1] for arg in cmd if arg.startswith(f"--{name}=")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("LABELWISE_DATA_DIR", "LABELWISE_AUTH", "LABELWISE_DEMO"):
        monkeypatch.delenv(name, raising=False)


def test_help_names_every_flag(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dashboard", "--help"])
    text = capsys.readouterr().out
    for flag in ("--address", "--port", "--data-dir", "--demo", "--accounts", "--secrets"):
        assert flag in text
    assert "127.0.0.1" in text


def test_defaults_listen_on_this_machine_only():
    args = parse()
    assert (args.address, args.port, args.data_dir, args.demo) == ("127.0.0.1", 8501, None,
                                                                    False)
    cmd, env = dashboard_command(args)
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    assert Path(cmd[4]) == ROOT / "dashboard" / "app.py"
    assert option(cmd, "server.address") == ["127.0.0.1"]
    assert option(cmd, "server.port") == ["8501"]
    assert "LABELWISE_AUTH" not in env and "LABELWISE_DEMO" not in env


def test_every_project_setting_is_passed_as_a_flag():
    assert settings_file() == ROOT / ".streamlit" / "config.toml"
    config = tomllib.loads(settings_file().read_text())
    cmd, _ = dashboard_command(parse("--address", "0.0.0.0", "--port", "9000"))
    for section, options in config.items():
        for name, value in options.items():
            key = f"{section}.{name}"
            if key == "server.address":
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            assert option(cmd, key) == [text], key
    # The command line wins over the file's address, once.
    assert option(cmd, "server.address") == ["0.0.0.0"]
    assert option(cmd, "server.port") == ["9000"]


def test_settings_lists_become_repeated_flags(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\ncorsAllowedOrigins = ["https://a", "https://b"]\n'
                    'headless = false\n[theme]\nbase = "dark"\n')
    assert settings_flags(path) == ["--server.corsAllowedOrigins=https://a",
                                    "--server.corsAllowedOrigins=https://b",
                                    "--server.headless=false", "--theme.base=dark"]
    assert settings_flags(tmp_path / "missing.toml") == []


def test_data_dir_accounts_demo_and_secrets_reach_the_app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    accounts = tmp_path / "accounts.toml"
    add_account(accounts, "ana", "admin", "pw")
    cmd, env = dashboard_command(parse("--data-dir", "store", "--accounts", "accounts.toml",
                                       "--secrets", "secrets.toml"))
    assert env["LABELWISE_DATA_DIR"] == str(tmp_path / "store")
    assert env["LABELWISE_AUTH"] == str(accounts)
    assert option(cmd, "secrets.files") == [str(tmp_path / "secrets.toml")]
    _, env = dashboard_command(parse("--demo"))
    assert env["LABELWISE_DEMO"] == "1"


def test_mistakes_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(InvalidInputError, match="no accounts file"):
        dashboard_command(parse("--accounts", str(tmp_path / "missing.toml")))
    accounts = tmp_path / "accounts.toml"
    add_account(accounts, "ana", "admin", "pw")
    with pytest.raises(InvalidInputError, match="demo"):
        dashboard_command(parse("--demo", "--accounts", str(accounts)))


def test_make_dashboard_goes_through_the_same_command():
    out = subprocess.run(["make", "--no-print-directory", "-n", "-C", str(ROOT), "dashboard"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip().splitlines()[-1].endswith(
        "labelwise dashboard --address 127.0.0.1 --port 8501")


# -- a real start ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                assert len(address) == width
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words)


def wait_until_served(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the dashboard did not answer within {seconds} s")


def test_a_real_start_listens_on_loopback_only_and_serves_the_page(tmp_path):
    port = free_port()
    labelwise = Path(sys.executable).parent / "labelwise"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in finally
    # Started from a folder without .streamlit/: the project's settings must still apply.
    proc = subprocess.Popen([str(labelwise), "dashboard", "--port", str(port), "--data-dir",
                             str(tmp_path / "store")], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_served(url, proc)
        assert listening_addresses(port) == {"127.0.0.1"}
        with urllib.request.urlopen(url + "/", timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200 and '<div id="root">' in page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
    text = (tmp_path / "server.log").read_text()
    # Headless (from the project's settings) and one URL: no "Network URL" for other machines.
    assert "Network URL" not in text and f"127.0.0.1:{port}" in text
