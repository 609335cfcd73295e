"""LocalRooms: the first joiner subscribes, the last one out unsubscribes, admission goes live."""

from __future__ import annotations

from typing import cast

import pytest
from test_delivery import ROOM, FakeConnections, History, message, raw

from chat_service.backends.base import Bus
from chat_service.backends.wire import RoomEvent
from chat_service.delivery import Delivery
from chat_service.errors import BackendUnavailable
from chat_service.rooms import LocalRooms


class FakeBus:
    """Records subscriptions; can be told to fail the next subscribe."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = False

    async def subscribe(self, room: str) -> None:
        self.calls.append(("subscribe", room))
        if self.fail:
            raise BackendUnavailable()

    async def unsubscribe(self, room: str) -> None:
        self.calls.append(("unsubscribe", room))


def local_rooms() -> tuple[LocalRooms, FakeBus, Delivery, FakeConnections]:
    bus, connections = FakeBus(), FakeConnections()
    delivery = Delivery(connections, History(0).backlog)
    return LocalRooms(cast(Bus, bus), delivery), bus, delivery, connections


class TestServing:
    async def test_first_joiner_subscribes_and_opens_the_feed(self) -> None:
        """Entering serves the room; every joiner waits for the subscription."""
        rooms, bus, delivery, _ = local_rooms()
        await rooms.enter(ROOM, "a")
        await rooms.enter(ROOM, "b")
        assert (frozenset({ROOM}), 2, True) == (
            rooms.served,
            rooms.local_members(ROOM),
            ROOM in delivery.feeds,
        )
        assert [("subscribe", ROOM)] * 2 == bus.calls  # idempotent on the bus

    async def test_last_one_out_unsubscribes(self) -> None:
        """The room is dropped only when its last local connection leaves."""
        rooms, bus, delivery, _ = local_rooms()
        await rooms.enter(ROOM, "a")
        await rooms.enter(ROOM, "b")
        await rooms.exit(ROOM, "a")
        assert ("unsubscribe", ROOM) not in bus.calls
        await rooms.exit(ROOM, "b")
        assert (frozenset(), ("unsubscribe", ROOM), {}) == (
            rooms.served,
            bus.calls[-1],
            delivery.feeds,
        )

    async def test_exit_of_a_stranger_changes_nothing(self) -> None:
        """Exiting a room one never entered does nothing."""
        rooms, bus, _, _ = local_rooms()
        await rooms.enter(ROOM, "a")
        await rooms.exit(ROOM, "zz")
        await rooms.exit("elsewhere", "a")
        assert (1, [("subscribe", ROOM)]) == (rooms.local_members(ROOM), bus.calls)

    async def test_failed_subscribe_rolls_back(self) -> None:
        """A subscription that fails leaves the room unserved and re-raises."""
        rooms, bus, delivery, _ = local_rooms()
        bus.fail = True
        with pytest.raises(BackendUnavailable):
            await rooms.enter(ROOM, "a")
        assert (frozenset(), {}) == (rooms.served, delivery.feeds)


class TestAdmission:
    async def test_nothing_before_admission_then_live(self) -> None:
        """A joiner gets nothing until its admission runs, then what followed its head."""
        rooms, _, delivery, connections = local_rooms()
        await rooms.enter(ROOM, "a")
        admit = rooms.admission(ROOM, "a", "e1", 2, {2: 1})
        delivery.handle(ROOM, message(3))
        delivery.handle(ROOM, RoomEvent("message_updated", "e1", 2, "", raw(2, 1)))
        assert [] == connections.got["a"]
        admit()
        assert ([("message", raw(3))], {"a"}) == (connections.got["a"], connections.rooms[ROOM])

    async def test_admission_after_exit_does_nothing(self) -> None:
        """A joiner that left before its reply was queued is not entered."""
        rooms, _, _, connections = local_rooms()
        await rooms.enter(ROOM, "a")
        admit = rooms.admission(ROOM, "a", "e1", 0)
        await rooms.exit(ROOM, "a")
        admit()
        assert set() == connections.rooms[ROOM]
