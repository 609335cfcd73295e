"""The use cases: join, leave, send, typing, history, members, rooms.

Handlers hand raw payloads here and get back the success reply, or a ChatError. A
failed call changes nothing: seats, tokens and subscriptions are rolled back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backends.base import NameTaken, Store, sorted_members
from .config import Settings
from .domain import validation as v
from .domain.models import (
    HistoryReply,
    JoinReply,
    LeaveReply,
    MembersReply,
    OkReply,
    RoomsReply,
    SendReply,
)
from .domain.ratelimit import TokenBucket, TypingThrottle
from .domain.users import join_key, user_for_connection, user_for_key, user_for_subject
from .errors import ChatError
from .identity import Identity
from .rooms import LocalRooms

logger = logging.getLogger(__name__)
JOIN_HISTORY = 50


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Seat:
    """A connection's place in a room: the name it shows and the user that holds it."""

    name: str
    user: str


@dataclass
class Connection:
    """What this node knows about one Socket.IO connection."""

    sid: str
    ip: str
    bucket: TokenBucket | None
    identity: Identity | None = None  # what its token proved, when identity is on
    rooms: dict[str, Seat] = field(default_factory=dict)
    typing: dict[str, TypingThrottle] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class Joined:
    """A join's reply, and what to do once that reply is on its way to the client."""

    reply: JoinReply
    admit: Callable[[], None]


def _no_admission() -> None:
    return None


class ChatService:
    """Chat rules over a store and this node's rooms."""

    def __init__(self, settings: Settings, store: Store, rooms: LocalRooms) -> None:
        self.settings = settings
        self.store = store
        self.rooms = rooms
        self.connections: dict[str, Connection] = {}
        self._orphans: set[tuple[str, str]] = set()  # (room, sid) whose unseat must be retried
        # False while draining: the node already unseated all its connections in one step.
        self.release_on_disconnect = True

    # connections -----------------------------------------------------------------------
    def connect(self, sid: str, ip: str, identity: Identity | None = None) -> Connection:
        limit = self.settings.rate_limit
        bucket = TokenBucket(limit.count, limit.seconds) if limit else None
        conn = Connection(sid=sid, ip=ip, bucket=bucket, identity=identity)
        self.connections[sid] = conn
        return conn

    async def disconnect(self, sid: str) -> None:
        """Unseat from every room (users linger for the grace); retried if Redis is down."""
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        async with conn.lock:
            for room in list(conn.rooms):
                try:
                    if self.release_on_disconnect:
                        await self.store.leave(room, sid, now_ms(), grace=True)
                except ChatError:
                    self._orphans.add((room, sid))
                    logger.warning(
                        "unseating %s from room %s deferred: backend down",
                        sid,
                        room,
                        extra={"room": room, "sid": sid},
                    )
                await self._drop_local(conn, room)

    async def retry_orphans(self) -> int:
        """Unseat connections whose disconnect came while the backend was down."""
        done = 0
        for room, sid in list(self._orphans):
            await self.store.leave(room, sid, now_ms(), grace=True)
            self._orphans.discard((room, sid))
            done += 1
        return done

    async def restore_seats(self) -> list[str]:
        """Redis lost our seats: put every live one back. Returns connections that lost
        their name to another user meanwhile (to be closed, so they rejoin)."""
        lost: list[str] = []
        for conn in list(self.connections.values()):
            for room, seat in list(conn.rooms.items()):
                if not await self.store.restore(room, seat.user, seat.name, conn.sid):
                    logger.warning(
                        "connection %s lost its name in room %s while Redis was away",
                        conn.sid,
                        room,
                        extra={"room": room, "sid": conn.sid},
                    )
                    lost.append(conn.sid)
        return lost

    def _conn(self, sid: str) -> Connection:
        conn = self.connections.get(sid)
        if conn is None:  # an event raced the disconnect
            raise ChatError("not_in_room", "This connection is closing.")
        return conn

    async def _drop_local(self, conn: Connection, room: str) -> None:
        conn.rooms.pop(room, None)
        conn.typing.pop(room, None)
        await self.rooms.exit(room, conn.sid)

    def _user(self, conn: Connection, key: str | None) -> str:
        if conn.identity is not None:
            return user_for_subject(conn.identity.sub)
        if key is not None:
            return user_for_key(key)
        return user_for_connection(conn.sid)

    def _viewer(self, sid: str | None, viewer: Identity | None) -> Identity | None:
        if sid is not None:
            conn = self.connections.get(sid)
            return conn.identity if conn is not None else viewer
        return viewer

    @staticmethod
    def _check_room(viewer: Identity | None, room: str) -> None:
        if viewer is not None and not viewer.may_use(room):
            raise ChatError("forbidden", "Your token does not allow this room.")

    def _name(self, conn: Connection, data: dict[str, Any]) -> str:
        """The display name: the token's with identity on (a given one must match it)."""
        if conn.identity is None:
            return v.display_name(data.get("name"))
        if data.get("name") is not None:
            asked = v.display_name(data.get("name"))
            if asked.casefold() != conn.identity.name.casefold():
                raise ChatError("invalid_name", "Your name is the one in your token.")
        return conn.identity.name

    # events ----------------------------------------------------------------------------
    async def join(self, sid: str, payload: Any) -> Joined:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        conn = self._conn(sid)
        self._check_room(conn.identity, room)
        name = self._name(conn, data)
        key = join_key(data.get("key"))
        since = v.optional_id(data, "since")
        epoch = v.epoch(data.get("epoch"))
        async with conn.lock:
            member = room in conn.rooms
            user = conn.rooms[room].user if member else self._user(conn, key)
            if not member:
                await self.rooms.enter(room, sid)
            try:
                if not member and conn.identity is not None:  # so a ban can name its sub
                    grace = self.settings.auth_leeway + self.settings.presence_grace
                    until = int((conn.identity.exp + grace) * 1000)
                    await self.store.remember_subject(room, user, conn.identity.sub, until)
                result = await self.store.join(
                    room, user, name, sid, since, epoch, now_ms(), JOIN_HISTORY
                )
            except NameTaken:
                if not member:
                    await self.rooms.exit(room, sid)
                raise ChatError("name_taken", "That name is already in use in this room.") from None
            except BaseException:
                if not member:
                    await self.rooms.exit(room, sid)
                raise
            admit = _no_admission
            if not member:
                conn.rooms[room] = Seat(result.name, user)
                admit = self.rooms.admission(room, sid, result.epoch, result.head)
                logger.info(
                    "connection %s joined room %s",
                    sid,
                    room,
                    extra={"room": room, "sid": sid, "new_user": result.announced},
                )
        reply: JoinReply = {
            "ok": True,
            "room": room,
            "name": result.name,
            "epoch": result.epoch,
            "members": sorted_members(result.members),
            "history": result.history,
        }
        if result.reset:
            reply["reset"] = True
        return Joined(reply, admit)

    async def leave(self, sid: str, payload: Any) -> LeaveReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        conn = self._conn(sid)
        self._check_room(conn.identity, room)
        async with conn.lock:
            if room not in conn.rooms:
                raise ChatError("not_in_room", "You are not in that room.")
            await self.store.leave(room, sid, now_ms(), grace=False)
            await self._drop_local(conn, room)
        logger.info("connection %s left room %s", sid, room, extra={"room": room, "sid": sid})
        return {"ok": True, "room": room}

    async def send_message(self, sid: str, payload: Any) -> SendReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        if "text" not in data:
            raise ChatError("bad_request", "Field 'text' is required.")
        text = v.message_text(data.get("text"), self.settings.max_text)
        client_id = v.client_id(data.get("client_id"))
        conn = self._conn(sid)
        self._check_room(conn.identity, room)
        seat = conn.rooms.get(room)
        if seat is None:
            raise ChatError("not_in_room", "Join the room before sending to it.")
        bucket = conn.bucket
        if bucket is not None and not bucket.try_take(time.monotonic()):
            raise ChatError("rate_limited", "You are sending too fast; wait a moment.")
        try:
            appended = await self.store.append_message(room, seat.name, text, now_ms(), client_id)
        except BaseException:
            if bucket is not None:
                bucket.give_back()
            raise
        message = appended.message
        reply: SendReply = {"ok": True, "message": message}
        if appended.duplicate:
            if bucket is not None:
                bucket.give_back()  # a retry stores nothing: it costs no allowance
            reply["duplicate"] = True
        logger.debug(
            "connection %s sent message %d to room %s%s",
            sid,
            message["id"],
            room,
            " (duplicate)" if appended.duplicate else "",
            extra={"room": room, "sid": sid},
        )
        return reply

    async def typing(self, sid: str, payload: Any) -> OkReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        typing = v.typing_flag(data.get("typing"))
        conn = self._conn(sid)
        self._check_room(conn.identity, room)
        seat = conn.rooms.get(room)
        if seat is None:
            raise ChatError("not_in_room", "Join the room first.")
        throttle = conn.typing.setdefault(room, TypingThrottle(self.settings.typing_interval))
        if throttle.allow(typing, time.monotonic()):
            await self.store.publish_typing(room, seat.name, sid, typing)
        return {"ok": True}

    async def history(
        self, sid: str | None, payload: Any, viewer: Identity | None = None
    ) -> HistoryReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        self._check_room(self._viewer(sid, viewer), room)
        before = v.optional_id(data, "before")
        limit = v.history_limit(data.get("limit"))
        messages = await self.store.history(room, before, limit)
        return {"ok": True, "room": room, "messages": messages}

    async def members(
        self, sid: str | None, payload: Any, viewer: Identity | None = None
    ) -> MembersReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        self._check_room(self._viewer(sid, viewer), room)
        names = await self.store.members(room)
        return {"ok": True, "room": room, "members": sorted_members(names)}

    async def list_rooms(
        self, sid: str | None, payload: Any, viewer: Identity | None = None
    ) -> RoomsReply:
        v.require_object(payload)
        rooms = await self.store.rooms()
        seen = self._viewer(sid, viewer)
        return {
            "ok": True,
            "rooms": [
                {"room": r, "members": n} for r, n in rooms if seen is None or seen.may_use(r)
            ],
        }
