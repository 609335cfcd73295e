"""Protocol version 3 across two real node processes on one real redis-server: changes
made at once from both nodes, recovery of changes on rejoin, read positions, and what a
room leaves in Redis once everyone is gone."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_service.backends.keys import Keys
from chat_service.backends.redis_clients import make_client
from chat_tools.clients import ChatClient
from chat_tools.procs import Node, RedisServer, cluster

pytestmark = pytest.mark.redis
GRACE = 0.5
API_KEY = "v3-integration-api-key-" + "k" * 16
ENV = {
    "CHAT_PRESENCE_GRACE": str(GRACE),
    "CHAT_RATE_LIMIT": "0",
    "CHAT_API_KEY": API_KEY,
}
KEYS = Keys("chat:")


def key(who: str) -> str:
    """A join key per person (16-128 characters)."""
    return f"key-of-{who}".ljust(16, "x")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, list[Node]]]:
    with cluster(2, tmp_path, extra_env=ENV) as running:
        yield running


@pytest.fixture
async def connect() -> Any:
    made: list[ChatClient] = []

    async def make(node: Node, name: str) -> ChatClient:
        client = await ChatClient(name).connect(node.url)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def enter(client: ChatClient, room: str, name: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.join(room, name, key=key(name), **extra)
    assert reply["ok"], reply
    return reply


async def say(client: ChatClient, room: str, text: str) -> dict[str, Any]:
    reply = await client.change("send_message", {"room": room, "text": text})
    assert reply["ok"], reply
    message: dict[str, Any] = reply["message"]
    return message


def api(node: Node, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One server-API request (blocking; run it in a thread)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(node.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {API_KEY}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def versions_of(client: ChatClient, msg_id: int) -> list[int]:
    """The `v` of every `message_updated` of one message, in the order received."""
    return [m["v"] for m in client.of("message_updated") if m["id"] == msg_id]


def came_after_message(client: ChatClient, msg_id: int) -> bool:
    """Every update of the message arrived after its `message` event."""
    kinds = [
        kind
        for kind, data in client.events
        if kind in ("message", "message_updated") and isinstance(data, dict)
        if data.get("id") == msg_id
    ]
    return bool(kinds) and kinds[0] == "message" and kinds.count("message") == 1


class TestChangesAcrossNodes:
    async def test_six_reactions_at_once_from_both_nodes(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """Six users on two nodes react to one message at the same moment: six names,
        v 6, and every member sees v 1..6 in order, after the message."""
        _, (a, b) = pair
        names = [f"P{i}" for i in range(6)]
        people = [await connect((a, b)[i % 2], n) for i, n in enumerate(names)]
        for person, name in zip(people, names, strict=True):
            await enter(person, "party", name)
        first = await say(people[0], "party", "react to me")
        for person in people:
            await person.wait_for(lambda p=person: len(p.messages()) == 1, timeout=5)
        replies = await asyncio.gather(*(p.react("party", first["id"], "🎉") for p in people))
        assert all(r["ok"] for r in replies), replies
        assert list(range(1, 7)) == sorted(r["message"]["v"] for r in replies)
        for person in people:
            await person.wait_for(lambda p=person: len(versions_of(p, 1)) == 6, timeout=5)
        await asyncio.sleep(0.2)  # nothing more may arrive
        final = {"🎉": {"count": 6, "names": sorted(names)}}
        for person in people:
            assert list(range(1, 7)) == versions_of(person, 1), person.name
            assert came_after_message(person, 1), person.name
            assert (6, final) == (
                person.versions.current("party")[0]["v"],
                person.versions.current("party")[0]["reactions"],
            )
        history = await people[3].call("history", {"room": "party"})
        assert (6, final) == (history["messages"][0]["v"], history["messages"][0]["reactions"])

    async def test_edits_and_deletes_reach_the_other_node(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """Ann edits from node B what she sent from node A, and deletes another; Bob on
        node B and Ann's tab on A see both, in order."""
        _, (a, b) = pair
        ann_a, ann_b, bob = (
            await connect(a, "ann-a"),
            await connect(b, "ann-b"),
            await connect(b, "bob"),
        )
        for client, name in ((ann_a, "Ann"), (ann_b, "Ann"), (bob, "Bob")):
            await enter(client, "lobby", name)
        one = await say(ann_a, "lobby", "helo")
        two = await say(ann_a, "lobby", "wrong room")
        edited = await ann_b.edit("lobby", one["id"], "hello", epoch=one["epoch"])
        gone = await ann_b.delete("lobby", two["id"])
        assert (True, True) == (edited["ok"], gone["ok"])
        tombstone = {
            "id": 2,
            "v": 1,
            "room": "lobby",
            "name": "Ann",
            "text": "",
            "ts": two["ts"],
            "deleted": True,
            "epoch": two["epoch"],
        }
        assert tombstone == gone["message"]
        for watcher in (bob, ann_a):
            await watcher.wait_for(lambda w=watcher: len(w.of("message_updated")) == 2, timeout=5)
            assert [edited["message"], tombstone] == watcher.of("message_updated")
            assert came_after_message(watcher, 1) and came_after_message(watcher, 2)
        refused = await bob.edit("lobby", one["id"], "mine now")
        stale = await ann_b.edit("lobby", one["id"], "again", epoch="not-the-epoch")
        assert ("forbidden", "not_found") == (refused["error"]["code"], stale["error"]["code"])

    async def test_a_member_who_was_away_gets_the_current_state(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """Cy disconnects; others edit, delete and react; Cy rejoins on the other node
        with `since` and ends with exactly the current state of every message."""
        _, (a, b) = pair
        ann, bob, cy = await connect(a, "ann"), await connect(b, "bob"), await connect(b, "cy")
        for client, name in ((ann, "Ann"), (bob, "Bob"), (cy, "Cy")):
            await enter(client, "lobby", name)
        sent = [await say(ann, "lobby", f"m{i}") for i in range(4)]
        await cy.wait_for(lambda: len(cy.messages()) == 4, timeout=5)
        seen = cy.versions
        epoch = sent[0]["epoch"]
        await cy.close()
        assert (await ann.edit("lobby", 1, "m0, edited"))["ok"]
        assert (await ann.delete("lobby", 2))["ok"]
        assert (await bob.react("lobby", 3, "👍"))["ok"]
        assert (await ann.react("lobby", 3, "👍"))["ok"]
        assert (await bob.react("lobby", 3, "👍", on=False))["ok"]
        await say(bob, "lobby", "while you were away")
        back = await connect(a, "cy-again")
        back.versions = seen
        reply = await enter(back, "lobby", "Cy", since=4, epoch=epoch)
        assert ([5], [1, 2, 3]) == (
            [m["id"] for m in reply["history"]],
            [m["id"] for m in reply["updated"]],
        )
        current = (await back.call("history", {"room": "lobby"}))["messages"]
        assert current == back.versions.current("lobby")
        assert ["m0, edited", "", "m2", "m3", "while you were away"] == [
            m["text"] for m in back.versions.current("lobby")
        ]
        assert {"👍": {"count": 1, "names": ["Ann"]}} == back.versions.current("lobby")[2][
            "reactions"
        ]


class TestReadsAcrossNodes:
    async def test_read_events_and_join_positions(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """A read position marked on node A reaches node B as `read` (the reader's own
        tab included), and joins on either node answer it."""
        _, (a, b) = pair
        ann, ann_tab, bob = (
            await connect(a, "ann"),
            await connect(b, "ann-tab"),
            await connect(b, "bob"),
        )
        for client, name in ((ann, "Ann"), (ann_tab, "Ann"), (bob, "Bob")):
            await enter(client, "lobby", name)
        for i in range(3):
            await say(bob, "lobby", f"m{i}")
        assert {"ok": True, "room": "lobby", "last_read": 2} == await ann.mark_read("lobby", 2)
        event = {"room": "lobby", "name": "Ann", "last_read": 2}
        for watcher in (bob, ann_tab, ann):
            await watcher.wait_for(lambda w=watcher: event in w.of("read"), timeout=5)
        assert (await bob.mark_read("lobby", 3))["ok"]
        newcomer = await connect(a, "cy")
        joined = await enter(newcomer, "lobby", "Cy")
        await ann_tab.wait_for(lambda: len(ann_tab.of("read")) == 2, timeout=5)
        again = await connect(a, "bob-again")
        rejoined = await enter(again, "lobby", "Bob")
        assert (0, {"Ann": 2, "Bob": 3}, 3) == (
            joined["last_read"],
            joined["reads"],
            rejoined["last_read"],
        )

    async def test_a_kick_drops_the_pending_read_announcement(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """Ann's second `read` within the second is held by a timer; she is kicked (API,
        other node) before it fires: nobody is told a position of a user who left."""
        _, (a, b) = pair
        ann, bob = await connect(a, "ann"), await connect(b, "bob")
        await enter(ann, "lobby", "Ann")
        await enter(bob, "lobby", "Bob")
        for i in range(3):
            await say(bob, "lobby", f"m{i}")
        assert (await ann.mark_read("lobby", 1))["ok"]
        await bob.wait_for(lambda: len(bob.of("read")) == 1, timeout=5)
        assert (await ann.mark_read("lobby", 3))["ok"]  # held: under a second since the last
        status, _ = await asyncio.to_thread(
            api, b, "POST", "/api/rooms/lobby/kick", {"name": "Ann"}
        )
        assert 200 == status
        await bob.wait_for(lambda: bool(bob.of("user_left")), timeout=3)
        await ann.wait_for(lambda: bool(ann.of("kicked")), timeout=3)
        await asyncio.sleep(1.5)  # past the held announcement's timer
        assert [{"room": "lobby", "name": "Ann", "last_read": 1}] == bob.of("read")
        assert ["user_left"] == [kind for kind, _ in bob.events if kind in ("user_left", "read")][
            1:
        ]


class TestKeysOfIdleRooms:
    async def test_every_key_expires_once_the_room_is_empty(
        self, pair: tuple[RedisServer, list[Node]], connect: Any
    ) -> None:
        """After everyone leaves a busy room (changes, reads, retries, a kick, a ban that
        ends), and the grace passes, each of its keys has a TTL or is gone; a room joined
        without a message leaves nothing without one either."""
        redis, (a, b) = pair
        ann, bob, cy = await connect(a, "ann"), await connect(b, "bob"), await connect(a, "cy")
        for client, name in ((ann, "Ann"), (bob, "Bob"), (cy, "Cy")):
            await enter(client, "busy", name)
        await ann.change("send_message", {"room": "busy", "text": "hi", "client_id": "c-1"})
        await say(bob, "busy", "hello")
        assert (await ann.edit("busy", 1, "hi!"))["ok"]
        assert (await bob.react("busy", 1, "👍"))["ok"]
        assert (await bob.delete("busy", 2))["ok"]
        assert (await ann.mark_read("busy", 2))["ok"]
        banned = await asyncio.to_thread(
            api, b, "POST", "/api/rooms/busy/bans", {"name": "Cy", "seconds": 60}
        )
        assert 200 == banned[0], banned
        quiet = await connect(b, "quiet")
        await enter(quiet, "quiet-room", "Quiet")
        await ann.close()  # a disconnect: the grace applies
        await bob.call("leave", {"room": "busy"})
        await quiet.close()
        await asyncio.sleep(GRACE + 1.5)  # the grace, and the sweep after it
        client = make_client(redis.url)
        try:
            found = {
                str(k): int(await client.pttl(k))
                for room in ("busy", "quiet-room")
                for k in await client.keys(f"chat:room:{{{room}}}:*")
            }
        finally:
            await client.aclose()
        forever = {k: ttl for k, ttl in found.items() if ttl < 0}
        assert {} == forever, found
        kinds = {k.rsplit(":", 1)[-1] for k in found}
        assert {"meta", "history", "reactions", "changed", "reads", "bans"} <= kinds, found
        # the ban ends with its minute; the history lives as long as an idle room's
        assert found[KEYS.bans("busy")] <= 60_000 < found[KEYS.history("busy")]
