"""The leak verdict: after warm-up, a series must stay flat within noise.

Flat means the median of the last third of the samples is no more than `rel` above the
median of the first third, or no more than `floor` above it in absolute terms (small
series jitter by whole units). Fewer than 9 samples are not judged.

A node's open fds are judged in two parts, each against what may legitimately move it.
Its sockets to Redis fill the connection pool on demand (a node restarted by a fault
starts near none), so they may grow by up to the pool's size and not beyond. Every other
fd is a client connection (which follows the people, counted by `chat_connections`) or
belongs to the process itself (listening sockets, the event loop, logs), which must not
grow: the fds beyond connections and Redis sockets get the small floor of a count.
A node's asyncio tasks follow its connections too (the libraries run a few per
WebSocket): what is judged is the count beyond the share a least-squares fit over the
series puts on connections. A leak grows with time, not with the connections open now.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Trend:
    name: str
    samples: int
    first: float
    last: float
    leak: bool | None  # None: too few samples to judge

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "samples": self.samples, "first": self.first,
                "last": self.last, "leak": self.leak}  # fmt: skip


def judge(name: str, values: Sequence[float], rel: float, floor: float) -> Trend:
    if len(values) < 9:
        return Trend(name, len(values), 0.0, 0.0, None)
    third = len(values) // 3
    first = statistics.median(values[:third])
    last = statistics.median(values[-third:])
    growth = last - first
    leak = growth > floor and growth > rel * max(first, 1e-9)
    return Trend(name, len(values), first, last, leak)


def node_trends(name: str, samples: Sequence[Mapping[str, Any]], redis_pool: int) -> list[Trend]:
    """RSS, fds (Redis sockets, and the rest beyond client connections) and asyncio tasks
    of one node process, from the soak's per-node samples."""
    rss = [float(n["rss_mib"]) for n in samples]
    counted = [
        n for n in samples
        if n.get("connections") is not None and n.get("redis_sockets") is not None
    ]  # fmt: skip
    redis = [float(n["redis_sockets"]) for n in counted]
    own = [float(n["fds"] - n["connections"] - n["redis_sockets"]) for n in counted]
    with_tasks = [
        n for n in samples if n.get("tasks") is not None and n.get("connections") is not None
    ]
    tasks = beyond_connections(
        [float(n["tasks"]) for n in with_tasks], [float(n["connections"]) for n in with_tasks]
    )
    return [
        judge(f"{name} rss_mib", rss, 0.10, 8.0),
        judge(f"{name} redis_sockets", redis, 0.20, float(redis_pool)),
        judge(f"{name} fds_beyond_connections_and_redis", own, 0.20, 10.0),
        judge(f"{name} asyncio_tasks_beyond_connections", tasks, 0.20, 20.0),
    ]


def beyond_connections(values: Sequence[float], connections: Sequence[float]) -> list[float]:
    """`values` less the part that follows `connections` (the slope of a least-squares
    fit, never below 0); the values themselves when connections never moved."""
    try:
        slope = max(statistics.linear_regression(connections, values).slope, 0.0)
    except statistics.StatisticsError:
        slope = 0.0
    return [v - slope * c for v, c in zip(values, connections, strict=True)]
