"""Delivery carries out the room machine's actions: sends, rooms, history reads and retries."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson
import pytest

from chat_service.backends.base import Backlog
from chat_service.backends.wire import RoomEvent
from chat_service.delivery import Delivery, retry_delay
from chat_service.domain.backoff import Backoff

ROOM = "lobby"


def raw(msg_id: int, v: int = 0, epoch: str = "e1") -> str:
    return orjson.dumps({"id": msg_id, "v": v, "text": f"t{msg_id}", "epoch": epoch}).decode()


def message(msg_id: int, epoch: str = "e1") -> RoomEvent:
    return RoomEvent("message", epoch, msg_id, "", raw(msg_id, epoch=epoch))


class FakeConnections:
    """The transport as Delivery sees it: rooms of sids, and what each sid received."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[str]] = defaultdict(set)
        self.got: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def send(self, sid: str, event: str, payload_json: str) -> bool:
        self.got[sid].append((event, payload_json))
        return True

    def broadcast(
        self, room: str, event: str, payload_json: str, skip_sid: str | None = None
    ) -> int:
        members = [sid for sid in self.rooms[room] if sid != skip_sid]
        for sid in members:
            self.got[sid].append((event, payload_json))
        return len(members)

    def enter(self, sid: str, room: str) -> None:
        self.rooms[room].add(sid)

    def leave(self, sid: str, room: str) -> None:
        self.rooms[room].discard(sid)

    def ids(self, sid: str) -> list[int]:
        return [orjson.loads(p)["id"] for e, p in self.got[sid] if e == "message"]


class History:
    """A room's kept messages; each read can be held back until the test releases it."""

    def __init__(self, upto: int, epoch: str = "e1") -> None:
        self.epoch = epoch
        self.upto = upto
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = 0
        self.reads: list[int] = []

    async def backlog(self, room: str, after: int) -> Backlog:
        self.reads.append(after)
        await asyncio.wait_for(self.gate.wait(), 5)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis went away")
        kept = [(i, raw(i, epoch=self.epoch)) for i in range(after + 1, self.upto + 1)]
        return Backlog(self.epoch, kept)


async def settle(delivery: Delivery) -> None:
    """Wait (bounded) until every history read Delivery started has finished."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not delivery.reads_in_flight:
            return
    raise AssertionError("history reads never finished")


def served(upto: int, history: History) -> tuple[Delivery, FakeConnections]:
    """A room with one live member "m" that has been delivered 1..upto."""
    connections = FakeConnections()
    delivery = Delivery(connections, history.backlog)
    delivery.open(ROOM)
    delivery.hold(ROOM, "m")
    delivery.admit(ROOM, "m", "e1", 0)
    for msg_id in range(1, upto + 1):
        delivery.handle(ROOM, message(msg_id))
    return delivery, connections


class TestJoinCatchUp:
    async def test_issue_19_live_message_during_catch_up(self) -> None:
        """Feed at 399, joiner head 10, message 400 during the history read: it gets 11..400."""
        history = History(399)
        delivery, connections = served(399, history)
        history.gate.clear()
        delivery.hold(ROOM, "j")
        delivery.admit(ROOM, "j", "e1", 10)
        await asyncio.sleep(0.05)  # the read is under way
        history.upto = 400
        delivery.handle(ROOM, message(400))
        history.gate.set()
        await settle(delivery)
        assert list(range(11, 401)) == connections.ids("j")
        assert list(range(1, 401)) == connections.ids("m")

    async def test_failed_read_is_retried(self) -> None:
        """A catch-up read that fails is tried again; the joiner still gets everything."""
        history = History(300)
        history.failures = 1
        delivery, connections = served(300, history)
        delivery.hold(ROOM, "j")
        delivery.admit(ROOM, "j", "e1", 5)
        await settle(delivery)
        assert ([5, 5], list(range(6, 301))) == (history.reads, connections.ids("j"))

    async def test_closed_room_drops_the_read(self) -> None:
        """A room closed while its read runs sends nothing when the read returns."""
        history = History(300)
        delivery, connections = served(300, history)
        history.gate.clear()
        delivery.hold(ROOM, "j")
        delivery.admit(ROOM, "j", "e1", 5)
        await asyncio.sleep(0.02)
        delivery.close(ROOM)
        history.gate.set()
        await settle(delivery)
        assert [] == connections.got["j"]


class TestFeed:
    async def test_gap_is_filled_from_history(self) -> None:
        """A skipped id is read from history and the members get it in order."""
        history = History(5)
        delivery, connections = served(2, history)
        delivery.handle(ROOM, message(5))
        await settle(delivery)
        assert ([1, 2, 3, 4, 5], 3) == (connections.ids("m"), delivery.gaps_filled)

    async def test_duplicates_are_counted(self) -> None:
        """A repeated id is dropped and counted."""
        delivery, connections = served(2, History(2))
        delivery.handle(ROOM, message(2))
        assert ([1, 2], 1) == (connections.ids("m"), delivery.duplicates_dropped)

    async def test_refill_after_resubscribe(self) -> None:
        """After an outage the node reads what it missed."""
        history = History(4)
        delivery, connections = served(2, history)
        await delivery.refill(ROOM)
        await settle(delivery)
        assert [1, 2, 3, 4] == connections.ids("m")

    async def test_presence_skips_its_subject(self) -> None:
        """A presence event goes to every live member but the one it skips."""
        delivery, connections = served(0, History(0))
        delivery.hold(ROOM, "j")
        delivery.admit(ROOM, "j", "e1", 0)
        delivery.handle(ROOM, RoomEvent("user_joined", "e1", 0, "j", '{"name":"j"}'))
        assert ([("user_joined", '{"name":"j"}')], []) == (
            connections.got["m"],
            connections.got["j"],
        )

    async def test_update_reaches_members(self) -> None:
        """message_updated is delivered to live members, after the message."""
        delivery, connections = served(1, History(1))
        delivery.handle(ROOM, RoomEvent("message_updated", "e1", 1, "", raw(1, 1)))
        assert ("message_updated", raw(1, 1)) == connections.got["m"][-1]

    async def test_removed_member_leaves_the_room(self) -> None:
        """remove() takes the connection out of the room's broadcasts."""
        delivery, connections = served(1, History(1))
        delivery.remove(ROOM, "m")
        delivery.handle(ROOM, message(2))
        assert ([1], set()) == (connections.ids("m"), connections.rooms[ROOM])

    async def test_close_all_cancels_reads(self) -> None:
        """Shutting down cancels reads in flight instead of waiting for them."""
        history = History(300)
        delivery, _ = served(300, history)
        history.gate.clear()
        delivery.hold(ROOM, "j")
        delivery.admit(ROOM, "j", "e1", 5)
        await asyncio.sleep(0.02)
        await asyncio.wait_for(delivery.close_all(), 5)
        assert 0 == delivery.reads_in_flight


@pytest.mark.parametrize(("attempt", "delay"), [(0, 0.0), (1, 0.1), (2, 0.2), (9, 5.0)])
def test_retry_delay(attempt: int, delay: float) -> None:
    """The first read at once; retries after 0.1 s doubling up to 5 s (here unjittered)."""
    assert delay == retry_delay(attempt, Backoff(base=0.1, cap=5.0, jitter=0.0))


def test_retry_delay_is_jittered_within_bounds() -> None:
    """The node's retries spread by up to half each way, never past the cap."""
    delays = [retry_delay(3) for _ in range(200)]
    assert (True, True) == (min(delays) >= 0.2, max(delays) <= 0.6)
