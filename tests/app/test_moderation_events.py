"""Moderators' events (kick, ban, unban, bans) on one node and on two nodes sharing a store."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fuzzing import assert_ack, json_values, payloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_tools.clients import ChatClient, ServedApp, make_settings

SECRET = "a-test-secret-that-is-32-bytes!!"
API_KEY = "k" * 40
Connect = Callable[..., Any]


def token(sub: str, name: str, moderator: bool = False, **extra: Any) -> str:
    claims = {"sub": sub, "name": name, "exp": int(time.time() + 600), **extra}
    if moderator:
        claims["roles"] = ["moderator", "other"]
    return jwt.encode(claims, SECRET, algorithm="HS256")


def node_settings(**overrides: Any) -> Any:
    base = {"auth_secret": SECRET, "presence_grace": 5.0, "api_key": API_KEY, "rate_limit": None}
    return make_settings(**(base | overrides))


@pytest.fixture(params=["one-node", "two-nodes"])
async def pair(
    request: pytest.FixtureRequest, served: Callable[..., Any], fake_redis_factory: Any
) -> tuple[ServedApp, ServedApp]:
    """Node A and node B: the same memory node, or two nodes sharing a (fake) Redis."""
    if request.param == "one-node":
        node: ServedApp = await served(node_settings())
        return node, node
    a: ServedApp = await served(node_settings(), redis=fake_redis_factory())
    b: ServedApp = await served(node_settings(), redis=fake_redis_factory())
    return a, b


async def member(clients: Connect, url: str, tok: str, room: str = "lobby") -> ChatClient:
    client: ChatClient = await clients(url, "c", auth={"token": tok})
    reply = await client.call("join", {"room": room})
    assert reply["ok"], reply
    return client


def error(reply: Any) -> str:
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])


class TestKick:
    async def test_kick_reaches_every_tab_on_every_node(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """Both of Ann's tabs get `kicked` and leave; Bob sees one user_left, at once."""
        a, b = pair
        ann_a = await member(clients, a.url, token("u-ann", "Ann"))
        ann_b = await member(clients, b.url, token("u-ann", "Ann"))
        bob = await member(clients, a.url, token("u-bob", "Bob"))
        mod = await member(clients, b.url, token("u-mod", "Mod", moderator=True))
        await bob.wait_for(lambda: len(bob.of("user_joined")) == 1)
        reply = await mod.call("kick", {"room": "lobby", "name": "ANN", "reason": "calm down"})
        assert {"ok": True} == reply
        expected = {"room": "lobby", "by": "Mod", "reason": "calm down"}
        for tab in (ann_a, ann_b):
            await tab.wait_for(lambda tab=tab: bool(tab.of("kicked")))  # type: ignore[misc]
            assert [expected] == tab.of("kicked")
        await bob.wait_for(lambda: bool(bob.of("user_left")))
        await asyncio.sleep(0.3)
        assert [{"room": "lobby", "name": "Ann"}] == [
            {k: e[k] for k in ("room", "name")} for e in bob.of("user_left")
        ]
        assert ["Bob", "Mod"] == (await bob.call("members", {"room": "lobby"}))["members"]
        for tab in (ann_a, ann_b):
            sent = await tab.call("send_message", {"room": "lobby", "text": "hi"})
            assert "not_in_room" == error(sent)
        assert (await ann_a.call("join", {"room": "lobby"}))["ok"]

    async def test_who_may_kick(self, pair: tuple[ServedApp, ServedApp], clients: Connect) -> None:
        """A member without the role: forbidden; a moderator outside the room: not_in_room."""
        a, b = pair
        await member(clients, a.url, token("u-ann", "Ann"))
        bob = await member(clients, a.url, token("u-bob", "Bob"))
        outsider: ChatClient = await clients(b.url, "m", auth={"token": token("m", "M", True)})
        payload = {"room": "lobby", "name": "Ann"}
        assert "forbidden" == error(await bob.call("kick", payload))
        assert "not_in_room" == error(await outsider.call("kick", payload))
        assert "not_in_room" == error(await outsider.call("bans", {"room": "lobby"}))

    async def test_bad_requests_change_nothing(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """Long reasons, bad seconds, unknown names: the protocol's codes, nobody removed."""
        a, _ = pair
        await member(clients, a.url, token("u-ann", "Ann"))
        mod = await member(clients, a.url, token("u-mod", "Mod", moderator=True))
        cases = [
            ("kick", {"room": "lobby", "name": "Ann", "reason": "x" * 201}, "bad_request"),
            ("kick", {"room": "lobby", "name": "Ann", "reason": "a\x07b"}, "bad_request"),
            ("kick", {"room": "lobby", "name": "Nobody"}, "not_found"),
            ("kick", {"room": "lobby"}, "bad_request"),
            ("kick", {"room": "no room", "name": "Ann"}, "invalid_room"),
            ("ban", {"room": "lobby", "name": "Ann", "seconds": 0}, "bad_request"),
            ("ban", {"room": "lobby", "name": "Ann", "seconds": 31_536_001}, "bad_request"),
            ("ban", {"room": "lobby", "name": "Ann", "seconds": "9"}, "bad_request"),
            ("ban", {"room": "lobby", "name": "Ann", "seconds": True}, "bad_request"),
            ("unban", {"room": "lobby", "name": "Ann"}, "not_found"),
            ("unban", {"room": "lobby", "sub": "u-ann"}, "not_found"),
            ("unban", {"room": "lobby", "name": "Ann", "sub": "u-ann"}, "bad_request"),
            ("bans", [], "bad_request"),
        ]
        for event, payload, code in cases:
            assert (event, code) == (event, error(await mod.call(event, payload)))
        assert ["Ann", "Mod"] == (await mod.call("members", {"room": "lobby"}))["members"]
        ok = await mod.call("kick", {"room": "lobby", "name": "Ann", "reason": "é" * 200})
        assert ok["ok"]

    async def test_identity_off_forbids_moderation(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """Without identity nobody is a moderator: every moderation event is forbidden."""
        node: ServedApp = await served(make_settings())
        ann: ChatClient = await clients(node.url, "a")
        assert (await ann.call("join", {"room": "lobby", "name": "Ann"}))["ok"]
        for event in ("kick", "ban", "unban", "bans"):
            assert "forbidden" == error(await ann.call(event, {"room": "lobby", "name": "Ann"}))
        assert "forbidden" == error(await ann.call("unban", {"room": "lobby", "sub": "u"}))


class TestBan:
    async def test_ban_binds_the_user_until_unban(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """Banned: kicked with until, join refused with until under any name, listed; the
        unban by name lets the user back."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        mod = await member(clients, b.url, token("u-mod", "Mod", moderator=True))
        before = int(time.time() * 1000)
        reply = await mod.call("ban", {"room": "lobby", "name": "ann", "seconds": 60})
        until = reply["until"]
        assert before + 60_000 <= until <= int(time.time() * 1000) + 60_000
        await ann.wait_for(lambda: bool(ann.of("kicked")))
        assert [{"room": "lobby", "by": "Mod", "banned": True, "until": until}] == ann.of("kicked")
        refused = await ann.call("join", {"room": "lobby"})
        assert ("banned", until) == (error(refused), refused["error"]["until"])
        other = await clients(b.url, "o", auth={"token": token("u-ann", "Annie")})
        assert "banned" == error(await other.call("join", {"room": "lobby"}))
        listed = await mod.call("bans", {"room": "lobby"})
        assert {
            "ok": True,
            "room": "lobby",
            "bans": [{"name": "Ann", "sub": "u-ann", "until": until, "by": "Mod"}],
        } == listed
        assert {"ok": True} == await mod.call("unban", {"room": "lobby", "name": "ANN"})
        assert (await ann.call("join", {"room": "lobby"}))["ok"]

    async def test_ban_without_seconds_and_unban_by_sub(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """A ban without `seconds` lasts until unban (until: null); unban by sub lifts it."""
        a, _ = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        mod = await member(clients, a.url, token("u-mod", "Mod", moderator=True))
        reply = await mod.call("ban", {"room": "lobby", "name": "Ann", "reason": "spam"})
        assert {"ok": True, "until": None} == reply
        refused = await ann.call("join", {"room": "lobby"})
        assert ("banned", None) == (error(refused), refused["error"]["until"])
        assert {"ok": True} == await mod.call("unban", {"room": "lobby", "sub": "u-ann"})
        assert (await ann.call("join", {"room": "lobby"}))["ok"]

    async def test_ban_ends_by_itself(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """A one-second ban lets the user join again after a second, and is no longer listed."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        mod = await member(clients, b.url, token("u-mod", "Mod", moderator=True))
        until = (await mod.call("ban", {"room": "lobby", "name": "Ann", "seconds": 1}))["until"]
        assert "banned" == error(await ann.call("join", {"room": "lobby"}))
        await asyncio.sleep(max(until / 1000 - time.time(), 0) + 0.05)
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
        assert [] == (await mod.call("bans", {"room": "lobby"}))["bans"]

    async def test_audit_line_and_counter(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, caplog: Any
    ) -> None:
        """Each action is one audit line (who, what, whom, room, reason) and one count."""
        a, _ = pair
        await member(clients, a.url, token("u-ann", "Ann"))
        mod = await member(clients, a.url, token("u-mod", "Mod", moderator=True))
        with caplog.at_level(logging.INFO, logger="chat_service.audit"):
            await mod.call("ban", {"room": "lobby", "name": "Ann", "reason": 'a "b"\u2028c'})
            await mod.call("unban", {"room": "lobby", "name": "Ann"})
        lines = [r for r in caplog.records if r.name == "chat_service.audit"]
        assert [
            '"Mod" ban "Ann" in room lobby reason "a \\"b\\"\\u2028c"',
            '"Mod" unban "Ann" in room lobby',
        ] == [r.getMessage() for r in lines]
        fields = ("audit", "by", "actor", "target", "room", "until")
        assert ("ban", "Mod", "u-mod", "Ann", "lobby", None) == tuple(
            getattr(lines[0], f) for f in fields
        )
        from chat_service.appkeys import METRICS

        counter = a.app[METRICS].moderation_actions
        assert (1.0, 1.0) == (
            counter.labels(action="ban")._value.get(),
            counter.labels(action="unban")._value.get(),
        )


moderation_payloads = payloads | st.fixed_dictionaries(
    {"room": st.sampled_from(["lobby", "LOBBY", "no room"])},
    optional={
        "name": json_values | st.sampled_from(["Ann", "ann", "Nobody", "", "x" * 33]),
        "sub": json_values | st.sampled_from(["u-ann", "", "s" * 257]),
        "seconds": json_values | st.sampled_from([0, 1, 31_536_000, 31_536_001, -1, 1.5]),
        "reason": json_values | st.sampled_from(["", "x" * 200, "x" * 201, "a\x00b"]),
    },
)
_FUZZ: dict[str, Any] = {}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=st.sampled_from(["kick", "ban", "unban", "bans"]), payload=moderation_payloads)
async def test_moderation_events_answer_well_formed(
    served: Callable[..., Any], event: str, payload: Any
) -> None:
    """Any JSON at a moderation event from a moderator gets one protocol ack, and the
    node keeps serving."""
    if _FUZZ.get("key") != id(served):
        _FUZZ.clear()
        _FUZZ["key"] = id(served)
        node: ServedApp = await served(node_settings())
        mod = ChatClient("mod")
        await mod.connect(node.url, auth={"token": token("u-mod", "Mod", moderator=True)})
        assert (await mod.call("join", {"room": "lobby"}))["ok"]
        _FUZZ["mod"] = mod
    mod = _FUZZ["mod"]
    assert_ack(await mod.call(event, payload))
    # Still serving; and back in the room should the moderator have moderated itself.
    assert_ack(await mod.call("join", {"room": "lobby"}))
