"""Socket.IO handlers: payload -> service -> acknowledgement envelope.

Every client event is answered exactly once with `{"ok": ...}`; no exception escapes
to python-socketio, and the client never sees a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from .config import Settings
from .errors import ChatError
from .identity import Identity, Unauthorized, seconds_left
from .metrics import Metrics
from .moderation import ModerationService
from .service import ChatService, Joined
from .transport import Transport, after_ack

logger = logging.getLogger(__name__)
Handler = Callable[[str, Any], Awaitable[Any]]
_NO_PAYLOAD_OK = {"list_rooms"}


class Refused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """A refused connection whose connect_error data is the protocol's error object.

    The object is also under `data`: the official JavaScript client builds its error from
    the packet's `message` and exposes only the packet's `data` field (`err.data`), as
    Node socket.io middleware sends it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        error = {"code": code, "message": message}
        self.error_args = {**error, "data": error}


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
        transport: Transport,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.settings = settings
        self.transport = transport
        self.per_ip: Counter[str] = Counter()
        self.verifier = settings.verifier()
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def _authenticate(self, auth: Any) -> Identity | None:
        """With identity on, the token in `auth` must verify (connect_error otherwise)."""
        if self.verifier is None:
            return None
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            return self.verifier.verify(token)
        except Unauthorized as exc:
            self.metrics.refused.labels("unauthorized").inc()
            raise Refused("unauthorized", str(exc)) from None

    def _close_at_expiry(self, sid: str, identity: Identity) -> None:
        """A token's connection ends when the token does: the client reconnects with a
        fresh one (Engine.IO close, so official clients reconnect by themselves)."""
        assert self.verifier is not None
        delay = max(seconds_left(identity, self.verifier.leeway), 0.0)

        def expire() -> None:
            self._expiries.pop(sid, None)
            logger.info("closing connection %s: its token expired", sid, extra={"sid": sid})
            task = asyncio.ensure_future(self.transport.close(sid))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        self._expiries[sid] = asyncio.get_running_loop().call_later(delay, expire)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        identity = self._authenticate(auth)
        ip = client_ip(environ, self.settings.trust_forwarded)
        limit = self.settings.max_connections_per_ip
        if limit and self.per_ip[ip] >= limit:
            self.metrics.refused.labels("per_ip_limit").inc()
            logger.info("refused connection from %s: %d already open", ip, self.per_ip[ip])
            raise socketio.exceptions.ConnectionRefusedError(
                "Too many connections from your address."
            )
        self.per_ip[ip] += 1
        self.service.connect(sid, ip, identity)
        if identity is not None:
            self._close_at_expiry(sid, identity)
        self.metrics.connects.inc()
        logger.debug("connection %s opened from %s", sid, ip)

    async def disconnect(self, sid: str, *reason: Any) -> None:
        self.transport.release_poll(sid)
        expiry = self._expiries.pop(sid, None)
        if expiry is not None:
            expiry.cancel()
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
    transport: Transport,
    service: ChatService,
    metrics: Metrics,
    settings: Settings,
    moderation: ModerationService,
) -> None:
    """Attach every protocol event to the server."""
    sio = transport.sio

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
                if isinstance(reply, Joined):
                    after_ack(reply.admit)  # live events only once the reply is queued
                    reply = reply.reply
            except ChatError as exc:
                metrics.errors.labels(exc.code).inc()
                return exc.to_ack()
            except Exception:
                logger.exception("event %s from %s failed", event, sid)
                metrics.errors.labels("internal").inc()
                return _internal()
            if event == "send_message" and not reply.get("duplicate"):
                metrics.messages.inc()
            return dict(reply)

        return on_event

    handlers: dict[str, Handler] = {
        "join": service.join,
        "leave": service.leave,
        "send_message": service.send_message,
        "typing": service.typing,
        "history": service.history,
        "members": service.members,
        "list_rooms": service.list_rooms,
        "kick": moderation.kick,
        "ban": moderation.ban,
        "unban": moderation.unban,
        "bans": moderation.bans,
    }
    for event, handler in handlers.items():
        sio.on(event, wrap(event, handler))

    async def unknown(event: Any, sid: str, *args: Any) -> dict[str, Any]:
        metrics.events.labels("unknown").inc()
        metrics.errors.labels("bad_request").inc()
        return ChatError("bad_request", "Unknown event.").to_ack()

    gate = ConnectionGate(service, metrics, settings, transport)
    sio.on("*", unknown)
    sio.on("connect", gate.connect)
    sio.on("disconnect", gate.disconnect)
