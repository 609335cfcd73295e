"""Every few seconds: each node's process and gauges, Redis, the people's sends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .probe import cpu_percent, node_metrics, proc_stats, redis_stats, sockets_to
from .records import loadavg, ms, percentile
from .stage import Stage


async def sample_forever(stage: Stage, every: float, samples: list[dict[str, Any]]) -> None:
    """Append a row to `samples` every `every` seconds until cancelled."""
    previous: dict[str, dict[str, float]] = {}
    previous_t = time.monotonic()
    while True:
        now = time.monotonic()
        t = stage.world.now()
        row: dict[str, Any] = {"t": round(t, 1), "load1": loadavg(), "nodes": []}
        for i, node in enumerate(stage.cluster.nodes, start=1):
            stats = proc_stats(node.process.pid)
            gauges = await node_metrics(node.url)
            key = f"node{i}:{node.process.pid}"
            row["nodes"].append({
                "name": f"node{i}", "pid": node.process.pid, **stats,
                "cpu_pct": cpu_percent(previous.get(key, {}), stats, now - previous_t),
                "tasks": gauges.get("chat_asyncio_tasks"),
                "connections": gauges.get("chat_connections"),
                "rooms": gauges.get("chat_rooms"),
                "redis_oom": gauges.get("chat_redis_oom"),
                "redis_sockets": sockets_to(node.process.pid, stage.redis_port_of(i - 1)),
            })  # fmt: skip
            previous[key] = stats
        redis_proc = proc_stats(stage.redis.process.pid)
        row["redis"] = {
            **redis_proc, **(await redis_stats(stage.redis_client)),
            "cpu_pct": cpu_percent(previous.get("redis", {}), redis_proc, now - previous_t),
        }  # fmt: skip
        previous["redis"] = redis_proc
        previous_t = now
        recent = [s for when, s in stage.world.latencies if when > t - every]
        row["tabs"] = len(stage.tabs())
        row["ready_tabs"] = stage.ready_tabs()
        row["sends"] = len(recent)
        row["p50_ms"] = ms(percentile(recent, 0.5))
        row["p99_ms"] = ms(percentile(recent, 0.99))
        samples.append(row)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - now)))
