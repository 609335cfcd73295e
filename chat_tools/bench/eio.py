"""A raw Engine.IO v4 / Socket.IO v5 client on the websocket transport.

Only what a load generator needs: the handshake (`0{open}`, `40`, `40{sid}`), events
with acknowledgements (`42<id>[...]` out, `43<id>[reply]` back), answering pings
(`2` -> `3`). No reconnection, no polling, no namespaces but `/`. Every websocket
frame is one packet, so parsing is a prefix check and one JSON decode, done in the
protocol callback with no task per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from .websocket import WebSocketError, WebSocketProtocol

EventHandler = Callable[[str, Any], None]
AckCallback = Callable[[Any], None]


class EioError(Exception):
    """The server refused the connection or broke the protocol."""


def socket_url(base: str) -> str:
    """The websocket endpoint of a node or load balancer base URL."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/socket.io/"
    return urlunsplit((scheme, parts.netloc, path, "EIO=4&transport=websocket", ""))


def encode_event(event: str, payload: Any, ack_id: int | None = None) -> str:
    """A Socket.IO EVENT packet inside an Engine.IO MESSAGE packet."""
    body = orjson.dumps([event, payload]).decode()
    return f"42{body}" if ack_id is None else f"42{ack_id}{body}"


def split_ack(packet: str) -> tuple[int, Any]:
    """(ack id, first argument) of a `43<id>[...]` packet."""
    bracket = packet.index("[", 2)
    args = orjson.loads(packet[bracket:])
    return int(packet[2:bracket]), args[0] if args else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen: a failed connect is reported by `connect`."""
    if not future.cancelled():
        future.exception()


class SocketIOClient:
    """One connection to the default namespace; events go to `on_event`."""

    def __init__(
        self,
        base_url: str,
        on_event: EventHandler | None = None,
        on_close: Callable[[SocketIOClient], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.sid = ""
        self.closed = False
        self._on_event = on_event
        self._on_close = on_close
        self._ws: WebSocketProtocol | None = None
        self._connected: asyncio.Future[str] | None = None
        self._acks: dict[int, AckCallback] = {}
        self._next_ack = 0

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the websocket and wait for the namespace's CONNECT answer."""
        self._connected = asyncio.get_running_loop().create_future()
        self._connected.add_done_callback(_retrieve)
        self._ws = WebSocketProtocol(self._packet, self._lost)
        try:
            async with asyncio.timeout(timeout):
                await self._ws.open(socket_url(self.base_url), timeout)
                self.sid = await self._connected
        except (WebSocketError, OSError) as exc:
            self.close()
            raise EioError(str(exc)) from exc
        except TimeoutError:
            self.close()
            raise

    def emit(self, event: str, payload: Any, callback: AckCallback | None = None) -> None:
        """Send an event; `callback` gets the ack's first argument when it comes."""
        if self._ws is None or self.closed:
            raise EioError("not connected")
        ack_id: int | None = None
        if callback is not None:
            ack_id = self._next_ack
            self._next_ack += 1
            self._acks[ack_id] = callback
        try:
            self._ws.send_text(encode_event(event, payload, ack_id))
        except WebSocketError as exc:
            raise EioError(str(exc)) from exc

    async def call(self, event: str, payload: Any, timeout: float = 10.0) -> Any:
        """Send an event and wait for its ack."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def resolve(reply: Any) -> None:
            if not future.done():
                future.set_result(reply)

        self.emit(event, payload, resolve)
        async with asyncio.timeout(timeout):
            return await future

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._lost()

    def _packet(self, packet: str) -> None:
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
            self._send_raw("3")
        elif packet.startswith("0{"):
            self._send_raw("40")
        elif packet.startswith("40"):
            sid = str(orjson.loads(packet[2:] or "{}").get("sid", ""))
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(sid)
        elif packet.startswith("44"):
            self._fail(EioError(f"connection refused: {packet[2:200]}"))
        elif packet.startswith(("41", "1")):
            self.close()

    def _send_raw(self, packet: str) -> None:
        if self._ws is not None and not self.closed:
            self._ws.send_text(packet)

    def _fail(self, exc: Exception) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(exc)
        self.close()

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._acks.clear()
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(EioError("connection closed before CONNECT"))
        if self._on_close is not None:
            self._on_close(self)
