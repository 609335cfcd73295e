"""Local delivery: each room's ordered feed applied to this node's connections.

A joiner is held from the moment it asks to join until its reply is queued: events of
the room meanwhile are kept for it (presence, typing) or recovered by the feed
(messages), so it sees nothing before the reply and, after it, live messages continue
exactly after the reply's last id. A gap in a feed is filled from history by a task of
its own, with the room's later events queued behind it: one slow room never stalls the
bus listener that every other room shares.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from .backends.base import Backlog
from .backends.wire import RoomEvent, message_ts
from .domain.ordering import RoomFeed, Verdict

logger = logging.getLogger(__name__)
BacklogFetcher = Callable[[str, int], Awaitable[Backlog]]
LatencyObserver = Callable[[float], None]


class Connections(Protocol):
    """What delivery needs of the transport (see `transport.Transport`)."""

    def send(self, sid: str, event: str, payload_json: str) -> bool: ...

    def broadcast(
        self, room: str, event: str, payload_json: str, skip_sid: str | None = None
    ) -> int: ...

    def enter(self, sid: str, room: str) -> None: ...

    def leave(self, sid: str, room: str) -> None: ...


class Delivery:
    """Applies each room's ordered feed to the local connections of that room."""

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
        self._held: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._refilling: dict[str, list[RoomEvent]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.duplicates_dropped = 0
        self.gaps_filled = 0

    # rooms and joiners ------------------------------------------------------------------
    def open(self, room: str) -> None:
        """This node serves `room` from now on (its first local member is joining)."""
        self.feeds.setdefault(room, RoomFeed())
        self._held.setdefault(room, {})

    def close(self, room: str) -> None:
        """This node no longer serves `room`."""
        self.feeds.pop(room, None)
        self._held.pop(room, None)
        self._refilling.pop(room, None)

    def hold(self, room: str, sid: str) -> None:
        """A join is under way: keep the room's presence and typing events for `sid`."""
        self._held.setdefault(room, {})[sid] = []

    def admit(self, room: str, sid: str, epoch: str, head: int) -> None:
        """The join reply is queued: start live delivery right after message `head`."""
        held = self._held.get(room, {}).pop(sid, None)
        feed = self.feeds.get(room)
        if held is None or feed is None:
            return  # left or disconnected meanwhile
        for event, payload in held:
            self.connections.send(sid, event, payload)
        admission = feed.admit(sid, epoch, head)
        if not admission.now:
            return  # the feed is behind this joiner's history: admitted when it catches up
        if not admission.complete:
            self._spawn(self._catch_up_from_history(room, sid, epoch, head))
            return
        for raw in admission.catch_up:
            self.connections.send(sid, "message", raw)
        self.connections.enter(sid, room)

    async def _catch_up_from_history(self, room: str, sid: str, epoch: str, head: int) -> None:
        """More messages passed than the feed keeps: send them from history, then admit."""
        feed = self.feeds.get(room)
        if feed is None:
            return
        feed.pending[sid] = head  # gets presence meanwhile; entered below
        try:
            backlog = await self._fetch(room, head)
        except Exception:
            logger.warning("catch-up of %s in room %s failed; admitting at the feed", sid, room)
            backlog = Backlog(epoch, [])
        feed = self.feeds.get(room)
        if feed is None or feed.pending.pop(sid, None) is None:
            return
        sent = head
        if backlog.epoch == feed.epoch:
            for msg_id, raw in backlog.messages:
                if feed.last_id is not None and msg_id <= feed.last_id:
                    self.connections.send(sid, "message", raw)
                    sent = msg_id
        for msg_id, raw in feed.recent:
            if msg_id > sent:
                self.connections.send(sid, "message", raw)
        self.connections.enter(sid, room)

    def remove(self, room: str, sid: str) -> None:
        """Stop delivering `room` to `sid`."""
        held = self._held.get(room)
        if held is not None:
            held.pop(sid, None)
        feed = self.feeds.get(room)
        if feed is not None:
            feed.forget(sid)
        self.connections.leave(sid, room)

    # the feed ---------------------------------------------------------------------------
    async def on_event(self, room: str, event: RoomEvent) -> None:
        self.handle(room, event)

    def handle(self, room: str, event: RoomEvent) -> None:
        queued = self._refilling.get(room)
        if queued is not None:
            queued.append(event)
            return
        if event.kind != "message":
            self._relay(room, event)
            return
        feed = self.feeds.get(room)
        if feed is None:
            return
        verdict = feed.judge(event.epoch, event.seq)
        if verdict is Verdict.DUPLICATE:
            self.duplicates_dropped += 1
        elif verdict is Verdict.GAP:
            self._start_refill(room, upto=event.seq - 1, then=[event])
        else:
            self._deliver(room, feed, event.epoch, event.seq, event.payload)

    def _relay(self, room: str, event: RoomEvent) -> None:
        skip = event.skip_sid or None
        self.connections.broadcast(room, event.kind, event.payload, skip)
        for sid, kept in self._held.get(room, {}).items():
            if sid != skip:
                kept.append((event.kind, event.payload))
        feed = self.feeds.get(room)
        if feed is not None:
            for sid in feed.pending:  # replied to, waiting for the feed to reach their head
                if sid != skip:
                    self.connections.send(sid, event.kind, event.payload)

    def _deliver(self, room: str, feed: RoomFeed, epoch: str, msg_id: int, raw: str) -> None:
        if epoch != feed.epoch:
            self._enter_all(room, feed.reset(epoch))
        sent = self.connections.broadcast(room, "message", raw)
        self._enter_all(room, feed.delivered(epoch, msg_id, raw))
        if sent and self._on_latency is not None:
            # One observation per broadcast, not per recipient: they share the moment.
            ts = message_ts(raw)
            if ts is not None:
                # Two nodes' clocks may differ a little: a negative age counts as zero.
                self._on_latency(max(0.0, self._clock() - ts / 1000.0))

    def _enter_all(self, room: str, sids: list[str]) -> None:
        for sid in sids:
            self.connections.enter(sid, room)

    # refills ----------------------------------------------------------------------------
    async def refill(self, room: str) -> None:
        """The room was subscribed again after an outage: deliver what was missed."""
        if room in self.feeds and room not in self._refilling:
            self._start_refill(room, upto=None, then=[])

    def _start_refill(self, room: str, upto: int | None, then: list[RoomEvent]) -> None:
        self._refilling[room] = list(then)
        self._spawn(self._refill(room, upto))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refill(self, room: str, upto: int | None) -> None:
        """Fetch what the feed missed, retrying with backoff; then replay what queued."""
        delay = 0.1
        try:
            while room in self.feeds:
                feed = self.feeds[room]
                try:
                    backlog = await self._fetch(room, feed.last_id or 0)
                    if backlog.epoch and backlog.epoch != feed.epoch and feed.epoch is not None:
                        self._enter_all(room, feed.reset(backlog.epoch))
                        backlog = await self._fetch(room, 0)
                except Exception as exc:
                    logger.warning(
                        "refilling room %s from history failed (%s); retrying in %.1fs",
                        room,
                        exc.__class__.__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self._apply_backlog(room, backlog, upto)
                return
        finally:
            queued = self._refilling.pop(room, None)
            for event in queued or ():
                self.handle(room, event)

    def _apply_backlog(self, room: str, backlog: Backlog, upto: int | None) -> None:
        feed = self.feeds.get(room)
        if feed is None:
            return
        for msg_id, raw in backlog.messages:
            if upto is not None and msg_id > upto:
                break
            if feed.judge(backlog.epoch, msg_id) is not Verdict.DUPLICATE:
                self.gaps_filled += 1
                self._deliver(room, feed, backlog.epoch, msg_id, raw)
        if upto is not None and (feed.last_id or 0) < upto:
            self._enter_all(room, feed.skipped_to(upto))  # fell out of history: gone

    async def close_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
