"""Backends: one Backend (a store and its bus) per URL scheme, chosen by `open_backend`."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Settings
from .base import Backend
from .memory import MemoryBus, MemoryStore
from .redis import RedisStore
from .redis_bus import RedisBus
from .redis_clients import ClientOptions, RedisClient, make_client

LatencyObserver = Callable[[str, float], None]
FullObserver = Callable[[bool], None]


def open_backend(
    settings: Settings,
    node_id: str,
    *,
    redis: RedisClient | None = None,
    on_latency: LatencyObserver | None = None,
    on_full: FullObserver | None = None,
) -> Backend:
    """Memory when no Redis is configured; otherwise Redis of any form (one server,
    Sentinel or Cluster, by the URL's scheme); an injected client wins."""
    if redis is None and settings.redis_url is None:
        bus = MemoryBus()
        store = MemoryStore(
            bus, history_size=settings.history_size, presence_grace=settings.presence_grace
        )
        return Backend("memory", store, bus)
    options = ClientOptions(
        tls_ca_file=settings.redis_tls_ca_file,
        tls_verify=settings.redis_tls_verify,
        sentinel_password=settings.redis_sentinel_password,
    )
    client = redis if redis is not None else make_client(settings.redis_target or "", options)
    redis_store = RedisStore(
        client,
        node_id=node_id,
        prefix=settings.redis_prefix,
        history_size=settings.history_size,
        node_timeout=settings.alive_ttl,
        presence_grace=settings.presence_grace,
        min_replicas=settings.redis_min_replicas,
        on_latency=on_latency,
        on_full=on_full,
    )
    where = settings.redis_target.describe() if settings.redis_target else "redis"
    return Backend("redis", redis_store, RedisBus(client, redis_store.keys, node_id, where=where))
