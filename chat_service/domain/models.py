"""The protocol's data shapes and the wire form of room events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import orjson


class Message(TypedDict):
    """A chat message exactly as the protocol defines it."""

    id: int
    room: str
    name: str
    text: str
    ts: int


def message_tail(room: str, name: str, text: str, ts: int) -> str:
    """The JSON of a message without its id: `"room":...,"ts":...}`.

    The id is only known inside the atomic append, which prepends `{"id":N,` to this
    tail; so the stored, published and acknowledged forms are byte-identical.
    """
    body = orjson.dumps({"room": room, "name": name, "text": text, "ts": ts}).decode()
    return body[1:]


def message_json(msg_id: int, tail: str) -> str:
    """Prepend the id to a tail from `message_tail`."""
    return '{"id":' + str(msg_id) + "," + tail


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One event on a room's ordered feed, as carried between nodes.

    Wire form (one line per field, no JSON parse needed on the hot path):
    `kind\\nepoch\\nseq\\nskip_sid\\npayload_json`. `seq` is the message id for
    `message` events and 0 otherwise; `skip_sid` is the connection that must not
    receive it (the joiner or typist), or empty.
    """

    kind: str
    epoch: str
    seq: int
    skip_sid: str
    payload: str

    def encode(self) -> str:
        return f"{self.kind}\n{self.epoch}\n{self.seq}\n{self.skip_sid}\n{self.payload}"

    @classmethod
    def decode(cls, raw: str | bytes) -> RoomEvent:
        text = raw.decode() if isinstance(raw, bytes) else raw
        kind, epoch, seq, skip_sid, payload = text.split("\n", 4)
        return cls(kind, epoch, int(seq), skip_sid, payload)

    def payload_obj(self) -> Any:
        return orjson.loads(self.payload)


def presence_payload(room: str, name: str, ts: int) -> str:
    """`user_joined` / `user_left` payload JSON."""
    return orjson.dumps({"room": room, "name": name, "ts": ts}).decode()


def typing_payload(room: str, name: str, typing: bool) -> str:
    """`typing` payload JSON."""
    return orjson.dumps({"room": room, "name": name, "typing": typing}).decode()
