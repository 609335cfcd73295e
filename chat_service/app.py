"""create_app(settings): the only place the pieces are wired together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from . import wirejson
from .api import setup_api
from .appkeys import METRICS, MODERATION, RUNTIME, SERVICE, SETTINGS, TEMPLATES, VERIFIER
from .backends import open_backend
from .config import Settings
from .delivery import Delivery
from .metrics import Metrics
from .moderation import ModerationService
from .node import NodeRuntime, new_node_id
from .rooms import LocalRooms
from .routes import make_templates, security_headers, setup_routes, web_dir
from .service import ChatService
from .sockets import register
from .transport import FALLBACKS, make_server

logger = logging.getLogger(__name__)


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
    backend = open_backend(settings, node_id, redis=redis, on_latency=metrics.observe_redis)
    store, bus = backend.store, backend.bus
    transport = make_server(
        max_queue_bytes=settings.max_queue_bytes,
        cors=_cors(settings),
        max_packet_bytes=settings.max_packet_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        json=wirejson,
        ws_compression=settings.ws_compression,
    )
    manager = transport.manager
    delivery = Delivery(transport, store.backlog)
    rooms = LocalRooms(bus, delivery)
    service = ChatService(settings, store, rooms)
    moderation = ModerationService(service, transport, metrics)
    bus.set_handlers(moderation.feed(delivery.on_event), moderation.resubscribed(delivery.refill))
    bus.set_control_handler(moderation.control())
    runtime = NodeRuntime(settings, node_id, backend, service, transport, metrics)
    register(transport, service, metrics, settings, moderation)

    def live() -> dict[str, float]:
        return {
            "chat_connections": len(service.connections),
            "chat_rooms": len(rooms.served),
            "chat_room_members": sum(len(c.rooms) for c in service.connections.values()),
            "chat_backend_up": 1.0 if runtime.backend_up() else 0.0,
            "chat_asyncio_tasks": float(len(asyncio.all_tasks())),
            "chat_slow_consumer_disconnects": manager.slow_consumer_disconnects,
            "chat_feed_duplicates_dropped": delivery.duplicates_dropped,
            "chat_feed_gap_messages": delivery.gaps_filled,
            "chat_deliveries_direct": manager.direct_writes,
            "chat_deliveries_queued": manager.queued_writes,
            "chat_deliveries_coalesced": manager.batch.coalesced,
            "chat_transport_fallbacks": sum(FALLBACKS.values()),
        }

    metrics.add_live(live)

    app = web.Application(middlewares=[security_headers])
    root = web_dir(settings.web_dir)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[TEMPLATES] = make_templates(root)
    app[SERVICE] = service
    app[MODERATION] = moderation
    app[RUNTIME] = runtime
    app[VERIFIER] = settings.verifier()
    transport.sio.attach(app)
    setup_routes(app, root)
    setup_api(app)

    async def backend_ctx(_app: web.Application) -> AsyncIterator[None]:
        await store.start()
        await bus.start()
        logger.info("node %s starting with %s backend", node_id, backend.name)
        async with runtime.running():
            yield
        await delivery.close_all()
        await bus.close()
        await store.close()

    async def on_shutdown(_app: web.Application) -> None:
        await runtime.drain()

    app.cleanup_ctx.append(backend_ctx)
    app.on_shutdown.append(on_shutdown)
    return app
