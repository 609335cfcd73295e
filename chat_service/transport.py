"""The only module that knows python-socketio, python-engineio and aiohttp internals.

Everything else talks to `Transport` (send to a connection, broadcast to a room, enter
and leave rooms, close a connection) and to `after_ack` (run code once an event's
acknowledgement is queued). `tests/unit/test_transport_canary.py` checks every private
name hooked here, so an upgrade that moves one fails loudly instead of silently
switching a fast path off; a fallback that does happen is counted in `/metrics`.

Why the hooks:
- python-socketio's stock `AsyncManager.emit` creates one asyncio task per recipient,
  which is most of a broadcast's cost. Here a broadcast builds one Engine.IO packet (its
  encoding is cached on the packet) and puts it straight on each socket's send queue,
  or writes its pre-built websocket frame to an idle socket's transport.
- The same queues are watched for slow consumers: a client whose unsent backlog passes
  `max_queue_bytes` is disconnected instead of growing the node without bound.
- A join admits the joiner to live delivery only after its reply is queued (protocol:
  no live event before the join reply), which needs the ack's send as a hook point.
- Malformed, binary and reserved-name packets get `bad_request` instead of a traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson
import socketio
from engineio import async_socket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from .errors import ChatError

logger = logging.getLogger(__name__)
NAMESPACE = "/"
SLOW_CHECK_PACKETS = 32
DIRECT_WRITE_BUFFER = 64 * 1024
_AFTER_ACK: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "after_ack", default=None
)
# Times a hook found a library internal missing and took the slow, public path instead
# (exported as chat_transport_fallbacks): non-zero after an upgrade means "look here".
FALLBACKS: Counter[str] = Counter()
_ACK_ID = re.compile(r"^[0-9](?:\d+-)?(?:/[^,]*,)?(\d{1,15})")


def after_ack(callback: Callable[[], None]) -> None:
    """Run `callback` once the current event's acknowledgement is queued (or at once
    after the handler, when the client asked for none)."""
    pending = _AFTER_ACK.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


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

    def write_direct(self, pkt: eio_packet.Packet) -> bool:
        """Write a broadcast frame to the transport if nothing is queued or in flight."""
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
        elif sock is not None and type(sock) is not FastSocket:
            FALLBACKS["socket_class"] += 1
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
        """Close a connection at the Engine.IO level, so official clients reconnect.

        An Engine.IO CLOSE (not a Socket.IO disconnect, after which clients stay away)
        is queued without waiting for it to be read: a client that has stopped reading
        must not hold the node.
        """
        eio = self.sio.eio
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        sock = eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is None:
            return
        with suppress(Exception):
            await sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
            sock.queue.put_nowait(None)  # the writer ends and closes the websocket
        eio.sockets.pop(eio_sid, None)


def make_server(
    *,
    max_queue_bytes: int,
    cors: Any,
    max_packet_bytes: int,
    json: Any,
    ping_interval: float = 25.0,
    ping_timeout: float = 20.0,
) -> Transport:
    """The Socket.IO server with the hooks above, and the transport facade over it."""
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
    )
    return Transport(sio, manager)
