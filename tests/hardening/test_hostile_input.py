"""Hostile input at a real node: every packet gets the contract's error or is dropped."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from fuzzing import EVENTS

from chat_tools.clients import ChatClient, RawSocket, http_get
from chat_tools.procs import Node

NASTY_PAYLOADS: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x" * 50_000,
    [],
    [None],
    {},
    {"room": None},
    {"room": ["lobby"]},
    {"room": {"$ne": 1}},
    {"room": "lobby", "name": "\ud800"},
    {"room": "lobby", "name": "a\u0000b"},
    {"room": "lobby", "text": "\udfff"},
    {"room": "lobby", "since": 10**40},
    {"room": "lobby", "limit": -(10**40)},
    {"room": "lobby", "typing": "true"},
    {"room": "x" * 10_000, "name": "n"},
    {"room": "lobby", "id": 10**40, "text": "x", "epoch": "\ud800"},
    {"room": "lobby", "id": 1, "emoji": "\u0000", "on": "yes"},
    {"room": "lobby", "name": "n", "seconds": 10**40, "reason": "x" * 50_000},
    {"room": "lobby", "sub": {"$ne": ""}},
]


def assert_error(reply: Any, code: str | None = None) -> None:
    assert isinstance(reply, dict) and reply["ok"] is False, reply
    assert code is None or code == reply["error"]["code"], reply
    assert reply["error"]["code"] != "internal", reply


async def still_serves(node: Node) -> None:
    """A well-behaved client can still chat on the node."""
    good = await ChatClient("good").connect(node.url)
    try:
        name = f"good-{secrets.token_hex(3)}"  # earlier ones linger for the presence grace
        assert (await good.call("join", {"room": "lobby", "name": name}))["ok"]
        reply = await good.call("send_message", {"room": "lobby", "text": "still here"})
        assert reply["ok"] is True
    finally:
        await good.close()


class TestPayloads:
    async def test_every_event_with_nasty_payloads(self, shared_node: Node) -> None:
        """Each event with each hostile payload gets an error ack; nothing crashes."""
        node = shared_node
        raw = await RawSocket(node.url).open()
        tried = 0
        for event in EVENTS:
            for payload in NASTY_PAYLOADS:
                reply = await raw.call(event, payload)
                tried += 1
                if not reply["ok"]:
                    assert_error(reply)
        assert len(EVENTS) * len(NASTY_PAYLOADS) == tried
        await raw.close()
        await still_serves(node)

    @pytest.mark.parametrize(
        "frame",
        [
            "421" + "[" * 20_000 + "]" * 20_000,  # nesting past the JSON parser's depth
            '421["join",' + "{" + '"a":{' * 5000 + "}" * 5001 + "]",
            "421[]",  # no event name
            '421[7,{"room":"lobby"}]',  # event name not a string
            '421{"event":"join"}',  # data not a list
            "421not json",
            '421["connect",{"HTTP_X_FORWARDED_FOR":"1.2.3.4"}]',  # reserved event names
            '421["disconnect"]',
            '451-1["send_message",{"_placeholder":true,"num":0}]',  # binary attachment
        ],
    )
    async def test_malformed_packets_get_bad_request(self, shared_node: Node, frame: str) -> None:
        """Packets python-socketio cannot use are answered bad_request by ack id."""
        node = shared_node
        raw = await RawSocket(node.url).open()
        await raw.send(frame)
        assert_error(await raw.wait_ack(1), "bad_request")
        await raw.send(b"\x00\x01\x02")  # a stray binary attachment is dropped
        assert (await raw.call("list_rooms", {}))["ok"] is True
        await raw.close()

    async def test_packets_without_ack_ids(self, shared_node: Node) -> None:
        """Events sent without an ack callback are handled (or dropped) silently."""
        node = shared_node
        raw = await RawSocket(node.url).open()
        for frame in ['42["join",{"room":"lobby","name":"quiet"}]', "42garbage", '42["nope"]']:
            await raw.send(frame)
        members = await raw.call("members", {"room": "lobby"})
        assert "quiet" in members["members"]
        await raw.close()

    async def test_unknown_events(self, shared_node: Node) -> None:
        """Unknown event names are bad_request."""
        node = shared_node
        raw = await RawSocket(node.url).open()
        for event in ["", "message", "user_joined", "JOIN", "x" * 1000, "__proto__"]:
            assert_error(await raw.call(event, {}), "bad_request")
        await raw.close()

    async def test_oversize_packet_closes_only_that_connection(
        self, start_node: Callable[..., Node]
    ) -> None:
        """A packet over CHAT_MAX_PACKET_BYTES closes its connection; others carry on."""
        node = start_node(max_packet_bytes=26_000)
        bystander = await ChatClient("bystander").connect(node.url)
        await bystander.call("join", {"room": "lobby", "name": "by"})
        raw = await RawSocket(node.url).open()
        await raw.send('421["send_message",{"room":"lobby","text":"' + "x" * 30_000 + '"}]')
        with pytest.raises(ConnectionError):
            await raw.receive(timeout=5)
        reply = await bystander.call("send_message", {"room": "lobby", "text": "fine"})
        assert reply["ok"] is True
        await bystander.close()

    async def test_invalid_utf8_frame_closes_only_that_connection(self, shared_node: Node) -> None:
        """A text frame that is not UTF-8 is refused at the websocket layer."""
        node = shared_node
        raw = await RawSocket(node.url).open()
        assert raw.ws is not None
        await raw.ws._writer.send_frame(b'42["x",\xff\xfe]', 0x1)  # raw text opcode
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await raw.receive(timeout=5)
        await still_serves(node)


class TestFloods:
    async def test_connection_flood(self, start_node: Callable[..., Node]) -> None:
        """Hundreds of connections at once are accepted and the node keeps serving."""
        node = start_node()
        socks = await asyncio.gather(*(RawSocket(node.url).open(timeout=15) for _ in range(300)))
        _, text = await http_get(node.url + "/metrics")
        assert "chat_connections 300.0" in text
        await asyncio.gather(*(s.close() for s in socks))
        await still_serves(node)

    async def test_per_ip_limit(self, start_node: Callable[..., Node]) -> None:
        """Past CHAT_MAX_CONNECTIONS_PER_IP a client's websocket is refused at its
        Engine.IO handshake (401, never upgraded)."""
        node = start_node(max_connections_per_ip=3)
        socks = [await RawSocket(node.url).open() for _ in range(3)]
        extra = RawSocket(node.url)
        with pytest.raises(aiohttp.WSServerHandshakeError, match="401"):
            await extra.open()
        await extra.close()
        await socks[0].close()
        async with asyncio.timeout(5):  # a slot is freed once the node has seen the close
            while True:
                again = RawSocket(node.url)
                try:
                    await again.open()
                    break
                except aiohttp.WSServerHandshakeError:
                    await again.close()
                    await asyncio.sleep(0.05)
        await again.close()
        for s in socks[1:]:
            await s.close()

    async def test_forwarded_for_only_when_trusted(self, start_node: Callable[..., Node]) -> None:
        """X-Forwarded-For cannot dodge the limit unless the proxy is trusted."""
        untrusted = start_node(max_connections_per_ip=1)
        first = await RawSocket(untrusted.url, headers={"X-Forwarded-For": "10.0.0.1"}).open()
        spoof = RawSocket(untrusted.url, headers={"X-Forwarded-For": "10.0.0.2"})
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await spoof.open()
        await spoof.close()
        await first.close()
        trusted = start_node(max_connections_per_ip=1, trust_forwarded="true")
        a = await RawSocket(trusted.url, headers={"X-Forwarded-For": "10.0.0.1"}).open()
        b = await RawSocket(trusted.url, headers={"X-Forwarded-For": "10.0.0.2, 1.1.1.1"}).open()
        await a.close()
        await b.close()


class TestOrigins:
    async def test_default_same_origin(self, start_node: Callable[..., Node]) -> None:
        """By default a forged Origin is refused; same-origin and no Origin work."""
        node = start_node()
        forged = RawSocket(node.url, origin="http://evil.example")
        with pytest.raises(Exception, match="400"):
            await forged.open()
        await forged.close()
        same = await RawSocket(node.url, origin=node.url).open()
        bare = await RawSocket(node.url).open()
        assert (await same.call("list_rooms", {}))["ok"]
        assert (await bare.call("list_rooms", {}))["ok"]
        await same.close()
        await bare.close()

    async def test_allowed_list(self, start_node: Callable[..., Node]) -> None:
        """An allowed origin connects; one not on the list does not."""
        node = start_node(allowed_origins="https://chat.example")
        ok = await RawSocket(node.url, origin="https://chat.example").open()
        await ok.close()
        refused = RawSocket(node.url, origin="https://other.example")
        with pytest.raises(Exception, match="400"):
            await refused.open()
        await refused.close()

    async def test_star_opens_it(self, start_node: Callable[..., Node]) -> None:
        """CHAT_ALLOWED_ORIGINS=* accepts any origin."""
        node = start_node(allowed_origins="*")
        anyone = await RawSocket(node.url, origin="http://evil.example").open()
        await anyone.close()


class TestTyping:
    async def test_typing_is_throttled(self, start_node: Callable[..., Node]) -> None:
        """A typing flood is acked but broadcast at most once per interval and never stored."""
        node = start_node(typing_interval=1)
        typist = await ChatClient("typist").connect(node.url)
        watcher = await ChatClient("watcher").connect(node.url)
        await typist.call("join", {"room": "lobby", "name": "t"})
        await watcher.call("join", {"room": "lobby", "name": "w"})
        typing = {"room": "lobby", "typing": True}
        replies = [await typist.call("typing", typing) for _ in range(50)]
        assert [{"ok": True}] * 50 == replies
        await typist.call("typing", {"room": "lobby", "typing": False})
        await watcher.wait_for(lambda: any(not t["typing"] for t in watcher.of("typing")))
        assert [True, False] == [t["typing"] for t in watcher.of("typing")]
        assert [] == (await watcher.call("history", {"room": "lobby"}))["messages"]
        await typist.close()
        await watcher.close()


class TestObservability:
    async def test_json_logs_and_metrics(self, start_node: Callable[..., Node]) -> None:
        """CHAT_LOG_FORMAT=json logs one JSON object per line; errors are counted by code."""
        node = start_node(log_format="json", rate_limit="1/60")
        c = await ChatClient("c").connect(node.url)
        await c.call("join", {"room": "lobby", "name": "secretive"})
        await c.call("send_message", {"room": "lobby", "text": "TOP-SECRET-TEXT"})
        await c.call("send_message", {"room": "lobby", "text": "again"})
        await c.close()
        _, metrics = await http_get(node.url + "/metrics")
        assert 'chat_errors_total{code="rate_limited"} 1.0' in metrics
        assert "chat_messages_total 1.0" in metrics
        node.process.stop()
        lines = [line for line in node.process.log().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        assert {"ts", "level", "logger", "message"} <= set(records[0])
        assert any("joined room lobby" in r["message"] for r in records)
        assert not any("TOP-SECRET-TEXT" in line for line in lines)
