"""Every wire format the backends write, in one place: Python's half of each Lua format.

The Lua scripts build the same strings (they know the id and epoch only inside the
atomic write); `tests/backends/test_wire.py` runs every script and compares its output
with these encoders byte for byte.

- A stored message is `{"id":N,` + body + `,"epoch":"E"}`, where body is
  `"room":..,"name":..,"text":..,"ts":..` plus `,"client_id":..` when given: stored,
  published and acknowledged forms are byte-identical.
- A room event on a channel is `kind\\nepoch\\nseq\\nskip_sid\\npayload_json`.
- A name record is `user\\nname_json`; a node's seat field is `room\\nsid`.
- A ban record is `until\\n{"name":..,"sub":..,"by":..,"reason":..,"at":..}` (until -1:
  until unban), so join.lua reads `until` without JSON.
- A `kicked` room event's payload is `{"user":U,"sids":[..],"event":KICKED}`: each node
  hands KICKED to its own connections of user U (those seated are listed in `sids`).
- A node-control request is `kind\\nrequest\\nargument`.
"""

from __future__ import annotations

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


NO_UNTIL = -1  # a ban's `until` on the wire when it lasts until unban


def ban_tail(by: str, reason: str | None, at: int) -> str:
    """The end of a ban record after its name and sub (ban.lua adds those it reads)."""
    return orjson.dumps({"by": by, "reason": reason, "at": at}).decode().replace("{", ",", 1)


def ban_record(until: int | None, name: str | None, sub: str | None, tail: str) -> str:
    """The stored ban, byte for byte what moderate.lua builds."""
    head = "-1" if until is None else str(until)
    name_json = orjson.dumps(name).decode()
    return head + '\n{"name":' + name_json + ',"sub":' + orjson.dumps(sub).decode() + tail


def ban_until(record: str) -> int | None:
    """When a stored ban ends (None: at unban)."""
    until = int(record.split("\n", 1)[0])
    return None if until == NO_UNTIL else until


@dataclass(frozen=True, slots=True)
class StoredBan:
    """A ban record's fields."""

    name: str | None
    sub: str | None
    until: int | None
    by: str
    reason: str | None
    at: int


def parse_ban(record: str) -> StoredBan:
    head, body = record.split("\n", 1)
    fields = orjson.loads(body)
    until = int(head)

    def text(key: str) -> str | None:
        value = fields.get(key)
        return None if value is None else str(value)

    return StoredBan(
        name=text("name"),
        sub=text("sub"),
        until=None if until == NO_UNTIL else until,
        by=str(fields.get("by", "")),
        reason=text("reason"),
        at=int(fields.get("at") or 0),
    )


def kicked_control(user: str, sids: list[str], event_json: str) -> str:
    """The payload of a `kicked` room event: which user, the connections whose seats it
    removed (in removal order), and what those connections get."""
    seats = "[" + ",".join(orjson.dumps(sid).decode() for sid in sids) + "]"
    return (
        '{"user":'
        + orjson.dumps(user).decode()
        + ',"sids":'
        + seats
        + ',"event":'
        + event_json
        + "}"
    )


@dataclass(frozen=True, slots=True)
class KickedControl:
    user: str
    sids: frozenset[str]
    event: str  # the `kicked` event's JSON, as the user's connections receive it


def parse_kicked_control(payload: str) -> KickedControl:
    parsed = orjson.loads(payload)
    sids = frozenset(str(sid) for sid in parsed["sids"])
    return KickedControl(str(parsed["user"]), sids, orjson.dumps(parsed["event"]).decode())


def control_request(kind: str, request: str, argument: str) -> str:
    return f"{kind}\n{request}\n{argument}"


def parse_control_request(raw: str | bytes) -> tuple[str, str, str]:
    """(kind, request id, argument) of a node-control message."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    kind, request, argument = text.split("\n", 2)
    return kind, request, argument
