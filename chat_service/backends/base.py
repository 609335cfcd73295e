"""The backend interface: a Store and a Bus, paired in one Backend per URL scheme."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..domain.models import Message
from .wire import KickedControl, RoomEvent

EventHandler = Callable[[str, RoomEvent], Awaitable[None]]
ResubscribeHandler = Callable[[str], Awaitable[None]]
ControlHandler = Callable[[str, str], Awaitable[int]]  # (kind, argument) -> what it did
DEDUPE_MS = 300_000  # a client_id is remembered at least this long (protocol: 5 minutes)


class NameTaken(Exception):
    """Another user holds the name in the room."""


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What a join read and changed, atomically."""

    name: str  # the name the user holds (kept when it already held one)
    seated: bool  # False: this connection was already in the room (idempotent join)
    announced: bool  # True: the user's first connection, so user_joined was published
    members: list[str]
    history: list[Message]
    epoch: str
    head: int  # the room's newest id when history was read
    reset: bool  # the client's `since`/`epoch` belong to a history that is gone


@dataclass(frozen=True, slots=True)
class Departure:
    """A connection left a room: the name it held, and when its user leaves."""

    name: str
    gone: bool  # the user left now (user_left published)
    lingering_until: int | None  # ms timestamp: listed until then (presence grace)


@dataclass(frozen=True, slots=True)
class Appended:
    message: Message
    duplicate: bool  # a repeat of a stored client_id: nothing was stored or sent


@dataclass(frozen=True, slots=True)
class Backlog:
    """Kept messages newer than some id, with the epoch they belong to."""

    epoch: str
    messages: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class BanOrder:
    """A ban to record: until when (ms, None: until unban), by whom, why; `sub` when the
    request named the user by its token `sub`."""

    until: int | None
    by: str
    reason: str | None
    sub: str | None = None


@dataclass(frozen=True, slots=True)
class Ban:
    """A ban in force, as `bans` lists it."""

    user: str
    name: str | None  # the name the user held when banned; None: banned by sub while away
    sub: str | None
    until: int | None
    by: str
    reason: str | None
    at: int  # ms when it was issued


@dataclass(frozen=True, slots=True)
class Removed:
    """Whom a kick or ban reached."""

    user: str
    name: str | None  # the name it held in the room; None when it held none
    present: bool  # it held a name: its seats are gone, its connections were told


class Moderation(Protocol):
    """Kicks, bans and the node-wide control a moderator or the server API needs."""

    async def remember_subject(self, room: str, user: str, sub: str, until: int) -> None:
        """Note which token `sub` a user (a digest) is, until `until` (ms), so a ban by
        name can list its `sub`."""

    async def moderate(
        self,
        room: str,
        ts: int,
        kicked: str,
        ban: BanOrder | None,
        *,
        name_key: str | None = None,
        user: str | None = None,
    ) -> Removed | None:
        """Remove a user (by name key or user id) from the room at once, every seat on
        every node, and publish `kicked` (payload `kicked`) then `user_left`; with `ban`,
        record the ban first, atomically. None (nothing changed): nobody holds the name,
        or a kick names a user who is not in the room."""

    async def missed_kicks(self, room: str, seats: dict[str, str]) -> dict[str, KickedControl]:
        """Of this node's seats in the room (sid -> user), those a kick removed (in the
        last minutes) while the node was not listening: sid -> what the kick said."""

    async def bans(self, room: str, now: int) -> list[Ban]:
        """The room's bans in force, oldest first."""

    async def unban(
        self, room: str, now: int, *, name: str | None = None, user: str | None = None
    ) -> int:
        """Lift the bans in force on `user`, or on every user banned under `name`
        (matched as names are); returns how many were lifted."""

    async def disconnect_subject(self, user: str) -> int:
        """Close every connection of the token user `user` on every node; how many."""


class Store(Moderation, Protocol):
    """History, ids, presence and node liveness. Writes publish their room events."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the backend answers."""

    async def join(
        self,
        room: str,
        user: str,
        name: str,
        sid: str,
        since: int | None,
        epoch: str | None,
        ts: int,
        default_history: int,
    ) -> JoinResult:
        """Seat the connection under its user's name; read members and history in one step."""

    async def leave(self, room: str, sid: str, ts: int, *, grace: bool) -> Departure | None:
        """Unseat the connection; its user leaves with its last connection.

        With `grace` (a disconnect, not a `leave`) the user stays listed for the
        presence grace first. None when the connection held no seat.
        """

    async def restore(self, room: str, user: str, name: str, sid: str) -> bool:
        """Put back a live connection's seat after the backend lost it, announcing nothing.

        False when another user took the name meanwhile.
        """

    async def expire_lingering(self, now: int) -> int:
        """Remove users whose presence grace has ended; returns how many left."""

    async def append_message(
        self, room: str, name: str, text: str, ts: int, client_id: str | None
    ) -> Appended:
        """Allocate the next id, keep and publish the message in one step.

        A `client_id` already stored for this room and name returns the first message.
        """

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None: ...

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]: ...

    async def backlog(self, room: str, after: int) -> Backlog:
        """Kept messages with id > after (for a node filling a gap in its feed)."""

    async def members(self, room: str) -> list[str]: ...

    async def rooms(self) -> list[tuple[str, int]]:
        """Rooms with live users, most users first, then by name."""

    async def heartbeat(self) -> bool:
        """Mark this node alive; False when it had been declared dead or its data lost."""

    async def reap_dead_nodes(self) -> int:
        """Unseat the connections of silent nodes (their users linger); returns how many."""

    async def remove_node(self) -> int:
        """Unseat all of this node's connections at once (graceful shutdown)."""


class Bus(Protocol):
    """Room events for the rooms this node serves, in publication order.

    Set-based and idempotent: subscribing a subscribed room or unsubscribing an
    unsubscribed one does nothing. One owner (`rooms.LocalRooms`) decides which.
    """

    @property
    def healthy(self) -> bool: ...

    @property
    def rooms(self) -> frozenset[str]: ...

    @property
    def reconnects(self) -> int:
        """How many times the feed (re)connected: a change means an outage happened."""

    def set_handlers(self, on_event: EventHandler, on_resubscribed: ResubscribeHandler) -> None: ...

    def set_control_handler(self, on_control: ControlHandler) -> None:
        """Who carries out node-wide requests (`disconnect` of a user) on this node."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, room: str) -> None:
        """Return once events of `room` published from now on will be received."""

    async def unsubscribe(self, room: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Backend:
    """A store and the bus that carries its events: what one URL scheme provides."""

    name: str
    store: Store
    bus: Bus


def sorted_members(names: list[str]) -> list[str]:
    """Member lists are sorted by code point everywhere."""
    return sorted(names)
