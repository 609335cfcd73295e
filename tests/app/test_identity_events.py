"""Identity on: tokens at connect, names per user, forbidden rooms, the HTTP API, expiry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import socketio
from fuzzing import json_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_tools.clients import ChatClient, ServedApp, http_get, make_settings

SECRET = "a-test-secret-that-is-32-bytes!!"
Connect = Callable[..., Any]


def token(sub: str = "u1", name: str = "Ann", ttl: float = 60, **extra: Any) -> str:
    claims = {"sub": sub, "name": name, "exp": int(time.time() + ttl), **extra}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture
async def node(served: Callable[..., Any]) -> ServedApp:
    result: ServedApp = await served(
        make_settings(auth_secret=SECRET, auth_leeway=0, presence_grace=0.3)
    )
    return result


async def refused(url: str, auth: Any) -> Any:
    """Connect with `auth` and return the connect_error data."""
    client = socketio.AsyncClient(reconnection=False)
    seen: list[Any] = []
    client.on("connect_error", seen.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, transports=["websocket"], auth=auth, wait_timeout=5)
    await client.disconnect()
    return seen[0] if seen else None


async def authed(clients: Connect, url: str, tok: str, label: str = "c") -> ChatClient:
    client: ChatClient = await clients(url, label, auth={"token": tok})
    return client


class TestConnect:
    @pytest.mark.parametrize(
        "auth",
        [
            None,
            {},
            {"token": 5},
            {"token": "nonsense"},
            {"token": jwt.encode({"sub": "u", "name": "A", "exp": 1}, SECRET, algorithm="HS256")},
            {"token": jwt.encode({"sub": "u", "name": "A"}, SECRET, algorithm="HS256")},
            {"token": jwt.encode({"sub": "u", "name": "A", "exp": 2**40}, "x" * 32)},
        ],
    )
    async def test_without_a_valid_token(self, node: ServedApp, auth: Any) -> None:
        """A missing, expired, unsigned or mis-signed token is refused as unauthorized."""
        data = await refused(node.url, auth)
        assert "unauthorized" == data["code"] and data["message"]

    async def test_with_a_token(self, node: ServedApp, clients: Connect) -> None:
        """A valid token connects; join needs no name and uses the token's."""
        ann = await authed(clients, node.url, token())
        reply = await ann.call("join", {"room": "lobby"})
        assert ("Ann", ["Ann"]) == (reply["name"], reply["members"])


class TestNames:
    async def test_name_must_match_the_token(self, node: ServedApp, clients: Connect) -> None:
        """A given name must equal the token's after case folding."""
        ann = await authed(clients, node.url, token())
        assert (await ann.call("join", {"room": "a", "name": "ANN"}))["ok"]
        reply = await ann.call("join", {"room": "b", "name": "Bob"})
        assert "invalid_name" == reply["error"]["code"]

    async def test_two_tabs_of_one_user(self, node: ServedApp, clients: Connect) -> None:
        """The same sub holds its name from two connections; one join, one leave."""
        watcher = await authed(clients, node.url, token("w", "Watcher"))
        await watcher.call("join", {"room": "lobby"})
        tab1 = await authed(clients, node.url, token())
        tab2 = await authed(clients, node.url, token())
        assert (await tab1.call("join", {"room": "lobby"}))["ok"]
        assert (await tab2.call("join", {"room": "lobby"}))["ok"]
        await tab1.close()
        await tab2.close()
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 1, timeout=3)
        assert 1 == len(watcher.of("user_joined"))

    async def test_other_user_same_name(self, node: ServedApp, clients: Connect) -> None:
        """Another sub whose token carries the same name gets name_taken."""
        ann = await authed(clients, node.url, token("u1", "Ann"))
        other = await authed(clients, node.url, token("u2", "ann"))
        await ann.call("join", {"room": "lobby"})
        assert "name_taken" == (await other.call("join", {"room": "lobby"}))["error"]["code"]


class TestRooms:
    async def test_forbidden_at_every_event(self, node: ServedApp, clients: Connect) -> None:
        """A room outside the token's rooms answers forbidden everywhere."""
        ann = await authed(clients, node.url, token(rooms=["Lobby"]))
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
        payloads = {
            "join": {"room": "den"},
            "leave": {"room": "den"},
            "send_message": {"room": "den", "text": "x"},
            "typing": {"room": "den", "typing": True},
            "history": {"room": "den"},
            "members": {"room": "den"},
        }
        for event, payload in payloads.items():
            reply = await ann.call(event, payload)
            assert "forbidden" == reply["error"]["code"], event

    async def test_list_rooms_hides_forbidden(self, node: ServedApp, clients: Connect) -> None:
        """list_rooms lists only the rooms the token allows."""
        everyone = await authed(clients, node.url, token("u9", "All"))
        for room in ("lobby", "den"):
            await everyone.call("join", {"room": room})
        limited = await authed(clients, node.url, token(rooms=["den"]))
        rooms = (await limited.call("list_rooms"))["rooms"]
        assert [{"room": "den", "members": 1}] == rooms


class TestHttp:
    async def test_api_needs_a_bearer(self, node: ServedApp) -> None:
        """Without a valid bearer token the API answers 401 with the error object."""
        for path in ("/api/rooms", "/api/rooms/lobby/messages"):
            status, body = await http_get(node.url + path)
            assert 401 == status and '"unauthorized"' in body

    async def test_api_with_a_bearer(self, node: ServedApp) -> None:
        """A valid token reads allowed rooms (200) and is refused others (403)."""
        import aiohttp

        headers = {"Authorization": f"Bearer {token(rooms=['lobby'])}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(node.url + "/api/rooms/lobby/messages") as ok:
                assert 200 == ok.status
            async with session.get(node.url + "/api/rooms/den/messages") as no:
                assert (403, "forbidden") == (no.status, (await no.json())["error"]["code"])
            async with session.get(node.url + "/api/rooms") as rooms:
                assert 200 == rooms.status


class TestExpiry:
    async def test_connection_closes_when_the_token_expires(
        self, node: ServedApp, clients: Connect
    ) -> None:
        """The connection is closed at the Engine.IO level when its token expires."""
        ann = await authed(clients, node.url, token(ttl=1.5))
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
        await ann.wait_for(lambda: not ann.sio.connected, timeout=5)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=json_values | st.text(max_size=300) | st.just(token()[:-3] + "abc"))
async def test_fuzzed_token_field(served: Callable[..., Any], value: Any) -> None:
    """Whatever the token field holds, the answer is a connect_error with unauthorized."""
    app = _STATE.get(id(served))
    if app is None:
        app = _STATE[id(served)] = await served(make_settings(auth_secret=SECRET))
    data = await refused(app.url, {"token": value})
    assert "unauthorized" == data["code"] and isinstance(data["message"], str)
    assert {"code": "unauthorized", "message": data["message"]} == data["data"]


_STATE: dict[int, ServedApp] = {}
