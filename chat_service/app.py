"""create_app(settings): the only place the pieces are wired together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from . import wirejson
from .appkeys import METRICS, RUNTIME, SERVICE, SETTINGS, TEMPLATES
from .bus import MemoryBus, RedisBus
from .config import Settings
from .fanout import Delivery, FastManager
from .metrics import Metrics
from .node import NodeRuntime, new_node_id
from .routes import make_templates, security_headers, setup_routes, web_dir
from .service import ChatService
from .sockets import ChatServer, register
from .store.base import Bus, Store
from .store.memory import MemoryStore
from .store.redis import RedisStore, make_client

logger = logging.getLogger(__name__)


def _backend(
    settings: Settings, redis: Redis | None, node_id: str, metrics: Metrics
) -> tuple[Store, Bus, bool]:
    """The URL (or an injected client) picks the backend."""
    if redis is None and settings.redis_url is None:
        bus = MemoryBus()
        return MemoryStore(bus, history_size=settings.history_size), bus, False
    client = redis if redis is not None else make_client(settings.redis_url or "")
    store = RedisStore(
        client,
        node_id=node_id,
        prefix=settings.redis_prefix,
        history_size=settings.history_size,
        node_timeout=settings.alive_ttl,
        on_latency=metrics.observe_redis,
    )
    return store, RedisBus(client, store.keys, node_id), True


def _cors(settings: Settings) -> Any:
    origins = settings.allowed_origins
    if origins is None:
        return None  # python-engineio: same origin (or no Origin header) only
    return "*" if origins == "*" else list(origins)


def create_app(
    settings: Settings, *, redis: Redis | None = None, node_id: str | None = None
) -> web.Application:
    """A node: aiohttp app with Socket.IO attached and its background tasks owned."""
    node_id = node_id or new_node_id()
    metrics = Metrics()
    store, bus, clustered = _backend(settings, redis, node_id, metrics)
    manager = FastManager(max_queue_bytes=settings.max_queue_bytes)
    sio = ChatServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=_cors(settings),
        max_http_buffer_size=settings.max_packet_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        json=wirejson,
        logger=False,
        engineio_logger=False,
    )
    delivery = Delivery(manager, store.backlog)
    bus.set_handlers(delivery.on_event, delivery.refill)
    service = ChatService(settings, store, bus, delivery)
    runtime = NodeRuntime(settings, node_id, store, bus, service, sio, metrics, clustered)
    register(sio, service, metrics, settings)

    def live() -> dict[str, float]:
        return {
            "chat_connections": len(service.connections),
            "chat_rooms": len(delivery.feeds),
            "chat_room_members": sum(len(c.rooms) for c in service.connections.values()),
            "chat_backend_up": 1.0 if runtime.backend_up() else 0.0,
            "chat_slow_consumer_disconnects": manager.slow_consumer_disconnects,
            "chat_feed_duplicates_dropped": delivery.duplicates_dropped,
            "chat_feed_gap_messages": delivery.gaps_filled,
            "chat_deliveries_direct": manager.direct_writes,
            "chat_deliveries_queued": manager.queued_writes,
        }

    metrics.add_live(live)

    app = web.Application(middlewares=[security_headers])
    root = web_dir(settings.web_dir)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[TEMPLATES] = make_templates(root)
    app[SERVICE] = service
    app[RUNTIME] = runtime
    sio.attach(app)
    setup_routes(app, root)

    async def backend_ctx(_app: web.Application) -> AsyncIterator[None]:
        await store.start()
        await bus.start()
        logger.info("node %s starting with %s backend", node_id, "redis" if clustered else "memory")
        async with runtime.running():
            yield
        await bus.close()
        await store.close()

    async def on_shutdown(_app: web.Application) -> None:
        await runtime.drain()

    app.cleanup_ctx.append(backend_ctx)
    app.on_shutdown.append(on_shutdown)
    return app
