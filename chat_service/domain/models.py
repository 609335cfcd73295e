"""The protocol's data shapes, as TypedDicts that mirror docs/protocol.md."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Message(TypedDict):
    """A chat message exactly as the protocol defines it."""

    id: int
    room: str
    name: str
    text: str
    ts: int
    epoch: str
    client_id: NotRequired[str]


class JoinReply(TypedDict):
    ok: Literal[True]
    room: str
    name: str
    epoch: str
    members: list[str]
    history: list[Message]
    reset: NotRequired[Literal[True]]


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
