"""The one owner of "the rooms this node serves".

A room is served while at least one local connection is in it or joining it: the first
one subscribes the node to the room's feed (and opens the feed), the last one to go
unsubscribes (and drops it). Nothing else subscribes or unsubscribes, so the count
cannot drift: N joins then N leaves or disconnects leave no subscription behind.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

from .backends.base import Bus
from .delivery import Delivery

logger = logging.getLogger(__name__)


class LocalRooms:
    """Which local connections are in (or joining) which rooms, and the subscriptions."""

    def __init__(self, bus: Bus, delivery: Delivery) -> None:
        self._bus = bus
        self._delivery = delivery
        self._members: dict[str, set[str]] = {}

    @property
    def served(self) -> frozenset[str]:
        return frozenset(self._members)

    def local_members(self, room: str) -> int:
        return len(self._members.get(room, ()))

    async def enter(self, room: str, sid: str) -> None:
        """`sid` is joining: make sure the room's events reach this node from now on."""
        members = self._members.get(room)
        if members is None:
            members = self._members[room] = set()
            self._delivery.open(room)
            logger.debug("serving room %s", room, extra={"room": room})
        members.add(sid)
        self._delivery.hold(room, sid)  # from now on nothing reaches it before its reply
        try:
            await self._bus.subscribe(room)  # idempotent; waits for Redis' confirmation
        except BaseException:
            await self.exit(room, sid)
            raise

    def admission(
        self, room: str, sid: str, epoch: str, head: int, shown: Mapping[int, int] | None = None
    ) -> Callable[[], None]:
        """What starts live delivery to a joiner whose history ended at `head` (messages at
        the versions `shown`, id -> v); run it once the join's reply is queued."""
        return functools.partial(self._delivery.admit, room, sid, epoch, head, shown or {})

    async def exit(self, room: str, sid: str) -> None:
        """`sid` left `room` (or never got in): the last one out unsubscribes."""
        members = self._members.get(room)
        if members is None or sid not in members:
            return
        members.discard(sid)
        self._delivery.remove(room, sid)
        if members:
            return
        del self._members[room]
        self._delivery.close(room)
        await self._bus.unsubscribe(room)
        logger.debug("no longer serving room %s", room, extra={"room": room})
