"""`chat-tools bench redis-ha`: Redis beyond one server, measured: the cost of
CHAT_REDIS_MIN_REPLICAS (WAIT), and fanout on a 3-master Redis Cluster beside one Redis
with each Redis process's CPU.

    .venv/bin/chat-tools bench redis-ha wait
    .venv/bin/chat-tools bench redis-ha fanout --duration 10

`wait` times `append_message` on a master with one replica, one at a time and 16 at a
time, with WAIT off and on. `fanout` starts 2 nodes on one Redis, then on a 3+0 Cluster,
and runs `chat-tools bench fanout` against each with --redis-pid for every Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client

from ..procs import Node, RedisServer, free_port
from ..redis_topologies import ClusterTopology, RedisInstance, server_argv, wait_in_sync
from .procstat import total_cpu_seconds


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000

    return {"p50_ms": round(pick(0.5), 3), "p99_ms": round(pick(0.99), 3)}


async def _appends(port: int, min_replicas: int, count: int, parallel: int) -> dict[str, Any]:
    store = RedisStore(
        make_client(f"redis://127.0.0.1:{port}/0"),
        node_id="bench",
        prefix=f"w{min_replicas}{parallel}:",
        min_replicas=min_replicas,
    )
    latencies: list[float] = []

    async def worker(w: int) -> None:
        for i in range(count // parallel):
            started = time.perf_counter()
            await store.append_message(f"r{w}", "bench", "x" * 100, i, f"c{w}-{i}")
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(parallel)))
    elapsed = time.perf_counter() - began
    await store.close()
    return {
        "min_replicas": min_replicas,
        "parallel": parallel,
        "sends": len(latencies),
        "per_s": round(len(latencies) / elapsed),
        **_percentiles(latencies),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
    }


def wait_cost(count: int) -> list[dict[str, Any]]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-wait-"))
    master_port, replica_port = free_port(), free_port()
    master = RedisInstance.start(
        master_port, server_argv(master_port, log_dir / "m"), log_dir, "master"
    )
    replica = RedisInstance.start(
        replica_port,
        server_argv(replica_port, log_dir / "r", "--replicaof", "127.0.0.1", str(master_port)),
        log_dir,
        "replica",
    )
    try:
        wait_in_sync(replica_port)
        results = []
        for parallel in (1, 16):
            for min_replicas in (0, 1, 0, 1):  # interleaved: the second pair shows the noise
                results.append(asyncio.run(_appends(master_port, min_replicas, count, parallel)))
                print(json.dumps(results[-1]), flush=True)
        return results
    finally:
        replica.stop()
        master.stop()


def _fanout(urls: list[str], redis_pids: list[int], node_pids: list[int], args: Any) -> Any:
    argv = [sys.executable, "-m", "chat_tools", "bench", "fanout", "--quiet"]
    for url in urls:
        argv += ["--url", url]
    for pid in node_pids:
        argv += ["--pid", str(pid)]
    for pid in redis_pids:
        argv += ["--redis-pid", str(pid)]
    argv += ["--rooms", str(args.rooms), "--clients", str(args.clients)]
    argv += ["--senders", str(args.senders), "--rate", str(args.rate)]
    argv += ["--duration", str(args.duration)]
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    before = {pid: total_cpu_seconds((pid,)) for pid in redis_pids}
    subprocess.run([*argv, "--output", str(out)], check=True, timeout=600)
    result = json.loads(out.read_text())
    result["cpu_s_per_redis"] = [
        round(total_cpu_seconds((pid,)) - before[pid], 3) for pid in redis_pids
    ]
    return result


def fanout(args: Any) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    env = {"CHAT_RATE_LIMIT": "0"}
    results: dict[str, Any] = {}
    single = RedisServer.start(log_dir)
    nodes = [Node.start(log_dir, single.url, extra_env=env) for _ in range(2)]
    try:
        results["one_redis"] = _fanout(
            [n.url for n in nodes], [single.process.pid], [n.process.pid for n in nodes], args
        )
    finally:
        for node in nodes:
            node.process.stop()
        single.stop()
    cluster = ClusterTopology.start(log_dir, replicas=False)
    nodes = [Node.start(log_dir, cluster.url, extra_env=env) for _ in range(2)]
    try:
        results["cluster_3_masters"] = _fanout(
            [n.url for n in nodes],
            [n.process.pid for n in cluster.nodes],
            [n.process.pid for n in nodes],
            args,
        )
    finally:
        for node in nodes:
            node.process.stop()
        cluster.stop()
    return results


def main(argv: list[str]) -> int:
    """Run `wait` or `fanout`; print the JSON result (and write it to --out)."""
    parser = argparse.ArgumentParser(
        prog="chat-tools bench redis-ha",
        description="The cost of WAIT on a replica; fanout on one Redis and on a Cluster.",
    )
    parser.add_argument("what", choices=("wait", "fanout"))
    parser.add_argument("--count", type=int, default=3200, help="appends per wait run")
    parser.add_argument("--rooms", type=int, default=30)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--senders", type=int, default=2, help="senders per room")
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per sender")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: Any = wait_cost(args.count) if args.what == "wait" else fanout(args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0
