"""Socket.IO handlers: payload -> service -> acknowledgement envelope.

Every client event is answered exactly once with `{"ok": ...}`; no exception escapes
to python-socketio, and the client never sees a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from engineio import async_socket

from .config import Settings
from .errors import ChatError
from .fanout import FastSocket
from .metrics import Metrics
from .service import ChatService

logger = logging.getLogger(__name__)
Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]
_NO_PAYLOAD_OK = {"list_rooms"}


_ACK_ID = re.compile(r"^[0-9](?:\d+-)?(?:/[^,]*,)?(\d{1,15})")


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
    """

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and type(sock) is async_socket.AsyncSocket:
            sock.__class__ = FastSocket  # same state, a cheaper writer loop
        return await super()._handle_eio_connect(eio_sid, environ)

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


def client_ip(environ: dict[str, Any], trust_forwarded: bool) -> str:
    """The peer address, or the first X-Forwarded-For hop when the proxy is trusted."""
    if trust_forwarded:
        forwarded = str(environ.get("HTTP_X_FORWARDED_FOR", ""))
        first = forwarded.split(",", maxsplit=1)[0].strip()
        if first:
            return first
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "unknown"
    return str(remote)


def _internal() -> dict[str, Any]:
    return ChatError("internal", "Something went wrong on the server.").to_ack()


class ConnectionGate:
    """Admits connections (per-IP limit) and cleans up after them."""

    def __init__(
        self,
        service: ChatService,
        metrics: Metrics,
        settings: Settings,
        sio: socketio.AsyncServer,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.settings = settings
        self.sio = sio
        self.per_ip: Counter[str] = Counter()

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ip = client_ip(environ, self.settings.trust_forwarded)
        limit = self.settings.max_connections_per_ip
        if limit and self.per_ip[ip] >= limit:
            self.metrics.refused.labels("per_ip_limit").inc()
            logger.info("refused connection from %s: %d already open", ip, self.per_ip[ip])
            raise socketio.exceptions.ConnectionRefusedError(
                "Too many connections from your address."
            )
        self.per_ip[ip] += 1
        self.service.connect(sid, ip)
        self.metrics.connects.inc()
        logger.debug("connection %s opened from %s", sid, ip)

    async def disconnect(self, sid: str, *reason: Any) -> None:
        self.sio.manager.release_poll(sid)
        conn = self.service.connections.get(sid)
        if conn is not None:
            self.per_ip[conn.ip] -= 1
            if self.per_ip[conn.ip] <= 0:
                del self.per_ip[conn.ip]
        try:
            await self.service.disconnect(sid)
        except Exception:
            logger.exception("cleaning up connection %s failed", sid)
        logger.debug("connection %s closed", sid)


def register(
    sio: socketio.AsyncServer, service: ChatService, metrics: Metrics, settings: Settings
) -> None:
    """Attach every protocol event to the server."""

    def wrap(event: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def on_event(sid: str, *args: Any) -> dict[str, Any]:
            metrics.events.labels(event).inc()
            try:
                if len(args) == 1:
                    payload = args[0]
                elif not args and event in _NO_PAYLOAD_OK:
                    payload = {}
                else:
                    raise ChatError("bad_request", "Send exactly one JSON object as payload.")
                reply = await handler(sid, payload)
            except ChatError as exc:
                metrics.errors.labels(exc.code).inc()
                return exc.to_ack()
            except Exception:
                logger.exception("event %s from %s failed", event, sid)
                metrics.errors.labels("internal").inc()
                return _internal()
            if event == "send_message":
                metrics.messages.inc()
            return reply

        return on_event

    handlers: dict[str, Handler] = {
        "join": service.join,
        "leave": service.leave,
        "send_message": service.send_message,
        "typing": service.typing,
        "history": service.history,
        "members": service.members,
        "list_rooms": service.list_rooms,
    }
    for event, handler in handlers.items():
        sio.on(event, wrap(event, handler))

    async def unknown(event: Any, sid: str, *args: Any) -> dict[str, Any]:
        metrics.events.labels("unknown").inc()
        metrics.errors.labels("bad_request").inc()
        return ChatError("bad_request", "Unknown event.").to_ack()

    gate = ConnectionGate(service, metrics, settings, sio)
    sio.on("*", unknown)
    sio.on("connect", gate.connect)
    sio.on("disconnect", gate.disconnect)
