"""The fast path: broadcasts written straight to idle websockets or queued without a
task per recipient, slow consumers cut off, permessage-deflate declined. Every private
name of python-engineio, aiohttp and bidict used here is checked by
tests/unit/test_transport_canary.py; a fallback that happens is counted in FALLBACKS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import socketio
from aiohttp.web import WebSocketResponse
from engineio import async_socket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp

from .frames import WriteBatch, event_packet, websocket_frame

logger = logging.getLogger(__name__)
NAMESPACE = "/"
SLOW_CHECK_PACKETS = 32
DIRECT_WRITE_BUFFER = 64 * 1024
# Times a hook found a library internal missing and took the slow, public path instead
# (exported as chat_transport_fallbacks): non-zero after an upgrade means "look here".
FALLBACKS: Counter[str] = Counter()
_PINGS: set[asyncio.Task[None]] = set()  # pings being sent: a task is kept while it runs


def _ping_sent(task: asyncio.Task[None]) -> None:
    _PINGS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("ping not sent: %s", task.exception().__class__.__name__)


class PlainWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """python-engineio's aiohttp websocket wrapper, declining permessage-deflate.

    The same as the library's `__call__` but for `compress=False`: the upgrade answers
    without `Sec-WebSocket-Extensions`, so the connection keeps no zlib state.
    """

    async def __call__(self, environ: dict[str, Any]) -> Any:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


def decline_compression(sio: socketio.AsyncServer) -> None:
    """Make `sio`'s Engine.IO server upgrade websockets through `PlainWebSocket`.

    `_async` is the driver module's own dict, shared by every server in the process: the
    server gets a copy, so a node that accepts compression next to one that does not
    (tests) keeps its own choice.
    """
    eio = sio.eio
    drivers = getattr(eio, "_async", None)
    if not isinstance(drivers, dict) or drivers.get("websocket") is not eio_aiohttp.WebSocket:
        FALLBACKS["websocket_driver"] += 1
        return
    eio._async = {**drivers, "websocket": PlainWebSocket}


class FastSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """An Engine.IO socket that a broadcast can write to directly when it is idle.

    python-engineio gives every socket a writer task fed by a queue, and its `poll`
    wraps each `queue.get()` in `asyncio.wait_for` (a task and a timer per packet on
    Python 3.11). Here the writer waits without either on a websocket (the reader loop
    already ends it with a sentinel), and it marks itself idle while it waits: all it
    was given has then been handed to the transport, so a broadcast may write its
    pre-built frame straight to the transport without reordering anything.
    """

    writer_idle = False
    ws_response: Any = None
    write_batch: WriteBatch | None = None  # the manager's, once the socket is adopted
    last_ping: float | None  # python-engineio's: when the last PING went out (None: due)

    async def _websocket_handler(self, ws: Any) -> Any:
        self.ws_response = getattr(ws, "_sock", None)
        if self.ws_response is None:
            FALLBACKS["websocket_response"] += 1
        try:
            return await super()._websocket_handler(ws)
        finally:
            self.ws_response = None
            self.writer_idle = False

    async def poll(self) -> list[Any]:
        queue: asyncio.Queue[Any] = self.queue
        if queue.empty():
            self.writer_idle = True
            try:
                if self.upgraded:
                    first = await queue.get()
                else:  # long-polling: the request must end at the ping timeout
                    async with asyncio.timeout(
                        self.server.ping_interval + self.server.ping_timeout
                    ):
                        first = await queue.get()
            except (TimeoutError, asyncio.CancelledError):
                raise eio_exceptions.QueueEmpty() from None
            finally:
                self.writer_idle = False
        else:
            first = queue.get_nowait()
        queue.task_done()
        if first is None:
            return []
        packets = [first]
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    def schedule_ping(self) -> None:
        """python-engineio's, with a timer where it keeps a task asleep for the ping
        interval: one task (and its coroutine frame) less per idle connection."""
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        ping = asyncio.get_running_loop().create_task(self.send(eio_packet.Packet(eio_packet.PING)))
        _PINGS.add(ping)
        ping.add_done_callback(_ping_sent)

    async def send(self, pkt: eio_packet.Packet) -> None:
        """Acks, join replies and pings to an idle websocket take the direct path too.

        Through the queue they would wake the writer task, and every delivery to this
        socket in the same turn would then queue behind them: a sender, which gets an
        ack per message, would never be written to directly.
        """
        if not self.closed and not pkt.binary and self.write_direct(pkt, self.write_batch):
            return
        await super().send(pkt)

    def write_direct(self, pkt: eio_packet.Packet, batch: WriteBatch | None = None) -> bool:
        """Write a broadcast frame to the transport if nothing is queued or in flight
        (through `batch`, at the end of the loop turn, when one is given)."""
        if not self.writer_idle or not self.upgraded or not self.queue.empty():
            return False
        response = self.ws_response
        if response is None:
            return False
        transport = getattr(getattr(response, "_writer", None), "transport", None)
        if transport is None:
            if not response.closed:
                FALLBACKS["websocket_transport"] += 1
            return False
        if transport.is_closing() or response.closed:
            return False
        if transport.get_write_buffer_size() > DIRECT_WRITE_BUFFER:
            return False  # backpressure: let the queue (and the slow-consumer rule) take it
        if batch is None:
            transport.write(websocket_frame(pkt))
        else:
            batch.add(transport, websocket_frame(pkt))
        return True


class FastManager(socketio.AsyncManager):  # type: ignore[misc]
    """A client manager whose broadcasts cost one queue put per recipient."""

    def __init__(self, max_queue_bytes: int = 1_048_576) -> None:
        super().__init__()
        self.max_queue_bytes = max_queue_bytes
        self.slow_consumer_disconnects = 0
        self.direct_writes = 0
        self.queued_writes = 0
        self.batch = WriteBatch()
        self._closing: set[str] = set()

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Server emits without a callback take the fast path too."""
        room = to or room
        if callback is not None or namespace != NAMESPACE or room is None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        payload = self.server.packet_class.json.dumps(data, separators=(",", ":"))
        skip = skip_sid if isinstance(skip_sid, str) else None
        self.broadcast(room, event_packet(event, payload), skip)

    def broadcast(self, room: str, pkt: eio_packet.Packet, skip_sid: str | None = None) -> int:
        """Queue one pre-encoded packet for every local member of `room`."""
        sent = 0
        members = self.rooms.get(NAMESPACE, {}).get(room)
        if not members:
            return 0
        forward = getattr(members, "_fwdm", None)  # bidict's plain dict: 3x faster to copy
        if forward is None:
            FALLBACKS["room_members"] += 1
            forward = dict(members.items())
        for sid, eio_sid in list(forward.items()):
            if sid != skip_sid and self._push(sid, eio_sid, pkt):
                sent += 1
        return sent

    def send_to(self, sid: str, pkt: eio_packet.Packet) -> bool:
        """Queue a pre-encoded packet for one local connection."""
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        return eio_sid is not None and self._push(sid, eio_sid, pkt)

    def release_poll(self, sid: str) -> None:
        """End a closing polling client's pending GET now instead of at its ping timeout.

        python-engineio leaves that request waiting up to ping_interval + ping_timeout
        (45 s) after a client-side close, holding the client and a server slot.
        """
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        sock = self.server.eio.sockets.get(eio_sid) if eio_sid else None
        if sock is not None and not sock.upgraded:
            sock.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))

    def _push(self, sid: str, eio_sid: str, pkt: eio_packet.Packet) -> bool:
        sock = self.server.eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sid in self._closing:
            return False
        if type(sock) is FastSocket and sock.write_direct(pkt, self.batch):
            self.direct_writes += 1
            return True
        queue: asyncio.Queue[Any] = sock.queue
        if (
            queue.qsize() >= SLOW_CHECK_PACKETS
            and self._backlog_bytes(queue) > self.max_queue_bytes
        ):
            self._close_slow(sid)
            return False
        queue.put_nowait(pkt)
        self.queued_writes += 1
        return True

    @staticmethod
    def _backlog_bytes(queue: asyncio.Queue[Any]) -> int:
        items = getattr(queue, "_queue", None)
        if items is None:
            FALLBACKS["queue_items"] += 1
            return 0
        return sum(len(p.encode_cache or "") for p in items if p is not None)

    def _close_slow(self, sid: str) -> None:
        self._closing.add(sid)
        self.slow_consumer_disconnects += 1
        logger.warning(
            "disconnecting slow consumer %s: send backlog over %d bytes", sid, self.max_queue_bytes
        )
        task = asyncio.get_running_loop().create_task(self._disconnect_slow(sid))
        task.add_done_callback(lambda _t: self._closing.discard(sid))

    async def _disconnect_slow(self, sid: str) -> None:
        try:
            await self.server.disconnect(sid)
        except Exception:
            logger.exception("closing slow consumer %s failed", sid)
