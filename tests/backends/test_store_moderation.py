"""The store contract, moderation part: kicks, bans and node-wide requests, on every
backend (memory, fakeredis, redis-server, Sentinel, Cluster) through `make_node`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import test_store_contract as contract
from test_store_contract import Node, NodeFactory, join, settle, subscribed

from chat_service.backends.base import BanOrder, Removed
from chat_service.backends.wire import parse_kicked_control
from chat_service.errors import Banned

make_node = contract.make_node  # the contract suite's fixture: every backend it covers
KICKED = '{"room":"lobby","by":"Mod"}'
# Bans keys expire in wall-clock time: the tests' clock runs an hour ahead, so no key
# expires during a test while every rule is checked at the times the test names.
T0 = int(time.time() * 1000) + 3_600_000


def order(until: int | None = None, reason: str | None = "spam", sub: str | None = None) -> Any:
    return BanOrder(until=until, by="Mod", reason=reason, sub=sub)


async def kick(node: Node, name: str, ts: int = T0) -> Removed | None:
    return await node.store.moderate("lobby", ts, KICKED, None, name_key=name.casefold())


async def ban(node: Node, name: str, until: int | None = None, ts: int = T0) -> Removed | None:
    return await node.store.moderate("lobby", ts, KICKED, order(until), name_key=name.casefold())


async def quiet(node: Node, count: int) -> None:
    """Let `count` earlier events arrive, then forget them."""
    await settle(node, count)
    node.events.clear()


class TestKick:
    async def test_kick_removes_every_seat_and_tells_first(self, make_node: NodeFactory) -> None:
        """Every connection of the user loses its seat; `kicked` comes before one user_left."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await join(node, "lobby", "Ann", "s2", user="kA")
        await join(node, "lobby", "Bob", "s3", user="kB")
        await quiet(node, 2)
        removed = await kick(node, "ANN", ts=T0 + 5)
        await settle(node, 2)
        assert Removed("kA", "Ann", True) == removed
        assert ["kicked", "user_left"] == node.kinds()
        control = parse_kicked_control(node.events[0][1].payload)
        assert ("kA", frozenset({"s1", "s2"}), KICKED) == (
            control.user,
            control.sids,
            control.event,
        )
        assert {"room": "lobby", "name": "Ann", "ts": T0 + 5} == node.payloads()[1]
        assert ["Bob"] == await node.store.members("lobby")
        assert None is await node.store.leave("lobby", "s1", T0 + 6, grace=False)
        assert None is await node.store.leave("lobby", "s2", T0 + 6, grace=False)

    async def test_kicked_user_may_join_again(self, make_node: NodeFactory) -> None:
        """A kick is not a ban: the user joins again, announced afresh, from any connection."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await kick(node, "Ann")
        again = await join(node, "lobby", "Ann", "s1", user="kA", ts=T0 + 1)
        assert (True, True, ["Ann"]) == (again.seated, again.announced, again.members)
        departure = await node.store.leave("lobby", "s1", T0 + 2, grace=False)
        assert departure is not None and departure.gone

    async def test_kick_of_nobody_changes_nothing(self, make_node: NodeFactory) -> None:
        """No holder of the name, or a user not in the room: None and no event."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Bob", "s3", user="kB")
        await quiet(node, 1)
        assert None is await kick(node, "Ann")
        assert None is await node.store.moderate("lobby", T0, KICKED, None, user="kZ")
        await asyncio.sleep(0.1)
        assert ([], ["Bob"]) == (node.kinds(), await node.store.members("lobby"))

    async def test_kick_reaches_a_lingering_user(self, make_node: NodeFactory) -> None:
        """A user listed during its presence grace is removed at once, with one user_left."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await node.store.leave("lobby", "s1", T0, grace=True)
        await quiet(node, 1)
        assert Removed("kA", "Ann", True) == await kick(node, "Ann")
        await settle(node, 2)
        assert ["kicked", "user_left"] == node.kinds()
        assert 0 == await node.store.expire_lingering(T0 + 60_000)

    async def test_kick_reaches_seats_on_every_node(self, make_node: NodeFactory) -> None:
        """Seats held through two nodes both go; the user rejoins through either, counted once."""
        a = await subscribed(await make_node(), "lobby")
        b = await subscribed(await make_node(), "lobby")
        for node in (a, b):
            await node.store.heartbeat()  # registered, as a running node is
        await join(a, "lobby", "Ann", "sa", user="kA")
        await join(b, "lobby", "Ann", "sb", user="kA")
        await kick(a, "Ann")
        assert None is await b.store.leave("lobby", "sb", T0, grace=False)
        fresh = await join(a, "lobby", "Ann", "sc", user="kA", ts=T0 + 1)
        again = await join(b, "lobby", "Ann", "sb", user="kA", ts=T0 + 1)
        assert (True, True, True, False) == (
            fresh.seated,
            fresh.announced,
            again.seated,
            again.announced,
        )
        await a.store.leave("lobby", "sc", T0 + 2, grace=False)
        assert ["Ann"] == await a.store.members("lobby")  # sb still holds a seat
        departure = await b.store.leave("lobby", "sb", T0 + 2, grace=False)
        assert departure is not None and departure.gone
        assert [] == await a.store.members("lobby")


class TestMissedKicks:
    async def test_a_node_finds_the_seats_a_kick_removed(self, make_node: NodeFactory) -> None:
        """Seats removed by a kick are found with what the kick said; others are not."""
        node = await make_node()
        await join(node, "lobby", "Ann", "s1", user="kA")
        await join(node, "lobby", "Ann", "s2", user="kA")
        await join(node, "lobby", "Bob", "s3", user="kB")
        await join(node, "lobby", "Cy", "s4", user="kC")
        await node.store.leave("lobby", "s4", T0, grace=False)
        await kick(node, "Ann")
        seats = {"s1": "kA", "s2": "kA", "s3": "kB", "s4": "kC"}
        missed = await node.store.missed_kicks("lobby", seats)
        assert ({"s1", "s2"}, {KICKED}) == (set(missed), {c.event for c in missed.values()})
        await join(node, "lobby", "Ann", "s1", user="kA", ts=T0 + 1)
        assert {} == await node.store.missed_kicks("lobby", {"s1": "kA"})
        assert {} == await node.store.missed_kicks("lobby", {})


class TestBan:
    async def test_ban_refuses_the_user_not_the_name(self, make_node: NodeFactory) -> None:
        """The banned user cannot join under any name; another user may take the name."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await quiet(node, 1)
        removed = await ban(node, "Ann", until=T0 + 60_000)
        await settle(node, 2)
        assert (Removed("kA", "Ann", True), ["kicked", "user_left"]) == (removed, node.kinds())
        for name in ("Ann", "Other"):
            with pytest.raises(Banned) as refused:
                await join(node, "lobby", name, "s9", user="kA", ts=T0 + 1)
            assert T0 + 60_000 == refused.value.until
        assert "Ann" == (await join(node, "lobby", "Ann", "s2", user="kB", ts=T0 + 1)).name
        assert "Ann" == (await join(node, "den", "Ann", "s9", user="kA", ts=T0 + 1)).name

    async def test_refused_join_changes_nothing(self, make_node: NodeFactory) -> None:
        """A banned join publishes nothing and seats nothing."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await ban(node, "Ann")
        await quiet(node, 3)  # user_joined, kicked, user_left
        with pytest.raises(Banned) as refused:
            await join(node, "lobby", "Ann", "s1", user="kA", ts=T0 + 1)
        await asyncio.sleep(0.1)
        members = await node.store.members("lobby")
        assert (None, [], []) == (refused.value.until, node.kinds(), members)
        assert None is await node.store.leave("lobby", "s1", T0 + 2, grace=False)

    async def test_ban_ends_by_itself(self, make_node: NodeFactory) -> None:
        """At `until` the user joins again and the ban is no longer listed."""
        node = await subscribed(await make_node(), "lobby")
        await join(node, "lobby", "Ann", "s1", user="kA")
        await ban(node, "Ann", until=T0 + 1000)
        assert 1 == len(await node.store.bans("lobby", T0 + 999))
        assert "Ann" == (await join(node, "lobby", "Ann", "s1", user="kA", ts=T0 + 1000)).name
        assert [] == await node.store.bans("lobby", T0 + 1000)

    async def test_ban_of_an_absent_user(self, make_node: NodeFactory) -> None:
        """A ban by user needs no presence: nobody is told, and the user's join is refused."""
        node = await subscribed(await make_node(), "lobby")
        node.events.clear()
        bans = BanOrder(until=None, by="api", reason=None, sub="alice@example")
        removed = await node.store.moderate("lobby", T0, KICKED, bans, user="sZ")
        await asyncio.sleep(0.1)
        assert (Removed("sZ", None, False), []) == (removed, node.kinds())
        with pytest.raises(Banned):
            await join(node, "lobby", "Zed", "s1", user="sZ", ts=T0 + 1)
        (listed,) = await node.store.bans("lobby", T0 + 1)
        assert ("sZ", None, "alice@example", None, "api", None, T0) == (
            listed.user,
            listed.name,
            listed.sub,
            listed.until,
            listed.by,
            listed.reason,
            listed.at,
        )

    async def test_bans_list_name_sub_by_reason(self, make_node: NodeFactory) -> None:
        """A ban by name lists the name held, the remembered sub, who and why, oldest first."""
        node = await subscribed(await make_node(), "lobby")
        await node.store.remember_subject("lobby", "sA", 'a|1 "q"', T0 + 3_600_000)
        await join(node, "lobby", "Ann", "s1", user="sA")
        await join(node, "lobby", "Bob", "s2", user="kB")
        await ban(node, "ann", until=T0 + 9000, ts=T0)
        await node.store.moderate("lobby", T0 + 1, KICKED, order(reason=None), name_key="bob")
        first, second = await node.store.bans("lobby", T0 + 2)
        assert ("Ann", 'a|1 "q"', T0 + 9000, "Mod", "spam") == (
            first.name,
            first.sub,
            first.until,
            first.by,
            first.reason,
        )
        assert ("Bob", None, None, None) == (second.name, second.sub, second.until, second.reason)

    async def test_a_second_ban_replaces_the_first(self, make_node: NodeFactory) -> None:
        """Banning a banned user again keeps one ban, the newest."""
        node = await subscribed(await make_node(), "lobby")
        await node.store.moderate("lobby", T0, KICKED, order(T0 + 5000), user="kA")
        await node.store.moderate("lobby", T0 + 1, KICKED, order(None), user="kA")
        (listed,) = await node.store.bans("lobby", T0 + 2)
        assert (None, T0 + 1) == (listed.until, listed.at)


class TestUnban:
    async def test_unban_by_name_lifts_every_ban_under_it(self, make_node: NodeFactory) -> None:
        """Two users banned while holding 'Ann' are both lifted by 'ANN'; 'Bob' stays."""
        node = await subscribed(await make_node(), "lobby")
        for user, name in (("kA", "Ann"), ("kB", "Bob")):
            await join(node, "lobby", name, "s" + user, user=user)
            await ban(node, name)
        await join(node, "lobby", "ann", "s3", user="kC")
        await ban(node, "ann")
        assert 2 == await node.store.unban("lobby", T0 + 1, name="ANN")
        assert ["Bob"] == [b.name for b in await node.store.bans("lobby", T0 + 1)]
        assert "Ann" == (await join(node, "lobby", "Ann", "s1", user="kA", ts=T0 + 2)).name

    async def test_unban_by_user(self, make_node: NodeFactory) -> None:
        """A ban named by its user is lifted; a second unban finds nothing."""
        node = await subscribed(await make_node(), "lobby")
        await node.store.moderate("lobby", T0, KICKED, order(), user="sZ")
        assert 1 == await node.store.unban("lobby", T0 + 1, user="sZ")
        assert 0 == await node.store.unban("lobby", T0 + 1, user="sZ")
        assert 0 == await node.store.unban("lobby", T0 + 1, name="Nobody")

    async def test_an_ended_ban_is_not_lifted(self, make_node: NodeFactory) -> None:
        """Only bans in force count: an ended one answers 0."""
        node = await subscribed(await make_node(), "lobby")
        await node.store.moderate("lobby", T0, KICKED, order(T0 + 10), user="sZ")
        assert 0 == await node.store.unban("lobby", T0 + 10, user="sZ")


class TestNodeControl:
    async def test_disconnect_is_answered_by_every_node(self, make_node: NodeFactory) -> None:
        """Each node closes its own connections of the user; the asker gets the sum."""
        nodes = [await make_node(), await make_node()]
        asked: list[tuple[str, str]] = []
        distinct = list({id(n): n for n in nodes}.values())  # memory: one node for all
        for count, node in enumerate(distinct, start=2):

            async def handler(kind: str, arg: str, count: int = count) -> int:
                asked.append((kind, arg))
                return count

            node.bus.set_control_handler(handler)
        await asyncio.sleep(0.2)  # the control channel is subscribed with the room feeds
        total = await nodes[0].store.disconnect_subject("sZ")
        assert (sum(range(2, 2 + len(distinct))), [("disconnect", "sZ")] * len(distinct)) == (
            total,
            asked,
        )
