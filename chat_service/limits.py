"""The bounds on what one connection makes others see: joins and typing (protocol v3).

The rules are pure (`domain/ratelimit.py`); this keeps their state per user, room and
connection on this node, and the timers that send a held typing state when its interval
ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .backends.base import Store
from .config import Settings
from .domain.ratelimit import KeyedWindows, TypingGate, Window
from .errors import ChatError, RateLimited

logger = logging.getLogger(__name__)
SWEEP_AT = 256  # typing gates kept before idle ones are looked for


def _nothing() -> None:
    return None


class Limits:
    """Join allowances and typing gates of one node's connections."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        per_room = settings.join_limit
        self._room_joins = KeyedWindows(per_room.count, per_room.seconds) if per_room else None
        self._gates: dict[tuple[str, str], TypingGate] = {}
        self._typists: dict[tuple[str, str], tuple[str, str]] = {}  # (room, user) -> name, sid
        self._swept = float("-inf")
        self._sending: set[asyncio.Task[None]] = set()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def connection_joins(self) -> Window | None:
        """A new connection's join allowance."""
        limit = self.settings.connection_join_limit
        return Window(limit.count, limit.seconds) if limit else None

    def admit_join(
        self, rooms: Mapping[str, Any], joins: Window | None, room: str, user: str
    ) -> Callable[[], None]:
        """Count a join of a room the connection is not in, or raise `rate_limited`.

        Returns what gives the user's allowance for the room back if the join then fails
        (it showed nobody anything); the connection's allowance stays spent, as it bounds
        the work a connection makes the node do.
        """
        if len(rooms) >= self.settings.max_rooms_per_connection:
            raise RateLimited(
                f"A connection may be in at most {self.settings.max_rooms_per_connection} "
                "rooms at once; leave one first."
            )
        now = self._now()
        if joins is not None:
            wait = joins.try_take(now)
            if wait:
                raise RateLimited("You are joining rooms too fast; wait a moment.", wait)
        if self._room_joins is None:
            return _nothing
        window = self._room_joins.get((user, room), now)
        wait = window.try_take(now)
        if wait:
            raise RateLimited("You are joining this room too often; wait a moment.", wait)
        return window.give_back

    async def typing(
        self,
        room: str,
        user: str,
        name: str,
        sid: str,
        typing: bool,
        seated: Callable[[str, str, str], str | None],
    ) -> None:
        """Show the user's typing state to the room now, later (a timer), or not at all."""
        interval = self.settings.typing_interval
        if interval <= 0:
            await self.store.publish_typing(room, name, sid, typing)
            return
        key = (room, user)
        now = self._now()
        gate = self._gates.get(key)
        if gate is None:
            self._sweep(now)
            gate = self._gates[key] = TypingGate(interval)
        self._typists[key] = (name, sid)
        send, due = gate.change(typing, now)
        if due is not None:
            asyncio.get_running_loop().call_at(due, self._fire, key, seated)
        if send is not None:
            await self.store.publish_typing(room, name, sid, send)

    def _fire(self, key: tuple[str, str], seated: Callable[[str, str, str], str | None]) -> None:
        gate = self._gates.get(key)
        state = gate.fire(self._now()) if gate is not None else None
        if state is None:
            return
        room, user = key
        name, last_sid = self._typists[key]
        sid = seated(room, user, last_sid)
        if sid is None:
            return  # the user left: its presence event says the rest
        task = asyncio.get_running_loop().create_task(self._send(room, name, sid, state))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, room: str, name: str, sid: str, typing: bool) -> None:
        try:
            await self.store.publish_typing(room, name, sid, typing)
        except ChatError as exc:
            logger.info(
                "held typing state of %s for room %s not sent: %s",
                sid,
                room,
                exc.code,
                extra={"room": room, "sid": sid},
            )
        except Exception:
            logger.exception("sending the held typing state of %s to room %s failed", sid, room)

    def _sweep(self, now: float) -> None:
        """Forget gates with nothing held and nothing inside their interval."""
        if len(self._gates) < SWEEP_AT or now - self._swept < self.settings.typing_interval:
            return
        self._swept = now
        for key in [k for k, g in self._gates.items() if g.idle(now)]:
            del self._gates[key]
            self._typists.pop(key, None)
