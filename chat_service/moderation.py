"""Moderation use cases: kick, ban, unban, bans, and closing a user's connections.

Moderators (a token with the `moderator` role, present in the room) act through Socket.IO
events; the embedding application acts through the server API (`api.py`) as `"api"`.
Both end in the same store calls. The store publishes a `kicked` event on the room's
feed; every node applies it here to its own connections of that user, so a kick issued
on any node removes the user everywhere at once. Every action is one audit log line and
one count of `chat_moderation_actions_total{action}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import orjson

from .backends.base import Ban, BanOrder, EventHandler, Removed, ResubscribeHandler
from .backends.wire import KickedControl, RoomEvent, parse_kicked_control
from .domain import moderation as mod
from .domain import validation as v
from .domain.models import BanEntry, BanReply, BansReply, MembersReply, OkReply
from .domain.users import user_for_subject
from .errors import ChatError
from .metrics import Metrics
from .service import ChatService, Connection, now_ms

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("chat_service.audit")


class Outbox(Protocol):
    """What moderation needs of the transport: tell one connection, close one."""

    def send(self, sid: str, event: str, payload_json: str) -> bool: ...

    def close(self, sid: str) -> Awaitable[None]: ...


def _sub(conn: Connection) -> str | None:
    return conn.identity.sub if conn.identity is not None else None


class ModerationService:
    """Kicks, bans and disconnects, for moderators' events and the server API."""

    def __init__(self, chat: ChatService, outbox: Outbox, metrics: Metrics) -> None:
        self.chat = chat
        self.store = chat.store
        self.identity_on = chat.settings.identity_on
        self.outbox = outbox
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()  # removals run off the bus listener

    # moderators' events ----------------------------------------------------------------
    def _moderator(self, sid: str, room: str) -> tuple[Connection, str]:
        """The moderator's connection and its name in the room; or why it may not act."""
        conn = self.chat.connections.get(sid)
        if conn is None:
            raise ChatError("not_in_room", "This connection is closing.")
        if conn.identity is None:
            raise ChatError("forbidden", "Moderation needs identity; use the server API.")
        if not conn.identity.may_use(room):
            raise ChatError("forbidden", "Your token does not allow this room.")
        seat = conn.rooms.get(room)
        if seat is None:
            raise ChatError("not_in_room", "Join the room before moderating it.")
        if not conn.identity.moderator:
            raise ChatError("forbidden", "Only moderators may do this.")
        return conn, seat.name

    async def kick(self, sid: str, payload: Any) -> OkReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        target = mod.Target(name=v.display_name(data.get("name")))
        reason = mod.reason(data.get("reason"))
        conn, by = self._moderator(sid, room)
        await self.remove(room, by, target, reason, banned=False, actor=_sub(conn))
        return {"ok": True}

    async def ban(self, sid: str, payload: Any) -> BanReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        target = mod.Target(name=v.display_name(data.get("name")))
        length = mod.seconds(data.get("seconds"))
        reason = mod.reason(data.get("reason"))
        conn, by = self._moderator(sid, room)
        actor = _sub(conn)
        until = await self.remove(room, by, target, reason, banned=True, length=length, actor=actor)
        return {"ok": True, "until": until}

    async def unban(self, sid: str, payload: Any) -> OkReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        # A `sub` is well-formed here either way: with identity off the event is forbidden.
        target = mod.target(data, identity_on=True)
        conn, by = self._moderator(sid, room)
        await self.lift(room, by, target, actor=_sub(conn))
        return {"ok": True}

    async def bans(self, sid: str, payload: Any) -> BansReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        self._moderator(sid, room)
        return {"ok": True, "room": room, "bans": await self.list_bans(room)}

    # shared by events and the server API -----------------------------------------------
    async def remove(
        self,
        room: str,
        by: str,
        target: mod.Target,
        reason: str | None,
        *,
        banned: bool,
        length: int | None = None,
        actor: str | None = None,
    ) -> int | None:
        """Kick (or ban) the target from the room; returns the ban's `until`. `actor`: the
        moderator's token sub, for the audit line."""
        now = now_ms()
        until = mod.ban_until(now, length) if banned else None
        event: dict[str, Any] = {"room": room, "by": by}
        if reason is not None:
            event["reason"] = reason
        if banned:
            event["banned"] = True
            event["until"] = until
        order = BanOrder(until, by, reason, target.sub) if banned else None
        kicked = orjson.dumps(event).decode()
        removed: Removed | None
        if target.sub is not None:
            user = user_for_subject(target.sub)
            removed = await self.store.moderate(room, now, kicked, order, user=user)
        else:
            assert target.name is not None
            key = v.name_key(target.name)
            removed = await self.store.moderate(room, now, kicked, order, name_key=key)
        if removed is None:
            raise ChatError("not_found", "Nobody by that name or sub is in this room.")
        whom = removed.name or target.name or f"sub {target.sub}"
        extra: dict[str, Any] = {"actor": actor, "sub": target.sub}
        if banned:
            extra["until"] = until
        self.audit("ban" if banned else "kick", by, whom, room, reason, **extra)
        return until

    async def lift(self, room: str, by: str, target: mod.Target, actor: str | None = None) -> None:
        """Unban by name (every ban in force under it) or by sub."""
        now = now_ms()
        if target.sub is not None:
            lifted = await self.store.unban(room, now, user=user_for_subject(target.sub))
        else:
            lifted = await self.store.unban(room, now, name=target.name)
        if not lifted:
            raise ChatError("not_found", "No ban in force has that name or sub.")
        whom = target.name or f"sub {target.sub}"
        self.audit("unban", by, whom, room, None, actor=actor, sub=target.sub, lifted=lifted)

    async def list_bans(self, room: str) -> list[BanEntry]:
        return [self._entry(ban) for ban in await self.store.bans(room, now_ms())]

    def _entry(self, ban: Ban) -> BanEntry:
        entry: BanEntry = {"name": ban.name, "until": ban.until, "by": ban.by}
        if self.identity_on:
            entry["sub"] = ban.sub
        if ban.reason is not None:
            entry["reason"] = ban.reason
        return entry

    async def members(self, room: str) -> MembersReply:
        return await self.chat.members(None, {"room": room})

    async def disconnect(self, sub: str) -> int:
        """Close every connection of a token `sub` on every node; how many were closed."""
        if not self.identity_on:
            raise ChatError("bad_request", "Disconnecting a user needs identity to be on.")
        closed = await self.store.disconnect_subject(user_for_subject(mod.subject(sub)))
        self.audit("disconnect", mod.API_BY, f"sub {sub}", None, None, closed=closed)
        return closed

    def audit(
        self,
        action: str,
        by: str,
        whom: str,
        room: str | None,
        reason: str | None,
        **details: Any,
    ) -> None:
        """One line per action: who did what to whom, where, why (JSON-escaped)."""
        self.metrics.moderation_actions.labels(action=action).inc()
        audit_log.info(
            "%s %s %s in room %s%s",
            json.dumps(by),
            action,
            json.dumps(whom),
            room or "-",
            "" if reason is None else f" reason {json.dumps(reason)}",
            extra={
                "audit": action,
                "by": by,
                "target": whom,
                "room": room,
                "reason": reason,
                **details,
            },
        )

    # every node: applying a kick, carrying out node-wide requests ------------------------
    def feed(self, on_event: EventHandler) -> EventHandler:
        """The room feed with `kicked` taken out and applied here; the rest goes on."""

        async def on_room_event(room: str, event: RoomEvent) -> None:
            if event.kind == "kicked":
                await self._apply_kick(room, event.payload)
            else:
                await on_event(room, event)

        return on_room_event

    async def _apply_kick(self, room: str, payload: str) -> None:
        """Our connections of the removed user leave the room now: told, then dropped
        before the `user_left` that follows on the feed. A connection whose seat the kick
        removed while its join was still finishing is removed once that join is done."""
        try:
            control = parse_kicked_control(payload)
        except (ValueError, KeyError, TypeError):
            logger.warning("dropped a malformed kicked event in room %s", room)
            return
        for conn in list(self.chat.connections.values()):
            seat = conn.rooms.get(room)
            if seat is not None and seat.user == control.user:
                await self._remove_local(conn, room, control.event)
            elif seat is None and conn.sid in control.sids:
                self._spawn(self._remove_after_join(conn, room, control))

    def resubscribed(self, on_resubscribed: ResubscribeHandler) -> ResubscribeHandler:
        """After an outage of the room's feed: besides the refill, remove the local
        connections that a kick removed meanwhile (their `kicked` event was missed)."""

        async def on_room_resubscribed(room: str) -> None:
            await on_resubscribed(room)
            self._spawn(self._remove_missed(room))  # off the bus listener: a Redis call

        return on_room_resubscribed

    async def _remove_missed(self, room: str) -> None:
        """Local seats whose kick this node did not hear of: told and removed now."""
        seats = {
            conn.sid: seat.user
            for conn in list(self.chat.connections.values())
            if (seat := conn.rooms.get(room)) is not None
        }
        try:
            missed = await self.store.missed_kicks(room, seats)
        except ChatError:
            logger.warning("checking room %s for missed kicks failed", room)
            return
        for sid, control in missed.items():
            conn = self.chat.connections.get(sid)
            seat = conn.rooms.get(room) if conn is not None else None
            if conn is not None and seat is not None and seat.user == control.user:
                await self._remove_local(conn, room, control.event)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _remove_after_join(self, conn: Connection, room: str, control: KickedControl) -> None:
        async with conn.lock:  # the join holds it until its seat is recorded here
            seat = conn.rooms.get(room)
            if seat is not None and seat.user == control.user:
                await self._remove_local(conn, room, control.event)

    async def _remove_local(self, conn: Connection, room: str, event_json: str) -> None:
        self.outbox.send(conn.sid, "kicked", event_json)
        conn.rooms.pop(room, None)
        conn.typing.pop(room, None)
        await self.chat.rooms.exit(room, conn.sid)
        logger.info(
            "connection %s removed from room %s by moderation",
            conn.sid,
            room,
            extra={"room": room, "sid": conn.sid},
        )

    def control(self) -> Callable[[str, str], Awaitable[int]]:
        """This node's part of node-wide requests."""

        async def on_control(kind: str, argument: str) -> int:
            if kind != "disconnect":
                return 0
            sids = [
                c.sid
                for c in list(self.chat.connections.values())
                if c.identity is not None and user_for_subject(c.identity.sub) == argument
            ]
            for sid in sids:
                logger.info("closing connection %s: the server API disconnected its user", sid)
                await self.outbox.close(sid)
            return len(sids)

        return on_control
