"""Faults done to links and to Redis' memory: coroutines on the soak's event loop.

Each one makes its fault for `hold` seconds and undoes it, whatever happens meanwhile.
`level` (0-1, from the seeded schedule) says how bad.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from .link import HEALTHY, LinkProxy, ProxyHost, Shape


@dataclass
class Links:
    """The soak's proxies: node i -> Redis (none when no fault needs them), and the
    mobile link of a share of the people -> the balancer."""

    host: ProxyHost
    redis: list[LinkProxy] = field(default_factory=list)
    lossy: LinkProxy | None = None


def slow_redis_shape(level: float) -> Shape:
    """50-500 ms added to every round trip, a tenth of it as jitter."""
    round_trip = 0.05 + 0.45 * level
    return Shape(latency=round_trip / 2, jitter=round_trip / 10)


def lossy_shape(level: float) -> Shape:
    """A mobile link: 100-300 ms round trip, up to 100 ms of jitter each way, 64 KiB/s."""
    round_trip = 0.1 + 0.2 * level
    return Shape(latency=round_trip / 2, jitter=0.1, bandwidth=64 * 1024)


async def partition(links: Links, node: int, hold: float) -> None:
    """One node's link to Redis is cut (the others' are fine), then healed."""
    link = links.redis[node]
    link.cut = True
    try:
        await asyncio.sleep(hold)
    finally:
        link.cut = False


async def slow_redis(links: Links, level: float, hold: float) -> None:
    """Every node's round trips to Redis slow down (a saturated shard, a far replica)."""
    shape = slow_redis_shape(level)
    for link in links.redis:
        link.shape = shape
    try:
        await asyncio.sleep(hold)
    finally:
        for link in links.redis:
            link.shape = HEALTHY


async def redis_full(redis_url: str, hold: float) -> None:
    """Redis reaches `maxmemory` (noeviction refuses writes), then gets its memory back."""
    admin = Redis.from_url(redis_url, socket_timeout=3, decode_responses=True)
    try:
        before = str((await admin.config_get("maxmemory")).get("maxmemory") or "0")
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", "1")
        try:
            await asyncio.sleep(hold)
        finally:
            await admin.config_set("maxmemory", before)
    finally:
        await admin.aclose()


async def lossy(links: Links, level: float, hold: float, rng: random.Random) -> None:
    """The people behind mobile links get latency, jitter and a bandwidth cap, and every
    few seconds a stall (0.5-3 s) or a quarter of their connections reset."""
    link = links.lossy
    if link is None:
        raise RuntimeError("no lossy link: the run has no people behind one")
    link.shape = lossy_shape(level)
    until = time.monotonic() + hold
    try:
        while (left := until - time.monotonic()) > 0:
            await asyncio.sleep(min(rng.uniform(2.0, 6.0), left))
            if time.monotonic() >= until:
                break
            if rng.random() < 0.5:
                link.stall(rng.uniform(0.5, 3.0))
            else:
                await links.host.acall(lambda: link.drop(0.25))
    finally:
        link.shape = HEALTHY
