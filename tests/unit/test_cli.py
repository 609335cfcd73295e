"""`chat-service --help` and `--version`: commands, every setting with its default."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from chat_service import __version__
from chat_service.config import Settings, default_text, env_name, flag_name


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_service", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture(scope="module")
def help_text() -> str:
    proc = _cli("--help")
    assert 0 == proc.returncode
    return " ".join(proc.stdout.split())  # argparse wraps lines: compare word by word


class TestHelp:
    def test_lists_the_commands(self, help_text: str) -> None:
        """run, cluster and bench are named in the usage and explained."""
        assert "usage: chat-service [run|cluster|bench] [options]" in help_text
        assert [True, True, True] == [f"{c} " in help_text.split("commands:")[1] for c in (
            "run", "cluster", "bench")]  # fmt: skip

    @pytest.mark.parametrize("name", [f.name for f in fields(Settings)])
    def test_every_setting_with_its_variable_and_default(self, help_text: str, name: str) -> None:
        """Each flag shows its CHAT_ variable and its default."""
        entry = f"(env {env_name(name)}; default: {default_text(name)})"
        assert (True, True) == (flag_name(name) in help_text, entry in help_text)

    def test_defaults_read_like_the_variables(self) -> None:
        """Defaults are written as an operator would set them."""
        names = ("port", "rate_limit", "node_timeout", "trust_forwarded", "access_log")
        assert ["5000", "20/10", "15", "false", "true"] == [default_text(n) for n in names]

    def test_run_help_is_the_node_help(self, help_text: str) -> None:
        """`chat-service run --help` is the same page."""
        assert help_text == " ".join(_cli("run", "--help").stdout.split())


class TestVersion:
    def test_version(self) -> None:
        """--version prints the package version and exits 0."""
        proc = _cli("--version")
        assert (0, f"chat-service {__version__}\n") == (proc.returncode, proc.stdout)


class TestRun:
    def test_run_takes_the_node_flags(self) -> None:
        """`chat-service run --port abc` is refused like `chat-service --port abc`."""
        proc = _cli("run", "--port", "abc")
        assert (2, "chat-service: CHAT_PORT must be a whole number, got 'abc'\n") == (
            proc.returncode,
            proc.stderr,
        )

    def test_short_api_key_stops_the_node_with_one_line(self) -> None:
        """A CHAT_API_KEY under 32 characters is refused at start: exit 2, one line."""
        proc = _cli("run", "--api-key", "k" * 31)
        assert 2 == proc.returncode
        assert [
            "chat-service: CHAT_API_KEY must be at least 32 characters, got 31: use a long "
            "random secret (e.g. openssl rand -hex 32)"
        ] == proc.stderr.splitlines()
