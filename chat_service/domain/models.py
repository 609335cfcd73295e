"""The protocol's data shapes, as TypedDicts that mirror docs/protocol.md."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Reaction(TypedDict):
    """One emoji under a message: how many users chose it, the first 20 names."""

    count: int
    names: list[str]


class Message(TypedDict):
    """A chat message exactly as the protocol defines it (fields in stored order)."""

    id: int
    v: int
    room: str
    name: str
    text: str
    ts: int
    client_id: NotRequired[str]
    reply_to: NotRequired[int]
    system: NotRequired[Literal[True]]
    edited: NotRequired[int]
    reactions: NotRequired[dict[str, Reaction]]
    deleted: NotRequired[Literal[True]]
    epoch: str


class JoinReply(TypedDict):
    ok: Literal[True]
    room: str
    name: str
    epoch: str
    members: list[str]
    history: list[Message]
    reset: NotRequired[Literal[True]]
    updated: list[Message]
    last_read: int
    reads: dict[str, int]


class LeaveReply(TypedDict):
    ok: Literal[True]
    room: str


class SendReply(TypedDict):
    ok: Literal[True]
    message: Message
    duplicate: NotRequired[Literal[True]]


class OkReply(TypedDict):
    ok: Literal[True]


class HistoryReply(TypedDict):
    ok: Literal[True]
    room: str
    messages: list[Message]


class MembersReply(TypedDict):
    ok: Literal[True]
    room: str
    members: list[str]


class RoomCount(TypedDict):
    room: str
    members: int


class RoomsReply(TypedDict):
    ok: Literal[True]
    rooms: list[RoomCount]


class BanEntry(TypedDict):
    """A ban in force as `bans` lists it."""

    name: str | None
    sub: NotRequired[str | None]
    until: int | None
    by: str
    reason: NotRequired[str]


class BanReply(TypedDict):
    ok: Literal[True]
    until: int | None


class BansReply(TypedDict):
    ok: Literal[True]
    room: str
    bans: list[BanEntry]


class MessageReply(TypedDict):
    """`edit_message`, `delete_message` and `react`: the message as it is now."""

    ok: Literal[True]
    message: Message


class MarkReadReply(TypedDict):
    ok: Literal[True]
    room: str
    last_read: int


class ReadEvent(TypedDict):
    """The `read` event: a user's read position in a room moved."""

    room: str
    name: str
    last_read: int
