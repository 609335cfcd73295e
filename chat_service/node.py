"""A node's life: identity, heartbeat, reaping dead nodes, presence grace, readiness, drain."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from .backends.base import Backend
from .config import Settings
from .domain.backoff import Backoff
from .errors import BackendFull, ChatError
from .metrics import Metrics
from .service import ChatService, now_ms
from .tasks import stop_tasks
from .transport import Transport

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
        backend: Backend,
        service: ChatService,
        transport: Transport,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.node_id = node_id
        self.backend = backend
        self.store = backend.store
        self.bus = backend.bus
        self.service = service
        self.transport = transport
        self.metrics = metrics
        self.draining = False
        self.leaving = False
        self._registered = False
        self._backend_ok = False
        self._stopping = False
        self._healthy_since: float | None = None
        self.restores = 0
        self._seen_reconnects = 0

    async def not_ready_reason(self) -> str | None:
        """None when the node can serve chat; otherwise why not."""
        if self.leaving or self.draining:
            return "node is shutting down"
        try:
            await self.store.ping()
        except ChatError:
            return "redis unreachable"
        if not self.bus.healthy:
            return "redis subscription down"
        return None

    def backend_up(self) -> bool:
        return self._backend_ok and self.bus.healthy

    async def _beat(self) -> None:
        try:
            known = await self.store.heartbeat()
        except ChatError:
            self._healthy_since = None
            raise
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()
        self._backend_ok = True
        # After any outage (the feed reconnected) seats may be gone even when this node's
        # registration survived (an AOF that lost its last second): restore is idempotent.
        reconnected = self.bus.reconnects > self._seen_reconnects
        self._seen_reconnects = self.bus.reconnects
        lost = not known and self._registered
        if (lost or (reconnected and self._registered)) and self.service.connections:
            await self._restore()
        self._registered = True
        await self.service.retry_orphans()

    async def _restore(self) -> None:
        """Redis lost this node's seats (restarted empty, or we were declared dead):
        put them back so every connection stays a member without rejoining."""
        started = time.monotonic()
        lost = await self.service.restore_seats()
        self.restores += 1
        logger.info(
            "node %s: Redis came back; checked and restored the seats of %d connections in %.2fs",
            self.node_id,
            len(self.service.connections),
            time.monotonic() - started,
            extra={"node": self.node_id},
        )
        for sid in lost:  # another user took the name meanwhile: rejoin to learn it
            await self.transport.close(sid)
            with suppress(Exception):
                await self.service.disconnect(sid)

    async def _expire(self) -> None:
        left = await self.store.expire_lingering(now_ms())
        if left:
            logger.debug("presence grace ended for %d users", left)

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
        # Attempt 0 is the loop's own cadence; each failure in a row doubles it, up to 5 s.
        backoff = Backoff(base=interval, cap=max(interval, 5.0), jitter=0.0)
        failures = 0
        while not self._stopping:
            try:
                await step()  # type: ignore[operator]
                failures = 0
            except asyncio.CancelledError:
                raise
            except BackendFull:
                # Redis answers but stores nothing: not an outage (it is logged and
                # exported as chat_redis_oom once, by the store); keep the cadence.
                failures = 0
            except ChatError:
                self._backend_ok = False
                failures += 1
                logger.warning(
                    "%s: backend unavailable, retrying in %.1fs", name, backoff.delay(failures)
                )
            except Exception:
                failures += 1
                logger.exception("%s failed; retrying in %.1fs", name, backoff.delay(failures))
            await asyncio.sleep(backoff.delay(failures))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own the background loops for the app's lifetime (a cleanup_ctx)."""
        interval = self.settings.heartbeat_interval
        tasks = [
            asyncio.create_task(self._loop("heartbeat", interval, self._beat)),
            asyncio.create_task(self._loop("dead-node sweep", interval, self._sweep)),
            asyncio.create_task(
                self._loop("presence grace", self.settings.linger_interval, self._expire)
            ),
        ]
        try:
            yield
        finally:
            self._stopping = True
            await stop_tasks(tasks)

    async def close_clients(self) -> None:
        """Close every client at the Engine.IO level so it reconnects (to any node)."""
        for sid in list(self.service.connections):
            await self.transport.close(sid)
            with suppress(Exception):
                await self.service.disconnect(sid)

    def announce_stop(self) -> None:
        """SIGTERM with a drain delay: fail /readyz from now on but keep serving, so every
        balancer's health check takes this node out before it closes anything."""
        self.leaving = True
        self.metrics.draining.set(1)

    async def drain(self) -> None:
        """SIGTERM: unseat every connection at once (their users linger for the presence
        grace, so a user who reconnects elsewhere in time is never seen leaving), then
        close the clients."""
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
