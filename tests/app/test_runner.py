"""A node process as an operator sees it: the port it logs, its access log, /metrics."""

from __future__ import annotations

import json
import os
import sys
import time
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
