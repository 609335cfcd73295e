"""`chat-service cluster`: the whole topology from one command, stopped cleanly by a signal."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from chat_tools.localcluster import main
from chat_tools.procs import ManagedProcess, free_port, spawn, wait_for_http

READY = "Ctrl-C stops everything."


def _wait_for_line(process: ManagedProcess, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = process.log()
        if text in log:
            return log
        if not process.alive():
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not printed within {timeout}s:\n{process.log()[-3000:]}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestArguments:
    @pytest.mark.parametrize("argv", [["--nodes", "0"], ["--port", "70000"], ["--bogus"]])
    def test_bad_arguments_exit_2(self, argv: list[str]) -> None:
        """Nonsense flags stop before anything starts, with argparse's exit code."""
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert 2 == exc.value.code


@pytest.mark.e2e
class TestOneCommand:
    def test_starts_and_stops_on_sigterm(self, tmp_path: Path) -> None:
        """Two nodes behind the lb serve /healthz; SIGTERM stops all of them and exits 0."""
        lb_port = free_port()
        argv = [
            sys.executable, "-m", "chat_service", "cluster",
            "--nodes", "2", "--port", str(lb_port), "--log-dir", str(tmp_path / "logs"),
        ]  # fmt: skip
        cluster = spawn("cluster", argv, tmp_path)
        try:
            output = _wait_for_line(cluster, READY, timeout=60)
            wait_for_http(f"http://127.0.0.1:{lb_port}/healthz", timeout=10)
            nodes = [
                (int(port), int(pid)) for port, pid in re.findall(r":(\d+)\s+pid (\d+)", output)
            ]
            assert 2 == len(nodes)
            assert [True, True] == [_listening(port) for port, _ in nodes]
        finally:
            code = cluster.stop(timeout=40)
        assert 0 == code
        ports = [lb_port, *(port for port, _ in nodes)]
        assert [False] * 3 == [_listening(port) for port in ports]
        assert [False, False] == [_pid_alive(pid) for _, pid in nodes]

    def test_lb_address_in_use_fails_cleanly(self, tmp_path: Path) -> None:
        """A taken lb port is reported with exit 1 and leaves no node behind."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            argv = [
                sys.executable, "-m", "chat_service", "cluster",
                "--nodes", "1", "--port", str(port), "--log-dir", str(tmp_path / "logs"),
            ]  # fmt: skip
            cluster = spawn("cluster", argv, tmp_path)
            cluster.proc.wait(timeout=60)
        log = cluster.log()
        assert 1 == cluster.proc.returncode
        assert "haproxy" in log
        node_logs = list((tmp_path / "logs").glob("node-*.log"))
        ports = [int(p.stem.split("-")[1]) for p in node_logs]
        assert [False] * len(ports) == [_listening(p) for p in ports]
        assert 1 == len(ports)

    def test_sigint_is_handled_like_sigterm(self, tmp_path: Path) -> None:
        """Ctrl-C (SIGINT) also stops everything and exits 0."""
        lb_port = free_port()
        argv = [
            sys.executable, "-m", "chat_service", "cluster",
            "--nodes", "1", "--port", str(lb_port), "--log-dir", str(tmp_path / "logs"),
        ]  # fmt: skip
        cluster = spawn("cluster", argv, tmp_path)
        try:
            _wait_for_line(cluster, READY, timeout=60)
        finally:
            cluster.signal(signal.SIGINT)
            cluster.proc.wait(timeout=40)
        assert (0, False) == (cluster.proc.returncode, _listening(lb_port))
