"""A node's life: identity, heartbeat, reaping dead nodes, readiness and graceful drain."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import socketio

from .config import Settings
from .errors import ChatError
from .metrics import Metrics
from .service import ChatService
from .store.base import Bus, Store
from .tasks import stop_tasks

logger = logging.getLogger(__name__)


def new_node_id() -> str:
    """Unique per process start: a restarted node is a new node."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class NodeRuntime:
    """Background duties of one node, each loop logging and backing off, never dying."""

    def __init__(
        self,
        settings: Settings,
        node_id: str,
        store: Store,
        bus: Bus,
        service: ChatService,
        sio: socketio.AsyncServer,
        metrics: Metrics,
        clustered: bool,
    ) -> None:
        self.settings = settings
        self.node_id = node_id
        self.store = store
        self.bus = bus
        self.service = service
        self.sio = sio
        self.metrics = metrics
        self.clustered = clustered
        self.draining = False
        self._registered = False
        self._backend_ok = not clustered
        self._stopping = False
        self._healthy_since: float | None = None

    async def not_ready_reason(self) -> str | None:
        """None when the node can serve chat; otherwise why not."""
        if self.draining:
            return "node is shutting down"
        if not self.clustered:
            return None
        try:
            await self.store.ping()
        except ChatError:
            return "redis unreachable"
        if not self.bus.healthy:
            return "redis subscription down"
        return None

    def backend_up(self) -> bool:
        return not self.clustered or (self._backend_ok and self.bus.healthy)

    async def _beat(self) -> None:
        try:
            known = await self.store.heartbeat()
        except ChatError:
            self._healthy_since = None
            raise
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()
        self._backend_ok = True
        if not known and self._registered and self.service.connections:
            logger.warning(
                "node %s was declared dead (or Redis lost its data); closing %d connections "
                "so they rejoin",
                self.node_id,
                len(self.service.connections),
            )
            await self.close_clients()
        self._registered = True
        await self.service.retry_orphans()

    async def _sweep(self) -> None:
        # After an outage every node's alive key may have lapsed. Sweep only once this
        # node has been beating for a whole TTL, so its peers have had time to beat too
        # and a Redis blip does not look like the death of the whole cluster.
        healthy_since = self._healthy_since
        if healthy_since is None or time.monotonic() - healthy_since < self.settings.alive_ttl:
            return
        removed = await self.store.reap_dead_nodes()
        self.metrics.sweeps.inc()
        if removed:
            self.metrics.reaped.inc(removed)

    async def _loop(self, name: str, interval: float, step: object) -> None:
        # The flag, not only cancel(): Python 3.11's wait_for can swallow a cancellation
        # that lands as the awaited call finishes, which would leave this loop running.
        backoff = interval
        while not self._stopping:
            try:
                await step()  # type: ignore[operator]
                backoff = interval
            except asyncio.CancelledError:
                raise
            except ChatError:
                self._backend_ok = False
                backoff = min(backoff * 2, max(interval, 5.0))
                logger.warning("%s: backend unavailable, retrying in %.1fs", name, backoff)
            except Exception:
                backoff = min(backoff * 2, max(interval, 5.0))
                logger.exception("%s failed; retrying in %.1fs", name, backoff)
            await asyncio.sleep(backoff)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own the background loops for the app's lifetime (a cleanup_ctx)."""
        tasks: list[asyncio.Task[None]] = []
        if self.clustered:
            interval = self.settings.heartbeat_interval
            tasks = [
                asyncio.create_task(self._loop("heartbeat", interval, self._beat)),
                asyncio.create_task(self._loop("dead-node sweep", interval, self._sweep)),
            ]
        try:
            yield
        finally:
            self._stopping = True
            await stop_tasks(tasks)

    async def close_clients(self) -> None:
        """Close every client's transport so it reconnects (to any node) and rejoins.

        An Engine.IO CLOSE (not a Socket.IO disconnect, after which clients stay away)
        is queued for each socket without waiting for it to be read: a client that has
        stopped reading must not hold the node.
        """
        eio = self.sio.eio
        for sid in list(self.service.connections):
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            sock = eio.sockets.get(eio_sid) if eio_sid is not None else None
            if sock is not None:
                with suppress(Exception):
                    await sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
                    sock.queue.put_nowait(None)  # the writer ends and closes the websocket
                eio.sockets.pop(eio_sid, None)
            with suppress(Exception):
                await self.service.disconnect(sid)

    async def drain(self) -> None:
        """SIGTERM: leave every room at once (others see user_left), close the clients."""
        self.draining = True
        self.metrics.draining.set(1)
        self.service.release_on_disconnect = False
        count = len(self.service.connections)
        try:
            removed = await asyncio.wait_for(self.store.remove_node(), 3.0)
            logger.info("draining node %s: removed %d memberships", self.node_id, removed)
        except (TimeoutError, ChatError):
            logger.warning(
                "draining node %s: backend unreachable, peers will reap us", self.node_id
            )
        await self.close_clients()
        logger.info("draining node %s: closed %d connections", self.node_id, count)
