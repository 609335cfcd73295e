"""`chat-tools bench` end to end: real nodes, a real cluster, the Node peer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chat_tools.bench.peer import PeerNode, check_peer
from chat_tools.procs import Node, RedisServer, cluster

TINY = ["--rooms", "2", "--clients", "3", "--senders", "1", "--rate", "5", "--duration", "2"]
TINY_EXPECTED = 2 * 10 * 3  # rooms x (rate x duration) x clients


def bench(*args: str, quiet: bool = True) -> tuple[dict[str, Any], str]:
    """Run the real CLI in its own process; (JSON result, stderr)."""
    argv = [sys.executable, "-m", "chat_tools", "bench", *args, *(["--quiet"] if quiet else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert 0 == done.returncode, done.stderr
    return json.loads(done.stdout), done.stderr


def urls(*nodes: Node | PeerNode) -> list[str]:
    return [arg for node in nodes for arg in ("--url", node.url)]


def pids(*nodes: Node | PeerNode) -> list[str]:
    return [arg for node in nodes for arg in ("--pid", str(node.process.pid))]


def assert_complete(result: dict[str, Any], expected: int) -> None:
    """Every acked message reached every member exactly once, in order."""
    summary = {key: result[key] for key in ("expected_deliveries", "deliveries", "lost",
                                            "duplicates", "out_of_order", "errors")}  # fmt: skip
    assert {"expected_deliveries": expected, "deliveries": expected, "lost": 0,
            "duplicates": 0, "out_of_order": 0, "errors": {}} == summary  # fmt: skip


@pytest.fixture
def node(node_process: Node) -> Node:
    """One memory-backed node process with its default settings (rate limit included)."""
    return node_process


class TestAgainstOneNode:
    def test_fanout(self, node: Node) -> None:
        """A tiny fanout of deflate-offering clients (as browsers are) loses nothing,
        reports latency and server CPU, and the node declines the extension."""
        result, stderr = bench("fanout", *urls(node), *pids(node), *TINY, quiet=False)
        assert_complete(result, TINY_EXPECTED)
        assert (True, 0) == (result["deflate_offered"], result["deflate_negotiated"])
        assert {"p50", "p95", "p99", "max", "mean"} == set(result["latency_ms"])
        assert result["latency_ms"]["p50"] > 0
        assert result["server_cpu_s"] >= 0 and "cpu_us_per_delivery" in result
        assert "delivered" in stderr

    def test_connect(self, node: Node) -> None:
        """connect joins every client and reports the rate and RSS per connection."""
        result, _ = bench("connect", *urls(node), *pids(node), "--connections", "30",
                          "--room-size", "10", "--settle", "0.2")  # fmt: skip
        assert (30, {}) == (result["connections"], result["errors"])
        assert result["connections_per_s"] > 0 and "rss_kb_per_connection" in result

    def test_connect_with_one_broadcast_to_all(self, node: Node) -> None:
        """connect --broadcast times one message to every joined client, none lost."""
        result, _ = bench("connect", *urls(node), *pids(node), "--connections", "20",
                          "--room-size", "20", "--settle", "0.2", "--broadcast")  # fmt: skip
        once = result["broadcast"]
        assert (20, 20, 0, 0) == (
            once["expected"],
            once["delivered"],
            once["lost"],
            once["duplicates"],
        )
        assert once["all_delivered_ms"] > 0 and once["latency_ms"]["p99"] > 0

    def test_without_pid_says_so(self, node: Node) -> None:
        """Without --pid the result warns that server figures were not measured."""
        result, _ = bench("fanout", *urls(node), *TINY[:6], "--messages", "2")
        assert ["no --pid given: server CPU and RSS not measured"] == result["warnings"]
        assert "server_cpu_s" not in result


def test_compressing_node_negotiates_with_every_client(tmp_path: Path) -> None:
    """CHAT_WS_COMPRESSION=on: every offering client negotiates deflate and inflates
    what it gets; --no-deflate clients offer nothing."""
    started = Node.start(tmp_path, extra_env={"CHAT_WS_COMPRESSION": "on", "CHAT_RATE_LIMIT": "0"})
    try:
        offered, _ = bench("fanout", *urls(started), *TINY)
        plain, _ = bench("fanout", *urls(started), *TINY, "--no-deflate")
    finally:
        started.process.stop()
    assert_complete(offered, TINY_EXPECTED)
    assert_complete(plain, TINY_EXPECTED)
    assert (6, False, 0) == (
        offered["deflate_negotiated"],
        plain["deflate_offered"],
        plain["deflate_negotiated"],
    )


@pytest.mark.redis
def test_fanout_against_two_node_cluster(tmp_path: Path) -> None:
    """Clients spread over two nodes of a cluster get every message once, in order."""
    with cluster(2, tmp_path) as (_redis, nodes):
        result, _ = bench("fanout", *urls(*nodes), *pids(*nodes), *TINY, "--procs", "2")
    assert_complete(result, TINY_EXPECTED)
    assert 2 == result["generator"]["procs"]


@pytest.mark.redis
def test_node_peer_answers_the_bench(tmp_path: Path) -> None:
    """The Node peer starts and serves join + send_message to the same tool."""
    check_peer()  # fails, not skips, when node_modules is missing: run `npm ci` first
    redis = RedisServer.start(tmp_path)
    peers: list[PeerNode] = []
    try:
        for _ in range(2):
            peers.append(PeerNode.start(tmp_path, redis.url))
        result, _ = bench("fanout", *urls(*peers), *pids(*peers), *TINY)
    finally:
        for peer in peers:
            peer.process.stop()
        redis.stop()
    assert_complete(result, TINY_EXPECTED)
