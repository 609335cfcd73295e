"""Per-room delivery on one node: one pure state machine owns the feed and every joiner.

A node receives a room's events from one ordered source (the publication made inside
each atomic write), but a joiner's history comes from a separate read, and so does
whatever fills a gap. `RoomFeed` takes what happened (a join began, its reply was
queued, an event arrived, a history read came back or failed, the subscription was
restored, a connection left) and returns what to do (`Send`, `Broadcast`, `Enter`,
`Fetch`). It does no I/O; `delivery.Delivery` carries the actions out and reports each
read's result back. The rule it keeps, for every member: after its join reply, every
message of the epoch after its head exactly once and in order, each message's updates
after the message and in strictly increasing `v`, and nothing before the reply.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from .joiners import (
    MESSAGE,
    PAST_EPOCHS,
    UPDATED,
    Action,
    Broadcast,
    Enter,
    FeedCounters,
    Fetch,
    Joiner,
    Kept,
    Refill,
    Send,
    Stage,
    message_version,
)
from .window import RecentWindow


@dataclass
class RoomFeed:
    """Delivery state of one room on one node: the feed, its joiners and its refill."""

    counters: FeedCounters = field(default_factory=FeedCounters)
    window: RecentWindow = field(default_factory=RecentWindow)
    epoch: str | None = None  # None until the first event or reply gives a starting point
    last_id: int = 0  # the last message delivered
    joiners: dict[str, Joiner] = field(default_factory=dict)  # every one not live yet
    live: set[str] = field(default_factory=set)
    # Live members holding a newer version of a message than the feed has delivered.
    floors: dict[str, dict[int, int]] = field(default_factory=dict)
    refilling: Refill | None = None
    past: deque[str] = field(default_factory=lambda: deque(maxlen=PAST_EPOCHS))
    _missed: bool = False  # an outage came before the feed had a starting point
    _refills: int = 0  # refills started
    _confirmed: int = 0  # seq of the last refill whose read showed the current epoch
    _fetches: dict[int, str] = field(default_factory=dict)  # catch-up token -> sid
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # joiners ----------------------------------------------------------------------------
    def hold(self, sid: str) -> None:
        """A join began: nothing reaches `sid` until its reply is queued."""
        if sid not in self.live and sid not in self.joiners:
            self.joiners[sid] = Joiner()

    def replied(self, sid: str, epoch: str, head: int, shown: Mapping[int, int]) -> list[Action]:
        """Its reply is queued: history up to `head` of `epoch`, messages at versions `shown`."""
        j = self.joiners.get(sid)
        if j is None or j.stage is not Stage.HELD:
            return []
        kept, j.kept = j.kept, []
        j.epoch, j.sent, j.stage, j.replied_at = epoch, head, Stage.WAITING, self._refills
        j.floor = {msg_id: v for msg_id, v in shown.items() if v > 0}
        actions: list[Action] = []
        for kind, payload, event_epoch, msg_id, v in kept:
            if kind != UPDATED:
                actions.append(Send(sid, kind, payload))
            elif event_epoch == epoch:
                j.offer(sid, (kind, payload, event_epoch, msg_id, v), actions)
        return actions + self._advance(sid, j)

    def left(self, sid: str) -> None:
        """The connection left the room or disconnected, in whatever stage."""
        j = self.joiners.pop(sid, None)
        if j is not None and j.fetch is not None:
            self._fetches.pop(j.fetch, None)
        self.live.discard(sid)
        self.floors.pop(sid, None)

    def _advance(self, sid: str, j: Joiner) -> list[Action]:
        """Move a replied joiner as far as the feed allows: send, fetch, or enter it."""
        if j.fetch is not None:
            return []
        actions: list[Action] = []
        if self.epoch is None:  # the first reply of a fresh feed: its read is the start
            self.epoch, self.last_id = j.epoch, j.sent
            self.window.restart(j.sent)
            if self._missed:  # events since its read may have been lost in an outage
                self._missed = False
                actions += self._need_refill()
        if j.epoch != self.epoch:
            if j.epoch in self.past or self._confirmed > j.replied_at:
                self._rebase(sid, j)  # its history is of an epoch the room has left
            else:
                j.stage = Stage.WAITING
                return actions + self._need_refill()  # which epoch is current? ask the store
        if j.sent > self.last_id:
            j.stage = Stage.WAITING  # the feed is behind its history: it waits for it
            return actions
        if j.sent < self.last_id:
            if j.sent < self.window.start:  # more than the feed keeps: read it from history
                j.stage, j.fetch = Stage.CATCHING_UP, next(self._tokens)
                self._fetches[j.fetch] = sid
                return [*actions, Fetch(j.fetch, j.sent, j.attempt)]
            for msg_id, raw in self.window.after(j.sent):
                actions.append(Send(sid, MESSAGE, raw))
                j.floor[msg_id] = self.window.version(msg_id)
            j.sent = self.last_id
        j.flush(sid, actions)
        floor = {i: v for i, v in j.floor.items() if v > self.window.version(i)}
        del self.joiners[sid]
        self.live.add(sid)
        if floor:
            self.floors[sid] = floor
        actions.append(Enter(sid))
        return actions

    def _advance_waiting(self) -> list[Action]:
        actions: list[Action] = []
        for sid, j in list(self.joiners.items()):
            if j.stage is Stage.WAITING and sid in self.joiners:
                actions += self._advance(sid, j)
        return actions

    def _rebase(self, sid: str, j: Joiner) -> None:
        """Its head belongs to an old epoch: it gets the current one from the start."""
        if j.fetch is not None:
            self._fetches.pop(j.fetch, None)
        assert self.epoch is not None
        j.epoch, j.sent, j.floor, j.kept, j.fetch, j.attempt = self.epoch, 0, {}, [], None, 0
        j.stage = Stage.WAITING

    # the room's events ------------------------------------------------------------------
    def message(self, epoch: str, msg_id: int, raw: str) -> list[Action]:
        """Message `msg_id` of `epoch` arrived on the room's feed."""
        if self.refilling is not None:
            self.refilling.queued.append((MESSAGE, epoch, msg_id, "", raw))
            return []
        if self.epoch is None:  # the first event since the room was opened starts the feed
            self.epoch, self.last_id = epoch, msg_id - 1
            self.window.restart(msg_id - 1)
            self._missed = False  # joiners read before it catch up from history anyway
        if epoch != self.epoch:
            if epoch in self.past:
                self.counters.duplicates_dropped += 1
                return []
            return self._need_refill((MESSAGE, epoch, msg_id, "", raw))  # a reset
        if msg_id <= self.last_id:
            self.counters.duplicates_dropped += 1
            return []
        if msg_id > self.last_id + 1:
            return self._need_refill((MESSAGE, epoch, msg_id, "", raw))  # a gap
        return self._deliver(msg_id, raw)

    def update(self, epoch: str, msg_id: int, raw: str) -> list[Action]:
        """A `message_updated` event (the whole message at its new `v`) arrived."""
        if self.refilling is not None:
            self.refilling.queued.append((UPDATED, epoch, msg_id, "", raw))
            return []
        v = message_version(raw)
        if self.epoch is None:  # nothing delivered, nobody replied: only joins in flight
            for j in self.joiners.values():
                j.kept.append((UPDATED, raw, epoch, msg_id, v))
            return []
        if epoch in self.past:
            self.counters.duplicates_dropped += 1
            return []
        if epoch != self.epoch or msg_id > self.last_id:  # its message was missed
            return self._need_refill((UPDATED, epoch, msg_id, "", raw))
        if v <= self.window.version(msg_id):
            self.counters.duplicates_dropped += 1
            return []
        return self._publish_update(msg_id, v, raw)

    def relay(self, kind: str, payload: str, skip: str | None) -> list[Action]:
        """Presence, typing or another room event that needs no ordering of its own."""
        if self.refilling is not None:
            self.refilling.queued.append((kind, "", 0, skip or "", payload))
            return []
        actions: list[Action] = [Broadcast(kind, payload, skip)]
        for sid, j in self.joiners.items():
            if sid == skip:
                continue
            if j.stage is Stage.HELD:
                j.kept.append((kind, payload, "", 0, 0))
            else:
                actions.append(Send(sid, kind, payload))
        return actions

    def _dispatch(self, event: tuple[str, str, int, str, str]) -> list[Action]:
        kind, epoch, seq, skip, payload = event
        if kind == MESSAGE:
            return self.message(epoch, seq, payload)
        if kind == UPDATED:
            return self.update(epoch, seq, payload)
        return self.relay(kind, payload, skip or None)

    def _deliver(self, msg_id: int, raw: str) -> list[Action]:
        v = message_version(raw)
        self.last_id = msg_id
        self.window.add(msg_id, raw, v)
        actions: list[Action] = [Broadcast(MESSAGE, raw)]
        if self.joiners:
            if v:  # read from history after a change: news to joiners whose head is past it
                self._update_joiners((UPDATED, raw, self.epoch or "", msg_id, v), actions)
            actions += self._advance_waiting()
        return actions

    def _publish_update(self, msg_id: int, v: int, raw: str) -> list[Action]:
        self.window.change(msg_id, raw, v)
        actions: list[Action] = []
        blocked = {s for s, floor in self.floors.items() if floor.get(msg_id, -1) >= v}
        if blocked:  # some hold this version or a newer one already: not to them
            actions += [Send(s, UPDATED, raw) for s in self.live if s not in blocked]
        else:
            actions.append(Broadcast(UPDATED, raw))
        for s, floor in list(self.floors.items()):
            if floor.get(msg_id, v + 1) <= v:  # the feed caught up with what it holds
                del floor[msg_id]
                if not floor:
                    del self.floors[s]
        self._update_joiners((UPDATED, raw, self.epoch or "", msg_id, v), actions)
        return actions

    def _update_joiners(self, item: Kept, actions: list[Action]) -> None:
        for sid, j in self.joiners.items():
            if j.stage is Stage.HELD:
                j.kept.append(item)
            else:
                j.offer(sid, item, actions)

    # reads of history -------------------------------------------------------------------
    def refill(self) -> list[Action]:
        """The subscription was restored after an outage: read what was missed."""
        if self.epoch is None:  # no starting point yet: the first reply will read
            self._missed = bool(self.joiners)
            return []
        return self._need_refill()

    def _need_refill(self, event: tuple[str, str, int, str, str] | None = None) -> list[Action]:
        refill = self.refilling
        if refill is not None:
            refill.again = True
            if event is not None:
                refill.queued.append(event)
            return []
        self._refills += 1
        refill = Refill(next(self._tokens), self.last_id, self._refills)
        if event is not None:
            refill.queued.append(event)
            refill.trigger = event[1]
        self.refilling = refill
        return [Fetch(refill.token, refill.after)]

    def fetched(
        self,
        token: int,
        epoch: str,
        messages: list[tuple[int, str]],
        changed: list[tuple[int, int, str]],
    ) -> list[Action]:
        """The read `token` came back: kept messages after its id, and changed ones."""
        if self.refilling is not None and token == self.refilling.token:
            return self._refilled(self.refilling, epoch, messages, changed)
        sid = self._fetches.pop(token, None)
        j = self.joiners.get(sid) if sid is not None else None
        if sid is None or j is None or j.fetch != token:
            return []
        j.fetch, j.attempt, j.stage = None, 0, Stage.WAITING
        if epoch != j.epoch or epoch != self.epoch:
            return self._need_refill()  # history moved to another epoch: the feed first
        actions: list[Action] = []
        newest, before = (messages[-1][0] if messages else 0), j.sent
        for msg_id, raw in messages:
            if msg_id > self.window.start:
                break  # the feed holds the rest, at their newest versions
            if msg_id > j.sent:
                self.counters.lost_to_history += msg_id - j.sent - 1  # history dropped them
                actions.append(Send(sid, MESSAGE, raw))
                j.floor[msg_id] = message_version(raw)
                j.sent = msg_id
        if j.sent < self.window.start <= newest:  # history kept newer ones, not these
            self.counters.lost_to_history += self.window.start - j.sent
            j.sent = self.window.start
        if j.kept:  # no update of a message history lost before it got it
            got = {i for i, _raw in messages}
            j.kept = [k for k in j.kept if k[3] in got or k[3] > j.sent or k[3] <= before]
        j.flush(sid, actions)  # (a read older than the feed's window: read again)
        return actions + self._advance(sid, j)

    def fetch_failed(self, token: int) -> list[Action]:
        """The read `token` failed: try again (the caller waits longer each attempt)."""
        refill = self.refilling
        if refill is not None and token == refill.token:
            refill.attempt += 1
            return [Fetch(token, refill.after, refill.attempt)]
        sid = self._fetches.get(token)
        j = self.joiners.get(sid) if sid is not None else None
        if j is None or j.fetch != token:
            return []
        j.attempt += 1
        return [Fetch(token, j.sent, j.attempt)]

    def _refilled(
        self,
        refill: Refill,
        epoch: str,
        messages: list[tuple[int, str]],
        changed: list[tuple[int, int, str]],
    ) -> list[Action]:
        actions: list[Action] = []
        self._confirmed = refill.seq
        if epoch != self.epoch:
            actions += self._reset(epoch)
            if refill.after != 0:  # the new epoch from its first message
                refill.token, refill.after, refill.attempt = next(self._tokens), 0, 0
                return [*actions, Fetch(refill.token, 0)]
        for msg_id, raw in messages:
            if msg_id > self.last_id:
                self.counters.gaps_filled += 1
                actions += self._deliver(msg_id, raw)
        for msg_id, v, raw in changed:
            if msg_id <= self.last_id and v > self.window.version(msg_id):
                actions += self._publish_update(msg_id, v, raw)
        self.refilling = None
        if refill.trigger and refill.trigger != epoch and refill.trigger not in self.past:
            self.past.append(refill.trigger)  # published before a read that showed `epoch`
        for event in refill.queued:
            actions += self._dispatch(event)
        actions += self._advance_waiting()
        if refill.again:
            actions += self._need_refill()
        return actions

    def _reset(self, epoch: str) -> list[Action]:
        """The room's history was reset (Redis lost its data): start over in `epoch`."""
        if self.epoch is not None:
            self.past.append(self.epoch)
        self.epoch, self.last_id = epoch, 0
        self.window.restart(0)
        self.floors.clear()
        for j in self.joiners.values():
            if j.fetch is not None and j.epoch != epoch:  # its catch-up read is moot
                self._fetches.pop(j.fetch, None)
                j.fetch, j.stage = None, Stage.WAITING
        return self._advance_waiting()
