"""Several nodes in one process sharing one fakeredis: the cluster logic, fast."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chat_service.appkeys import RUNTIME
from chat_service.backends.redis import RedisStore
from chat_tools.clients import ChatClient, ServedApp, make_settings

Connect = Callable[..., Any]


@pytest.fixture
async def cluster(served: Callable[..., Any], fake_redis_factory: Callable[[], Any]) -> Any:
    async def start(count: int = 3, **overrides: Any) -> list[ServedApp]:
        settings = make_settings(redis_url="redis://fake", rate_limit=None, **overrides)
        return [await served(settings, redis=fake_redis_factory()) for _ in range(count)]

    return start


async def join(client: ChatClient, room: str, name: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("join", {"room": room, "name": name, **extra})
    assert reply["ok"], reply
    return reply


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def ids(client: ChatClient, room: str = "lobby") -> list[int]:
    return [m["id"] for m in client.messages(room)]


class TestCrossNode:
    async def test_every_member_on_every_node_gets_every_message(
        self, cluster: Any, clients: Connect
    ) -> None:
        """Messages sent on any node reach all members everywhere, in id order."""
        nodes = await cluster(3)
        members = [await clients(n.url, f"c{i}") for i, n in enumerate(nodes)]
        for i, c in enumerate(members):
            await join(c, "lobby", f"user{i}")
        sends = [
            c.call("send_message", {"room": "lobby", "text": f"from {i}:{k}"})
            for k in range(5)
            for i, c in enumerate(members)
        ]
        replies = await asyncio.gather(*sends)
        assert all(r["ok"] for r in replies)
        for c in members:
            await c.wait_for(lambda c=c: len(c.messages()) == 15)
            assert list(range(1, 16)) == ids(c)

    async def test_presence_is_cluster_wide(self, cluster: Any, clients: Connect) -> None:
        """members and list_rooms see connections on every node."""
        a, b = await cluster(2)
        ca, cb = await clients(a.url), await clients(b.url)
        await join(ca, "lobby", "ann")
        reply = await join(cb, "lobby", "bob")
        assert reply["members"] == ["ann", "bob"]
        await ca.wait_for(lambda: len(ca.of("user_joined")) == 1)
        assert await ca.call("list_rooms", {}) == {
            "ok": True,
            "rooms": [{"room": "lobby", "members": 2}],
        }

    async def test_name_race_across_nodes(self, cluster: Any, clients: Connect) -> None:
        """Two nodes accepting one name at the same moment is impossible."""
        a, b = await cluster(2)
        ca, cb = await clients(a.url), await clients(b.url)
        replies = await asyncio.gather(
            ca.call("join", {"room": "lobby", "name": "Sam"}),
            cb.call("join", {"room": "lobby", "name": "sam"}),
        )
        codes = sorted("ok" if r["ok"] else r["error"]["code"] for r in replies)
        assert codes == ["name_taken", "ok"]

    async def test_typing_and_leave_cross_nodes(self, cluster: Any, clients: Connect) -> None:
        """typing and user_left reach members on other nodes."""
        a, b = await cluster(2)
        ca, cb = await clients(a.url), await clients(b.url)
        await join(ca, "lobby", "ann")
        await join(cb, "lobby", "bob")
        await ca.call("typing", {"room": "lobby", "typing": True})
        await cb.wait_for(lambda: len(cb.of("typing")) == 1)
        await ca.call("leave", {"room": "lobby"})
        await cb.wait_for(lambda: len(cb.of("user_left")) == 1)
        assert (cb.of("typing")[0]["name"], cb.of("user_left")[0]["name"]) == ("ann", "ann")


class TestNodeFailure:
    async def test_dead_node_members_are_reaped(
        self, cluster: Any, clients: Connect, fake_redis_factory: Callable[[], Any]
    ) -> None:
        """A node that stops heartbeating loses its members; survivors announce it once."""
        nodes = await cluster(2, node_timeout=0.5, presence_grace=0.2)
        ghost = RedisStore(fake_redis_factory(), node_id="ghost", node_timeout=0.4)
        await ghost.heartbeat()
        await ghost.join("lobby", "cghost", "Ghost", "ghost-sid", None, None, 1, 50)
        watchers = [await clients(n.url, f"w{i}") for i, n in enumerate(nodes)]
        for i, w in enumerate(watchers):
            reply = await join(w, "lobby", f"w{i}")
        assert "Ghost" in reply["members"]
        for w in watchers:
            await w.wait_for(lambda w=w: len(w.of("user_left")) == 1, timeout=5)
        await asyncio.sleep(0.6)  # more sweeps happen: still exactly one user_left each
        assert [[e["name"] for e in w.of("user_left")] for w in watchers] == [["Ghost"], ["Ghost"]]
        assert (await watchers[0].call("members", {"room": "lobby"}))["members"] == ["w0", "w1"]

    async def test_graceful_stop_announces_leaves(self, cluster: Any, clients: Connect) -> None:
        """A node shutting down unseats its members; they leave after the grace."""
        a, b = await cluster(2, presence_grace=0.3)
        ca, cb = await clients(a.url), await clients(b.url)
        await join(ca, "lobby", "ann")
        await join(cb, "lobby", "bob")
        await a.stop()
        await cb.wait_for(lambda: len(cb.of("user_left")) == 1)
        assert (await cb.call("members", {"room": "lobby"}))["members"] == ["bob"]

    async def test_reaped_node_restores_its_clients(self, cluster: Any, clients: Connect) -> None:
        """A node that finds itself declared dead puts its seats back; nobody reconnects."""
        a, b = await cluster(2, node_timeout=0.5, presence_grace=5)
        ca, cb = await clients(a.url), await clients(b.url)
        await join(ca, "lobby", "ann")
        await join(cb, "lobby", "bob")
        runtime = a.app[RUNTIME]
        await runtime.store._reap(runtime.node_id, force=True)  # type: ignore[attr-defined]
        await _until(lambda: runtime.restores == 1)
        assert ca.sio.connected and cb.of("user_left") == []
        assert ["ann", "bob"] == (await cb.call("members", {"room": "lobby"}))["members"]
        assert (await ca.call("send_message", {"room": "lobby", "text": "still here"}))["ok"]

    async def test_feed_refills_after_resubscribe(self, cluster: Any, clients: Connect) -> None:
        """Messages published while a node's subscription was down arrive once, in order."""
        a, b = await cluster(2)
        ca, cb = await clients(a.url), await clients(b.url)
        await join(ca, "lobby", "ann")
        await join(cb, "lobby", "bob")
        await ca.call("send_message", {"room": "lobby", "text": "before"})
        await cb.wait_for(lambda: len(cb.messages()) == 1)
        bus = b.app[RUNTIME].bus
        await bus._drop_pubsub()  # type: ignore[attr-defined]
        for i in range(3):
            await ca.call("send_message", {"room": "lobby", "text": f"during {i}"})
        await cb.wait_for(lambda: len(cb.messages()) == 4, timeout=10)
        await ca.call("send_message", {"room": "lobby", "text": "after"})
        await cb.wait_for(lambda: len(cb.messages()) == 5, timeout=5)
        assert ids(cb) == [1, 2, 3, 4, 5]
