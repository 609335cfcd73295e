"""Ordered room feeds between nodes: per-room Redis channels, reconnect with capped backoff.

A node subscribes to exactly the rooms it serves (`rooms.LocalRooms` decides which).
On Redis Cluster the channels are sharded (SSUBSCRIBE): each room's events come from the
shard that owns its slot, and redis-py's ClusterPubSub moves a subscription to the new
owner after a failover; that re-subscription is a resubscribe like any other.
Events arrive in publication order, which for messages is id order (they are published
inside the atomic append). When a channel is subscribed again after an outage, the node
is told so it can refill the room from history before handling anything newer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlparse

from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub

from ..errors import BackendUnavailable
from ..redis_urls import parse_target
from ..tasks import stop_tasks
from .base import ControlHandler, EventHandler, ResubscribeHandler
from .keys import Keys
from .moderation_redis import answer_control
from .redis_clients import RedisClient, is_cluster
from .wire import RoomEvent, parse_control_request

logger = logging.getLogger(__name__)
SHARDED_POLL_S = 0.01


def describe_url(url: str | None) -> str:
    """Where Redis is, for logs: the form and the hosts, without user or password."""
    if not url:
        return "redis"
    if url.startswith("unix://"):
        return f"redis at {urlparse(url).path}"
    return parse_target(url).describe()


class RedisBus:
    """One pub/sub connection per node; a set of subscribed rooms, idempotent both ways."""

    def __init__(
        self,
        client: RedisClient,
        keys: Keys,
        node_id: str,
        *,
        op_timeout: float = 3.0,
        probe_interval: float = 2.0,
        max_backoff: float = 5.0,
        where: str = "redis",
    ) -> None:
        self._client = client
        self._sharded = is_cluster(client)
        self._keys = keys
        self._control = f"{keys.prefix}bus:{node_id}"
        self._op_timeout = op_timeout
        self._probe_interval = probe_interval
        self._max_backoff = max_backoff
        self._where = where
        self._rooms: set[str] = set()
        # SUBSCRIBE and UNSUBSCRIBE leave in the order they were asked for: a room left
        # and joined again at once must not end unsubscribed.
        self._commands = asyncio.Lock()
        self._down_since: float | None = None
        self._last_down_log = 0.0
        self._pending: dict[str, asyncio.Future[None]] = {}  # SUBSCRIBE sent, not confirmed
        self._confirmed: set[str] = set()  # subscribed on the current connection
        self._pubsub: PubSub | None = None
        self._ready = False
        self._last_seen = 0.0
        self._on_event: EventHandler | None = None
        self._on_resubscribed: ResubscribeHandler | None = None
        self._on_control: ControlHandler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.reconnects = 0

    @property
    def healthy(self) -> bool:
        silent_for = time.monotonic() - self._last_seen
        return self._ready and silent_for < self._probe_interval * 3

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    def set_handlers(self, on_event: EventHandler, on_resubscribed: ResubscribeHandler) -> None:
        self._on_event = on_event
        self._on_resubscribed = on_resubscribed

    def set_control_handler(self, on_control: ControlHandler) -> None:
        self._on_control = on_control

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="bus-listener"),
            asyncio.create_task(self._probe(), name="bus-probe"),
        ]

    async def close(self) -> None:
        self._closing = True
        await stop_tasks(self._tasks)
        await self._drop_pubsub()
        self._fail_waiters()

    async def subscribe(self, room: str) -> None:
        """Add the room; return once Redis confirmed it (a reconnect re-subscribes it)."""
        self._rooms.add(room)
        await self._ensure_subscribed(room)

    async def _ensure_subscribed(self, room: str) -> None:
        """Return once Redis has confirmed the room's subscription on this connection."""
        if room in self._confirmed:
            return
        if not self._ready or self._pubsub is None:
            raise BackendUnavailable()
        future = self._pending.get(room)
        if future is None:  # the first joiner sends SUBSCRIBE; later ones share its wait
            future = asyncio.get_running_loop().create_future()
            self._pending[room] = future
            try:
                async with self._commands:
                    await asyncio.wait_for(
                        self._sub(self._pubsub, self._keys.channel(room)), self._op_timeout
                    )
            except Exception as exc:
                if self._pending.get(room) is future:
                    del self._pending[room]
                if not future.done():
                    future.set_exception(BackendUnavailable())
                    future.exception()  # retrieved: the waiters below get their own error
                raise BackendUnavailable() from exc
        try:
            await asyncio.wait_for(asyncio.shield(future), self._op_timeout)
        except (TimeoutError, BackendUnavailable) as exc:
            raise BackendUnavailable() from exc

    async def unsubscribe(self, room: str) -> None:
        if room not in self._rooms:
            return
        self._rooms.discard(room)
        self._confirmed.discard(room)
        if self._pubsub is not None and self._ready:
            try:
                async with self._commands:
                    await asyncio.wait_for(
                        self._unsub(self._pubsub, self._keys.channel(room)), self._op_timeout
                    )
            except Exception as exc:  # the next reconnect drops it anyway
                logger.warning("unsubscribe from room %s failed: %s", room, exc.__class__.__name__)

    async def _sub(self, pubsub: PubSub, *channels: str) -> None:
        if isinstance(pubsub, ClusterPubSub):
            await pubsub.ssubscribe(*channels)
        else:
            await pubsub.subscribe(*channels)

    async def _unsub(self, pubsub: PubSub, channel: str) -> None:
        if isinstance(pubsub, ClusterPubSub):
            await pubsub.sunsubscribe(channel)
        else:
            await pubsub.unsubscribe(channel)

    async def _next(self, pubsub: PubSub) -> dict[str, Any] | None:
        """The next message or confirmation, or None after `probe_interval` of quiet."""
        if isinstance(pubsub, ClusterPubSub):
            # ClusterPubSub polls its per-shard connections in turn, each for a share of
            # the timeout and holding that connection's lock: a long timeout would hold
            # back events of the other shards and a join's SSUBSCRIBE. Short polls keep
            # both within a few milliseconds.
            sharded: dict[str, Any] | None = await pubsub.get_sharded_message(
                ignore_subscribe_messages=False, timeout=SHARDED_POLL_S
            )
            return sharded
        message: dict[str, Any] | None = await pubsub.get_message(
            ignore_subscribe_messages=False, timeout=self._probe_interval
        )
        return message

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            try:
                await self._connect()
                backoff = 0.05
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log_down(exc, backoff)
            self._ready = False
            await self._drop_pubsub()
            self._fail_waiters()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _log_down(self, exc: Exception, backoff: float) -> None:
        """Say once that Redis is unreachable, then remind every 30 s, not every retry."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self._last_down_log = now
            logger.warning(
                "%s unreachable (%s: %s); room feeds paused, retrying with backoff up to %.0fs",
                self._where,
                exc.__class__.__name__,
                exc,
                self._max_backoff,
            )
        elif now - self._last_down_log >= 30.0:
            self._last_down_log = now
            logger.warning(
                "%s still unreachable after %.0fs (%s); retrying in %.2fs",
                self._where,
                now - self._down_since,
                exc.__class__.__name__,
                backoff,
            )

    async def _connect(self) -> None:
        self._pubsub = self._client.pubsub()
        channels = [self._control, self._keys.control]
        channels += [self._keys.channel(room) for room in self._rooms]
        await asyncio.wait_for(self._sub(self._pubsub, *channels), self._op_timeout)
        self._last_seen = time.monotonic()
        self._ready = True
        if self._down_since is not None:
            logger.info(
                "%s reachable again after %.1fs; %d room feeds resubscribed",
                self._where,
                time.monotonic() - self._down_since,
                len(self._rooms),
            )
            self._down_since = None
        self.reconnects += 1

    async def _listen(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        while not self._closing:
            message = await self._next(pubsub)
            if message is not None:
                self._last_seen = time.monotonic()
                await self._handle(message)
            elif time.monotonic() - self._last_seen > self._probe_interval * 3:
                raise ConnectionError("room feed subscription went silent")

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if not isinstance(channel, str) or channel == self._control:
            return
        if channel == self._keys.control:
            self._control_message(kind, message)
            return
        room = self._keys.room_of_channel(channel)
        if room is None:
            return
        if kind in ("subscribe", "ssubscribe"):
            future = self._pending.pop(room, None)
            if room in self._rooms:
                self._confirmed.add(room)
            if future is not None:
                if not future.done():
                    future.set_result(None)  # a join's own subscription: it reads history
            elif room in self._rooms and self._on_resubscribed is not None:
                if self._sharded:  # ClusterPubSub moved the room to a new master: an outage
                    self.reconnects += 1
                await self._on_resubscribed(room)  # subscribed again: refill what was missed
        elif kind == "sunsubscribe" and room in self._rooms and room not in self._pending:
            # Not asked for: Redis Cluster moved the room's slot to another master and
            # dropped the subscription. Subscribe again (ClusterPubSub follows the MOVED
            # reply to the new owner); its confirmation refills the room like a reconnect.
            self._confirmed.discard(room)
            self._spawn(self._resubscribe(room))
        elif kind in ("message", "smessage") and room in self._rooms and self._on_event is not None:
            try:
                event = RoomEvent.decode(message["data"])
            except (ValueError, TypeError):
                logger.warning("dropped a malformed event on room %s", room)
                return
            await self._on_event(room, event)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(work))

    def _control_message(self, kind: Any, message: dict[str, Any]) -> None:
        if kind in ("message", "smessage"):
            self._spawn(self._carry_out(message["data"]))

    async def _carry_out(self, raw: str | bytes) -> None:
        """A node-wide request: do this node's part, then answer (even with 0), so the
        asker knows every node has been heard."""
        try:
            kind, request, argument = parse_control_request(raw)
        except ValueError:
            logger.warning("dropped a malformed node-control request")
            return
        count = 0
        try:
            if self._on_control is not None:
                count = await self._on_control(kind, argument)
        except Exception:
            logger.exception("node-control request %s failed", kind)
        try:
            await answer_control(self._client, self._keys, request, count)
        except Exception as exc:
            logger.warning("answering node-control request failed: %s", exc.__class__.__name__)

    async def _resubscribe(self, room: str) -> None:
        pubsub = self._pubsub
        if pubsub is None or room not in self._rooms:
            return  # a reconnect subscribes every room anyway
        logger.info("room %s moved to another Redis Cluster shard: subscribing again", room)
        try:
            async with self._commands:
                await asyncio.wait_for(
                    self._sub(pubsub, self._keys.channel(room)), self._op_timeout
                )
        except Exception as exc:  # the silence check reconnects everything
            logger.warning("resubscribing room %s failed: %s", room, exc.__class__.__name__)

    async def _probe(self) -> None:
        """Publish to our own channel so a silent (half-open) subscription is noticed."""
        while not self._closing:
            await asyncio.sleep(self._probe_interval)
            if not self._ready:
                continue
            try:
                command = "SPUBLISH" if self._sharded else "PUBLISH"
                await asyncio.wait_for(
                    self._client.execute_command(command, self._control, "probe"),
                    self._op_timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("feed probe failed: %s", exc.__class__.__name__)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _fail_waiters(self) -> None:
        """The connection is gone: pending joins fail; the rooms stay for the reconnect."""
        self._confirmed.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BackendUnavailable())
                future.exception()
