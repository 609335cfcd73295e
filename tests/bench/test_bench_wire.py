"""The bench's raw client: websocket frames and Engine.IO / Socket.IO packets."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from chat_tools.bench.eio import encode_event, socket_url, split_ack
from chat_tools.bench.websocket import OP_CONT, OP_TEXT, WebSocketProtocol, encode_frame


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it."""
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    return struct.pack("!BBH", first, 126, len(payload)) + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of a short masked client frame."""
    length = frame[1] & 0x7F
    key, body = frame[2:6], frame[6 : 6 + length]
    return frame[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def upgraded(texts: list[str]) -> tuple[WebSocketProtocol, FakeTransport]:
    """A protocol past its HTTP upgrade, recording the text messages it gets."""
    proto = WebSocketProtocol(texts.append, lambda: None)
    transport = FakeTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    proto._is_upgraded = True
    return proto, transport


class TestPackets:
    def test_socket_url(self) -> None:
        """A base URL becomes the Engine.IO websocket endpoint, path prefix kept."""
        assert "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket" == socket_url(
            "http://127.0.0.1:5000"
        )
        assert "wss://chat.example/app/socket.io/?EIO=4&transport=websocket" == socket_url(
            "https://chat.example/app/"
        )

    def test_event_with_ack_id(self) -> None:
        """An event with an ack id puts the id between `42` and the array."""
        assert '427["join",{"room":"r"}]' == encode_event("join", {"room": "r"}, 7)
        assert '42["typing",true]' == encode_event("typing", True)

    def test_split_ack(self) -> None:
        """An ack packet gives its id and first argument."""
        assert (12, {"ok": True}) == split_ack('4312[{"ok":true}]')


class TestFrames:
    def test_client_frames_are_masked(self) -> None:
        """A client text frame is final, masked, and unmasks to the text."""
        frame = encode_frame(OP_TEXT, b"40")
        assert 0x80 == frame[0] & 0x80 and 0x80 == frame[1] & 0x80
        assert (OP_TEXT, b"40") == unmask(frame)

    def test_long_client_frame_uses_extended_length(self) -> None:
        """Payloads of 126 bytes or more carry a 16-bit length."""
        frame = encode_frame(OP_TEXT, b"x" * 300)
        assert (126, 300) == (frame[1] & 0x7F, struct.unpack("!H", frame[2:4])[0])

    async def test_frames_split_across_reads(self) -> None:
        """Frames cut anywhere by TCP still come out whole and in order."""
        texts: list[str] = []
        proto, _ = await upgraded(texts)
        stream = b"".join(server_frame(OP_TEXT, t.encode()) for t in ["2", "42[1]", "é" * 200])
        for i in range(0, len(stream), 7):
            proto.data_received(stream[i : i + 7])
        assert ["2", "42[1]", "é" * 200] == texts

    async def test_fragmented_message(self) -> None:
        """A message sent in fragments is delivered once, joined."""
        texts: list[str] = []
        proto, _ = await upgraded(texts)
        proto.data_received(server_frame(OP_TEXT, b"42[", fin=False))
        proto.data_received(server_frame(OP_CONT, b'"a"]'))
        assert ['42["a"]'] == texts

    async def test_ping_is_answered_with_pong(self) -> None:
        """A websocket ping gets a pong with the same payload."""
        proto, transport = await upgraded([])
        proto.data_received(server_frame(0x9, b"hi"))
        assert [(0xA, b"hi")] == [unmask(frame) for frame in transport.written]


@pytest.mark.parametrize("status", ["HTTP/1.1 403 Forbidden", "HTTP/1.1 101 Switching Protocols"])
async def test_upgrade_needs_101_and_the_right_accept_key(status: str) -> None:
    """An upgrade without 101 and the matching Sec-WebSocket-Accept fails."""
    proto = WebSocketProtocol(lambda _text: None, lambda: None)
    proto.connection_made(FakeTransport())  # type: ignore[arg-type]
    proto.data_received(f"{status}\r\nSec-WebSocket-Accept: wrong\r\n\r\n".encode())
    failed: Any = proto._upgraded.exception()
    assert "upgrade refused" in str(failed)
