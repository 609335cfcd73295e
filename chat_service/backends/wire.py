"""Every wire format the backends write, in one place: Python's half of each Lua format.

The Lua scripts build the same strings (they know the id and epoch only inside the
atomic write); `tests/backends/test_wire.py` runs every script and compares its output
with these encoders byte for byte.

- A stored message is `{"id":N,` + body + `,"epoch":"E"}`, where body is
  `"room":..,"name":..,"text":..,"ts":..` plus `,"client_id":..` when given: stored,
  published and acknowledged forms are byte-identical.
- A room event on a channel is `kind\\nepoch\\nseq\\nskip_sid\\npayload_json`.
- A name record is `user\\nname_json`; a node's seat field is `room\\nsid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from ..domain.models import Message


def message_body(room: str, name: str, text: str, ts: int, client_id: str | None) -> str:
    """A message's JSON fields without id, epoch and braces."""
    fields: dict[str, object] = {"room": room, "name": name, "text": text, "ts": ts}
    if client_id is not None:
        fields["client_id"] = client_id
    return orjson.dumps(fields).decode()[1:-1]


def message_json(msg_id: int, body: str, epoch: str) -> str:
    """The stored form: what append.lua builds from the same parts."""
    return '{"id":' + str(msg_id) + "," + body + ',"epoch":' + orjson.dumps(epoch).decode() + "}"


def message_id(raw: str) -> int:
    """The id of a stored message without parsing its JSON (it always comes first)."""
    if not raw.startswith('{"id":'):
        raise ValueError("not a stored message")
    return int(raw[6 : raw.index(",", 6)])


_TOP_LEVEL_TS = re.compile(r',"ts":([0-9]+)')


def message_ts(raw: str) -> int | None:
    """The `ts` of a stored message without parsing its JSON, or None if it has none.

    The first `,"ts":` is the top-level field: it follows room, name and text, and a JSON
    string value cannot hold that sequence unescaped (its quote would be `\\"`).
    """
    found = _TOP_LEVEL_TS.search(raw)
    return int(found.group(1)) if found else None


def parse_message(raw: str | bytes) -> Message:
    message: Message = orjson.loads(raw)
    return message


def presence_payload(room: str, name: str, ts: int) -> str:
    """`user_joined` / `user_left` payload JSON."""
    return orjson.dumps({"room": room, "name": name, "ts": ts}).decode()


def typing_payload(room: str, name: str, typing: bool) -> str:
    """`typing` payload JSON."""
    return orjson.dumps({"room": room, "name": name, "typing": typing}).decode()


def name_record(user: str, name: str) -> str:
    """Who holds a name key in a room, and the name as they wrote it (JSON, so that
    Lua builds presence payloads by concatenation, byte-identical to ours)."""
    return user + "\n" + orjson.dumps(name).decode()


def record_name(record: str) -> str:
    return str(orjson.loads(record.split("\n", 1)[1]))


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One event on a room's ordered feed, as carried between nodes.

    One line per field, so the hot path needs no JSON parse: `seq` is the message id for
    `message` events and 0 otherwise; `skip_sid` is the connection that must not receive
    it (the joiner or typist), or empty.
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
