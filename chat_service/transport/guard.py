"""Engine.IO sessions held to account before any Socket.IO CONNECT.

A Socket.IO connection is a CONNECT inside an Engine.IO session, and a session costs the
node a socket, a task and a ping timer from its first request on. So the limits that
protect the node count sessions, not connections:
- at most `max_per_ip` open sessions per client address (0: no limit); the next
  handshake is answered 401 and never becomes a session (a websocket is not upgraded);
- a session that has not completed a Socket.IO CONNECT `connect_timeout` seconds after
  its handshake is closed (official clients send it at once);
- a session whose CONNECT was refused `max_refusals` times (a bad token) is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from .fastpath import NAMESPACE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionLimits:
    max_per_ip: int = 0
    connect_timeout: float = 10.0
    max_refusals: int = 3


async def close_session(eio: Any, eio_sid: str) -> None:
    """Close an Engine.IO session without waiting for the client to read the CLOSE.

    An Engine.IO CLOSE (not a Socket.IO disconnect, after which official clients stay
    away) is queued; the sentinel ends the writer, which closes a websocket and answers
    a pending long poll. A client that has stopped reading must not hold the node.
    """
    sock = eio.sockets.get(eio_sid)
    if sock is None:
        return
    with suppress(Exception):
        await sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
        sock.queue.put_nowait(None)
    eio.sockets.pop(eio_sid, None)


class SessionGuard:
    """Counts, times and closes the Engine.IO sessions of one server."""

    def __init__(
        self,
        server: Any,
        limits: SessionLimits,
        ip_of: Callable[[dict[str, Any]], str],
        on_refused: Callable[[str], None],
    ) -> None:
        self.server = server
        self.limits = limits
        self.ip_of = ip_of
        self.on_refused = on_refused
        self.per_ip: Counter[str] = Counter()
        self._ips: dict[str, str] = {}
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        self._refusals: Counter[str] = Counter()
        self._closing: set[asyncio.Task[None]] = set()

    def admit(self, eio_sid: str, environ: dict[str, Any]) -> bool:
        """A handshake: False refuses it (over the per-address limit)."""
        ip = self.ip_of(environ)
        limit = self.limits.max_per_ip
        if limit and self.per_ip[ip] >= limit:
            self.on_refused("per_ip_limit")
            logger.info("refused a session from %s: %d already open", ip, self.per_ip[ip])
            return False
        self.per_ip[ip] += 1
        self._ips[eio_sid] = ip
        loop = asyncio.get_running_loop()
        self._deadlines[eio_sid] = loop.call_later(
            self.limits.connect_timeout, self._deadline, eio_sid
        )
        return True

    def release(self, eio_sid: str) -> None:
        """The session ended, however it did."""
        deadline = self._deadlines.pop(eio_sid, None)
        if deadline is not None:
            deadline.cancel()
        self._refusals.pop(eio_sid, None)
        ip = self._ips.pop(eio_sid, None)
        if ip is not None:
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]

    def connect_answered(self, eio_sid: str) -> None:
        """A CONNECT was handled: accepted (the deadline no longer applies) or refused."""
        if self.server.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is not None:
            deadline = self._deadlines.pop(eio_sid, None)
            if deadline is not None:
                deadline.cancel()
            return
        self._refusals[eio_sid] += 1
        if self._refusals[eio_sid] >= self.limits.max_refusals:
            self.on_refused("refusals")
            logger.info(
                "closing session %s: its CONNECT was refused %d times",
                eio_sid,
                self._refusals[eio_sid],
            )
            self._close(eio_sid)

    def _deadline(self, eio_sid: str) -> None:
        self._deadlines.pop(eio_sid, None)
        if self.server.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is not None:
            return
        self.on_refused("no_connect")
        logger.info(
            "closing session %s: no Socket.IO CONNECT within %ss",
            eio_sid,
            self.limits.connect_timeout,
        )
        self._close(eio_sid)

    def _close(self, eio_sid: str) -> None:
        task = asyncio.get_running_loop().create_task(close_session(self.server.eio, eio_sid))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
