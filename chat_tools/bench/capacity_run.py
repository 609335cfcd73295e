"""`chat-tools bench capacity`: measure the model's coefficients here, then plan a load.

Redis: the store's own append against `--redis-url` (redisprobe). Nodes (with `--pid`):
a fanout run for CPU per delivery and a connect run for memory per connection, against
the node URLs. Without `--pid` the node coefficients must be given.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from chat_service.errors import BackendUnavailable

from .capacity import Coefficients, Hardware, Load, plan
from .pool import BenchFailure
from .redisprobe import ProbeParams, probe
from .scenarios import ConnectParams, FanoutParams, Target, run_connect, run_fanout

# 10 rooms x 20 members, 2 senders per room at 25 msg/s: 10,000 deliveries/s offered,
# well inside one core of a node and of the generator.
NODE_FANOUT = FanoutParams(rooms=10, clients=20, senders=2, rate=25.0, duration=10.0, drain=10.0)


@dataclass(frozen=True)
class CapacityParams:
    redis_url: str
    load: Load
    hardware: Hardware
    probe: ProbeParams
    fanout: FanoutParams = NODE_FANOUT
    connections: int = 1000
    node_us_per_delivery: float | None = None  # given instead of measured (no --pid)
    node_kib_per_connection: float | None = None


def run_capacity(target: Target, params: CapacityParams) -> dict[str, Any]:
    us, kib = params.node_us_per_delivery, params.node_kib_per_connection
    if not target.pids and (us is None or kib is None):
        raise BenchFailure(
            "node coefficients unknown: give --pid of the nodes (measured here) or "
            "--node-us-per-delivery and --node-kib-per-connection"
        )
    try:
        redis = asyncio.run(probe(params.redis_url, params.probe))
    except (RedisError, BackendUnavailable, OSError) as exc:
        cause = exc.__cause__ or exc
        raise BenchFailure(f"Redis at {params.redis_url}: {cause!r}") from exc
    result: dict[str, Any] = {"scenario": "capacity", "redis": redis, "warnings": []}
    if target.pids:
        # Memory first: after a fanout the nodes' heaps have room to spare, and RSS growth
        # per connection would read low.
        connect = run_connect(target, ConnectParams(params.connections, 50, 1.0, False))
        fanout = run_fanout(target, params.fanout)
        result["fanout"] = _node_figures(
            fanout, ("deliveries_per_s", "cpu_us_per_delivery", "acks_ok", "redis_cpu_s")
        )
        result["connect"] = _node_figures(connect, ("connections", "rss_kb_per_connection"))
        result["warnings"] += fanout["warnings"] + connect["warnings"]
        if fanout["lost"] or fanout["duplicates"] or fanout["out_of_order"]:
            raise BenchFailure(f"the fanout run was not clean: {result['fanout']}")
        us = us if us is not None else fanout.get("cpu_us_per_delivery")
        kib = kib if kib is not None else connect.get("rss_kb_per_connection")
    if us is None or kib is None:
        raise BenchFailure(f"the node runs measured nothing: {result['warnings']}")
    base = redis["redis_us_per_message"]
    fanout_cpu = result.get("fanout", {}).get("redis_cpu_s")
    if fanout_cpu is not None and result["fanout"]["acks_ok"]:
        # Redis under the nodes' real traffic (one append per send, heartbeats, the
        # nodes' subscriptions): often dearer per message than the probe's 16 in flight.
        in_fanout = fanout_cpu * 1e6 / result["fanout"]["acks_ok"]
        in_fanout -= redis["redis_us_per_subscriber"] * (len(target.pids) - 1)
        result["redis_us_per_message_in_fanout"] = round(in_fanout, 2)
        base = max(base, in_fanout)
    coefficients = Coefficients(
        redis_us_per_message=round(base, 2),
        redis_us_per_subscriber=redis["redis_us_per_subscriber"],
        node_us_per_delivery=float(us),
        node_kib_per_connection=float(kib),
    )
    result["plan"] = plan(coefficients, params.load, params.hardware)
    return result


def _node_figures(run: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    figures = {key: run.get(key) for key in keys}
    figures.update({key: run[key] for key in ("lost", "duplicates", "out_of_order") if key in run})
    figures["errors"] = run["errors"]
    figures["other_cpu_cores"] = run.get("other_cpu_cores")
    return figures
