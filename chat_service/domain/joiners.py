"""The vocabulary of a room's delivery state machine (`domain.ordering.RoomFeed`).

What the machine asks for (actions), the state it keeps per joiner and per history read,
and how it reads a message's version without parsing the whole JSON on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import orjson

MESSAGE = "message"
UPDATED = "message_updated"
_STORED_V = re.compile(r'\{"id":\d+,"v":(\d+)')  # one C call on the hot path


@dataclass(frozen=True, slots=True)
class Send:
    """Queue one event for one connection."""

    sid: str
    event: str
    payload: str


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Queue one event for every live member of the room (but `skip`)."""

    event: str
    payload: str
    skip: str | None = None


@dataclass(frozen=True, slots=True)
class Enter:
    """Add the connection to the room's live members: broadcasts reach it from now on."""

    sid: str


@dataclass(frozen=True, slots=True)
class Fetch:
    """Read the room's kept messages with id > `after`; report the result with `token`.

    `attempt` counts the failures before this read (0: the first try), for the backoff.
    """

    token: int
    after: int
    attempt: int = 0


Action = Send | Broadcast | Enter | Fetch


class Stage(Enum):
    """Where a joiner is on its way to live delivery (docs/architecture.md draws it)."""

    HELD = "held"  # join in flight: nothing is sent; presence, typing and updates are kept
    WAITING = "waiting"  # replied; the feed has not reached its head (or its epoch is checked)
    CATCHING_UP = "catching_up"  # replied; what it missed is being read from history
    LIVE = "live"  # a member of the room's broadcasts


PAST_EPOCHS = 16  # epochs a room moved away from, remembered to drop their late events

# An event kept for a joiner: (kind, payload, epoch, message id, v); id and v are 0 for
# presence and typing.
Kept = tuple[str, str, str, int, int]


@dataclass(slots=True)
class Joiner:
    """A connection of the room that is not live yet."""

    stage: Stage = Stage.HELD
    epoch: str = ""
    sent: int = 0  # the last message id it has: its head, then what catch-up sent
    # Per message id, the version it has, where an update could repeat or undo it.
    floor: dict[int, int] = field(default_factory=dict)
    # HELD: every event since the join began. Later: updates of messages it has not got.
    kept: list[Kept] = field(default_factory=list)
    fetch: int | None = None  # token of its catch-up read in flight
    attempt: int = 0
    replied_at: int = 0  # how many refills the room had started when its reply was queued

    def offer(self, sid: str, item: Kept, actions: list[Action]) -> None:
        """An update after its reply: sent if it has the message and not that version yet;
        kept if the message itself is still to come; dropped if of another epoch."""
        _kind, raw, epoch, msg_id, v = item
        if epoch != self.epoch:
            return
        if msg_id > self.sent:
            self.kept.append(item)
        elif v > self.floor.get(msg_id, -1):
            actions.append(Send(sid, UPDATED, raw))
            self.floor[msg_id] = v

    def flush(self, sid: str, actions: list[Action]) -> None:
        """Offer again the kept updates: those of messages it now has go out."""
        if self.kept:
            kept, self.kept = self.kept, []
            for item in kept:
                self.offer(sid, item, actions)


@dataclass(slots=True)
class Refill:
    """A read of history that the feed waits for; the room's events queue behind it."""

    token: int
    after: int
    seq: int  # the room's refills started before it, itself included
    attempt: int = 0
    again: bool = False  # something asked for a read later than this one's
    trigger: str = ""  # epoch of the event that showed the gap or reset, if one did
    queued: list[tuple[str, str, int, str, str]] = field(default_factory=list)


@dataclass(slots=True)
class FeedCounters:
    """Totals over every room of a node (exported as metrics)."""

    duplicates_dropped: int = 0
    gaps_filled: int = 0
    lost_to_history: int = 0  # messages a joiner missed that history no longer kept


def message_version(raw: str) -> int:
    """`v` of a stored message: its second field by contract (`{"id":N,"v":V,...`).

    Messages stored before version 3 have no `v` and count as 0.
    """
    match = _STORED_V.match(raw)
    if match is not None:
        return int(match.group(1))
    if raw.startswith('{"id":'):
        return 0
    value = orjson.loads(raw).get("v", 0)  # not in the stored form: read it the slow way
    return value if isinstance(value, int) else 0


def versions_shown(*message_lists: Iterable[Mapping[str, object]]) -> dict[int, int]:
    """id -> v of the messages a join reply shows (history and updated)."""
    shown: dict[int, int] = {}
    for messages in message_lists:
        for message in messages:
            msg_id, v = message.get("id"), message.get("v", 0)
            if isinstance(msg_id, int) and isinstance(v, int):
                shown[msg_id] = max(v, shown.get(msg_id, 0))
    return shown
