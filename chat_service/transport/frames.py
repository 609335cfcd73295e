"""Engine.IO packets and websocket frames built once per broadcast, and the per-turn
batch that writes them: pure encoding, no library internals beyond the packet class."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from engineio import packet as eio_packet


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


class WriteBatch:
    """Frames for idle websockets, written at the end of the loop turn, one write each.

    Order is kept: the flush is scheduled (call_soon) when the first frame of a turn is
    added, so it runs before any writer task that a later packet of the same turn wakes.
    """

    def __init__(self) -> None:
        self._frames: dict[Any, list[bytes]] = {}
        self.writes = 0
        self.coalesced = 0  # frames that shared a write with an earlier one

    def add(self, transport: Any, frame: bytes) -> None:
        frames = self._frames.get(transport)
        if frames is not None:
            frames.append(frame)
            return
        if not self._frames:
            asyncio.get_running_loop().call_soon(self.flush)
        self._frames[transport] = [frame]

    def flush(self) -> None:
        batch, self._frames = self._frames, {}
        for transport, frames in batch.items():
            if transport.is_closing():
                continue
            self.writes += 1
            if len(frames) == 1:
                transport.write(frames[0])
            else:
                self.coalesced += len(frames) - 1
                transport.write(b"".join(frames))
