"""Engine.IO heartbeats end to end: answered pings keep a connection, silence ends it
(FastSocket schedules each ping with a timer instead of a task per connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from chat_tools.clients import RawSocket, ServedApp, make_settings

INTERVAL, TIMEOUT = 1.0, 1.0


async def pings_within(sock: RawSocket, seconds: float, *, answer: bool) -> tuple[int, bool]:
    """Read for `seconds`: (pings seen, whether the server closed the connection)."""
    assert sock.ws is not None
    pings, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(sock.ws.receive(), left)
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            return pings, True
        if msg.data == "2":
            pings += 1
            if answer:
                await sock.ws.send_str("3")
        elif msg.data == "1":  # Engine.IO CLOSE
            return pings, True
    return pings, False


class TestPing:
    async def test_answered_pings_keep_the_connection(self, served: Callable[..., Any]) -> None:
        """Three intervals of answered pings: a ping each interval, still open, still served."""
        node: ServedApp = await served(make_settings(ping_interval=INTERVAL, ping_timeout=TIMEOUT))
        sock = await RawSocket(node.url).open()
        pings, closed = await pings_within(sock, 3.5, answer=True)
        reply = await sock.call("join", {"room": "lobby", "name": "Ann"})
        await sock.close()
        assert (True, False, True) == (pings >= 3, closed, reply["ok"])

    async def test_a_silent_client_is_dropped(self, served: Callable[..., Any]) -> None:
        """No answer to a ping: the server closes within interval + timeout (+ slack)."""
        node: ServedApp = await served(make_settings(ping_interval=INTERVAL, ping_timeout=TIMEOUT))
        sock = await RawSocket(node.url).open()
        started = time.monotonic()
        pings, closed = await pings_within(sock, INTERVAL + TIMEOUT + 4.0, answer=False)
        took = time.monotonic() - started
        await sock.close()
        assert (1, True, True) == (pings, closed, took < INTERVAL + TIMEOUT + 4.0)
