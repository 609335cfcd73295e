"""Socket.IO handlers: payload -> service -> acknowledgement envelope.

Every client event is answered exactly once with `{"ok": ...}`; no exception escapes
to python-socketio, and the client never sees a stack trace.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from .config import Settings
from .errors import ChatError
from .metrics import Metrics
from .service import ChatService

logger = logging.getLogger(__name__)
Handler = Callable[[str, Any], Awaitable[dict[str, Any]]]
_NO_PAYLOAD_OK = {"list_rooms"}


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    """AsyncServer that never lets a client trigger the connect/disconnect handlers.

    python-socketio dispatches an EVENT packet named "connect" or "disconnect" sent by a
    client to those handlers, with client-made arguments: that would reset or tear down
    a connection's state at the client's will. Such packets, and event packets without
    a string name, get a bad_request ack instead.
    """

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        if not data or not isinstance(data[0], str) or data[0] in self.reserved_events:
            if id is not None:
                reply = ChatError("bad_request", "Unknown event.").to_ack()
                await self._send_packet(
                    eio_sid,
                    self.packet_class(
                        socketio.packet.ACK, namespace=namespace or "/", id=id, data=[reply]
                    ),
                )
            return
        await super()._handle_event(eio_sid, namespace, id, data)


def client_ip(environ: dict[str, Any], trust_forwarded: bool) -> str:
    """The peer address, or the first X-Forwarded-For hop when the proxy is trusted."""
    if trust_forwarded:
        forwarded = str(environ.get("HTTP_X_FORWARDED_FOR", ""))
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "unknown"
    return str(remote)


def _internal() -> dict[str, Any]:
    return ChatError("internal", "Something went wrong on the server.").to_ack()


def register(
    sio: socketio.AsyncServer, service: ChatService, metrics: Metrics, settings: Settings
) -> None:
    """Attach every protocol event to the server."""
    per_ip: Counter[str] = Counter()

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

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ip = client_ip(environ, settings.trust_forwarded)
        limit = settings.max_connections_per_ip
        if limit and per_ip[ip] >= limit:
            metrics.refused.labels("per_ip_limit").inc()
            logger.info("refused connection from %s: %d already open", ip, per_ip[ip])
            raise socketio.exceptions.ConnectionRefusedError(
                "Too many connections from your address."
            )
        per_ip[ip] += 1
        service.connect(sid, ip)
        metrics.connects.inc()
        logger.debug("connection %s opened from %s", sid, ip)

    async def disconnect(sid: str, *reason: Any) -> None:
        sio.manager.release_poll(sid)
        conn = service.connections.get(sid)
        if conn is not None:
            per_ip[conn.ip] -= 1
            if per_ip[conn.ip] <= 0:
                del per_ip[conn.ip]
        try:
            await service.disconnect(sid)
        except Exception:
            logger.exception("cleaning up connection %s failed", sid)
        logger.debug("connection %s closed", sid)

    sio.on("*", unknown)
    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
