"""A node process as an operator sees it: the port it logs, its access log, /metrics."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tools.procs import ManagedProcess, spawn, wait_for_http


def _json_lines(process: ManagedProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]


def _wait_for_entry(process: ManagedProcess, message: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in _json_lines(process):
            if entry["message"].startswith(message):
                return entry
        assert process.alive(), process.log()
        time.sleep(0.05)
    raise AssertionError(f"no {message!r} line within {timeout}s:\n{process.log()}")


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Any]:
    started: list[ManagedProcess] = []

    def start(**env: str) -> tuple[ManagedProcess, int]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        base.update(CHAT_HOST="127.0.0.1", CHAT_PORT="0", CHAT_LOG_FORMAT="json")
        process = spawn(f"node{len(started)}", [sys.executable, "-m", "chat_service"],
                        tmp_path, base | env)  # fmt: skip
        started.append(process)
        listening = _wait_for_entry(process, "listening on")
        return process, int(listening["port"])

    yield start
    for process in started:
        process.stop()


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return str(resp.read().decode())


class TestPort:
    def test_port_zero_logs_the_bound_port(self, start_node: Any) -> None:
        """With CHAT_PORT=0 the log names the port the kernel chose, and it serves there."""
        process, port = start_node()
        entry = _wait_for_entry(process, "listening on")
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert (f"listening on http://127.0.0.1:{port}", True) == (entry["message"], port > 0)


class TestJsonLines:
    def test_every_line_names_the_node(self, start_node: Any) -> None:
        """Each JSON line carries the node id as a field of its own."""
        process, _port = start_node()
        nodes = {entry.get("node") for entry in _json_lines(process)}
        assert (1, True) == (len(nodes), None not in nodes)


class TestAccessLog:
    def test_a_page_request_is_one_line_with_fields(self, start_node: Any) -> None:
        """GET /rooms/lobby?name=ann logs path and status as fields, and no query string."""
        process, port = start_node()
        _get(port, "/rooms/lobby?name=ann")
        entry = _wait_for_entry(process, '127.0.0.1 "GET /rooms/lobby"')
        assert ("aiohttp.access", "/rooms/lobby", 200, False) == (
            entry["logger"],
            entry["path"],
            entry["status"],
            "ann" in json.dumps(entry),
        )

    def test_access_log_can_be_turned_off(self, start_node: Any) -> None:
        """CHAT_ACCESS_LOG=false: requests leave no access line."""
        process, port = start_node(CHAT_ACCESS_LOG="false")
        _get(port, "/")
        process.stop()
        assert [] == [e for e in _json_lines(process) if e["logger"] == "aiohttp.access"]


class TestMetricsPage:
    def test_no_created_lines_and_process_metrics(self, start_node: Any) -> None:
        """/metrics has no *_created samples and has CPU, memory and open-fd metrics."""
        _process, port = start_node()
        text = _get(port, "/metrics")
        names = {line.split(" ")[0].split("{")[0] for line in text.splitlines() if line[:1] != "#"}
        process_metrics = {
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        }
        assert ([], process_metrics) == (
            sorted(n for n in names if n.endswith("_created")),
            process_metrics & names,
        )


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class TestDrainDelay:
    """SIGTERM with CHAT_DRAIN_DELAY: out of the balancers first, then the usual drain."""

    def test_readyz_fails_at_once_and_the_node_keeps_serving(self, start_node: Any) -> None:
        """During the delay /readyz is 503 while pages and /healthz still answer 200;
        the node then drains and exits 0 within delay + 10 s, not before the delay."""
        process, port = start_node(CHAT_DRAIN_DELAY="2")
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=10)
        stopped = time.monotonic()
        process.signal(signal.SIGTERM)
        _wait_for_entry(process, "stopping: /readyz fails now")
        during = (_status(port, "/readyz"), _status(port, "/healthz"), _status(port, "/"))
        process.proc.wait(timeout=2 + 10)
        took = time.monotonic() - stopped
        assert ((503, 200, 200), 0) == (during, process.proc.returncode)
        assert 2.0 <= took < 12.0

    def test_a_second_signal_drains_at_once(self, start_node: Any) -> None:
        """Ctrl-C twice (or SIGTERM then SIGINT) does not sit out a long delay."""
        process, port = start_node(CHAT_DRAIN_DELAY="60")
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=10)
        process.signal(signal.SIGTERM)
        _wait_for_entry(process, "stopping: /readyz fails now")
        stopped = time.monotonic()
        process.signal(signal.SIGINT)
        process.proc.wait(timeout=10)
        assert (0, True) == (process.proc.returncode, time.monotonic() - stopped < 10)

    def test_without_a_delay_the_node_drains_at_once(self, start_node: Any) -> None:
        """CHAT_DRAIN_DELAY unset (0): SIGTERM drains straight away, as before."""
        process, port = start_node()
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=10)
        stopped = time.monotonic()
        process.signal(signal.SIGTERM)
        process.proc.wait(timeout=10)
        log = process.log()
        assert (0, False) == (process.proc.returncode, "/readyz fails now" in log)
        assert time.monotonic() - stopped < 10
