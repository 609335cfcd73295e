"""One contract for every backend: memory, fakeredis and a real redis-server."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from chat_service.backends.base import (
    DEDUPE_MS,
    Bus,
    ChangeRefused,
    NameTaken,
    ReadOutOfRange,
    Store,
)
from chat_service.backends.memory import MemoryBus, MemoryStore
from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_bus import RedisBus
from chat_service.backends.redis_clients import ClientOptions, make_client
from chat_service.backends.wire import RoomEvent
from chat_tools.procs import RedisServer
from chat_tools.redis_topologies import SENTINEL_PASSWORD, ClusterTopology, SentinelTopology


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

    def payloads(self) -> list[Any]:
        return [orjson.loads(e.payload) for _, e in self.events]

    async def wait_events(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"only {len(self.events)} events: {self.events}"
            await asyncio.sleep(0.01)


NodeFactory = Callable[..., Any]


def redis_url(request: pytest.FixtureRequest, kind: str) -> tuple[str, ClientOptions]:
    """A real server of the kind under test, started once per session."""
    if kind == "sentinel":
        sentinel: SentinelTopology = request.getfixturevalue("redis_sentinel")
        return sentinel.url, ClientOptions(sentinel_password=SENTINEL_PASSWORD)
    if kind == "cluster":
        cluster: ClusterTopology = request.getfixturevalue("redis_cluster")
        return cluster.url, ClientOptions()
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url, ClientOptions()


@pytest.fixture(
    params=[
        "memory",
        "fakeredis",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("sentinel", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.redis),
    ]
)
async def make_node(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[NodeFactory]:
    """Build nodes on the backend under test; nodes built together share state."""
    made: list[Node] = []
    prefix = f"t{secrets.token_hex(4)}:"
    shared_memory: dict[str, Any] = {}

    async def build(
        history_size: int = 100, node_timeout: float = 15.0, presence_grace: float = 5.0
    ) -> Node:
        if request.param == "memory":
            if "node" in shared_memory:  # one process, one store: every "node" is the same
                existing: Node = shared_memory["node"]
                return existing
            bus = MemoryBus()
            store: Store = MemoryStore(
                bus, history_size=history_size, presence_grace=presence_grace
            )
        else:
            if request.param == "fakeredis":
                client = fake_redis_factory()
            else:
                client = make_client(*redis_url(request, request.param))
            store = RedisStore(
                client,
                node_id=f"node{len(made)}-{secrets.token_hex(2)}",
                prefix=prefix,
                history_size=history_size,
                node_timeout=node_timeout,
                presence_grace=presence_grace,
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


async def join(
    node: Node,
    room: str,
    name: str,
    sid: str,
    since: int | None = None,
    *,
    user: str | None = None,
    epoch: str | None = None,
    ts: int = 1000,
) -> Any:
    """Join as `user` (default: the connection is a user of its own)."""
    return await node.store.join(room, user or "c" + sid, name, sid, since, epoch, ts, 50)


async def send(node: Node, room: str, name: str, text: str, ts: int = 5, cid: Any = None) -> Any:
    return (await node.store.append_message(room, name, text, ts, cid)).message


async def settle(node: Node, count: int) -> None:
    """Wait for `count` events, then a moment more to show nothing else arrives."""
    await node.wait_events(count)
    await asyncio.sleep(0.1)
    assert count == len(node.events), node.kinds()


class TestPresence:
    async def test_join_claims_the_name(self, make_node: NodeFactory) -> None:
        """A join returns the name, the members, an empty history and the room's epoch."""
        node = await make_node()
        result = await join(node, "lobby", "Ann", "s1")
        assert ("Ann", True, True, ["Ann"], [], 0, False) == (
            result.name,
            result.seated,
            result.announced,
            result.members,
            result.history,
            result.head,
            result.reset,
        )
        assert result.epoch

    async def test_names_are_unique_case_insensitively(self, make_node: NodeFactory) -> None:
        """Another user cannot take 'ann' while 'Ann' is in the room."""
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
        """The same connection joining again keeps its name and is announced once."""
        node = await make_node()
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1")
        again = await join(node, "lobby", "Other", "s1")
        assert ("Ann", False, False, ["Ann"]) == (
            again.name,
            again.seated,
            again.announced,
            again.members,
        )
        await settle(node, 1)

    async def test_one_user_many_connections(self, make_node: NodeFactory) -> None:
        """Two connections of one user share its name; it is listed and announced once."""
        node = await make_node()
        await subscribed(node, "lobby")
        first = await join(node, "lobby", "Ann", "s1", user="u1")
        second = await join(node, "lobby", "ANN", "s2", user="u1")
        assert (True, True, False, "Ann") == (
            first.announced,
            second.seated,
            second.announced,
            second.name,
        )
        assert (["Ann"], [("lobby", 1)]) == (
            await node.store.members("lobby"),
            await node.store.rooms(),
        )
        await settle(node, 1)

    async def test_user_keeps_its_name_when_joining_under_another(
        self, make_node: NodeFactory
    ) -> None:
        """A user that holds a name keeps it; the reply says which."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1", user="u1")
        assert "Ann" == (await join(node, "lobby", "Zed", "s2", user="u1")).name

    async def test_another_user_gets_name_taken(self, make_node: NodeFactory) -> None:
        """A different user asking for a held name is refused."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1", user="u1")
        with pytest.raises(NameTaken):
            await join(node, "lobby", "ann", "s2", user="u2")

    async def test_user_leaves_with_its_last_connection(self, make_node: NodeFactory) -> None:
        """Leaving one of two connections announces nothing; the last one announces once."""
        node = await make_node()
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1", user="u1")
        await join(node, "lobby", "Ann", "s2", user="u1")
        first = await node.store.leave("lobby", "s1", 2000, grace=False)
        assert first is not None and (False, None) == (first.gone, first.lingering_until)
        assert ["Ann"] == await node.store.members("lobby")
        last = await node.store.leave("lobby", "s2", 3000, grace=False)
        assert last is not None and ("Ann", True) == (last.name, last.gone)
        assert await node.store.leave("lobby", "s2", 3000, grace=False) is None
        await settle(node, 2)
        assert ["user_joined", "user_left"] == node.kinds()
        assert {"room": "lobby", "name": "Ann", "ts": 3000} == node.payloads()[1]
        assert "s1" == node.events[0][1].skip_sid

    async def test_leave_frees_the_name(self, make_node: NodeFactory) -> None:
        """After leaving, another user may take the name."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1")
        await node.store.leave("lobby", "s1", 1, grace=False)
        assert "ann" == (await join(node, "lobby", "ann", "s2")).name

    async def test_disconnect_lingers_for_the_grace(self, make_node: NodeFactory) -> None:
        """A disconnected user stays listed until its grace ends, then leaves once."""
        node = await make_node(presence_grace=5.0)
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1", user="u1")
        gone = await node.store.leave("lobby", "s1", 10_000, grace=True)
        assert gone is not None and (False, 15_000) == (gone.gone, gone.lingering_until)
        assert 0 == await node.store.expire_lingering(14_999)
        assert (["Ann"], [("lobby", 1)]) == (
            await node.store.members("lobby"),
            await node.store.rooms(),
        )
        with pytest.raises(NameTaken):
            await join(node, "lobby", "ann", "s2", user="u2")
        assert 1 == await node.store.expire_lingering(15_000)
        assert ([], []) == (await node.store.members("lobby"), await node.store.rooms())
        await settle(node, 2)
        assert {"room": "lobby", "name": "Ann", "ts": 15_000} == node.payloads()[1]

    async def test_reconnect_within_the_grace_is_silent(self, make_node: NodeFactory) -> None:
        """The user's new connection within the grace: nobody sees it leave or join."""
        node = await make_node(presence_grace=5.0)
        await subscribed(node, "lobby")
        await join(node, "lobby", "Ann", "s1", user="u1")
        await node.store.leave("lobby", "s1", 10_000, grace=True)
        back = await join(node, "lobby", "Ann", "s2", user="u1", ts=12_000)
        assert (True, False) == (back.seated, back.announced)
        assert 0 == await node.store.expire_lingering(20_000)
        assert ["Ann"] == await node.store.members("lobby")
        await settle(node, 1)

    async def test_no_grace_leaves_at_once(self, make_node: NodeFactory) -> None:
        """With the grace off, a disconnect is a leave."""
        node = await make_node(presence_grace=0)
        await join(node, "lobby", "Ann", "s1")
        gone = await node.store.leave("lobby", "s1", 10, grace=True)
        assert gone is not None and gone.gone
        assert [] == await node.store.members("lobby")

    async def test_rooms_count_users(self, make_node: NodeFactory) -> None:
        """Rooms with users, most first, ties by name; empty rooms are not listed."""
        node = await make_node()
        await join(node, "b", "x", "s1")
        await join(node, "a", "x", "s2")
        await join(node, "c", "x", "s3")
        await join(node, "c", "y", "s4")
        await join(node, "c", "y", "s6", user="cs4")
        await join(node, "d", "x", "s5")
        await node.store.leave("d", "s5", 1, grace=False)
        assert [("c", 2), ("a", 1), ("b", 1)] == await node.store.rooms()

    async def test_unicode_names_round_trip(self, make_node: NodeFactory) -> None:
        """Names with quotes, backslashes and emoji survive presence events intact."""
        node = await make_node()
        await subscribed(node, "lobby")
        name = 'Zoë "the" \\ 😀 </b>'
        await join(node, "lobby", name, "s1")
        await node.wait_events(1)
        assert name == node.payloads()[0]["name"]
        assert [name] == await node.store.members("lobby")


class TestMessages:
    async def test_ids_are_gapless_and_published_in_order(self, make_node: NodeFactory) -> None:
        """Ids run 1, 2, 3 and the feed carries them in that order, with the epoch."""
        node = await make_node()
        await subscribed(node, "lobby")
        sent = [await send(node, "lobby", "Ann", f"m{i}") for i in range(5)]
        assert [1, 2, 3, 4, 5] == [m["id"] for m in sent]
        await node.wait_events(5)
        assert [1, 2, 3, 4, 5] == [e.seq for _, e in node.events]
        epoch = sent[0]["epoch"]
        assert {
            "id": 1,
            "v": 0,
            "room": "lobby",
            "name": "Ann",
            "text": "m0",
            "ts": 5,
            "epoch": epoch,
        } == node.payloads()[0]
        assert epoch == node.events[0][1].epoch == (await join(node, "lobby", "A", "s")).epoch

    async def test_history_is_trimmed(self, make_node: NodeFactory) -> None:
        """Only the newest history_size messages are kept."""
        node = await make_node(history_size=3)
        for i in range(5):
            await send(node, "lobby", "Ann", f"m{i}")
        kept = await node.store.history("lobby", None, 100)
        assert [3, 4, 5] == [m["id"] for m in kept]

    async def test_history_before_and_limit(self, make_node: NodeFactory) -> None:
        """Newest `limit` messages with id < before, oldest first."""
        node = await make_node()
        for i in range(10):
            await send(node, "lobby", "Ann", f"m{i}")
        assert [7, 8] == [m["id"] for m in await node.store.history("lobby", 9, 2)]
        assert [1, 2] == [m["id"] for m in await node.store.history("lobby", 3, 50)]
        assert [] == await node.store.history("lobby", 1, 50)
        assert [9, 10] == [m["id"] for m in await node.store.history("lobby", 999, 2)]
        assert [] == await node.store.history("nowhere", None, 50)

    async def test_join_history_and_since(self, make_node: NodeFactory) -> None:
        """Newest 50 without since; all kept after since; since past the head is a reset."""
        node = await make_node()
        for i in range(60):
            await send(node, "lobby", "Ann", f"m{i}")
        plain = await join(node, "lobby", "A", "s1")
        assert (list(range(11, 61)), 60) == ([m["id"] for m in plain.history], plain.head)
        since = await join(node, "lobby", "B", "s2", since=55)
        assert ([56, 57, 58, 59, 60], False) == ([m["id"] for m in since.history], since.reset)
        caught_up = await join(node, "lobby", "C", "s3", since=60)
        assert [] == caught_up.history
        reset = await join(node, "lobby", "D", "s4", since=500)
        assert (list(range(11, 61)), True) == ([m["id"] for m in reset.history], reset.reset)
        old = await join(node, "lobby", "E", "s5", since=0)
        assert 60 == len(old.history)

    async def test_epoch_decides_reset(self, make_node: NodeFactory) -> None:
        """Another epoch with since is a reset; the same epoch is not; epoch alone is ignored."""
        node = await make_node()
        for i in range(3):
            await send(node, "lobby", "Ann", f"m{i}")
        epoch = (await join(node, "lobby", "A", "s1")).epoch
        same = await join(node, "lobby", "B", "s2", since=1, epoch=epoch)
        assert ([2, 3], False) == ([m["id"] for m in same.history], same.reset)
        other = await join(node, "lobby", "C", "s3", since=1, epoch="gone")
        assert ([1, 2, 3], True) == ([m["id"] for m in other.history], other.reset)
        alone = await join(node, "lobby", "D", "s4", epoch="gone")
        assert ([1, 2, 3], False) == ([m["id"] for m in alone.history], alone.reset)
        ahead = await join(node, "lobby", "E", "s5", since=9, epoch=epoch)
        assert ([], False) == (ahead.history, ahead.reset)

    async def test_since_beyond_kept_window(self, make_node: NodeFactory) -> None:
        """Whatever fell out of the window is gone; the first id shows it."""
        node = await make_node(history_size=5)
        for i in range(20):
            await send(node, "lobby", "Ann", f"m{i}")
        result = await join(node, "lobby", "A", "s1", since=3)
        assert [16, 17, 18, 19, 20] == [m["id"] for m in result.history]

    async def test_backlog_after(self, make_node: NodeFactory) -> None:
        """A feed can fetch everything kept after an id, with the epoch."""
        node = await make_node()
        for i in range(4):
            await send(node, "lobby", "Ann", f"m{i}")
        backlog = await node.store.backlog("lobby", 2)
        joined = await join(node, "lobby", "A", "s1")
        assert ([3, 4], joined.epoch) == ([i for i, _ in backlog.messages], backlog.epoch)

    async def test_text_round_trips_exactly(self, make_node: NodeFactory) -> None:
        """Quotes, backslashes, newlines, markup and emoji are stored exactly."""
        node = await make_node()
        text = 'a "b" \\ c\n\r\t<img src=x onerror="x()"> 😀 \u2028 /'
        await send(node, "lobby", "Ann", text)
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
            node.payloads()[1],
        )
        assert [] == await node.store.history("lobby", None, 50)


class TestClientIds:
    """Retries are matched per user (version 2 matched per sender name: a new holder of a
    name is another user, and one user may hold other names elsewhere)."""

    async def test_repeat_returns_the_first_message(self, make_node: NodeFactory) -> None:
        """A repeated client_id stores and publishes nothing and answers the first message."""
        node = await make_node()
        await subscribed(node, "lobby")
        first = await node.store.append_message("lobby", "Ann", "hi", 5, "c-1", user="u1")
        again = await node.store.append_message("lobby", "ann", "changed", 9, "c-1", user="u1")
        assert (False, True, first.message) == (first.duplicate, again.duplicate, again.message)
        assert "c-1" == first.message["client_id"]
        assert [1] == [m["id"] for m in await node.store.history("lobby", None, 50)]
        await settle(node, 1)

    async def test_scope_is_room_and_user(self, make_node: NodeFactory) -> None:
        """The same client_id from another user (even under the same name) or in another
        room is a new message; the same user under another name is a repeat."""
        node = await make_node()
        await node.store.append_message("lobby", "Ann", "hi", 5, "c-1", user="u1")
        other_user = await node.store.append_message("lobby", "Ann", "hi", 5, "c-1", user="u2")
        other_room = await node.store.append_message("den", "Ann", "hi", 5, "c-1", user="u1")
        no_id = await node.store.append_message("lobby", "Ann", "hi", 5, None, user="u1")
        renamed = await node.store.append_message("lobby", "Zed", "hi", 5, "c-1", user="u1")
        assert [False, False, False, True] == [
            a.duplicate for a in (other_user, other_room, no_id, renamed)
        ]
        assert "client_id" not in no_id.message

    async def test_api_retries_are_per_name(self, make_node: NodeFactory) -> None:
        """Without a user (the server API) a retry is matched by the name it posts under."""
        node = await make_node()
        first = await node.store.append_message("lobby", "Bot", "hi", 5, "c-1", system=True)
        again = await node.store.append_message("lobby", "BOT", "hi", 5, "c-1", system=True)
        other = await node.store.append_message("lobby", "Other", "hi", 5, "c-1", system=True)
        assert (True, False, True) == (again.duplicate, other.duplicate, first.message["system"])

    async def test_kept_five_minutes(self, make_node: NodeFactory) -> None:
        """A repeat within 5 minutes is a duplicate; one after that is stored anew."""
        node = await make_node()
        await node.store.append_message("lobby", "Ann", "hi", 0, "c-1")
        within = await node.store.append_message("lobby", "Ann", "hi", DEDUPE_MS - 1, "c-1")
        after = await node.store.append_message("lobby", "Ann", "hi", DEDUPE_MS + 1, "c-1")
        assert (True, False, 2) == (within.duplicate, after.duplicate, after.message["id"])

    async def test_sent_message_looks_up_without_storing(self, make_node: NodeFactory) -> None:
        """sent_message answers the user's message under a client_id in its current state
        while a repeat would be answered, None otherwise, and stores nothing."""
        node = await make_node()
        first = await node.store.append_message("lobby", "Ann", "hi", 5, "c-1", user="u1")
        await node.store.edit_message("lobby", 1, None, "u1", "hi!", 6)
        found = await node.store.sent_message("lobby", "u1", "c-1", 7)
        assert found is not None
        assert (1, 1, "hi!") == (found["id"], found["v"], found["text"])
        assert [None, None, None, None] == [
            await node.store.sent_message("lobby", "u2", "c-1", 7),
            await node.store.sent_message("lobby", "u1", "c-2", 7),
            await node.store.sent_message("den", "u1", "c-1", 7),
            await node.store.sent_message("lobby", "u1", "c-1", 5 + DEDUPE_MS),
        ]
        assert [first.message["id"]] == [
            m["id"] for m in await node.store.history("lobby", None, 50)
        ]

    async def test_kept_after_the_message_leaves_history(self, make_node: NodeFactory) -> None:
        """The first message is answered even when history no longer holds it."""
        node = await make_node(history_size=2)
        first = await node.store.append_message("lobby", "Ann", "one", 5, "c-1")
        for i in range(5):
            await send(node, "lobby", "Bob", f"m{i}")
        again = await node.store.append_message("lobby", "Ann", "one", 6, "c-1")
        assert (True, first.message) == (again.duplicate, again.message)


async def post(node: Node, room: str, user: str, text: str = "hi", **extra: Any) -> Any:
    """A message sent by `user` under the name `user.upper()`."""
    appended = await node.store.append_message(
        room, user.upper(), text, 5, None, user=user, **extra
    )
    return appended.message


async def plant_v2_message(node: Node, room: str, name: str, text: str) -> None:
    """A message as a version 2 server stored it: no `v`, no sender user."""
    if isinstance(node.store, MemoryStore):
        state = node.store._room(room)
        state.seq += 1
        state.history.append(
            orjson.dumps(
                {
                    "id": state.seq,
                    "room": room,
                    "name": name,
                    "text": text,
                    "ts": 1,
                    "epoch": state.epoch,
                }
            ).decode()
        )
        return
    assert isinstance(node.store, RedisStore)
    client, keys = node.store.client, node.store.keys
    epoch = await client.hget(keys.meta(room), "epoch") or "v2epoch"
    await client.hset(keys.meta(room), "epoch", epoch)
    seq = await client.hincrby(keys.meta(room), "seq", 1)
    raw = {"id": seq, "room": room, "name": name, "text": text, "ts": 1, "epoch": epoch}
    await client.rpush(keys.history(room), orjson.dumps(raw).decode())


def updates(node: Node) -> list[Any]:
    return [orjson.loads(e.payload) for _, e in node.events if e.kind == "message_updated"]


class TestEdits:
    async def test_edit_own_message(self, make_node: NodeFactory) -> None:
        """An edit replaces the text, sets edited, bumps v and publishes the whole message."""
        node = await subscribed(await make_node(), "lobby")
        sent = await post(node, "lobby", "u1", "helo")
        edited = await node.store.edit_message("lobby", 1, sent["epoch"], "u1", "hello", 77)
        expected = {**sent, "v": 1, "text": "hello", "edited": 77}
        assert (True, expected) == (edited.changed, edited.message)
        assert [expected] == await node.store.history("lobby", None, 50)
        await settle(node, 2)
        event = node.events[1][1]
        assert ("message_updated", 1, expected) == (event.kind, event.seq, updates(node)[0])

    async def test_same_text_changes_nothing(self, make_node: NodeFactory) -> None:
        """Editing to the text the message has answers it as it is and publishes nothing."""
        node = await subscribed(await make_node(), "lobby")
        sent = await post(node, "lobby", "u1", "same")
        again = await node.store.edit_message("lobby", 1, None, "u1", "same", 9)
        assert (False, sent) == (again.changed, again.message)
        await settle(node, 1)

    async def test_only_its_user_may_edit(self, make_node: NodeFactory) -> None:
        """Another user, even under the same name, gets forbidden; nothing changes."""
        node = await make_node()
        sent = await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="forbidden"):
            await node.store.edit_message("lobby", 1, None, "u2", "mine now", 9)
        assert [sent] == await node.store.history("lobby", None, 50)

    @pytest.mark.parametrize("msg_id", [0, 2, 99])
    async def test_unknown_id_is_not_found(self, make_node: NodeFactory, msg_id: int) -> None:
        """An id that is not kept answers not_found."""
        node = await make_node()
        await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.edit_message("lobby", msg_id, None, "u1", "x", 9)

    async def test_stale_epoch_is_not_found(self, make_node: NodeFactory) -> None:
        """An epoch other than the room's answers not_found for every change."""
        node = await make_node()
        await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.edit_message("lobby", 1, "old-epoch", "u1", "x", 9)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.delete_message("lobby", 1, "old-epoch", "u1", moderator=True)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.react("lobby", 1, "old-epoch", "u1", "U1", "👍", True)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.edit_message("nowhere", 1, None, "u1", "x", 9)

    async def test_fallen_out_of_history_is_not_found(self, make_node: NodeFactory) -> None:
        """A message no longer kept cannot be changed."""
        node = await make_node(history_size=2)
        for _ in range(3):
            await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.react("lobby", 1, None, "u1", "U1", "👍", True)

    async def test_authors_follow_the_window(self, make_node: NodeFactory) -> None:
        """Past many trims of the kept window, the newest message is still its user's and
        the ones that left it are gone."""
        node = await make_node(history_size=3)
        for i in range(70):
            await post(node, "lobby", f"u{i % 2}")
        edited = await node.store.edit_message("lobby", 70, None, "u1", "late", 9)
        with pytest.raises(ChangeRefused, match="forbidden"):
            await node.store.edit_message("lobby", 69, None, "u1", "not mine", 9)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.edit_message("lobby", 67, None, "u0", "gone", 9)
        assert "late" == edited.message["text"]
        if isinstance(node.store, RedisStore):
            meta = await node.store.client.hkeys(node.store.keys.meta("lobby"))
            assert len([f for f in meta if f.startswith("a")]) <= 3 + 32

    async def test_edits_keep_every_other_field(self, make_node: NodeFactory) -> None:
        """client_id, reply_to and reactions survive an edit; a client_id retry answers
        the edited message."""
        node = await make_node()
        await post(node, "lobby", "u0")
        sent = (
            await node.store.append_message("lobby", "Ann", "a", 5, "cid", user="u1", reply_to=1)
        ).message
        await node.store.react("lobby", 2, None, "u2", "Bob", "👍", True)
        edited = (await node.store.edit_message("lobby", 2, None, "u1", 'b "q" \\ 😀', 6)).message
        assert {
            **sent,
            "v": 2,
            "text": 'b "q" \\ 😀',
            "edited": 6,
            "reactions": {"👍": {"count": 1, "names": ["Bob"]}},
        } == edited
        retry = await node.store.append_message("lobby", "Ann", "a", 7, "cid", user="u1")
        assert (True, edited) == (retry.duplicate, retry.message)


class TestDeletes:
    async def test_tombstone(self, make_node: NodeFactory) -> None:
        """A deletion keeps id, room, name, ts, epoch, v and system; empties the text; drops
        edited, reply_to, reactions and client_id; ids stay gapless."""
        node = await subscribed(await make_node(), "lobby")
        await post(node, "lobby", "u0")
        sent = (
            await node.store.append_message(
                "lobby", "Ann", "a", 5, "cid", user="u1", reply_to=1, system=True
            )
        ).message
        await node.store.edit_message("lobby", 2, None, "u1", "b", 6)
        await node.store.react("lobby", 2, None, "u2", "Bob", "👍", True)
        gone = await node.store.delete_message("lobby", 2, sent["epoch"], "u1", moderator=False)
        tombstone = {
            "id": 2,
            "v": 3,
            "room": "lobby",
            "name": "Ann",
            "text": "",
            "ts": 5,
            "system": True,
            "deleted": True,
            "epoch": sent["epoch"],
        }
        assert (True, tombstone) == (gone.changed, gone.message)
        assert [1, 2] == [m["id"] for m in await node.store.history("lobby", None, 50)]
        assert tombstone == (await node.store.history("lobby", None, 50))[1]
        await settle(node, 5)
        assert tombstone == updates(node)[-1]
        retry = await node.store.append_message("lobby", "Ann", "a", 7, "cid", user="u1")
        assert (True, tombstone) == (retry.duplicate, retry.message)

    async def test_deleting_twice_changes_nothing(self, make_node: NodeFactory) -> None:
        """A deleted message's deletion answers its tombstone and publishes nothing."""
        node = await subscribed(await make_node(), "lobby")
        await post(node, "lobby", "u1")
        first = await node.store.delete_message("lobby", 1, None, "u1", moderator=False)
        again = await node.store.delete_message("lobby", 1, None, "u2", moderator=False)
        assert (False, first.message) == (again.changed, again.message)
        await settle(node, 2)

    async def test_others_need_a_moderator(self, make_node: NodeFactory) -> None:
        """Another user's message: forbidden, unless a moderator or the API deletes it."""
        node = await make_node()
        await post(node, "lobby", "u1")
        await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="forbidden"):
            await node.store.delete_message("lobby", 1, None, "u2", moderator=False)
        by_mod = await node.store.delete_message("lobby", 1, None, "u2", moderator=True)
        by_api = await node.store.delete_message("lobby", 2, None, None, moderator=True)
        assert (True, True) == (by_mod.message.get("deleted"), by_api.message.get("deleted"))

    async def test_deleted_messages_take_no_edit_reaction_or_reply(
        self, make_node: NodeFactory
    ) -> None:
        """A tombstone is not_found for edits, reactions and reply_to."""
        node = await make_node()
        await post(node, "lobby", "u1")
        await node.store.delete_message("lobby", 1, None, "u1", moderator=False)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.edit_message("lobby", 1, None, "u1", "x", 9)
        with pytest.raises(ChangeRefused, match="not_found"):
            await node.store.react("lobby", 1, None, "u1", "U1", "👍", True)
        with pytest.raises(ChangeRefused, match="not_found"):
            await post(node, "lobby", "u1", reply_to=1)
        assert [1] == [m["id"] for m in await node.store.history("lobby", None, 50)]


class TestVersion2Messages:
    async def test_read_as_v0_and_only_moderators_delete(self, make_node: NodeFactory) -> None:
        """A message stored by version 2 reads as v 0; nobody may edit it; its deletion
        needs a moderator."""
        node = await make_node()
        await plant_v2_message(node, "lobby", "Old", "from v2")
        (old,) = await node.store.history("lobby", None, 50)
        assert (0, "from v2") == (old["v"], old["text"])
        assert (await node.store.backlog("lobby", 0)).messages[0][1].startswith('{"id":1,"v":0,')
        with pytest.raises(ChangeRefused, match="forbidden"):
            await node.store.edit_message("lobby", 1, None, "u1", "x", 9)
        with pytest.raises(ChangeRefused, match="forbidden"):
            await node.store.delete_message("lobby", 1, None, "u1", moderator=False)
        reacted = await node.store.react("lobby", 1, None, "u1", "Ann", "👍", True)
        gone = await node.store.delete_message("lobby", 1, None, None, moderator=True)
        assert (1, 2, True) == (reacted.message["v"], gone.message["v"], gone.message["deleted"])


class TestReplies:
    async def test_reply_to_a_kept_message(self, make_node: NodeFactory) -> None:
        """reply_to names a kept live message of the room; anything else is not_found and
        stores nothing."""
        node = await make_node(history_size=3)
        await post(node, "lobby", "u1")
        reply = await post(node, "lobby", "u2", reply_to=1)
        assert 1 == reply["reply_to"]
        for bad in (3, 99):
            with pytest.raises(ChangeRefused, match="not_found"):
                await post(node, "lobby", "u2", reply_to=bad)
        await post(node, "lobby", "u1")
        await post(node, "lobby", "u1")
        with pytest.raises(ChangeRefused, match="not_found"):
            await post(node, "lobby", "u2", reply_to=1)  # fell out of the window
        assert [2, 3, 4] == [m["id"] for m in await node.store.history("lobby", None, 50)]

    async def test_retry_is_answered_before_the_reply_check(self, make_node: NodeFactory) -> None:
        """A client_id repeat answers the first message even if its target is gone now."""
        node = await make_node()
        await post(node, "lobby", "u1")
        first = await node.store.append_message("lobby", "B", "r", 5, "c", user="u2", reply_to=1)
        await node.store.delete_message("lobby", 1, None, "u1", moderator=False)
        again = await node.store.append_message("lobby", "B", "r", 5, "c", user="u2", reply_to=1)
        assert (True, first.message) == (again.duplicate, again.message)


class TestReactions:
    async def test_counts_and_names(self, make_node: NodeFactory) -> None:
        """Reactions count users; names are sorted by code point; order is first chosen."""
        node = await subscribed(await make_node(), "lobby")
        await post(node, "lobby", "u0")
        await node.store.react("lobby", 1, None, "u2", "zoë", "🎉", True)
        await node.store.react("lobby", 1, None, "u1", "Bob", "👍", True)
        last = await node.store.react("lobby", 1, None, "u3", "Ann", "🎉", True)
        assert (
            3,
            {"🎉": {"count": 2, "names": ["Ann", "zoë"]}, "👍": {"count": 1, "names": ["Bob"]}},
        ) == (
            last.message["v"],
            last.message["reactions"],
        )
        assert ["🎉", "👍"] == list(last.message["reactions"])
        await settle(node, 4)

    async def test_reactions_are_per_user(self, make_node: NodeFactory) -> None:
        """A user's second identical reaction, or removing one it never made, changes nothing."""
        node = await subscribed(await make_node(), "lobby")
        await post(node, "lobby", "u0")
        await node.store.react("lobby", 1, None, "u1", "Ann", "👍", True)
        twice = await node.store.react("lobby", 1, None, "u1", "Ann (tab 2)", "👍", True)
        never = await node.store.react("lobby", 1, None, "u2", "Bob", "👍", False)
        removed = await node.store.react("lobby", 1, None, "u1", "Ann", "👍", False)
        assert (False, False, True) == (twice.changed, never.changed, removed.changed)
        assert (2, False) == (removed.message["v"], "reactions" in removed.message)
        await settle(node, 3)

    async def test_twenty_distinct_reactions_at_most(self, make_node: NodeFactory) -> None:
        """A 21st distinct reaction is refused; another user on an existing one is fine."""
        node = await make_node()
        await post(node, "lobby", "u0")
        for i in range(20):
            await node.store.react("lobby", 1, None, "u1", "Ann", chr(0x1F600 + i), True)
        with pytest.raises(ChangeRefused, match="too_many"):
            await node.store.react("lobby", 1, None, "u1", "Ann", "🚀", True)
        more = await node.store.react("lobby", 1, None, "u2", "Bob", chr(0x1F600), True)
        assert (21, 20) == (more.message["v"], len(more.message["reactions"]))

    async def test_first_twenty_names(self, make_node: NodeFactory) -> None:
        """Past 20 users, the count goes on and the names stop at the first 20."""
        node = await make_node()
        await post(node, "lobby", "u0")
        for i in range(25):
            last = await node.store.react("lobby", 1, None, f"u{i}", f"n{i:02}", "👍", True)
        shown = last.message["reactions"]["👍"]
        assert (25, [f"n{i:02}" for i in range(20)]) == (shown["count"], shown["names"])

    async def test_backlog_and_join_recover_changes(self, make_node: NodeFactory) -> None:
        """Backlog.changed holds every kept message with v > 0; join with since answers
        `updated` (id <= since, oldest first), and nothing on a reset."""
        node = await make_node()
        for i in range(4):
            await post(node, "lobby", "u1", f"m{i}")
        await node.store.react("lobby", 3, None, "u2", "B", "👍", True)
        await node.store.edit_message("lobby", 1, None, "u1", "m0!", 9)
        await node.store.edit_message("lobby", 4, None, "u1", "m3!", 9)
        backlog = await node.store.backlog("lobby", 2)
        assert ([3, 4], [(1, 1), (3, 1), (4, 1)]) == (
            [i for i, _ in backlog.messages],
            [(i, v) for i, v, _ in backlog.changed],
        )
        joined = await join(node, "lobby", "J", "s1", since=3, epoch=backlog.epoch)
        assert ([4], [1, 3]) == (
            [m["id"] for m in joined.history],
            [m["id"] for m in joined.updated],
        )
        assert "m0!" == joined.updated[0]["text"]
        plain = await join(node, "lobby", "K", "s2")
        reset = await join(node, "lobby", "L", "s3", since=3, epoch="other")
        assert ([], []) == (plain.updated, reset.updated)


class TestReads:
    async def test_positions_move_forward_only(self, make_node: NodeFactory) -> None:
        """mark_read moves forward, publishes when it moves, never beyond the newest id."""
        node = await subscribed(await make_node(), "lobby")
        for _ in range(5):
            await post(node, "lobby", "u1")
        await join(node, "lobby", "Bob", "s2", user="u2")
        first = await node.store.mark_read("lobby", "u2", "Bob", 3, publish=True)
        back = await node.store.mark_read("lobby", "u2", "Bob", 2, publish=True)
        quiet = await node.store.mark_read("lobby", "u2", "Bob", 4, publish=False)
        with pytest.raises(ReadOutOfRange):
            await node.store.mark_read("lobby", "u2", "Bob", 6, publish=True)
        assert [(3, True), (3, False), (4, True)] == [
            (r.last_read, r.moved) for r in (first, back, quiet)
        ]
        await node.store.publish_read("lobby", "u2", "Bob")
        await settle(node, 8)
        assert [
            {"room": "lobby", "name": "Bob", "last_read": 3},
            {"room": "lobby", "name": "Bob", "last_read": 4},
        ] == [orjson.loads(e.payload) for _, e in node.events if e.kind == "read"]

    async def test_no_announcement_after_the_user_left(self, make_node: NodeFactory) -> None:
        """A coalesced `read` published after its user left (or was kicked) says nothing:
        the room is not told positions of users who are gone."""
        node = await subscribed(await make_node(), "lobby")
        await post(node, "lobby", "u1")
        await join(node, "lobby", "Bob", "s2", user="u2")
        await node.store.mark_read("lobby", "u2", "Bob", 1, publish=False)
        await node.store.leave("lobby", "s2", 10, grace=False)
        await node.store.publish_read("lobby", "u2", "Bob")
        await settle(node, 3)
        assert ["message", "user_joined", "user_left"] == [e.kind for _, e in node.events]

    async def test_join_answers_positions(self, make_node: NodeFactory) -> None:
        """join answers the user's own last_read and the members' positions by name."""
        node = await make_node()
        for _ in range(5):
            await post(node, "lobby", "u1")
        await join(node, "lobby", "Ann", "s1", user="u1")
        await node.store.mark_read("lobby", "u1", "Ann", 4, publish=False)
        await node.store.mark_read("lobby", "gone", "Ghost", 2, publish=False)
        bob = await join(node, "lobby", "Bob", "s2", user="u2")
        again = await join(node, "lobby", "Ann", "s3", user="u1")
        assert (0, {"Ann": 4}, 4) == (bob.last_read, bob.reads, again.last_read)
        with pytest.raises(ReadOutOfRange):
            await node.store.mark_read("empty-room", "u1", "Ann", 1, publish=True)
        assert (
            0 == (await node.store.mark_read("empty-room", "u1", "Ann", 0, publish=True)).last_read
        )

    async def test_keyless_positions_end_with_the_connection(self, make_node: NodeFactory) -> None:
        """A connection without a key loses its position when it leaves; a key keeps it."""
        node = await make_node()
        await post(node, "lobby", "u1")
        await join(node, "lobby", "Ann", "s1")  # user "cs1"
        await join(node, "lobby", "Bob", "s2", user="k-bob")
        await node.store.mark_read("lobby", "cs1", "Ann", 1, publish=False)
        await node.store.mark_read("lobby", "k-bob", "Bob", 1, publish=False)
        await node.store.leave("lobby", "s1", 10, grace=False)
        await node.store.leave("lobby", "s2", 10, grace=False)
        assert (0, 1) == (
            (await join(node, "lobby", "Ann", "s1")).last_read,
            (await join(node, "lobby", "Bob", "s2", user="k-bob")).last_read,
        )


class TestChangeConcurrency:
    async def test_six_reactors_on_two_nodes(self, make_node: NodeFactory) -> None:
        """Six users reacting to one message at once through two nodes: six names, v 6,
        and the feed carries v 1..6 in order."""
        a, b = await make_node(), await make_node()
        await subscribed(a, "lobby")
        await post(a, "lobby", "u0")
        users = [f"u{i}" for i in range(1, 7)]
        await asyncio.gather(
            *(
                (a if i % 2 else b).store.react("lobby", 1, None, u, u.upper(), "👍", True)
                for i, u in enumerate(users)
            )
        )
        (final,) = await a.store.history("lobby", None, 50)
        assert (6, {"👍": {"count": 6, "names": [u.upper() for u in users]}}) == (
            final["v"],
            final["reactions"],
        )
        await a.wait_events(7)
        assert [1, 2, 3, 4, 5, 6] == [m["v"] for m in updates(a)]


class TestCluster:
    async def test_concurrent_appends_from_two_nodes(self, make_node: NodeFactory) -> None:
        """Two nodes appending at once still produce ids 1..N with no gap or repeat."""
        a, b = await make_node(), await make_node()
        await subscribed(a, "lobby")

        async def burst(node: Node, who: str) -> list[int]:
            return [(await send(node, "lobby", who, str(i)))["id"] for i in range(25)]

        ids_a, ids_b = await asyncio.gather(burst(a, "a"), burst(b, "b"))
        assert list(range(1, 51)) == sorted(ids_a + ids_b)
        await a.wait_events(50)
        assert list(range(1, 51)) == [e.seq for _, e in a.events]

    async def test_concurrent_retries_store_once(self, make_node: NodeFactory) -> None:
        """The same client_id sent through two nodes at once is stored exactly once."""
        a, b = await make_node(), await make_node()
        results = await asyncio.gather(
            *(
                n.store.append_message("lobby", "Ann", "hi", 5, f"c{i}")
                for i in range(20)
                for n in (a, b)
            )
        )
        assert 20 == sum(not r.duplicate for r in results)
        assert 20 == len(await a.store.history("lobby", None, 100))

    async def test_name_race_has_one_winner(self, make_node: NodeFactory) -> None:
        """Two nodes claiming one name at the same moment: exactly one wins."""
        a, b = await make_node(), await make_node()
        results = await asyncio.gather(
            join(a, "lobby", "Sam", "sa"), join(b, "lobby", "sam", "sb"), return_exceptions=True
        )
        assert 1 == sum(isinstance(r, NameTaken) for r in results)
        assert 1 == len(await a.store.members("lobby"))

    async def test_graceful_removal_lingers(self, make_node: NodeFactory) -> None:
        """remove_node unseats all of a node's connections; its users linger, then leave."""
        a, b = await make_node(presence_grace=0.2), await make_node(presence_grace=0.2)
        await subscribed(b, "r1")
        await join(a, "r1", "x", "s1")
        await join(a, "r2", "y", "s2")
        await join(b, "r1", "z", "s3")
        assert 2 == await a.store.remove_node() or isinstance(a.store, MemoryStore)
        if isinstance(a.store, MemoryStore):
            return  # one process: every member is the node's own
        assert ["x", "z"] == sorted(await b.store.members("r1"))
        await asyncio.sleep(0.25)
        assert 2 == await b.store.expire_lingering(int(time.time() * 1000))
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
        await send(node, "r7", "x", "hello", 1)
        await node.wait_events(1)
        assert [("r7", 1)] == [(room, e.seq) for room, e in node.events]

    async def test_subscriptions_are_a_set(self, make_node: NodeFactory) -> None:
        """Subscribing twice then unsubscribing once leaves the room unsubscribed."""
        node = await subscribed(await make_node(), "lobby")
        await node.bus.subscribe("lobby")
        await node.bus.unsubscribe("lobby")
        await node.bus.unsubscribe("lobby")
        await send(node, "lobby", "x", "hello", 1)
        await asyncio.sleep(0.2)
        assert (frozenset(), []) == (node.bus.rooms, node.events)


class TestLiveness:
    @pytest.fixture(autouse=True)
    def _redis_only(self, make_node: NodeFactory, request: pytest.FixtureRequest) -> None:
        self.memory = request.node.callspec.params.get("make_node") == "memory"

    async def test_dead_node_is_reaped_exactly_once(self, make_node: NodeFactory) -> None:
        """A silent node's connections are unseated by one sweep; its users linger."""
        a, b, c = [await make_node(node_timeout=0.3, presence_grace=0.3) for _ in range(3)]
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
        assert (1, ["gone", "stay"]) == (sum(removed), sorted(await b.store.members("lobby")))
        await asyncio.sleep(0.35)
        assert 1 == await c.store.expire_lingering(int(time.time() * 1000))
        assert ["stay"] == await b.store.members("lobby")
        await b.wait_events(3)
        assert ["user_joined", "user_joined", "user_left"] == b.kinds()
        assert await a.store.heartbeat() is False  # a learns it was declared dead

    async def test_an_empty_room_leaves_no_key_without_expiry(self, make_node: NodeFactory) -> None:
        """Once every member has left, each of the room's keys has an expiry."""
        node = await make_node(presence_grace=0)
        if self.memory:
            return  # nothing outlives the process
        assert isinstance(node.store, RedisStore)
        await join(node, "quiet", "Ann", "s1", user="u1")
        await node.store.leave("quiet", "s1", 10, grace=False)
        await join(node, "busy", "Ann", "s1", user="u1")
        await join(node, "busy", "Bob", "s2")
        await node.store.append_message("busy", "Ann", "hi", 5, "c1", user="u1")
        await node.store.react("busy", 1, None, "u1", "Ann", "👍", True)
        await node.store.mark_read("busy", "u1", "Ann", 1, publish=True)
        await node.store.leave("busy", "s1", 10, grace=True)
        await node.store.leave("busy", "s2", 10, grace=True)
        client = node.store.client
        keys = [k async for k in client.scan_iter(match=node.store.keys.prefix + "room:*")]
        ttls = {k: await client.pttl(k) for k in keys}
        assert {"meta", "history", "reactions", "changed", "reads", "sent"} <= {
            k.rsplit(":", 1)[1] for k in keys
        }
        assert {k: t for k, t in ttls.items() if t < 0} == {}

    async def test_a_new_epoch_starts_clean(self, make_node: NodeFactory) -> None:
        """A room whose meta is gone (expired or evicted) starts a new epoch without the
        old history, changes or read positions."""
        node = await make_node()
        if self.memory:
            return  # this backend never loses part of a room
        assert isinstance(node.store, RedisStore)
        await post(node, "lobby", "u1")
        await node.store.react("lobby", 1, None, "u1", "Ann", "👍", True)
        await node.store.mark_read("lobby", "u1", "Ann", 1, publish=False)
        await node.store.client.delete(node.store.keys.meta("lobby"))
        fresh = await post(node, "lobby", "u1")
        joined = await join(node, "lobby", "Ann", "s1", user="u1")
        assert (1, 0, [1], 0) == (
            fresh["v"] + fresh["id"],
            joined.last_read,
            [m["id"] for m in joined.history],
            len((await node.store.backlog("lobby", 0)).changed),
        )

    async def test_restore_after_data_loss(self, make_node: NodeFactory) -> None:
        """Seats put back after Redis lost them: listed again, nothing announced."""
        node = await make_node()
        if self.memory:
            assert await node.store.restore("lobby", "u1", "Ann", "s1") is False
            return
        assert isinstance(node.store, RedisStore)
        await join(node, "lobby", "Ann", "s1", user="u1")
        await join(node, "lobby", "Ann", "s2", user="u1")
        client = node.store.client
        # SCAN, not KEYS: the topologies' ACL user has no dangerous commands.
        for key in [k async for k in client.scan_iter(match=node.store.keys.prefix + "*")]:
            await client.delete(key)
        await subscribed(node, "lobby")
        assert await node.store.restore("lobby", "u1", "Ann", "s1")
        assert await node.store.restore("lobby", "u1", "Ann", "s2")
        assert await node.store.restore("lobby", "u1", "Ann", "s2")  # idempotent
        assert (["Ann"], [("lobby", 1)]) == (
            await node.store.members("lobby"),
            await node.store.rooms(),
        )
        await node.store.leave("lobby", "s1", 1, grace=False)
        assert ["Ann"] == await node.store.members("lobby")  # s2 still holds it
        await join(node, "lobby", "Bob", "s3", user="u2")
        assert await node.store.restore("lobby", "u3", "bob", "s4") is False
        await settle(node, 1)
        assert ["user_joined"] == node.kinds()
