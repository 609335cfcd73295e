"""Backends: one Backend (a store and its bus) per URL scheme, chosen by `open_backend`."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from ..config import Settings
from .base import Backend
from .memory import MemoryBus, MemoryStore
from .redis import RedisStore, make_client
from .redis_bus import RedisBus, describe_url

LatencyObserver = Callable[[str, float], None]


def open_backend(
    settings: Settings,
    node_id: str,
    *,
    redis: Redis | None = None,
    on_latency: LatencyObserver | None = None,
) -> Backend:
    """Memory when no Redis is configured; otherwise Redis (an injected client wins)."""
    if redis is None and settings.redis_url is None:
        bus = MemoryBus()
        store = MemoryStore(
            bus, history_size=settings.history_size, presence_grace=settings.presence_grace
        )
        return Backend("memory", store, bus)
    client = redis if redis is not None else make_client(settings.redis_url or "")
    redis_store = RedisStore(
        client,
        node_id=node_id,
        prefix=settings.redis_prefix,
        history_size=settings.history_size,
        node_timeout=settings.alive_ttl,
        presence_grace=settings.presence_grace,
        on_latency=on_latency,
    )
    where = describe_url(settings.redis_url) if settings.redis_url else "redis"
    return Backend("redis", redis_store, RedisBus(client, redis_store.keys, node_id, where=where))
