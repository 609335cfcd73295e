"""The backend interface every store and bus implements, and the results they return."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..domain.models import Message, RoomEvent

EventHandler = Callable[[str, RoomEvent], Awaitable[None]]
ResubscribeHandler = Callable[[str], Awaitable[None]]


class NameTaken(Exception):
    """Another live connection holds the name in the room."""


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What a join read and changed, atomically."""

    name: str
    joined: bool
    members: list[str]
    history: list[Message]
    epoch: str
    head: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """Kept messages newer than some id, with the epoch they belong to."""

    epoch: str
    messages: list[tuple[int, str]]


class Store(Protocol):
    """History, ids, presence and node liveness. Writes publish their room events."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the backend answers."""

    async def join(
        self, room: str, name: str, sid: str, since: int | None, ts: int, default_history: int
    ) -> JoinResult:
        """Claim the name for the connection and read members and history in one step."""

    async def leave(self, room: str, sid: str, ts: int) -> str | None:
        """Release the connection's name; returns it, or None if it held none."""

    async def append_message(self, room: str, name: str, text: str, ts: int) -> Message:
        """Allocate the next id, keep and publish the message in one step."""

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None: ...

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]: ...

    async def backlog(self, room: str, after: int) -> Backlog:
        """Kept messages with id > after (for a node filling a gap in its feed)."""

    async def members(self, room: str) -> list[str]: ...

    async def rooms(self) -> list[tuple[str, int]]:
        """Rooms with live members, most members first."""

    async def heartbeat(self) -> bool:
        """Mark this node alive; False when it had been declared dead meanwhile."""

    async def reap_dead_nodes(self) -> int:
        """Remove the members of silent nodes; returns how many were removed."""

    async def remove_node(self) -> int:
        """Remove all of this node's members at once (graceful shutdown)."""


class Bus(Protocol):
    """Receives room events for the rooms this node subscribes to, in publication order."""

    @property
    def healthy(self) -> bool: ...

    def set_handlers(self, on_event: EventHandler, on_resubscribed: ResubscribeHandler) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, room: str) -> None:
        """Return once events of `room` published from now on will be received."""

    async def unsubscribe(self, room: str) -> None: ...


def sorted_members(names: list[str]) -> list[str]:
    """Member lists are sorted the same way everywhere."""
    return sorted(names)
