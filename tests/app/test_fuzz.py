"""Arbitrary JSON thrown at every event: always one well-formed ack, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzzing import EVENTS, assert_ack, payloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_tools.clients import ChatClient, ServedApp, make_settings


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=st.sampled_from([*EVENTS, "", "unknown", "connect", "message"]), payload=payloads)
async def test_every_event_answers_well_formed(
    served: Callable[..., Any], event: str, payload: Any
) -> None:
    """Any JSON at any event gets exactly one protocol ack; the node keeps serving."""
    node: ServedApp = await _node(served)
    client = await _client(node)
    reply = await client.call(event, payload, timeout=5)
    assert_ack(reply)


_STATE: dict[str, Any] = {}


async def _node(served: Callable[..., Any]) -> ServedApp:
    key = id(served)
    if _STATE.get("key") != key:
        _STATE.clear()
        _STATE["key"] = key
        _STATE["node"] = await served(make_settings(rate_limit=None))
    node: ServedApp = _STATE["node"]
    return node


async def _client(node: ServedApp) -> ChatClient:
    client: ChatClient | None = _STATE.get("client")
    if client is None or not client.sio.connected:
        client = await ChatClient("fuzz").connect(node.url)
        _STATE["client"] = client
    return client


async def test_node_still_serves_after_fuzzing(served: Callable[..., Any]) -> None:
    """A fresh node survives a burst of hostile payloads and still chats."""
    node = await served(make_settings(rate_limit=None))
    hostile = await ChatClient("hostile").connect(node.url)
    nasty: list[Any] = [
        None,
        [],
        "x" * 60_000,
        {"room": {"$gt": ""}},
        {"room": "r", "name": "\ud800"},
        {"room": "r", "name": "n", "since": 10**30},
        {"room": "r" * 10_000, "name": "n"},
        [[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]],
        {"room": "lobby", "text": "\x00" * 100},
    ]
    for event in EVENTS:
        for payload in nasty:
            assert_ack(await hostile.call(event, payload))
    good = await ChatClient("good").connect(node.url)
    assert (await good.call("join", {"room": "lobby", "name": "good"}))["ok"]
    assert (await good.call("send_message", {"room": "lobby", "text": "still here"}))["ok"]
    await hostile.close()
    await good.close()
