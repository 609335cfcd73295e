"""Arbitrary bodies, ids and query values at every server-API route: a JSON answer with
the protocol's error object on failure, never a 500, and the node keeps serving."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp
from fuzzing import json_values, payloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_moderation_events import API_KEY, node_settings

from chat_service.errors import ERROR_CODES
from chat_tools.clients import ServedApp

AUTH = {"Authorization": f"Bearer {API_KEY}"}
WRITES = [
    ("POST", "/api/rooms/{room}/messages"),
    ("POST", "/api/rooms/{room}/kick"),
    ("POST", "/api/rooms/{room}/bans"),
]
api_bodies = payloads | st.fixed_dictionaries(
    {},
    optional={
        "name": json_values | st.sampled_from(["Ann", "Bot", "", "x" * 33, "A\u200bnn"]),
        "text": json_values | st.sampled_from(["hi", "", " ", "x" * 2001, "a\x00b"]),
        "client_id": json_values | st.sampled_from(["c-1", "x" * 65, "a b"]),
        "reply_to": json_values | st.sampled_from([0, 1, 2**63, -1]),
        "sub": json_values | st.sampled_from(["u-ann", "", "s" * 257]),
        "seconds": json_values | st.sampled_from([1, 0, 31_536_001]),
        "reason": json_values | st.sampled_from(["why", "x" * 201]),
    },
)
# Room segments that reach the API's routes (aiohttp matches none that is empty or
# holds a slash or a brace; the client normalizes dots).
segments = st.sampled_from(["lobby", "LOBBY", "no room", "x" * 33, "%00", "\u00e9"]) | st.text(
    st.characters(blacklist_characters="/%?#.{}", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
path_texts = st.text(
    st.characters(blacklist_characters="/.{}", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
)
_NODE: dict[str, Any] = {}


def check(status: int, body: Any) -> None:
    """A success, or a client error with the protocol's error object; never a 500."""
    assert status < 500, (status, body)
    assert isinstance(body, dict), body
    if status >= 400:
        assert body["error"]["code"] in ERROR_CODES, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


async def node(served: Callable[..., Any]) -> ServedApp:
    if _NODE.get("key") != id(served):
        _NODE.clear()
        _NODE["key"] = id(served)
        _NODE["node"] = await served(node_settings())
    found: ServedApp = _NODE["node"]
    return found


async def request(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.request(method, url, headers=AUTH, **kwargs) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(route=st.sampled_from(WRITES), room=segments, body=api_bodies)
async def test_bodies_at_every_write(
    served: Callable[..., Any], route: tuple[str, str], room: str, body: Any
) -> None:
    """Any JSON body at a write route, under any room segment."""
    method, path = route
    served_node = await node(served)
    url = served_node.url + path.format(room=urllib.parse.quote(room, safe="%"))
    check(*await request(method, url, json=body))


@FUZZ
@given(
    room=segments,
    msg_id=st.sampled_from(["1", "0", "-1", "1e3", "+7", " 7", "٣", "9" * 40]) | path_texts,
    name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    sub=path_texts,
)
async def test_ids_and_queries(
    served: Callable[..., Any], room: str, msg_id: str, name: str, sub: str
) -> None:
    """Any message id, ban query and sub in the paths and queries that take them."""
    base = (await node(served)).url
    quoted = urllib.parse.quote(room, safe="%")
    check(
        *await request(
            "DELETE", f"{base}/api/rooms/{quoted}/messages/{urllib.parse.quote(msg_id, safe='')}"
        )
    )
    check(*await request("DELETE", f"{base}/api/rooms/{quoted}/bans", params={"name": name}))
    check(*await request("DELETE", f"{base}/api/rooms/{quoted}/bans", params={"sub": sub}))
    check(*await request("POST", f"{base}/api/users/{urllib.parse.quote(sub, safe='')}/disconnect"))
    check(*await request("GET", f"{base}/api/rooms/{quoted}/bans"))
    check(*await request("GET", f"{base}/api/rooms/{quoted}/members"))
