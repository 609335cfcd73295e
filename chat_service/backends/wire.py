"""Every wire format the backends write, in one place: Python's half of each Lua format.

The Lua scripts build the same strings (they know the id and epoch only inside the
atomic write); `tests/backends/test_wire.py` runs every script and compares its output
with these encoders byte for byte.

- A stored message is `{"id":N,"v":V,` + body + `,"epoch":"E"}`, where body is
  `"room":..,"name":..,"text":..,"ts":..` plus `client_id`, `reply_to`, `system` when
  given: stored, published and acknowledged forms are byte-identical. A changed message
  keeps that order with `edited`, `reactions` and `deleted` before the epoch
  (`render_message`, change.lua's `render`). Messages stored by a version 2 server have
  no `v`: they are read as `v` 0 (`current`).
- A room event on a channel is `kind\\nepoch\\nseq\\nskip_sid\\npayload_json`;
  `message_updated` carries the message id as its seq and the whole message.
- A name record is `user\\nname_json`; a node's seat field is `room\\nsid`.
- A ban record is `until\\n{"name":..,"sub":..,"by":..,"reason":..,"at":..}` (until -1:
  until unban), so join.lua reads `until` without JSON.
- A `kicked` room event's payload is `{"user":U,"sids":[..],"event":KICKED}`: each node
  hands KICKED to its own connections of user U (those seated are listed in `sids`).
- A node-control request is `kind\\nrequest\\nargument`.
- Each script's reply is read by one typed parser here, beside the format it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

# `v` of a stored message, read without parsing its JSON: the delivery state machine needs
# it too and domain/ may not import backends/, so the one reader lives in domain/.
from ..domain.joiners import message_version
from ..domain.models import Message

MESSAGE_ORDER = (
    "id",
    "v",
    "room",
    "name",
    "text",
    "ts",
    "client_id",
    "reply_to",
    "system",
    "edited",
    "reactions",
    "deleted",
    "epoch",
)


def message_body(
    room: str,
    name: str,
    text: str,
    ts: int,
    client_id: str | None,
    reply_to: int | None = None,
    system: bool = False,
) -> str:
    """A new message's JSON fields without id, v, epoch and braces."""
    fields: dict[str, object] = {"room": room, "name": name, "text": text, "ts": ts}
    if client_id is not None:
        fields["client_id"] = client_id
    if reply_to is not None:
        fields["reply_to"] = reply_to
    if system:
        fields["system"] = True
    return orjson.dumps(fields).decode()[1:-1]


def message_json(msg_id: int, body: str, epoch: str) -> str:
    """The stored form of a new message (v 0): what append.lua builds from the same parts."""
    return (
        '{"id":' + str(msg_id) + ',"v":0,' + body + ',"epoch":' + orjson.dumps(epoch).decode() + "}"
    )


def render_message(message: Message) -> str:
    """Any message in the stored field order: what change.lua's `render` writes."""
    fields = {key: message[key] for key in MESSAGE_ORDER if key in message}  # type: ignore[literal-required]
    return orjson.dumps(fields).decode()


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


def current(raw: str) -> str:
    """A stored message as version 3 shows it: one stored by version 2 gains `"v":0`."""
    comma = raw.index(",", 6)
    if raw.startswith('"v":', comma + 1):
        return raw
    return raw[: comma + 1] + '"v":0,' + raw[comma + 1 :]


def parse_message(raw: str | bytes) -> Message:
    message: Message = orjson.loads(raw)
    message.setdefault("v", 0)
    return message


def is_deleted(raw: str) -> bool:
    """A tombstone: `deleted` is the field before the epoch (a text cannot hold this
    sequence: its quotes are escaped)."""
    return ',"deleted":true,"epoch":' in raw


def reactions_view(
    reactions: dict[str, dict[str, str]], shown: int
) -> dict[str, dict[str, object]]:
    """Per emoji (in the order first chosen): how many users, and the first `shown`
    of their names by code point."""
    return {
        emoji: {"count": len(users), "names": sorted(users.values())[:shown]}
        for emoji, users in reactions.items()
        if users
    }


def read_payload(room: str, name: str, last_read: int) -> str:
    """`read` payload JSON."""
    return orjson.dumps({"room": room, "name": name, "last_read": last_read}).decode()


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


def record_names(records: list[Any]) -> list[str]:
    """The names of many records, decoded as one JSON array (one parse, not one per name:
    a join into a room of 1,000 reads 1,000 records)."""
    if not records:
        return []
    names: list[str] = orjson.loads(
        "[" + ",".join(str(r).partition("\n")[2] for r in records) + "]"
    )
    return names


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


# Script replies: one parser per script, beside the formats they return -----------------


@dataclass(frozen=True, slots=True)
class JoinScriptReply:
    """join.lua: `{'taken'}`, `{'banned', until}` (-1: until unban), or what the join read
    and changed."""

    taken: bool
    banned: bool = False
    ban_until: int | None = None
    epoch: str = ""
    head: int = 0
    seated: bool = False
    announced: bool = False
    name: str = ""
    members: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    reset: bool = False
    updated: list[str] = field(default_factory=list)
    last_read: int = 0
    reads: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, reply: list[Any]) -> JoinScriptReply:
        if reply[0] == "taken":
            return cls(taken=True)
        if reply[0] == "banned":
            until = int(reply[1])
            return cls(taken=False, banned=True, ban_until=None if until < 0 else until)
        _, epoch, seq, seated, announced, held, names, items, reset, updated, last, reads = reply
        return cls(
            taken=False,
            epoch=str(epoch),
            head=int(seq),
            seated=bool(int(seated)),
            announced=bool(int(announced)),
            name=str(orjson.loads(held)),
            members=record_names(names),
            history=[current(str(i)) for i in items],
            reset=bool(int(reset)),
            updated=[str(i) for i in updated],
            last_read=int(last),
            reads={str(orjson.loads(reads[i])): int(reads[i + 1]) for i in range(0, len(reads), 2)},
        )


AppendStatus = Literal["stored", "duplicate", "no_target"]


@dataclass(frozen=True, slots=True)
class AppendScriptReply:
    """append.lua: `{1, msg}` stored, `{0, first}` a client_id repeat, `{-1, ''}` the
    message it answers is not among the kept live ones."""

    status: AppendStatus
    raw: str

    @classmethod
    def parse(cls, reply: list[Any]) -> AppendScriptReply:
        code, raw = int(reply[0]), str(reply[1])
        status: AppendStatus = "stored" if code == 1 else "duplicate" if code == 0 else "no_target"
        return cls(status, current(raw) if raw else raw)


ChangeStatus = Literal["ok", "same", "not_found", "forbidden", "too_many"]


@dataclass(frozen=True, slots=True)
class ChangeScriptReply:
    """change.lua: `{'ok', msg}` changed and published, `{'same', msg}` nothing to change,
    or a refusal alone."""

    status: ChangeStatus
    raw: str

    @classmethod
    def parse(cls, reply: list[Any]) -> ChangeScriptReply:
        status = str(reply[0])
        if status not in ("ok", "same", "not_found", "forbidden", "too_many"):
            raise ValueError(f"change.lua answered {status!r}")
        return cls(status, current(str(reply[1])) if len(reply) > 1 else "")  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RangeScriptReply:
    """range.lua: the epoch, the kept messages asked for, and (when asked) every kept
    message with v > 0."""

    epoch: str
    messages: list[tuple[int, str]]
    changed: list[tuple[int, int, str]]

    @classmethod
    def parse(cls, reply: list[Any]) -> RangeScriptReply:
        epoch, items, changed = reply
        return cls(
            str(epoch),
            [(message_id(raw), current(raw)) for raw in (str(i) for i in items)],
            [(message_id(raw), message_version(raw), raw) for raw in (str(i) for i in changed)],
        )


@dataclass(frozen=True, slots=True)
class ReadScriptReply:
    """read.lua: `{'ok', position, moved}`, or `{'out_of_range', newest id}`."""

    in_range: bool
    last_read: int
    moved: bool

    @classmethod
    def parse(cls, reply: list[Any]) -> ReadScriptReply:
        if reply[0] == "out_of_range":
            return cls(False, int(reply[1]), False)
        return cls(True, int(reply[1]), bool(int(reply[2])))
