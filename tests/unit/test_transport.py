"""The broadcast fast path: frames built once, direct writes only when safe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engineio import packet as eio_packet

from chat_service.transport import FastSocket, event_packet, websocket_frame


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


def test_event_names_are_json_escaped() -> None:
    """Any event name yields a valid Socket.IO packet."""
    import json

    pkt = event_packet('we"ird', '{"a":1}')
    assert ['we"ird', {"a": 1}] == json.loads(pkt.encode()[2:])
