"""The capacity model's arithmetic (chat_tools.bench.capacity) and its CLI end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_tools.bench.capacity import (
    Coefficients,
    Hardware,
    Load,
    nodes_per_room,
    plan,
    shard_messages_per_s,
)
from chat_tools.procs import Node, cluster


def bench(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    """The real CLI in its own process: (exit status, JSON result if any, stderr)."""
    argv = [sys.executable, "-m", "chat_tools", "bench", *args, "--quiet"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else None, done.stderr


def node_args(*nodes: Node) -> list[str]:
    return [a for n in nodes for a in ("--url", n.url, "--pid", str(n.process.pid))]


COEFF = Coefficients(
    redis_us_per_message=50.0,
    redis_us_per_subscriber=5.0,
    node_us_per_delivery=40.0,
    node_kib_per_connection=32.0,
)


class TestModel:
    def test_worked_example_by_hand(self) -> None:
        """100,000 people in 5,000 rooms at 1 message/min: the figures docs/capacity.md derives."""
        result = plan(COEFF, Load(100_000, 5_000), Hardware(node_cores=2, node_gib=4, headroom=0.5))
        # 1,666.7 msg/s x 20 members = 33,333 deliveries/s x 40 us = 1.33 cores -> 2 nodes by
        # CPU at half of 2 cores; 100,000 x 32 KiB = 3.05 GiB -> 2 nodes by memory at 2 GiB.
        assert (1666.7, 33333.3, 1.33, 2, 2, 2) == (
            result["messages_per_s"],
            result["deliveries_per_s"],
            result["node_cpu_cores"],
            result["nodes_by_cpu"],
            result["nodes_by_memory"],
            result["nodes"],
        )
        # 20 members over 2 nodes: both nodes hold members of nearly every room.
        assert (2.0, 1, round(0.5e6 / 55)) == (
            result["nodes_per_room"],
            result["redis_shards"],
            result["shard_messages_per_s"],
        )

    def test_shards_grow_with_the_message_rate(self) -> None:
        """Without a per-node cost, ten times the messages needs ten times the shards."""
        flat = replace(COEFF, redis_us_per_subscriber=0.0)
        small = plan(flat, Load(100_000, 5_000, 6.0), Hardware())  # 10,000 msg/s
        large = plan(flat, Load(100_000, 5_000, 60.0), Hardware())  # one shard: 10,000/s
        assert (1, 10) == (small["redis_shards"], large["redis_shards"])

    def test_rooms_spread_over_more_nodes_cost_redis_more(self) -> None:
        """Each further node holding members of a room costs the shard per message."""
        few = plan(COEFF, Load(100_000, 5_000, 6.0), Hardware(node_cores=64))
        many = plan(COEFF, Load(100_000, 5_000, 6.0), Hardware(node_cores=1))
        assert few["shard_messages_per_s"] > many["shard_messages_per_s"]

    def test_bad_inputs_are_refused(self) -> None:
        """No people, no rooms or a headroom outside (0, 1] is a clear error."""
        for load, hw in ((Load(0, 1), Hardware()), (Load(1, 1), Hardware(headroom=1.5))):
            with pytest.raises(ValueError):
                plan(COEFF, load, hw)

    @given(st.integers(1, 64), st.floats(1, 5000))
    def test_nodes_per_room_is_bounded(self, nodes: int, room_size: float) -> None:
        """A room spans at least one node and at most min(nodes, members)."""
        spanned = nodes_per_room(nodes, room_size)
        assert 1.0 <= spanned <= min(nodes, max(room_size, 1.0)) + 1e-9

    @given(st.integers(1, 10**7), st.integers(1, 10**5), st.floats(0.01, 60))
    def test_plan_never_overloads(self, people: int, rooms: int, rate: float) -> None:
        """Every planned node core, node memory and shard stays within the headroom."""
        hw = Hardware()
        result = plan(COEFF, Load(people, rooms, rate), hw)
        shard = shard_messages_per_s(COEFF, result["nodes_per_room"], hw.headroom)
        cores = result["node_cpu_cores"] / (result["nodes"] * hw.node_cores)
        memory = result["node_memory_gib"] / (result["nodes"] * hw.node_gib)
        assert (True, True, True) == (
            cores <= hw.headroom + 0.01,
            memory <= hw.headroom + 0.01,
            result["messages_per_s"] <= result["redis_shards"] * shard * 1.001 + 0.1,
        )
        assert math.isfinite(result["shard_messages_per_s_ceiling"])


@pytest.mark.redis
def test_capacity_measures_and_plans(tmp_path: Path) -> None:
    """`bench capacity` against Redis + one node measures every coefficient and plans."""
    with cluster(1, tmp_path, extra_env={"CHAT_RATE_LIMIT": "0"}) as (redis, nodes):
        status, result, stderr = bench("capacity", *node_args(*nodes), "--redis-url", redis.url,
                          "--probe-messages", "300", "--subscribers", "1,2",
                          "--fanout-rooms", "1", "--fanout-duration", "1",
                          "--connections", "20")  # fmt: skip
    assert 0 == status and result is not None, stderr
    runs = result["redis"]["runs"]
    assert ([1, 2], [300, 300]) == (
        [r["subscribers"] for r in runs],
        [r["received_per_subscriber"] for r in runs],
    )
    clean = ("lost", "duplicates", "out_of_order", "errors")
    assert (0, 0, 0, {}) == tuple(result["fanout"][k] for k in clean)
    coefficients = result["plan"]["coefficients"]
    assert all(coefficients[k] > 0 for k in ("redis_us_per_message", "node_us_per_delivery",
                                             "node_kib_per_connection"))  # fmt: skip
    assert result["plan"]["nodes"] >= 2 and result["plan"]["redis_shards"] >= 1


def test_capacity_without_node_figures_says_what_is_missing() -> None:
    """No --pid and no given node coefficients: a clear error before anything runs."""
    status, _, stderr = bench("capacity", "--redis-url", "redis://127.0.0.1:1/0")
    assert (1, True) == (status, "--node-us-per-delivery" in stderr)


def test_capacity_names_an_unreachable_redis() -> None:
    """A Redis that does not answer is named in a one-line error, not a traceback."""
    given = ["--node-us-per-delivery", "40", "--node-kib-per-connection", "32"]
    status, _, stderr = bench("capacity", "--redis-url", "redis://127.0.0.1:1/0", *given)
    assert (1, True, False) == (status, "redis://127.0.0.1:1/0" in stderr, "Traceback" in stderr)
