"""`chat-tools`: the tooling's own command, dispatching to bench, cluster and soak."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chat_tools.cli import COMMANDS, USAGE, main


def _tools(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_tools", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestDispatch:
    def test_help_lists_every_command(self) -> None:
        """--help prints the usage with each command and exits 0."""
        proc = _tools("--help")
        listed = [line.split()[0] for line in proc.stdout.split("commands:")[1].splitlines()[1:4]]
        assert (0, sorted(COMMANDS)) == (proc.returncode, sorted(listed))

    def test_no_command_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a command the usage goes to stderr and the exit status is 2."""
        assert 2 == main([])
        assert USAGE + "\n" == capsys.readouterr().err

    def test_unknown_command_is_named(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown command is refused with its name and the usage."""
        assert 2 == main(["run"])
        assert "chat-tools: unknown command 'run'" == capsys.readouterr().err.splitlines()[0]

    @pytest.mark.parametrize(
        "command",
        ["bench", "cluster", "soak", "bench fanout", "bench connect", "bench compare",
         "bench redis-ha"],
    )  # fmt: skip
    def test_each_command_reaches_its_parser(self, command: str) -> None:
        """`chat-tools COMMAND --help` is that command's own help page."""
        proc = _tools(*command.split(), "--help")
        assert (0, True) == (
            proc.returncode,
            proc.stdout.startswith(f"usage: chat-tools {command}"),
        )
