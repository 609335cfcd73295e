"""Moderation across real node processes on a real redis-server (append-only file on)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from chat_tools.clients import ChatClient
from chat_tools.procs import Node, RedisServer, cluster

pytestmark = pytest.mark.redis
SECRET = "an-integration-secret-of-32-bytes!"
API_KEY = "integration-api-key-" + "x" * 20
GRACE = 5.0  # long: a user_left sooner than this was not held back by the grace
ENV = {
    "CHAT_AUTH_SECRET": SECRET,
    "CHAT_API_KEY": API_KEY,
    "CHAT_PRESENCE_GRACE": str(GRACE),
    "CHAT_RATE_LIMIT": "0",
}


def token(sub: str, name: str, moderator: bool = False) -> str:
    claims: dict[str, Any] = {"sub": sub, "name": name, "exp": int(time.time() + 600)}
    if moderator:
        claims["roles"] = ["moderator"]
    return jwt.encode(claims, SECRET, algorithm="HS256")


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


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[RedisServer, list[Node]]]:
    with cluster(2, tmp_path, extra_env=ENV, persistent_redis=True) as running:
        yield running


@pytest.fixture
async def connect() -> Any:
    made: list[ChatClient] = []

    async def make(node: Node, tok: str, room: str | None = "lobby") -> ChatClient:
        client = await ChatClient("c").connect(node.url, auth={"token": tok})
        made.append(client)
        if room is not None:
            reply = await client.call("join", {"room": room})
            assert reply["ok"], reply
        return client

    yield make
    for client in made:
        await client.close()


async def test_ban_on_one_node_reaches_both_and_survives_restarts(
    nodes: tuple[RedisServer, list[Node]], connect: Any
) -> None:
    """A ban issued on node A removes Ann's tabs on A and B at once, Bob sees one
    user_left without the grace, and the ban holds after a node and a Redis restart."""
    redis, (a, b) = nodes
    ann_a = await connect(a, token("u-ann", "Ann"))
    ann_b = await connect(b, token("u-ann", "Ann"))
    bob = await connect(b, token("u-bob", "Bob"))
    mod = await connect(a, token("u-mod", "Mod", moderator=True))
    await bob.wait_for(lambda: len(bob.of("user_joined")) == 1)
    started = time.monotonic()
    reply = await mod.call("ban", {"room": "lobby", "name": "Ann", "reason": "spam"})
    assert reply["ok"] and reply["until"] is None, reply
    for tab in (ann_a, ann_b):
        await tab.wait_for(lambda tab=tab: bool(tab.of("kicked")), timeout=3)  # type: ignore[misc]
    await bob.wait_for(lambda: bool(bob.of("user_left")), timeout=3)
    took = time.monotonic() - started
    await asyncio.sleep(0.5)
    kicked = {"room": "lobby", "by": "Mod", "reason": "spam", "banned": True, "until": None}
    assert ([kicked], [kicked], ["Ann"]) == (
        ann_a.of("kicked"),
        ann_b.of("kicked"),
        [e["name"] for e in bob.of("user_left")],
    )
    assert took < GRACE / 2, took
    assert (
        "not_in_room"
        == (await ann_b.call("typing", {"room": "lobby", "typing": True}))["error"]["code"]
    )

    await asyncio.to_thread(a.restart)
    again = await connect(a, token("u-ann", "Ann"), room=None)
    refused = await again.call("join", {"room": "lobby"})
    assert ("banned", None) == (refused["error"]["code"], refused["error"]["until"])

    await asyncio.to_thread(redis.restart)  # back from its append-only file
    deadline = time.monotonic() + 15
    while True:
        refused = await ann_b.call("join", {"room": "lobby"})
        if refused["error"]["code"] != "unavailable" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert "banned" == refused["error"]["code"], refused
    status, listed = await asyncio.to_thread(api, b, "GET", "/api/rooms/lobby/bans")
    assert (
        200,
        [{"name": "Ann", "sub": "u-ann", "until": None, "by": "Mod", "reason": "spam"}],
    ) == (
        status,
        listed["bans"],
    )
    assert (200, {"ok": True}) == await asyncio.to_thread(
        api, a, "DELETE", "/api/rooms/lobby/bans?name=ann"
    )
    assert (await ann_b.call("join", {"room": "lobby"}))["ok"]


async def test_server_api_kick_and_disconnect_across_nodes(
    nodes: tuple[RedisServer, list[Node]], connect: Any
) -> None:
    """The API's kick on node B removes Ann from node A; disconnect closes her tabs on
    both nodes and counts them."""
    _, (a, b) = nodes
    ann_a = await connect(a, token("u-ann", "Ann"))
    ann_b = await connect(b, token("u-ann", "Ann"), room=None)
    bob = await connect(a, token("u-bob", "Bob"))
    status, reply = await asyncio.to_thread(
        api, b, "POST", "/api/rooms/lobby/kick", {"sub": "u-ann"}
    )
    assert (200, {"ok": True}) == (status, reply)
    await ann_a.wait_for(lambda: bool(ann_a.of("kicked")), timeout=3)
    assert [{"room": "lobby", "by": "api"}] == ann_a.of("kicked")
    assert (200, {"room": "lobby", "members": ["Bob"]}) == await asyncio.to_thread(
        api, a, "GET", "/api/rooms/lobby/members"
    )
    assert (200, {"disconnected": 2}) == await asyncio.to_thread(
        api, a, "POST", "/api/users/u-ann/disconnect"
    )
    for tab in (ann_a, ann_b):
        await tab.wait_for(lambda tab=tab: not tab.sio.connected, timeout=3)  # type: ignore[misc]
    assert bob.sio.connected
