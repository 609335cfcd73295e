"""A raw Engine.IO v4 / Socket.IO v5 client over one aiohttp websocket.

Only what a load generator needs: the handshake, events with acknowledgements, and
answering pings. No reconnection, no polling, no namespaces but `/`. Every frame is
one packet on the websocket transport, so parsing is a prefix check and one JSON decode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from yarl import URL

EventHandler = Callable[[str, Any], None]
AckCallback = Callable[[Any], None]


class EioError(Exception):
    """The server refused the connection or broke the protocol."""


def socket_url(base: str) -> str:
    """The websocket endpoint of a node or load balancer base URL."""
    url = URL(base)
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    path = url.path.rstrip("/") + "/socket.io/"
    return str(url.with_scheme(scheme).with_path(path).with_query(EIO="4", transport="websocket"))


def encode_event(event: str, payload: Any, ack_id: int | None = None) -> str:
    """A Socket.IO EVENT packet inside an Engine.IO MESSAGE packet."""
    body = orjson.dumps([event, payload]).decode()
    return f"42{body}" if ack_id is None else f"42{ack_id}{body}"


def split_ack(packet: str) -> tuple[int, Any]:
    """(ack id, first argument) of a `43<id>[...]` packet."""
    bracket = packet.index("[", 2)
    args = orjson.loads(packet[bracket:])
    return int(packet[2:bracket]), args[0] if args else None


class SocketIOClient:
    """One connection to the default namespace; events go to `on_event`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        on_event: EventHandler | None = None,
        on_close: Callable[[SocketIOClient], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.sid = ""
        self.closed = False
        self._session = session
        self._on_event = on_event
        self._on_close = on_close
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._acks: dict[int, AckCallback] = {}
        self._next_ack = 0

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the websocket, do both handshakes, then start reading."""
        async with asyncio.timeout(timeout):
            ws = await self._session.ws_connect(socket_url(self.base_url), max_msg_size=0)
            self._ws = ws
            opened = await self._receive_text(ws)
            if not opened.startswith("0{"):
                raise EioError(f"expected an Engine.IO open packet, got {opened[:80]!r}")
            await ws.send_str("40")
            while True:
                packet = await self._receive_text(ws)
                if packet.startswith("40"):
                    self.sid = str(orjson.loads(packet[2:] or "{}").get("sid", ""))
                    break
                if packet.startswith("44"):
                    raise EioError(f"connection refused: {packet[2:200]}")
                if packet == "2":
                    await ws.send_str("3")
        self._reader = asyncio.create_task(self._read(ws))

    async def emit(self, event: str, payload: Any, callback: AckCallback | None = None) -> None:
        """Send an event; `callback` gets the ack's first argument when it comes."""
        if self._ws is None or self.closed:
            raise EioError("not connected")
        ack_id: int | None = None
        if callback is not None:
            ack_id = self._next_ack
            self._next_ack += 1
            self._acks[ack_id] = callback
        await self._ws.send_str(encode_event(event, payload, ack_id))

    async def call(self, event: str, payload: Any, timeout: float = 10.0) -> Any:
        """Send an event and wait for its ack."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def resolve(reply: Any) -> None:
            if not future.done():
                future.set_result(reply)

        await self.emit(event, payload, resolve)
        async with asyncio.timeout(timeout):
            return await future

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._mark_closed()

    async def _receive_text(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise EioError(f"websocket ended during handshake: {msg.type.name}")
        return str(msg.data)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                        continue
                    break
                packet: str = msg.data
                if packet.startswith("42"):
                    if self._on_event is not None:
                        event, *args = orjson.loads(packet[packet.index("[", 2) :])
                        self._on_event(event, args[0] if args else None)
                elif packet.startswith("43"):
                    ack_id, reply = split_ack(packet)
                    callback = self._acks.pop(ack_id, None)
                    if callback is not None:
                        callback(reply)
                elif packet == "2":
                    await ws.send_str("3")
                elif packet.startswith(("41", "1")):
                    break
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._acks.clear()
        if self._on_close is not None:
            self._on_close(self)
