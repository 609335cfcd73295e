"""One contract for every backend: memory, fakeredis and a real redis-server."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chat_service.bus import MemoryBus, RedisBus
from chat_service.domain.models import RoomEvent
from chat_service.store.base import Bus, NameTaken, Store
from chat_service.store.memory import MemoryStore
from chat_service.store.redis import RedisStore, make_client
from chat_service.testing import RedisServer


@dataclass
class Node:
    """A store and bus pair as one node sees them, with the events it received."""

    store: Store
    bus: Bus
    events: list[tuple[str, RoomEvent]] = field(default_factory=list)
    resubscribed: list[str] = field(default_factory=list)

    async def on_event(self, room: str, event: RoomEvent) -> None:
        self.events.append((room, event))

    async def on_resub(self, room: str) -> None:
        self.resubscribed.append(room)

    def kinds(self) -> list[str]:
        return [e.kind for _, e in self.events]

    async def wait_events(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"only {len(self.events)} events: {self.events}"
            await asyncio.sleep(0.01)


NodeFactory = Callable[..., Any]


@pytest.fixture(params=["memory", "fakeredis", "redis"])
async def make_node(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[NodeFactory]:
    """Build nodes on the backend under test; nodes built together share state."""
    made: list[Node] = []
    prefix = f"t{secrets.token_hex(4)}:"
    shared_memory: dict[str, Any] = {}

    async def build(history_size: int = 100, node_timeout: float = 15.0) -> Node:
        if request.param == "memory":
            if "node" in shared_memory:  # one process, one store: every "node" is the same
                existing: Node = shared_memory["node"]
                return existing
            bus = MemoryBus()
            store: Store = MemoryStore(bus, history_size=history_size)
        else:
            if request.param == "fakeredis":
                client = fake_redis_factory()
            else:
                server: RedisServer = request.getfixturevalue("redis_server")
                client = make_client(server.url)
            store = RedisStore(
                client,
                node_id=f"node{len(made)}-{secrets.token_hex(2)}",
                prefix=prefix,
                history_size=history_size,
                node_timeout=node_timeout,
            )
            bus = RedisBus(client, store.keys, store.node_id, probe_interval=0.5)
        node = Node(store, bus)
        shared_memory.setdefault("node", node)
        bus.set_handlers(node.on_event, node.on_resub)
        await bus.start()
        made.append(node)
        return node

    yield build
    for node in made:
        await node.bus.close()
    if request.param != "memory":
        await made[0].store.close() if made else None


async def subscribed(node: Node, room: str) -> Node:
    deadline = time.monotonic() + 5
    while True:
        try:
            await node.bus.subscribe(room)
            return node
        except Exception:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


async def join(node: Node, room: str, name: str, sid: str, since: int | None = None) -> Any:
    return await node.store.join(room, name, sid, since, 1000, 50)


class TestPresence:
    async def test_join_claims_the_name(self, make_node: NodeFactory) -> None:
        """A join returns the name, the members and an empty history."""
        node = await make_node()
        result = await join(node, "lobby", "Ann", "s1")
        assert ("Ann", True, ["Ann"], [], 0) == (
            result.name,
            result.joined,
            result.members,
            result.history,
            result.head,
        )

    async def test_names_are_unique_case_insensitively(self, make_node: NodeFactory) -> None:
        """A second connection cannot take 'ann' while 'Ann' is in the room."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1")
        with pytest.raises(NameTaken):
            await join(node, "lobby", "ann", "s2")
        assert ["Ann"] == await node.store.members("lobby")

    async def test_same_name_in_other_room_is_fine(self, make_node: NodeFactory) -> None:
        """Uniqueness is per room."""
        node = await make_node()
        await join(node, "a", "Ann", "s1")
        assert "Ann" == (await join(node, "b", "Ann", "s2")).name

    async def test_rejoin_is_idempotent(self, make_node: NodeFactory) -> None:
        """The same connection joining again keeps its name and joins once."""
        node = await make_node()
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1")
        again = await join(node, "lobby", "Other", "s1")
        assert ("Ann", False, ["Ann"]) == (again.name, again.joined, again.members)
        await node.wait_events(1)
        await asyncio.sleep(0.05)
        assert ["user_joined"] == node.kinds()

    async def test_join_and_leave_publish(self, make_node: NodeFactory) -> None:
        """user_joined skips the joiner; user_left is published once."""
        node = await make_node()
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1")
        assert "Ann" == await node.store.leave("lobby", "s1", 2000)
        assert await node.store.leave("lobby", "s1", 2000) is None
        await node.wait_events(2)
        (_, joined), (_, left) = node.events
        assert ("user_joined", "s1", {"room": "lobby", "name": "Ann", "ts": 1000}) == (
            joined.kind,
            joined.skip_sid,
            joined.payload_obj(),
        )
        assert ("user_left", {"room": "lobby", "name": "Ann", "ts": 2000}) == (
            left.kind,
            left.payload_obj(),
        )

    async def test_leave_frees_the_name(self, make_node: NodeFactory) -> None:
        """After leaving, another connection may take the name."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1")
        await node.store.leave("lobby", "s1", 1)
        assert "ann" == (await join(node, "lobby", "ann", "s2")).name

    async def test_rooms_sorted_by_members(self, make_node: NodeFactory) -> None:
        """Rooms with members, most first, ties by name; empty rooms are not listed."""
        node = await make_node()
        await join(node, "b", "x", "s1")
        await join(node, "a", "x", "s2")
        await join(node, "c", "x", "s3")
        await join(node, "c", "y", "s4")
        await join(node, "d", "x", "s5")
        await node.store.leave("d", "s5", 1)
        assert [("c", 2), ("a", 1), ("b", 1)] == await node.store.rooms()

    async def test_unicode_names_round_trip(self, make_node: NodeFactory) -> None:
        """Names with quotes, backslashes and emoji survive presence events intact."""
        node = await make_node()
        await subscribed(node, "lobby")
        name = 'Zoë "the" \\ 😀'
        await join(node, "lobby", name, "s1")
        await node.wait_events(1)
        assert name == node.events[0][1].payload_obj()["name"]
        assert [name] == await node.store.members("lobby")


class TestMessages:
    async def test_ids_are_gapless_and_published_in_order(self, make_node: NodeFactory) -> None:
        """Ids run 1, 2, 3 and the feed carries them in that order."""
        node = await make_node()
        await subscribed(node, "lobby")
        sent = [await node.store.append_message("lobby", "Ann", f"m{i}", 5) for i in range(5)]
        assert [1, 2, 3, 4, 5] == [m["id"] for m in sent]
        await node.wait_events(5)
        assert [1, 2, 3, 4, 5] == [e.seq for _, e in node.events]
        assert {"id": 1, "room": "lobby", "name": "Ann", "text": "m0", "ts": 5} == (
            node.events[0][1].payload_obj()
        )

    async def test_history_is_trimmed(self, make_node: NodeFactory) -> None:
        """Only the newest history_size messages are kept."""
        node = await make_node(history_size=3)
        for i in range(5):
            await node.store.append_message("lobby", "Ann", f"m{i}", 5)
        kept = await node.store.history("lobby", None, 100)
        assert [3, 4, 5] == [m["id"] for m in kept]

    async def test_history_before_and_limit(self, make_node: NodeFactory) -> None:
        """Newest `limit` messages with id < before, oldest first."""
        node = await make_node()
        for i in range(10):
            await node.store.append_message("lobby", "Ann", f"m{i}", 5)
        assert [7, 8] == [m["id"] for m in await node.store.history("lobby", 9, 2)]
        assert [1, 2] == [m["id"] for m in await node.store.history("lobby", 3, 50)]
        assert [] == await node.store.history("lobby", 1, 50)
        assert [9, 10] == [m["id"] for m in await node.store.history("lobby", 999, 2)]
        assert [] == await node.store.history("nowhere", None, 50)

    async def test_join_history_and_since(self, make_node: NodeFactory) -> None:
        """Newest 50 without since; all kept after since; since past the head means reset."""
        node = await make_node()
        for i in range(60):
            await node.store.append_message("lobby", "Ann", f"m{i}", 5)
        plain = await join(node, "lobby", "A", "s1")
        assert (list(range(11, 61)), 60) == ([m["id"] for m in plain.history], plain.head)
        since = await join(node, "lobby", "B", "s2", since=55)
        assert [56, 57, 58, 59, 60] == [m["id"] for m in since.history]
        caught_up = await join(node, "lobby", "C", "s3", since=60)
        assert [] == caught_up.history
        reset = await join(node, "lobby", "D", "s4", since=500)
        assert list(range(11, 61)) == [m["id"] for m in reset.history]
        old = await join(node, "lobby", "E", "s5", since=0)
        assert 60 == len(old.history)

    async def test_since_beyond_kept_window(self, make_node: NodeFactory) -> None:
        """Whatever fell out of the window is gone; the first id shows it."""
        node = await make_node(history_size=5)
        for i in range(20):
            await node.store.append_message("lobby", "Ann", f"m{i}", 5)
        result = await join(node, "lobby", "A", "s1", since=3)
        assert [16, 17, 18, 19, 20] == [m["id"] for m in result.history]

    async def test_backlog_after(self, make_node: NodeFactory) -> None:
        """A feed can fetch everything kept after an id, with the epoch."""
        node = await make_node()
        for i in range(4):
            await node.store.append_message("lobby", "Ann", f"m{i}", 5)
        backlog = await node.store.backlog("lobby", 2)
        joined = await join(node, "lobby", "A", "s1")
        assert ([3, 4], joined.epoch) == ([i for i, _ in backlog.messages], backlog.epoch)

    async def test_text_round_trips_exactly(self, make_node: NodeFactory) -> None:
        """Quotes, backslashes, newlines, markup and emoji are stored exactly."""
        node = await make_node()
        text = 'a "b" \\ c\n<img src=x onerror="x()"> 😀 \u2028 /'
        await node.store.append_message("lobby", "Ann", text, 5)
        assert text == (await node.store.history("lobby", None, 1))[0]["text"]

    async def test_typing_is_published_not_stored(self, make_node: NodeFactory) -> None:
        """Typing reaches the feed and skips the typist; history is untouched."""
        node = await make_node()
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1")
        await node.store.publish_typing("lobby", "Ann", "s1", True)
        await node.wait_events(2)
        event = node.events[1][1]
        assert ("typing", "s1", {"room": "lobby", "name": "Ann", "typing": True}) == (
            event.kind,
            event.skip_sid,
            event.payload_obj(),
        )
        assert [] == await node.store.history("lobby", None, 50)


class TestCluster:
    async def test_concurrent_appends_from_two_nodes(self, make_node: NodeFactory) -> None:
        """Two nodes appending at once still produce ids 1..N with no gap or repeat."""
        a, b = await make_node(), await make_node()
        await subscribed(a, "lobby")

        async def send(node: Node, who: str) -> list[int]:
            return [
                (await node.store.append_message("lobby", who, str(i), 1))["id"] for i in range(25)
            ]

        ids_a, ids_b = await asyncio.gather(send(a, "a"), send(b, "b"))
        assert list(range(1, 51)) == sorted(ids_a + ids_b)
        await a.wait_events(50)
        assert list(range(1, 51)) == [e.seq for _, e in a.events]

    async def test_name_race_has_one_winner(self, make_node: NodeFactory) -> None:
        """Two nodes claiming one name at the same moment: exactly one wins."""
        a, b = await make_node(), await make_node()
        results = await asyncio.gather(
            join(a, "lobby", "Sam", "sa"), join(b, "lobby", "sam", "sb"), return_exceptions=True
        )
        assert 1 == sum(isinstance(r, NameTaken) for r in results)
        assert 1 == len(await a.store.members("lobby"))

    async def test_graceful_removal(self, make_node: NodeFactory) -> None:
        """remove_node drops all of a node's members and announces each."""
        a, b = await make_node(), await make_node()
        await subscribed(b, "r1")
        await join(a, "r1", "x", "s1")
        await join(a, "r2", "y", "s2")
        await join(b, "r1", "z", "s3")
        assert 2 == await a.store.remove_node() or isinstance(a.store, MemoryStore)
        if isinstance(a.store, MemoryStore):
            return  # one process: every member is the node's own
        assert (["z"], []) == (await b.store.members("r1"), await b.store.members("r2"))
        await b.wait_events(3)
        assert ["user_joined", "user_joined", "user_left"] == b.kinds()


class TestSubscriptions:
    async def test_staggered_subscribes_all_return(self, make_node: NodeFactory) -> None:
        """Joiners arriving around a room's subscription confirmation all get through."""
        node = await subscribed(await make_node(), "warm-up")  # the bus is connected

        async def sub(room: str, delay: float) -> None:
            await asyncio.sleep(delay)
            await node.bus.subscribe(room)

        rooms = [f"r{i // 25}" for i in range(200)]
        await asyncio.wait_for(
            asyncio.gather(*(sub(r, (i % 25) * 0.0004) for i, r in enumerate(rooms))), 10
        )
        await node.store.append_message("r7", "x", "hello", 1)
        await node.wait_events(1)
        assert [("r7", 1)] == [(room, e.seq) for room, e in node.events]


class TestLiveness:
    @pytest.fixture(autouse=True)
    def _redis_only(self, make_node: NodeFactory, request: pytest.FixtureRequest) -> None:
        self.memory = request.node.callspec.params.get("make_node") == "memory"

    async def test_dead_node_is_reaped_exactly_once(self, make_node: NodeFactory) -> None:
        """A silent node's members are removed by the first sweep, announced once."""
        a, b, c = [await make_node(node_timeout=0.3) for _ in range(3)]
        if self.memory:
            assert (True, 0) == (await a.store.heartbeat(), await b.store.reap_dead_nodes())
            return
        for node in (a, b, c):
            await node.store.heartbeat()
        await subscribed(b, "lobby")
        await join(a, "lobby", "gone", "sa")
        await join(b, "lobby", "stay", "sb")
        assert 0 == await b.store.reap_dead_nodes()  # a is still alive
        await asyncio.sleep(0.5)  # a stops beating: its alive key expires
        await b.store.heartbeat()
        await c.store.heartbeat()
        removed = await asyncio.gather(b.store.reap_dead_nodes(), c.store.reap_dead_nodes())
        assert (1, ["stay"]) == (sum(removed), await b.store.members("lobby"))
        await b.wait_events(3)
        assert ["user_joined", "user_joined", "user_left"] == b.kinds()
        assert await a.store.heartbeat() is False  # a learns it was declared dead
