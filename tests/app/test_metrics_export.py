"""The metrics of #27 on the real app factory: build info, HTTP timing, delivery latency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from chat_service import __version__
from chat_service.app import create_app
from chat_tools.clients import ChatClient, make_settings


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    test_client: TestClient[Any, Any] = TestClient(TestServer(create_app(make_settings())))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def samples(client: TestClient[Any, Any], family: str) -> list[Sample]:
    text = await (await client.get("/metrics")).text()
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            return list(metric.samples)
    raise AssertionError(f"{family} not exported")


def counts_by_route(found: list[Sample]) -> dict[str, float]:
    return {
        s.labels["route"]: s.value
        for s in found
        if s.name == "chat_http_request_duration_seconds_count"
    }


class TestBuildInfo:
    async def test_version_label(self, client: TestClient[Any, Any]) -> None:
        """chat_build_info is 1 with the package's version as its label."""
        found = await samples(client, "chat_build_info")
        assert [({"version": __version__}, 1.0)] == [(s.labels, s.value) for s in found]


class TestHttpDuration:
    async def test_routes_are_patterns(self, client: TestClient[Any, Any]) -> None:
        """Requests are counted by route pattern; made-up paths share one label."""
        for path in ("/rooms/alpha", "/rooms/beta", "/healthz", "/no/such/page", "/other"):
            await client.get(path)
        counts = counts_by_route(await samples(client, "chat_http_request_duration_seconds"))
        assert 2.0 == counts["/rooms/{room}"]
        assert 1.0 == counts["/healthz"]
        assert 2.0 == counts["unmatched"]
        assert not any("alpha" in route or "no/such" in route for route in counts)

    async def test_socketio_not_timed(self, client: TestClient[Any, Any]) -> None:
        """Engine.IO polls and upgrades are not timed: their length is the client's."""
        chat = await ChatClient("ann").connect(
            str(client.make_url("/")).rstrip("/"), transports=("polling",)
        )
        try:
            await chat.call("join", {"room": "lobby", "name": "ann"})
        finally:
            await chat.close()
        counts = counts_by_route(await samples(client, "chat_http_request_duration_seconds"))
        assert not any(route.startswith("/socket.io") for route in counts)

    async def test_redirect_is_timed(self, client: TestClient[Any, Any]) -> None:
        """A handler that answers by raising (a redirect) is timed all the same."""
        resp = await client.get("/rooms/Lobby", allow_redirects=False)
        assert 301 == resp.status
        counts = counts_by_route(await samples(client, "chat_http_request_duration_seconds"))
        assert 1.0 == counts["/rooms/{room}"]


class TestDeliveryLatency:
    async def test_one_observation_per_broadcast(self, client: TestClient[Any, Any]) -> None:
        """A message read by two members of a room is one observation, of a short age."""
        url = str(client.make_url("/")).rstrip("/")
        ann = await ChatClient("ann").connect(url)
        bob = await ChatClient("bob").connect(url)
        try:
            await ann.call("join", {"room": "lobby", "name": "ann"})
            await bob.call("join", {"room": "lobby", "name": "bob"})
            reply = await ann.call("send_message", {"room": "lobby", "text": "hi"})
            assert reply["ok"]
            await bob.wait_for(lambda: bool(bob.messages("lobby")), timeout=5.0)
            await ann.wait_for(lambda: bool(ann.messages("lobby")), timeout=5.0)
        finally:
            await ann.close()
            await bob.close()
        found = {s.name: s.value for s in await samples(client, "chat_delivery_latency_seconds")}
        assert 1.0 == found["chat_delivery_latency_seconds_count"]
        assert 0.0 <= found["chat_delivery_latency_seconds_sum"] < 5.0


class TestModerationActions:
    async def test_declared(self, client: TestClient[Any, Any]) -> None:
        """chat_moderation_actions_total is declared (a counter by action) before any use."""
        text = await (await client.get("/metrics")).text()
        assert (
            "# HELP chat_moderation_actions_total Moderation actions and server-API writes" in text
        )
        assert "# TYPE chat_moderation_actions_total counter" in text


class TestAckLatency:
    async def test_by_event(self, client: TestClient[Any, Any]) -> None:
        """Every acknowledged event is timed once under its own name, errors included."""
        ann = await ChatClient("ann").connect(str(client.make_url("/")).rstrip("/"))
        try:
            await ann.call("join", {"room": "lobby", "name": "ann"})
            await ann.call("send_message", {"room": "lobby", "text": "hi"})
            refused = await ann.call("send_message", {"room": "lobby", "text": ""})
            assert not refused["ok"]
        finally:
            await ann.close()
        found = await samples(client, "chat_ack_latency_seconds")
        counts = {
            s.labels["event"]: s.value for s in found if s.name == "chat_ack_latency_seconds_count"
        }
        assert (1.0, 2.0) == (counts["join"], counts["send_message"])
