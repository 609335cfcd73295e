"""What one appended message costs a Redis shard: the store's own append (the Lua script,
WAIT when asked) against the operator's Redis, with nodes' subscriptions simulated.

Redis CPU is read from `INFO cpu` (the whole server: run it against a Redis nothing else
uses, of the same hardware and configuration as production: replicas, AOF). The bench's
keys carry a prefix of their own and are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client

TEXT = "x" * 60  # a short chat line; the body is ~130 bytes with room, name and ts


@dataclass(frozen=True)
class ProbeParams:
    messages: int = 4000
    rooms: int = 50
    in_flight: int = 16
    subscribers: tuple[int, ...] = (1, 4)  # nodes subscribed to every room, one run each
    min_replicas: int = 0  # WAIT for this many replicas after each append
    client_id: bool = True  # every browser send carries one


async def _server_cpu(client: Any) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def _evalsha(client: Any) -> tuple[int, float]:
    stats = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


async def _subscriber(
    url: str, channels: list[str], expected: int, received: list[int], ready: asyncio.Event
) -> None:
    """A node's subscription to every room: reads until it has every message."""
    client = make_client(url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(*channels)
        ready.set()
        while received[0] < expected:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                received[0] += 1
    finally:
        await pubsub.aclose()
        await client.aclose()


async def _one_run(url: str, params: ProbeParams, subscribers: int) -> dict[str, Any]:
    prefix = f"benchcap-{secrets.token_hex(3)}:"
    client = make_client(url)
    store = RedisStore(
        client, node_id="bench-probe", prefix=prefix, min_replicas=params.min_replicas
    )
    rooms = [f"r{i}" for i in range(params.rooms)]
    channels = [store.keys.channel(room) for room in rooms]
    counters = [[0] for _ in range(subscribers)]
    ready = [asyncio.Event() for _ in range(subscribers)]
    readers = [
        asyncio.create_task(_subscriber(url, channels, params.messages, c, r))
        for c, r in zip(counters, ready, strict=True)
    ]
    try:
        async with asyncio.timeout(10):
            await asyncio.gather(*(r.wait() for r in ready))
        cpu_before, (calls_before, usec_before) = await _server_cpu(client), await _evalsha(client)
        started = time.perf_counter()
        queue = iter(range(params.messages))

        async def sender() -> None:
            for i in queue:
                await store.append_message(
                    rooms[i % len(rooms)], "Probe", TEXT, int(time.time() * 1000),
                    f"c{i}" if params.client_id else None, user="bench-probe",
                )  # fmt: skip

        await asyncio.gather(*(sender() for _ in range(params.in_flight)))
        elapsed = time.perf_counter() - started
        await asyncio.wait(readers, timeout=10)  # every publication reached every node
        cpu = await _server_cpu(client) - cpu_before
        calls, usec = await _evalsha(client)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        async for key in client.scan_iter(match=prefix + "*", count=500):
            await client.unlink(key)
        await store.close()
    return {
        "subscribers": subscribers,
        "messages": params.messages,
        "appends_per_s": round(params.messages / elapsed),
        "received_per_subscriber": min(c[0] for c in counters),
        "redis_cpu_us_per_message": round(cpu * 1e6 / params.messages, 2),
        "evalsha_us_per_call": round((usec - usec_before) / max(calls - calls_before, 1), 2),
    }


async def probe(url: str, params: ProbeParams) -> dict[str, Any]:
    """One run per subscriber count; the per-subscriber cost is the slope between the
    first and the last."""
    client = make_client(url)
    try:
        server = await client.info("server")
        replication = await client.info("replication")
        persistence = await client.info("persistence")
    finally:
        await client.aclose()
    runs = [await _one_run(url, params, n) for n in params.subscribers]
    first, last = runs[0], runs[-1]
    spread = last["subscribers"] - first["subscribers"]
    slope = (
        (last["redis_cpu_us_per_message"] - first["redis_cpu_us_per_message"]) / spread
        if spread
        else 0.0
    )
    base = first["redis_cpu_us_per_message"] - slope * (first["subscribers"] - 1)
    return {
        "params": asdict(params),
        "redis_version": server.get("redis_version"),
        "replicas": int(replication.get("connected_slaves", 0)),
        "aof": bool(int(persistence.get("aof_enabled", 0))),
        "runs": runs,
        "redis_us_per_message": round(base, 2),
        "redis_us_per_subscriber": round(max(slope, 0.0), 2),
    }
