"""Local delivery: carries out what each room's state machine decides.

`domain.ordering.RoomFeed` owns every decision (what to send to whom, when a joiner goes
live, when history must be read); this module only does the I/O: sends and broadcasts
through the transport, enters connections into rooms, and runs each history read as a
task of its own whose result (or failure) goes back to the machine. One slow read never
stalls the bus listener that every room shares; the room's later events queue inside
the machine meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from .backends.base import Backlog
from .backends.wire import RoomEvent, message_ts
from .domain.backoff import Backoff
from .domain.joiners import UPDATED, Action, Broadcast, Enter, FeedCounters, Fetch, Send
from .domain.ordering import RoomFeed

logger = logging.getLogger(__name__)
BacklogFetcher = Callable[[str, int], Awaitable[Backlog]]
LatencyObserver = Callable[[float], None]
RETRY = Backoff(base=0.1, cap=5.0)  # a failed history read; jittered: rooms retry apart


def retry_delay(attempt: int, backoff: Backoff = RETRY) -> float:
    """Seconds before read attempt `attempt` (0: the first read, at once)."""
    return 0.0 if attempt <= 0 else backoff.delay(attempt - 1)


class Connections(Protocol):
    """What delivery needs of the transport (see `transport.Transport`)."""

    def send(self, sid: str, event: str, payload_json: str) -> bool: ...

    def broadcast(
        self, room: str, event: str, payload_json: str, skip_sid: str | None = None
    ) -> int: ...

    def enter(self, sid: str, room: str) -> None: ...

    def leave(self, sid: str, room: str) -> None: ...


class Delivery:
    """Applies each room's state machine to the local connections of that room."""

    def __init__(
        self,
        connections: Connections,
        fetch_backlog: BacklogFetcher,
        *,
        on_latency: LatencyObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connections = connections
        self._fetch = fetch_backlog
        self._on_latency = on_latency
        self._clock = clock  # wall clock: a message's ts is the appending node's wall clock
        self.feeds: dict[str, RoomFeed] = {}
        self.counters = FeedCounters()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def duplicates_dropped(self) -> int:
        return self.counters.duplicates_dropped

    @property
    def gaps_filled(self) -> int:
        return self.counters.gaps_filled

    @property
    def reads_in_flight(self) -> int:
        """History reads running now (catch-ups and refills, retries included)."""
        return len(self._tasks)

    # rooms and joiners ------------------------------------------------------------------
    def open(self, room: str) -> None:
        """This node serves `room` from now on (its first local member is joining)."""
        if room not in self.feeds:
            self.feeds[room] = RoomFeed(self.counters)

    def close(self, room: str) -> None:
        """This node no longer serves `room` (reads in flight are ignored when they end)."""
        self.feeds.pop(room, None)

    def hold(self, room: str, sid: str) -> None:
        """A join is under way: nothing of the room reaches `sid` before its reply."""
        feed = self.feeds.get(room)
        if feed is not None:
            feed.hold(sid)

    def admit(
        self, room: str, sid: str, epoch: str, head: int, shown: Mapping[int, int] | None = None
    ) -> None:
        """The join reply is queued: history up to `head`, messages at versions `shown`."""
        feed = self.feeds.get(room)
        if feed is not None:
            self._carry_out(room, feed, feed.replied(sid, epoch, head, shown or {}))

    def remove(self, room: str, sid: str) -> None:
        """Stop delivering `room` to `sid`."""
        feed = self.feeds.get(room)
        if feed is not None:
            feed.left(sid)
        self.connections.leave(sid, room)

    # the feed ---------------------------------------------------------------------------
    async def on_event(self, room: str, event: RoomEvent) -> None:
        self.handle(room, event)

    def handle(self, room: str, event: RoomEvent) -> None:
        feed = self.feeds.get(room)
        if feed is None:
            return
        kind = event.kind
        if kind == "message":
            actions = feed.message(event.epoch, event.seq, event.payload)
        elif kind == UPDATED:
            actions = feed.update(event.epoch, event.seq, event.payload)
        else:
            actions = feed.relay(kind, event.payload, event.skip_sid or None)
        self._carry_out(room, feed, actions)

    async def refill(self, room: str) -> None:
        """The room was subscribed again after an outage: deliver what was missed."""
        feed = self.feeds.get(room)
        if feed is not None:
            self._carry_out(room, feed, feed.refill())

    def _carry_out(self, room: str, feed: RoomFeed, actions: list[Action]) -> None:
        connections = self.connections
        for action in actions:
            if isinstance(action, Broadcast):
                sent = connections.broadcast(room, action.event, action.payload, action.skip)
                if sent and action.event == "message" and self._on_latency is not None:
                    self._observe_latency(action.payload)
            elif isinstance(action, Send):
                connections.send(action.sid, action.event, action.payload)
            elif isinstance(action, Enter):
                connections.enter(action.sid, room)
            else:
                self._spawn(self._read(room, feed, action))

    def _observe_latency(self, raw: str) -> None:
        """One observation per broadcast, not per recipient: they share the moment."""
        ts = message_ts(raw)
        if ts is not None and self._on_latency is not None:
            # Two nodes' clocks may differ a little: a negative age counts as zero.
            self._on_latency(max(0.0, self._clock() - ts / 1000.0))

    # reads of history -------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, room: str, feed: RoomFeed, fetch: Fetch) -> None:
        """One history read the machine asked for; its result goes back to the machine."""
        await asyncio.sleep(retry_delay(fetch.attempt))
        if self.feeds.get(room) is not feed:
            return  # the room was closed (and maybe opened again) meanwhile
        try:
            backlog = await self._fetch(room, fetch.after)
        except Exception as exc:
            logger.warning(
                "reading room %s from history after id %d failed (%s); retry %d",
                room,
                fetch.after,
                exc.__class__.__name__,
                fetch.attempt + 1,
            )
            actions = feed.fetch_failed(fetch.token)
        else:
            lost = self.counters.lost_to_history
            actions = feed.fetched(fetch.token, backlog.epoch, backlog.messages, backlog.changed)
            if self.counters.lost_to_history > lost:
                logger.warning(
                    "room %s: %d messages a joiner missed were no longer kept in history",
                    room,
                    self.counters.lost_to_history - lost,
                )
        if self.feeds.get(room) is feed:
            self._carry_out(room, feed, actions)

    async def close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
