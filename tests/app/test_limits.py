"""The v3 bounds on what one connection makes others see: joins, rooms and typing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from chat_service.config import RateLimit
from chat_tools.clients import ChatClient, ServedApp, make_settings

Connect = Callable[..., Awaitable[ChatClient]]
KEY = "k" * 20


def code(reply: dict[str, Any]) -> str:
    return str(reply["error"]["code"]) if not reply["ok"] else "ok"


class TestJoins:
    async def test_join_leave_cycles_are_bounded_per_user_and_room(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """100 join/leave cycles: 5 joins pass, the rest get rate_limited with retry_after_ms;
        the observer sees 5 user_joined; leave is never limited."""
        node: ServedApp = await served(make_settings(rate_limit=None))
        watcher = await clients(node.url, "watcher")
        await watcher.call("join", {"room": "lobby", "name": "w"})
        cycler = await clients(node.url, "cycler")
        joins: list[dict[str, Any]] = []
        for _ in range(100):
            joins.append(await cycler.call("join", {"room": "lobby", "name": "c", "key": KEY}))
            await cycler.call("leave", {"room": "lobby"})
        refused = [j for j in joins if not j["ok"]]
        assert (5, {"rate_limited"}) == (
            len(joins) - len(refused),
            {j["error"]["code"] for j in refused},
        )
        assert all(0 < j["error"]["retry_after_ms"] <= 10_000 for j in refused)
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 5)
        await asyncio.sleep(0.2)
        assert (5, 5) == (len(watcher.of("user_joined")), len(watcher.of("user_left")))

    async def test_rejoin_of_a_joined_room_is_free(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """An idempotent re-join of a room the connection is in never counts."""
        node: ServedApp = await served(make_settings())
        c = await clients(node.url, "c")
        replies = [await c.call("join", {"room": "lobby", "name": "c"}) for _ in range(30)]
        assert ["ok"] * 30 == [code(r) for r in replies]

    async def test_rooms_per_connection(self, served: Callable[..., Any], clients: Connect) -> None:
        """Past CHAT_MAX_ROOMS_PER_CONNECTION a join is rate_limited; leaving one frees it."""
        node: ServedApp = await served(make_settings(max_rooms_per_connection=3))
        c = await clients(node.url, "c")
        codes = [code(await c.call("join", {"room": f"r{i}", "name": "c"})) for i in range(4)]
        assert ["ok", "ok", "ok", "rate_limited"] == codes
        assert (await c.call("leave", {"room": "r0"}))["ok"]
        assert "ok" == code(await c.call("join", {"room": "r3", "name": "c"}))

    async def test_per_connection_join_rate(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """At most CHAT_CONNECTION_JOIN_LIMIT joins per connection and window."""
        node: ServedApp = await served(make_settings(connection_join_limit=RateLimit(5, 10.0)))
        c = await clients(node.url, "c")
        codes = [code(await c.call("join", {"room": f"r{i}", "name": "c"})) for i in range(6)]
        assert ["ok"] * 5 + ["rate_limited"] == codes

    async def test_rejoin_of_50_rooms_after_failover_is_never_limited(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """A user in 50 rooms whose connection dies rejoins all 50 at once on a new one."""
        node: ServedApp = await served(make_settings())
        first = await clients(node.url, "first")
        rooms = [f"room-{i}" for i in range(50)]
        for room in rooms:
            assert (await first.call("join", {"room": room, "name": "u", "key": KEY}))["ok"]
        await first.close()
        second = await clients(node.url, "second")
        replies = await asyncio.gather(
            *(second.call("join", {"room": r, "name": "u", "key": KEY}) for r in rooms)
        )
        assert ["ok"] * 50 == [code(r) for r in replies]


class TestTyping:
    async def test_flood_shows_first_and_final_state(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """300 alternating typing events: the observer sees true, then the final false
        within the interval, never 300."""
        node: ServedApp = await served(make_settings(typing_interval=1.0))
        typist = await clients(node.url, "typist")
        watcher = await clients(node.url, "watcher")
        await typist.call("join", {"room": "lobby", "name": "t"})
        await watcher.call("join", {"room": "lobby", "name": "w"})
        for i in range(300):
            assert {"ok": True} == await typist.call(
                "typing", {"room": "lobby", "typing": i % 2 == 0}
            )
        await watcher.wait_for(lambda: len(watcher.of("typing")) == 2, timeout=3.0)
        await asyncio.sleep(1.2)
        assert [True, False] == [t["typing"] for t in watcher.of("typing")]

    async def test_per_user_not_per_connection(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """Two tabs of one user share the gate: their changes count together."""
        node: ServedApp = await served(make_settings(typing_interval=5.0))
        tabs = [await clients(node.url, f"tab{i}") for i in range(2)]
        watcher = await clients(node.url, "watcher")
        for tab in tabs:
            await tab.call("join", {"room": "lobby", "name": "t", "key": KEY})
        await watcher.call("join", {"room": "lobby", "name": "w"})
        await tabs[0].call("typing", {"room": "lobby", "typing": True})
        await tabs[1].call("typing", {"room": "lobby", "typing": True})
        await watcher.wait_for(lambda: len(watcher.of("typing")) == 1)
        await asyncio.sleep(0.3)
        assert [True] == [t["typing"] for t in watcher.of("typing")]

    async def test_held_false_survives_the_typing_tab_leaving(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """true then false inside the interval, then that tab leaves while the user's other
        tab stays: the observer still gets the final false; with no tab left, none."""
        node: ServedApp = await served(make_settings(typing_interval=0.5))
        tabs = [await clients(node.url, f"tab{i}") for i in range(2)]
        watcher = await clients(node.url, "watcher")
        for tab in tabs:
            await tab.call("join", {"room": "lobby", "name": "t", "key": KEY})
        await watcher.call("join", {"room": "lobby", "name": "w"})
        await tabs[0].call("typing", {"room": "lobby", "typing": True})
        await tabs[0].call("typing", {"room": "lobby", "typing": False})
        await tabs[0].call("leave", {"room": "lobby"})
        await watcher.wait_for(lambda: len(watcher.of("typing")) == 2)
        assert [True, False] == [t["typing"] for t in watcher.of("typing")]
        await asyncio.sleep(0.6)
        await tabs[1].call("typing", {"room": "lobby", "typing": True})
        await tabs[1].call("typing", {"room": "lobby", "typing": False})
        await tabs[1].call("leave", {"room": "lobby"})
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 1)
        await asyncio.sleep(0.8)
        assert [True, False, True] == [t["typing"] for t in watcher.of("typing")]
