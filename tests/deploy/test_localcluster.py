"""`chat-tools cluster`: the whole topology from one command, stopped cleanly by a signal."""

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


def _cluster(tmp_path: Path, nodes: int, port: int | None = None) -> tuple[ManagedProcess, int]:
    """`chat-tools cluster` started with --log-dir; returns it and its lb port."""
    lb_port = port or free_port()
    argv = [
        sys.executable, "-m", "chat_tools", "cluster",
        "--nodes", str(nodes), "--port", str(lb_port), "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    return spawn("cluster", argv, tmp_path), lb_port


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
        cluster, lb_port = _cluster(tmp_path, 2)
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
            cluster, _ = _cluster(tmp_path, 1, port)
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
        cluster, lb_port = _cluster(tmp_path, 1)
        try:
            _wait_for_line(cluster, READY, timeout=60)
        finally:
            cluster.signal(signal.SIGINT)
            cluster.proc.wait(timeout=40)
        assert (0, False) == (cluster.proc.returncode, _listening(lb_port))


def _nodes(output: str) -> list[tuple[int, int]]:
    """(port, pid) of every node the cluster printed at start."""
    return [(int(port), int(pid)) for port, pid in re.findall(r":(\d+)\s+pid (\d+)", output)]


@pytest.mark.e2e
class TestSupervision:
    def test_a_killed_node_is_restarted_while_the_others_serve(self, tmp_path: Path) -> None:
        """kill -9 of one node: the other keeps serving, the dead one is back on its port."""
        cluster, lb_port = _cluster(tmp_path, 2)
        try:
            (dead_port, dead_pid), (live_port, live_pid) = _nodes(
                _wait_for_line(cluster, READY, timeout=60)
            )
            os.kill(dead_pid, signal.SIGKILL)
            wait_for_http(f"http://127.0.0.1:{live_port}/readyz", timeout=5)
            wait_for_http(f"http://127.0.0.1:{lb_port}/healthz", timeout=10)
            log = _wait_for_line(cluster, "node1 restarted as pid", timeout=20)
            wait_for_http(f"http://127.0.0.1:{dead_port}/readyz", timeout=20)
            reborn = int(re.findall(r"node1 restarted as pid (\d+)", log)[0])
            assert f"node1 (pid {dead_pid}) exited with -9; restarting in 0.5 s" in log
            assert (True, True, False) == (
                cluster.alive(),
                _pid_alive(live_pid),
                _pid_alive(dead_pid),
            )
        finally:
            cluster.signal(signal.SIGINT)
            code = cluster.proc.wait(timeout=40)
        assert 0 == code
        assert [False, False] == [_pid_alive(reborn), _pid_alive(live_pid)]
        assert [False] * 3 == [_listening(p) for p in (lb_port, dead_port, live_port)]

    def test_ctrl_c_leaves_no_process_and_no_temporary_folder(self, tmp_path: Path) -> None:
        """Without --log-dir, SIGINT removes the logs, Redis' and HAProxy's temp folders."""
        temp = tmp_path / "tmp"
        temp.mkdir()
        lb_port = free_port()
        argv = [sys.executable, "-m", "chat_tools", "cluster", "--nodes", "1",
                "--port", str(lb_port)]  # fmt: skip
        cluster = spawn("cluster", argv, tmp_path, env=dict(os.environ, TMPDIR=str(temp)))
        try:
            output = _wait_for_line(cluster, READY, timeout=60)
            assert {"chat-cluster", "chat-redis", "chat-lb"} == {
                p.name.rsplit("-", 1)[0] for p in temp.iterdir()
            }
        finally:
            cluster.signal(signal.SIGINT)
            code = cluster.proc.wait(timeout=40)
        assert (0, []) == (code, sorted(p.name for p in temp.iterdir()))
        assert [False] == [_pid_alive(pid) for _, pid in _nodes(output)]
