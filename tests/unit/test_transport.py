"""The broadcast fast path: frames built once, direct writes only when safe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engineio import packet as eio_packet

from chat_service.transport import FastSocket, WriteBatch, event_packet, websocket_frame


class TestFrame:
    @pytest.mark.parametrize(
        ("size", "header"),
        [
            (10, bytes((0x81, 11))),
            (124, bytes((0x81, 125))),
            (125, bytes((0x81, 126, 0, 126))),
            (65534, bytes((0x81, 126, 0xFF, 0xFF))),
            (65535, bytes((0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0))),
        ],
    )
    def test_header_lengths(self, size: int, header: bytes) -> None:
        """7-bit, 16-bit and 64-bit payload lengths, FIN + text opcode, unmasked."""
        pkt = eio_packet.Packet(eio_packet.MESSAGE, "x" * size)  # '4' is prepended
        frame = websocket_frame(pkt)
        assert header == frame[: len(header)]
        assert ("4" + "x" * size).encode() == frame[len(header) :]

    def test_built_once(self) -> None:
        """The same bytes object is reused for every recipient."""
        pkt = event_packet("message", '{"id":1,"text":"é"}')
        assert websocket_frame(pkt) is websocket_frame(pkt)
        assert '42["message",{"id":1,"text":"é"}]'.encode() == websocket_frame(pkt)[2:]


class FakeTransport:
    def __init__(self, buffered: int = 0, closing: bool = False) -> None:
        self.written: list[bytes] = []
        self.buffered = buffered
        self.closing = closing

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


class FakeResponse:
    def __init__(self, transport: FakeTransport) -> None:
        self.closed = False
        self._writer = type("W", (), {"transport": transport})()


def socket_with(transport: FakeTransport, *, idle: bool = True, upgraded: bool = True) -> Any:
    sock = FastSocket.__new__(FastSocket)
    sock.queue = asyncio.Queue()
    sock.upgraded = upgraded
    sock.writer_idle = idle
    sock.ws_response = FakeResponse(transport)
    return sock


class TestDirectWrite:
    def test_idle_websocket_is_written_directly(self) -> None:
        """An idle writer with nothing queued: the frame goes straight to the transport."""
        transport = FakeTransport()
        pkt = event_packet("message", "{}")
        assert socket_with(transport).write_direct(pkt) is True
        assert [websocket_frame(pkt)] == transport.written

    @pytest.mark.parametrize(
        ("kwargs", "transport"),
        [
            ({"idle": False}, FakeTransport()),  # the writer is mid-send
            ({"upgraded": False}, FakeTransport()),  # long-polling
            ({}, FakeTransport(buffered=10**6)),  # backpressure
            ({}, FakeTransport(closing=True)),
        ],
    )
    def test_falls_back_to_the_queue(
        self, kwargs: dict[str, bool], transport: FakeTransport
    ) -> None:
        """Anything that could reorder or overfill goes through the queue instead."""
        assert socket_with(transport, **kwargs).write_direct(event_packet("m", "{}")) is False
        assert [] == transport.written

    def test_queued_packets_come_first(self) -> None:
        """With packets already queued the broadcast must queue behind them."""
        transport = FakeTransport()
        sock = socket_with(transport)
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "earlier"))
        assert sock.write_direct(event_packet("m", "{}")) is False


def sending_socket(transport: FakeTransport, *, idle: bool = True) -> Any:
    """A socket as `FastSocket.send` sees it: the stock path needs these attributes too."""
    import logging
    from types import SimpleNamespace

    sock = socket_with(transport, idle=idle)
    sock.closed = False
    sock.last_ping = None
    sock.sid = "s1"
    sock.write_batch = None
    sock.server = SimpleNamespace(ping_timeout=5, logger=logging.getLogger("test"))
    return sock


class TestSend:
    async def test_a_reply_to_an_idle_websocket_is_written_directly(self) -> None:
        """Acks take the direct path, so the writer task stays idle for the deliveries."""
        transport = FakeTransport()
        sock = sending_socket(transport)
        ack = eio_packet.Packet(eio_packet.MESSAGE, '31[{"ok":true}]')
        await sock.send(ack)
        assert ([websocket_frame(ack)], 0) == (transport.written, sock.queue.qsize())

    async def test_busy_or_binary_goes_to_the_queue(self) -> None:
        """A busy writer, and binary packets (no text frame for them), keep the queue."""
        transport = FakeTransport()
        busy = sending_socket(transport, idle=False)
        await busy.send(eio_packet.Packet(eio_packet.MESSAGE, "3"))
        binary = sending_socket(transport)
        await binary.send(eio_packet.Packet(eio_packet.MESSAGE, b"\x00"))
        assert ([], 1, 1) == (transport.written, busy.queue.qsize(), binary.queue.qsize())


class TestPing:
    async def test_ping_goes_out_after_the_interval_without_a_task_meanwhile(self) -> None:
        """schedule_ping arms a timer: no task waits for the interval; when it fires the
        PING is written (directly, the writer being idle) and last_ping is set."""
        transport = FakeTransport()
        sock = sending_socket(transport)
        sock.server.ping_interval = 0.05
        sock.closing = False
        sock.last_ping = 1.0  # the previous ping was answered
        before = len(asyncio.all_tasks())
        sock.schedule_ping()
        waiting = (sock.last_ping, len(asyncio.all_tasks()) - before)
        async with asyncio.timeout(2):
            while not transport.written:
                await asyncio.sleep(0.01)
        ping = eio_packet.Packet(eio_packet.PING)
        assert ((None, 0), [websocket_frame(ping)], True) == (
            waiting,
            transport.written,
            sock.last_ping is not None and sock.last_ping > 1.0,
        )

    async def test_no_ping_for_a_closed_socket_or_twice(self) -> None:
        """A socket closed before the timer fires gets nothing; a ping still unanswered
        (last_ping None) schedules no second one."""
        transport = FakeTransport()
        sock = sending_socket(transport)
        sock.server.ping_interval = 0.01
        sock.closing = False
        sock.last_ping = 1.0
        sock.schedule_ping()
        sock.schedule_ping()  # last_ping is None now: ignored
        sock.closed = True
        await asyncio.sleep(0.1)
        assert ([], 0, None) == (transport.written, sock.queue.qsize(), sock.last_ping)


class TestWriteBatch:
    async def test_one_write_per_socket_per_turn(self) -> None:
        """Frames of one loop turn go out at its end, joined per socket, in order."""
        first, second = FakeTransport(), FakeTransport()
        batch = WriteBatch()
        a, b = socket_with(first), socket_with(second)
        packets = [event_packet("message", f'{{"id":{i}}}') for i in range(3)]
        assert [True, True, True] == [a.write_direct(p, batch) for p in packets[:2]] + [
            b.write_direct(packets[2], batch)
        ]
        assert ([], []) == (first.written, second.written)  # nothing before the turn ends
        await asyncio.sleep(0)
        frames = [websocket_frame(p) for p in packets]
        assert ([frames[0] + frames[1]], [frames[2]]) == (first.written, second.written)
        assert (2, 1) == (batch.writes, batch.coalesced)

    async def test_flush_runs_before_a_writer_woken_later_in_the_turn(self) -> None:
        """A packet queued after a batched frame is sent after it: the flush is first."""
        transport = FakeTransport()
        batch = WriteBatch()
        sock = socket_with(transport)
        order: list[str] = []

        async def writer() -> None:
            await sock.queue.get()
            order.append(f"writer after {len(transport.written)} write(s)")

        task = asyncio.create_task(writer())
        await asyncio.sleep(0)  # the writer waits on the queue
        assert sock.write_direct(event_packet("m", "{}"), batch) is True
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "ack"))
        await asyncio.wait_for(task, 1.0)
        assert ["writer after 1 write(s)"] == order

    async def test_closed_transport_is_skipped(self) -> None:
        """A connection that closed before the turn ended gets nothing written."""
        transport = FakeTransport()
        batch = WriteBatch()
        assert socket_with(transport).write_direct(event_packet("m", "{}"), batch) is True
        transport.closing = True
        await asyncio.sleep(0)
        assert ([], 0) == (transport.written, batch.writes)


def test_event_names_are_json_escaped() -> None:
    """Any event name yields a valid Socket.IO packet."""
    import json

    pkt = event_packet('we"ird', '{"a":1}')
    assert ['we"ird', {"a": 1}] == json.loads(pkt.encode()[2:])
