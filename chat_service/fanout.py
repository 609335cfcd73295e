"""Local delivery: room feeds in order, each broadcast encoded once and queued per socket.

python-socketio's stock `AsyncManager.emit` creates one asyncio task per recipient,
which is most of a broadcast's cost. Here a broadcast builds one Engine.IO packet (its
encoding is cached on the packet) and puts it straight on each socket's send queue.
The same queues are watched for slow consumers: a client whose unsent backlog passes
`max_queue_bytes` is disconnected instead of growing the node without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from engineio import async_socket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from .domain.models import RoomEvent
from .domain.ordering import RoomFeed, Verdict
from .store.base import Backlog

logger = logging.getLogger(__name__)
NAMESPACE = "/"
SLOW_CHECK_PACKETS = 32
DIRECT_WRITE_BUFFER = 64 * 1024
BacklogFetcher = Callable[[str, int], Awaitable[Backlog]]


def sio_room(room: str) -> str:
    """Socket.IO room of a chat room; prefixed so it can never equal a sid."""
    return "r:" + room


_EVENT_NAMES = {e: f'"{e}"' for e in ("message", "user_joined", "user_left", "typing")}


def event_packet(event: str, payload_json: str) -> eio_packet.Packet:
    """An Engine.IO MESSAGE carrying the Socket.IO EVENT `[event, payload]`, encoded once."""
    name = _EVENT_NAMES.get(event) or orjson.dumps(event).decode()
    pkt = eio_packet.Packet(eio_packet.MESSAGE, "2[" + name + "," + payload_json + "]")
    pkt.encode()
    return pkt


def websocket_frame(pkt: eio_packet.Packet) -> bytes:
    """The whole websocket text frame for a packet, built once per broadcast.

    Server frames are unmasked, and an uncompressed message is allowed even where
    permessage-deflate was negotiated (RFC 7692: RSV1 clear).
    """
    frame: bytes | None = getattr(pkt, "ws_frame", None)
    if frame is None:
        payload = pkt.encode().encode("utf-8")
        size = len(payload)
        if size < 126:
            header = bytes((0x81, size))
        elif size < 65536:
            header = bytes((0x81, 126)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x81, 127)) + size.to_bytes(8, "big")
        frame = header + payload
        pkt.ws_frame = frame
    return frame


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

    async def _websocket_handler(self, ws: Any) -> Any:
        self.ws_response = getattr(ws, "_sock", None)
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

    def write_direct(self, pkt: eio_packet.Packet) -> bool:
        """Write a broadcast frame to the transport if nothing is queued or in flight."""
        if not self.writer_idle or not self.upgraded or not self.queue.empty():
            return False
        response = self.ws_response
        writer = getattr(response, "_writer", None) if response is not None else None
        transport = getattr(writer, "transport", None)
        if transport is None or transport.is_closing() or response.closed:
            return False
        if transport.get_write_buffer_size() > DIRECT_WRITE_BUFFER:
            return False  # backpressure: let the queue (and the slow-consumer rule) take it
        transport.write(websocket_frame(pkt))
        return True


class FastManager(socketio.AsyncManager):  # type: ignore[misc]
    """A client manager whose broadcasts cost one queue put per recipient."""

    def __init__(self, max_queue_bytes: int = 1_048_576) -> None:
        super().__init__()
        self.max_queue_bytes = max_queue_bytes
        self.slow_consumer_disconnects = 0
        self.direct_writes = 0
        self.queued_writes = 0
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
        for sid, eio_sid in list(members._fwdm.items()):
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
        if type(sock) is FastSocket and sock.write_direct(pkt):
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
        items = getattr(queue, "_queue", ())
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


class Delivery:
    """Applies each room's ordered feed to the local sockets of that room."""

    def __init__(self, manager: FastManager, fetch_backlog: BacklogFetcher) -> None:
        self.manager = manager
        self._fetch = fetch_backlog
        self.feeds: dict[str, RoomFeed] = {}
        self._refs: dict[str, int] = {}
        self.duplicates_dropped = 0
        self.gaps_filled = 0
        self._retrying: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self, room: str) -> None:
        """A local connection is about to join `room`."""
        self._refs[room] = self._refs.get(room, 0) + 1
        self.feeds.setdefault(room, RoomFeed())

    def close(self, room: str) -> bool:
        """A local connection left `room`; True when it was the last one."""
        left = self._refs.get(room, 0) - 1
        if left > 0:
            self._refs[room] = left
            return False
        self._refs.pop(room, None)
        self.feeds.pop(room, None)
        return True

    def admit(self, room: str, sid: str, epoch: str, head: int) -> None:
        """Start live delivery to a joiner whose history ended at `head`."""
        feed = self.feeds[room]
        admission = feed.admit(sid, epoch, head)
        if admission.now:
            for raw in admission.catch_up:
                self.manager.send_to(sid, event_packet("message", raw))
            self.manager.basic_enter_room(sid, NAMESPACE, sio_room(room))

    def remove(self, room: str, sid: str) -> None:
        """Stop live delivery of `room` to `sid`."""
        feed = self.feeds.get(room)
        if feed is not None:
            feed.forget(sid)
        self.manager.basic_leave_room(sid, NAMESPACE, sio_room(room))

    async def on_event(self, room: str, event: RoomEvent) -> None:
        if event.kind == "message":
            await self._on_message(room, event.epoch, event.seq, event.payload)
        else:
            pkt = event_packet(event.kind, event.payload)
            self.manager.broadcast(sio_room(room), pkt, event.skip_sid or None)

    async def _on_message(self, room: str, epoch: str, msg_id: int, raw: str) -> None:
        feed = self.feeds.get(room)
        if feed is None:
            return
        verdict = feed.judge(epoch, msg_id)
        if verdict is Verdict.DUPLICATE:
            self.duplicates_dropped += 1
            return
        if verdict is Verdict.GAP:
            await self.refill(room, upto=msg_id - 1)
            feed = self.feeds.get(room)
            if feed is None or feed.judge(epoch, msg_id) is Verdict.DUPLICATE:
                return
        self._deliver(room, feed, epoch, msg_id, raw)

    def _deliver(self, room: str, feed: RoomFeed, epoch: str, msg_id: int, raw: str) -> None:
        if epoch != feed.epoch:
            self._admit_all(room, feed.reset(epoch))
        self.manager.broadcast(sio_room(room), event_packet("message", raw))
        self._admit_all(room, feed.delivered(epoch, msg_id, raw))

    def _retry_later(self, room: str) -> None:
        if room in self._retrying:
            return
        self._retrying.add(room)
        task = asyncio.get_running_loop().create_task(self._retry_refill(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry_refill(self, room: str) -> None:
        delay = 0.1
        try:
            while room in self.feeds:
                await asyncio.sleep(delay)
                feed = self.feeds.get(room)
                if feed is None:
                    return
                try:
                    backlog = await self._fetch(room, feed.last_id or 0)
                except Exception:
                    delay = min(delay * 2, 5.0)
                    continue
                self._apply_backlog(room, backlog, None)
                return
        finally:
            self._retrying.discard(room)

    def _admit_all(self, room: str, sids: list[str]) -> None:
        for sid in sids:
            self.manager.basic_enter_room(sid, NAMESPACE, sio_room(room))

    async def refill(self, room: str, upto: int | None = None) -> None:
        """Deliver kept messages the feed missed (after a gap or a re-subscription).

        If history cannot be read now (Redis still loading, a second blip), a background
        retry keeps trying: a missed message with nothing after it would otherwise never
        be noticed.
        """
        feed = self.feeds.get(room)
        if feed is None or feed.last_id is None:
            return
        try:
            backlog = await self._fetch(room, feed.last_id)
        except Exception as exc:
            logger.warning(
                "refilling room %s from history failed (%s); will retry",
                room,
                exc.__class__.__name__,
            )
            self._retry_later(room)
            return
        if backlog.epoch and self.feeds.get(room) is not None:
            feed = self.feeds[room]
            if backlog.epoch != feed.epoch:
                self._admit_all(room, feed.reset(backlog.epoch))
                try:
                    backlog = await self._fetch(room, 0)
                except Exception:
                    self._retry_later(room)
                    return
        self._apply_backlog(room, backlog, upto)

    def _apply_backlog(self, room: str, backlog: Backlog, upto: int | None) -> None:
        feed = self.feeds.get(room)
        if feed is None:
            return
        if backlog.epoch and backlog.epoch != feed.epoch and feed.epoch is not None:
            return  # history moved to another epoch meanwhile: the next refill resets
        for msg_id, raw in backlog.messages:
            if upto is not None and msg_id > upto:
                break
            if feed.judge(backlog.epoch, msg_id) is not Verdict.DUPLICATE:
                self.gaps_filled += 1
                self._deliver(room, feed, backlog.epoch, msg_id, raw)
        if upto is not None and (feed.last_id or 0) < upto:
            self._admit_all(room, feed.skipped_to(upto))
