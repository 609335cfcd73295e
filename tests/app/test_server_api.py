"""The server API: key check, members, kick, bans, unban, disconnect, and every bad input."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import test_moderation_events as events
from test_moderation_events import API_KEY, member, node_settings, token

from chat_service.config import Settings, SettingsError, load_settings
from chat_tools.clients import ChatClient, ServedApp, make_settings

Connect = Callable[..., Any]
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.request(
        method, url, json=body, headers=AUTH if headers is None else headers
    ) as r:
        return r.status, await r.json()


pair = events.pair  # node A and node B: one memory node, or two sharing a fake Redis


ROUTES = [
    ("GET", "/api/rooms/lobby/members", None),
    ("POST", "/api/rooms/lobby/kick", {"name": "Ann"}),
    ("POST", "/api/rooms/lobby/bans", {"name": "Ann"}),
    ("GET", "/api/rooms/lobby/bans", None),
    ("DELETE", "/api/rooms/lobby/bans?name=Ann", None),
    ("POST", "/api/users/u-ann/disconnect", None),
]


class TestKey:
    @pytest.mark.parametrize(("method", "path", "body"), ROUTES)
    async def test_off_without_the_setting(
        self,
        served: Callable[..., Any],
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        body: Any,
    ) -> None:
        """Without CHAT_API_KEY every route answers 401 unauthorized, whatever is sent."""
        node: ServedApp = await served(make_settings())
        status, reply = await call(http, method, node.url + path, body)
        assert (401, "unauthorized") == (status, reply["error"]["code"])

    @pytest.mark.parametrize(
        "header", [None, "Bearer", "Bearer " + "k" * 39, "Basic " + API_KEY, "Bearer " + "k" * 41]
    )
    async def test_wrong_or_missing_key(
        self, served: Callable[..., Any], http: aiohttp.ClientSession, header: str | None
    ) -> None:
        """A missing or wrong key is 401 and changes nothing."""
        node: ServedApp = await served(node_settings())
        headers = {} if header is None else {"Authorization": header}
        for method, path, body in ROUTES:
            status, reply = await call(http, method, node.url + path, body, headers)
            assert (path, 401, "unauthorized") == (path, status, reply["error"]["code"])

    def test_short_key_refused_at_start(self) -> None:
        """A key under 32 characters stops the node with one line saying why."""
        with pytest.raises(SettingsError, match="CHAT_API_KEY must be at least 32 characters"):
            load_settings({"CHAT_API_KEY": "x" * 31})
        assert "x" * 32 == load_settings({"CHAT_API_KEY": "x" * 32}).api_key
        assert "x" * 32 not in repr(Settings(api_key="x" * 32))


class TestRoutes:
    async def test_members_kick_and_ban(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """Members lists the room; kick and ban by name reach the user's tab as `api`."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        bob = await member(clients, b.url, token("u-bob", "Bob"))
        assert (200, {"room": "lobby", "members": ["Ann", "Bob"]}) == await call(
            http, "GET", b.url + "/api/rooms/LOBBY/members"
        )
        assert (200, {"ok": True}) == await call(
            http, "POST", b.url + "/api/rooms/lobby/kick", {"name": "ann", "reason": "r"}
        )
        await ann.wait_for(lambda: bool(ann.of("kicked")))
        assert [{"room": "lobby", "by": "api", "reason": "r"}] == ann.of("kicked")
        await bob.wait_for(lambda: bool(bob.of("user_left")))
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
        status, reply = await call(
            http, "POST", a.url + "/api/rooms/lobby/bans", {"sub": "u-ann", "seconds": 30}
        )
        assert 200 == status and reply["until"] > time.time() * 1000
        assert "banned" == (await ann.call("join", {"room": "lobby"}))["error"]["code"]
        assert (
            200,
            {
                "room": "lobby",
                "bans": [{"name": "Ann", "sub": "u-ann", "until": reply["until"], "by": "api"}],
            },
        ) == await call(http, "GET", b.url + "/api/rooms/lobby/bans")
        assert (200, {"ok": True}) == await call(
            http, "DELETE", b.url + "/api/rooms/lobby/bans?sub=u-ann"
        )
        assert (await ann.call("join", {"room": "lobby"}))["ok"]

    async def test_ban_by_sub_of_an_absent_user(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """A ban by sub needs no presence: listed with name null; the user cannot join."""
        a, b = pair
        assert (200, {"until": None}) == await call(
            http, "POST", a.url + "/api/rooms/lobby/bans", {"sub": "u-zed", "reason": "troll"}
        )
        listed = await call(http, "GET", b.url + "/api/rooms/lobby/bans")
        assert (
            200,
            [{"name": None, "sub": "u-zed", "until": None, "by": "api", "reason": "troll"}],
        ) == (
            listed[0],
            listed[1]["bans"],
        )
        zed: ChatClient = await clients(b.url, "z", auth={"token": token("u-zed", "Zed")})
        assert "banned" == (await zed.call("join", {"room": "lobby"}))["error"]["code"]
        assert (404, "not_found") == await _code(
            http, "DELETE", a.url + "/api/rooms/lobby/bans?name=Zed"
        )
        assert (200, {"ok": True}) == await call(
            http, "DELETE", a.url + "/api/rooms/lobby/bans?sub=u-zed"
        )

    async def test_disconnect_counts_every_node(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """Every connection of the sub, on both nodes, is closed; the answer counts them."""
        a, b = pair
        tabs = [
            await member(clients, a.url, token("u-ann", "Ann")),
            await member(clients, b.url, token("u-ann", "Ann")),
            await clients(b.url, "idle", auth={"token": token("u-ann", "Ann")}),
        ]
        bob = await member(clients, a.url, token("u-bob", "Bob"))
        assert (200, {"disconnected": 3}) == await call(
            http, "POST", b.url + "/api/users/u-ann/disconnect"
        )
        for tab in tabs:
            await tab.wait_for(lambda tab=tab: not tab.sio.connected)  # type: ignore[misc]
        assert bob.sio.connected
        assert (200, {"disconnected": 0}) == await call(
            http, "POST", a.url + "/api/users/u-ann/disconnect"
        )


async def _code(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, str]:
    status, reply = await call(http, method, url, body)
    return status, reply["error"]["code"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("method", "path", "body", "expected"),
        [
            ("POST", "/api/rooms/lobby/kick", {"name": "Nobody"}, (404, "not_found")),
            ("POST", "/api/rooms/lobby/kick", {"sub": "u-nobody"}, (404, "not_found")),
            ("POST", "/api/rooms/lobby/bans", {"name": "Nobody"}, (404, "not_found")),
            (
                "POST",
                "/api/rooms/lobby/kick",
                {"name": "Ann", "sub": "u-ann"},
                (400, "bad_request"),
            ),
            ("POST", "/api/rooms/lobby/kick", {}, (400, "bad_request")),
            ("POST", "/api/rooms/lobby/kick", [1], (400, "bad_request")),
            ("POST", "/api/rooms/lobby/kick", {"name": ""}, (400, "invalid_name")),
            ("POST", "/api/rooms/lobby/bans", {"name": "Ann", "seconds": 0}, (400, "bad_request")),
            (
                "POST",
                "/api/rooms/lobby/bans",
                {"name": "Ann", "reason": "x" * 201},
                (400, "bad_request"),
            ),
            ("POST", "/api/rooms/no%20room/kick", {"name": "Ann"}, (400, "invalid_room")),
            ("GET", "/api/rooms/no%20room/bans", None, (400, "invalid_room")),
            ("DELETE", "/api/rooms/lobby/bans", None, (400, "bad_request")),
            ("DELETE", "/api/rooms/lobby/bans?name=Ann&sub=u-ann", None, (400, "bad_request")),
            ("DELETE", "/api/rooms/lobby/bans?name=Ann", None, (404, "not_found")),
        ],
    )
    async def test_codes(
        self,
        pair: tuple[ServedApp, ServedApp],
        clients: Connect,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        body: Any,
        expected: tuple[int, str],
    ) -> None:
        """Bad input answers its code and status, and Ann stays in the room."""
        a, _ = pair
        await member(clients, a.url, token("u-ann", "Ann"))
        assert expected == await _code(http, method, a.url + path, body)
        assert ["Ann"] == (await call(http, "GET", a.url + "/api/rooms/lobby/members"))[1][
            "members"
        ]

    @pytest.mark.parametrize("body", [b"{", b"", b"\xff", b'{"name": "' + b"x" * 2_000_000 + b'"}'])
    async def test_not_json(
        self, served: Callable[..., Any], http: aiohttp.ClientSession, body: bytes
    ) -> None:
        """A body that is not JSON, or too large to read, is bad_request."""
        node: ServedApp = await served(node_settings())
        async with http.post(node.url + "/api/rooms/lobby/kick", data=body, headers=AUTH) as r:
            assert (400, "bad_request") == (r.status, (await r.json())["error"]["code"])

    async def test_sub_with_identity_off(
        self, served: Callable[..., Any], http: aiohttp.ClientSession
    ) -> None:
        """With identity off, `sub` and disconnect are bad_request; names still work."""
        node: ServedApp = await served(make_settings(api_key=API_KEY))
        url = node.url
        assert (400, "bad_request") == await _code(
            http, "POST", url + "/api/rooms/lobby/bans", {"sub": "u"}
        )
        assert (400, "bad_request") == await _code(
            http, "DELETE", url + "/api/rooms/lobby/bans?sub=u"
        )
        assert (400, "bad_request") == await _code(http, "POST", url + "/api/users/u/disconnect")
        assert (200, {"room": "lobby", "bans": []}) == await call(
            http, "GET", url + "/api/rooms/lobby/bans"
        )
