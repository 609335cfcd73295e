"""The Socket.IO server's own hooks (bad packets answered, work after an ack), the
`Transport` facade the rest of the node uses, and the factory that wires them."""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web
from engineio import async_socket

from ..errors import ChatError
from .fastpath import FALLBACKS, NAMESPACE, FastManager, FastSocket, decline_compression
from .frames import event_packet, sio_room
from .guard import SessionGuard, SessionLimits, close_session

logger = logging.getLogger(__name__)
_AFTER_ACK: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "after_ack", default=None
)
_ACK_ID = re.compile(r"^[0-9](?:\d+-)?(?:/[^,]*,)?(\d{1,15})")


def after_ack(callback: Callable[[], None]) -> None:
    """Run `callback` once the current event's acknowledgement is queued (or at once
    after the handler, when the client asked for none)."""
    pending = _AFTER_ACK.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    """AsyncServer hardened against packets python-socketio would mishandle.

    - An EVENT named "connect" or "disconnect" sent by a client would be passed to those
      handlers with client-made arguments (resetting or tearing down the connection's
      state at will): it gets a bad_request ack instead, as do events without a name.
    - A packet that does not decode (bad JSON, nesting past the parser's depth, data that
      is not a list) would raise inside python-socketio with no ack and a traceback per
      packet in the log: the client gets bad_request when the packet carries an ack id.
    - Binary packets: the protocol has none; they are answered with bad_request and their
      attachments are dropped instead of being buffered.
    - Engine.IO sessions pass the `guard` (guard.py) at their handshake, at each CONNECT
      and when they end.
    """

    guard: SessionGuard | None = None

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        if self.guard is not None and not self.guard.admit(eio_sid, environ):
            return False  # python-engineio answers 401 and forgets the session
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and type(sock) is async_socket.AsyncSocket:
            sock.__class__ = FastSocket  # same state, a cheaper writer loop
            sock.write_batch = self.manager.batch
        elif sock is not None and type(sock) is not FastSocket:
            FALLBACKS["socket_class"] += 1
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        if self.guard is not None:
            self.guard.release(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        if self.guard is not None:
            self.guard.connect_answered(eio_sid)

    async def _send_bad_request(self, eio_sid: str, namespace: str | None, ack_id: int) -> None:
        reply = ChatError("bad_request", "Malformed or unsupported packet.").to_ack()
        pkt = self.packet_class(
            socketio.packet.ACK, namespace=namespace or "/", id=ack_id, data=[reply]
        )
        await self._send_packet(eio_sid, pkt)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        sio_packet = socketio.packet
        if isinstance(data, bytes):
            self._binary_packet.pop(eio_sid, None)
            return
        try:
            pkt = self.packet_class(encoded_packet=data)
        except (ValueError, TypeError, RecursionError):
            logger.debug("malformed packet from %s dropped", eio_sid)
            match = _ACK_ID.match(data) if isinstance(data, str) else None
            if match and self.manager.sid_from_eio_sid(eio_sid, "/"):
                await self._send_bad_request(eio_sid, "/", int(match.group(1)))
            return
        kind = pkt.packet_type
        if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            if kind == sio_packet.BINARY_EVENT and pkt.id is not None:
                await self._send_bad_request(eio_sid, pkt.namespace, pkt.id)
            return
        if kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        else:
            logger.info("unexpected packet type %s from %s dropped", kind, eio_sid)

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        valid = isinstance(data, list) and data and isinstance(data[0], str)
        if not valid or data[0] in self.reserved_events:
            if id is not None and self.manager.sid_from_eio_sid(eio_sid, namespace or "/"):
                await self._send_bad_request(eio_sid, namespace, id)
            return
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: Any, namespace: str, id: int | None
    ) -> None:
        """python-socketio's own handling, then whatever the handler left for after its ack."""
        pending: list[Callable[[], None]] = []
        token = _AFTER_ACK.set(pending)
        try:
            await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        finally:
            _AFTER_ACK.reset(token)
            for callback in pending:
                try:
                    callback()
                except Exception:
                    logger.exception("after-ack step of %s failed", sid)


class Transport:
    """The narrow interface the rest of the node uses to reach its connections."""

    def __init__(self, sio: ChatServer, manager: FastManager) -> None:
        self.sio = sio
        self.manager = manager

    def send(self, sid: str, event: str, payload_json: str) -> bool:
        """Queue one event for one local connection."""
        return self.manager.send_to(sid, event_packet(event, payload_json))

    def broadcast(
        self, room: str, event: str, payload_json: str, skip_sid: str | None = None
    ) -> int:
        """Queue one event, encoded once, for every connection entered in `room`."""
        return self.manager.broadcast(sio_room(room), event_packet(event, payload_json), skip_sid)

    def enter(self, sid: str, room: str) -> None:
        self.manager.basic_enter_room(sid, NAMESPACE, sio_room(room))

    def leave(self, sid: str, room: str) -> None:
        self.manager.basic_leave_room(sid, NAMESPACE, sio_room(room))

    def release_poll(self, sid: str) -> None:
        self.manager.release_poll(sid)

    async def close(self, sid: str) -> None:
        """Close a connection at the Engine.IO level, so official clients reconnect."""
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is not None:
            await close_session(self.sio.eio, eio_sid)

    @web.middleware
    async def body_limit(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """An Engine.IO POST longer than the packet limit is answered 413 here.

        python-engineio would disconnect the session and wait for its CLOSE packet to be
        polled before answering, which a client busy posting never does: no answer at all.
        """
        limit = self.sio.eio.max_http_buffer_size
        if (
            request.method == "POST"
            and request.path.startswith("/socket.io/")
            and (request.content_length or 0) > limit
        ):
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit,
                actual_size=request.content_length or 0,
                headers={"Connection": "close"},
            )
        response: web.StreamResponse = await handler(request)
        return response

    def guard_sessions(
        self,
        limits: SessionLimits,
        ip_of: Callable[[dict[str, Any]], str],
        on_refused: Callable[[str], None],
    ) -> None:
        """Hold Engine.IO sessions to `limits` (guard.py) from now on."""
        self.sio.guard = SessionGuard(self.sio, limits, ip_of, on_refused)


def make_server(
    *,
    max_queue_bytes: int,
    cors: Any,
    max_packet_bytes: int,
    json: Any,
    ping_interval: float = 25.0,
    ping_timeout: float = 20.0,
    ws_compression: bool = False,
) -> Transport:
    """The Socket.IO server with the hooks above, and the transport facade over it.

    `ws_compression` False (the default) declines permessage-deflate, as Node
    socket.io does by default.
    """
    manager = FastManager(max_queue_bytes=max_queue_bytes)
    sio = ChatServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=cors,
        max_http_buffer_size=max_packet_bytes,
        json=json,
        logger=False,
        engineio_logger=False,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        # Handle each event inside the Engine.IO task that read it, instead of in one more
        # task per event: that task was a visible share of a node's time at 20,000
        # deliveries/s. A connection's events are then handled one at a time, in order.
        async_handlers=False,
    )
    if not ws_compression:
        decline_compression(sio)
    return Transport(sio, manager)
