"""Per-room delivery order on one node: no duplicates, no gaps, joiners admitted in step.

Every node receives a room's events from one ordered source (the publication made
inside the atomic append), but a joiner's history comes from a separate read. The
feed decides, with no I/O, what to deliver, what to drop as a duplicate, when a gap
must be filled from history, and when a joiner may start receiving live events so
that history plus live events is exactly the room's sequence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class Admission:
    """How a joiner enters the live feed.

    `now`: add it to the room at once, after sending it `catch_up` (messages it missed
    between its history read and now). Otherwise it waits until the feed reaches its
    history head. `complete` is False when the feed no longer holds every message the
    joiner missed (more than `recent_size` of them): they must come from history first.
    """

    now: bool
    catch_up: tuple[str, ...] = ()
    complete: bool = True


@dataclass
class RoomFeed:
    """Delivery state of one room on one node."""

    recent_size: int = 256
    epoch: str | None = None
    last_id: int | None = None
    recent: deque[tuple[int, str]] = field(default_factory=deque)
    pending: dict[str, int] = field(default_factory=dict)

    def judge(self, epoch: str, msg_id: int) -> Verdict:
        """What to do with message `msg_id` of `epoch` arriving on the feed."""
        if epoch != self.epoch:
            return Verdict.DELIVER
        if self.last_id is None or msg_id == self.last_id + 1:
            return Verdict.DELIVER
        if msg_id <= self.last_id:
            return Verdict.DUPLICATE
        return Verdict.GAP

    def reset(self, epoch: str) -> list[str]:
        """The room's history was reset (Redis lost its data): start over in `epoch`.

        Returns the joiners that were waiting: their heads belong to the old epoch.
        """
        self.epoch = epoch
        self.last_id = None
        self.recent.clear()
        waiting = list(self.pending)
        self.pending.clear()
        return waiting

    def delivered(self, epoch: str, msg_id: int, message_json: str) -> list[str]:
        """Record a delivered message; returns joiners that may now receive live events."""
        if epoch != self.epoch:
            self.reset(epoch)
        self.last_id = msg_id
        self.recent.append((msg_id, message_json))
        while len(self.recent) > self.recent_size:
            self.recent.popleft()
        return self._promote()

    def skipped_to(self, msg_id: int) -> list[str]:
        """Messages up to `msg_id` are gone from history: move on without them."""
        if self.last_id is None or msg_id > self.last_id:
            self.last_id = msg_id
        return self._promote()

    def _promote(self) -> list[str]:
        if self.last_id is None:
            return []
        ready = [sid for sid, head in self.pending.items() if head <= self.last_id]
        for sid in ready:
            del self.pending[sid]
        return ready

    def admit(self, sid: str, epoch: str, head: int) -> Admission:
        """A connection joined having read history up to message `head` of `epoch`."""
        if epoch != self.epoch or self.last_id is None:
            if epoch != self.epoch:
                self.reset(epoch)
            self.last_id = head if self.last_id is None else max(self.last_id, head)
            return Admission(now=True)
        if self.last_id >= head:
            missed = tuple(text for msg_id, text in self.recent if msg_id > head)
            covered = self.last_id == head or (bool(self.recent) and self.recent[0][0] <= head + 1)
            return Admission(now=True, catch_up=missed, complete=covered)
        self.pending[sid] = head
        return Admission(now=False)

    def forget(self, sid: str) -> None:
        """The connection left before it was admitted."""
        self.pending.pop(sid, None)
