"""The use cases: join, leave, send, typing, history, members, rooms.

Handlers hand raw payloads here and get back the success reply, or a ChatError. A
failed call changes nothing: membership, tokens and subscriptions are rolled back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .domain import validation as v
from .domain.ratelimit import TokenBucket, TypingThrottle
from .errors import ChatError
from .fanout import Delivery
from .store.base import Bus, NameTaken, Store, sorted_members

logger = logging.getLogger(__name__)
JOIN_HISTORY = 50


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Connection:
    """What this node knows about one Socket.IO connection."""

    sid: str
    ip: str
    bucket: TokenBucket | None
    rooms: dict[str, str] = field(default_factory=dict)  # room -> display name
    typing: dict[str, TypingThrottle] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ChatService:
    """Chat rules over a store, a bus and local delivery."""

    def __init__(self, settings: Settings, store: Store, bus: Bus, delivery: Delivery) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.delivery = delivery
        self.connections: dict[str, Connection] = {}
        self._orphans: set[tuple[str, str]] = set()  # (room, sid) whose leave must be retried
        # False while draining: the node already removed all its members in one step.
        self.release_on_disconnect = True

    # connections -----------------------------------------------------------------------
    def connect(self, sid: str, ip: str) -> Connection:
        limit = self.settings.rate_limit
        bucket = TokenBucket(limit.count, limit.seconds) if limit else None
        conn = Connection(sid=sid, ip=ip, bucket=bucket)
        self.connections[sid] = conn
        return conn

    async def disconnect(self, sid: str) -> None:
        """Leave every room; a leave Redis could not take is retried later."""
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        async with conn.lock:
            for room in list(conn.rooms):
                try:
                    if self.release_on_disconnect:
                        await self.store.leave(room, sid, now_ms())
                except ChatError:
                    self._orphans.add((room, sid))
                    logger.warning("leave of %s from room %s deferred: backend down", sid, room)
                await self._drop_local(conn, room)

    async def retry_orphans(self) -> int:
        """Remove memberships whose leave failed while the backend was down."""
        done = 0
        for room, sid in list(self._orphans):
            await self.store.leave(room, sid, now_ms())
            self._orphans.discard((room, sid))
            done += 1
        return done

    def _conn(self, sid: str) -> Connection:
        conn = self.connections.get(sid)
        if conn is None:  # an event raced the disconnect
            raise ChatError("not_in_room", "This connection is closing.")
        return conn

    async def _drop_local(self, conn: Connection, room: str) -> None:
        conn.rooms.pop(room, None)
        conn.typing.pop(room, None)
        self.delivery.remove(room, conn.sid)
        if self.delivery.close(room):
            await self.bus.unsubscribe(room)

    # events ----------------------------------------------------------------------------
    async def join(self, sid: str, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        name = v.display_name(data.get("name"))
        since = v.optional_id(data, "since")
        conn = self._conn(sid)
        async with conn.lock:
            member = room in conn.rooms
            if not member:
                self.delivery.open(room)
                try:
                    await self.bus.subscribe(room)
                except BaseException:
                    self.delivery.close(room)
                    raise
            try:
                result = await self.store.join(room, name, sid, since, now_ms(), JOIN_HISTORY)
            except NameTaken:
                if not member:
                    await self._release(room)
                raise ChatError("name_taken", "That name is already in use in this room.") from None
            except BaseException:
                if not member:
                    await self._release(room)
                raise
            if not member:
                conn.rooms[room] = result.name
                self.delivery.admit(room, sid, result.epoch, result.head)
                logger.info("connection %s joined room %s", sid, room)
        return {
            "ok": True,
            "room": room,
            "name": result.name,
            "members": sorted_members(result.members),
            "history": result.history,
        }

    async def _release(self, room: str) -> None:
        if self.delivery.close(room):
            await self.bus.unsubscribe(room)

    async def leave(self, sid: str, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        conn = self._conn(sid)
        async with conn.lock:
            if room not in conn.rooms:
                raise ChatError("not_in_room", "You are not in that room.")
            await self.store.leave(room, sid, now_ms())
            await self._drop_local(conn, room)
        logger.info("connection %s left room %s", sid, room)
        return {"ok": True, "room": room}

    async def send_message(self, sid: str, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        if "text" not in data:
            raise ChatError("bad_request", "Field 'text' is required.")
        text = v.message_text(data.get("text"), self.settings.max_text)
        conn = self._conn(sid)
        name = conn.rooms.get(room)
        if name is None:
            raise ChatError("not_in_room", "Join the room before sending to it.")
        bucket = conn.bucket
        if bucket is not None and not bucket.try_take(time.monotonic()):
            raise ChatError("rate_limited", "You are sending too fast; wait a moment.")
        try:
            message = await self.store.append_message(room, name, text, now_ms())
        except BaseException:
            if bucket is not None:
                bucket.give_back()
            raise
        logger.debug("connection %s sent message %d to room %s", sid, message["id"], room)
        return {"ok": True, "message": message}

    async def typing(self, sid: str, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        typing = v.typing_flag(data.get("typing"))
        conn = self._conn(sid)
        name = conn.rooms.get(room)
        if name is None:
            raise ChatError("not_in_room", "Join the room first.")
        throttle = conn.typing.setdefault(room, TypingThrottle(self.settings.typing_interval))
        if throttle.allow(typing, time.monotonic()):
            await self.store.publish_typing(room, name, sid, typing)
        return {"ok": True}

    async def history(self, sid: str | None, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        before = v.optional_id(data, "before")
        limit = v.history_limit(data.get("limit"))
        messages = await self.store.history(room, before, limit)
        return {"ok": True, "room": room, "messages": messages}

    async def members(self, sid: str | None, payload: Any) -> dict[str, Any]:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        names = await self.store.members(room)
        return {"ok": True, "room": room, "members": sorted_members(names)}

    async def list_rooms(self, sid: str | None, payload: Any) -> dict[str, Any]:
        v.require_object(payload)
        rooms = await self.store.rooms()
        return {"ok": True, "rooms": [{"room": r, "members": n} for r, n in rooms]}
