"""Engine.IO sessions held to account before any Socket.IO CONNECT (transport/guard.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from chat_service.appkeys import METRICS
from chat_tools.clients import RawSocket, ServedApp, make_settings

SECRET = "s" * 32


async def handshake(url: str, http: aiohttp.ClientSession) -> str:
    """An Engine.IO polling handshake and nothing more: the session's id."""
    async with http.get(url + "/socket.io/?EIO=4&transport=polling") as r:
        assert 200 == r.status
        body = await r.text()
    return str(json.loads(body[1:])["sid"])


async def ws_open(url: str, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """An Engine.IO websocket that has read its OPEN and sends nothing."""
    ws = await http.ws_connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    first = await asyncio.wait_for(ws.receive(), 5)
    assert str(first.data).startswith("0")
    return ws


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    """Reads until the server closes the websocket (True) or `seconds` pass (False)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return True
                if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                    await ws.send_str("3")
    except TimeoutError:
        return False


def refused(node: ServedApp, reason: str) -> float:
    value: float = node.app[METRICS].refused.labels(reason)._value.get()
    return value


class TestPerAddress:
    async def test_sessions_without_connect_count(self, served: Callable[..., Any]) -> None:
        """With a limit of 3, three bare handshakes use the slots: a fourth websocket is
        answered 401 and never upgraded."""
        node: ServedApp = await served(make_settings(max_connections_per_ip=3))
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                await handshake(node.url, http)
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(
                    node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
                )
            assert (401, 1.0) == (info.value.status, refused(node, "per_ip_limit"))

    async def test_a_closed_session_frees_its_slot(self, served: Callable[..., Any]) -> None:
        """Closing a connection lets the address open another."""
        node: ServedApp = await served(make_settings(max_connections_per_ip=1))
        first = await RawSocket(node.url).open()
        await first.close()
        for _ in range(50):
            if not node.app[METRICS].render().count(b"chat_connections 1.0"):
                break
            await asyncio.sleep(0.05)
        again = await RawSocket(node.url).open()
        await again.close()


class TestConnectDeadline:
    async def test_silent_sessions_are_closed(self, served: Callable[..., Any]) -> None:
        """A websocket that never sends a CONNECT is closed after CHAT_CONNECT_TIMEOUT."""
        node: ServedApp = await served(make_settings(connect_timeout=0.5))
        async with aiohttp.ClientSession() as http:
            ws = await ws_open(node.url, http)
            assert await closed_within(ws, 3.0)
        assert 1.0 == refused(node, "no_connect")

    async def test_connected_sessions_stay(self, served: Callable[..., Any]) -> None:
        """A session that sent its CONNECT is not touched by the deadline."""
        node: ServedApp = await served(make_settings(connect_timeout=0.5))
        raw = await RawSocket(node.url).open()
        await asyncio.sleep(1.0)
        assert (await raw.call("list_rooms", {}))["ok"]
        await raw.close()


class TestRefusals:
    async def test_bad_tokens_close_the_session(self, served: Callable[..., Any]) -> None:
        """A session refused CHAT_MAX_CONNECT_REFUSALS times for bad tokens is closed."""
        node: ServedApp = await served(
            make_settings(auth_secret=SECRET, max_connect_refusals=3, connect_timeout=30)
        )
        async with aiohttp.ClientSession() as http:
            ws = await ws_open(node.url, http)
            errors = []
            for _ in range(3):
                await ws.send_str('40{"token":"forged"}')
                reply = await asyncio.wait_for(ws.receive(), 5)
                errors.append(str(reply.data)[:2])
            assert ["44", "44", "44"] == errors
            assert await closed_within(ws, 3.0)
        assert 1.0 == refused(node, "refusals")
