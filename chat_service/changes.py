"""The use cases of messages people change: edit, delete, react, mark_read, and the
server API's posts and deletions.

Handlers hand raw payloads here (through `ChatService.changes`) and get back the
success reply, or a ChatError. A refused or failed change changes nothing and gives
back the rate-limit token it took; so does a change that was already as asked, for
edits (the protocol counts only edits that change the text).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .backends.base import Changed, ChangeRefused, ReadOutOfRange
from .domain import validation as v
from .domain.models import MarkReadReply, MessageReply, SendReply
from .domain.moderation import API_BY
from .domain.reads import ReadCoalescer
from .domain.users import user_for_api
from .errors import ChatError, RateLimited

if TYPE_CHECKING:
    from .backends.base import Store
    from .domain.ratelimit import TokenBucket
    from .service import ChatService, Connection, Seat

logger = logging.getLogger(__name__)
READ_INTERVAL = 1.0  # seconds: at most one `read` per user and room this often
_REFUSALS = {
    "not_found": ChatError("not_found", "No such message in this room."),
    "forbidden": ChatError("forbidden", "You may not change this message."),
    "too_many": ChatError("bad_request", "A message holds at most 20 different reactions."),
}


def refusal(exc: ChangeRefused) -> ChatError:
    """The protocol's answer to a change the store refused."""
    return _REFUSALS[exc.reason]


def take_token(conn: Connection) -> TokenBucket | None:
    """Take one token of the connection's message allowance (the changes share it), or
    raise `rate_limited` with `retry_after_ms`, as `send_message` does."""
    bucket = conn.bucket
    if bucket is not None and not bucket.try_take(time.monotonic()):
        wait = bucket.wait(time.monotonic())
        raise RateLimited("You are sending too fast; wait a moment.", wait)
    return bucket


def is_moderator(conn: Connection) -> bool:
    """A token whose `roles` hold "moderator"."""
    return conn.identity is not None and conn.identity.moderator


# (action, by, whom, room, reason): one audit line and a counter (moderation.audit).
Audit = Callable[[str, str, str, str | None, str | None], None]


def _no_audit(action: str, by: str, whom: str, room: str | None, reason: str | None) -> None:
    return None


class MessageChanges:
    """Changes to a room's messages and read positions, over the chat service's store."""

    def __init__(self, service: ChatService, read_interval: float = READ_INTERVAL) -> None:
        self.service = service
        self.reads = ReadCoalescer(read_interval)
        self.audit: Audit = _no_audit  # app.py wires the moderation service's audit trail
        self._flushes: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> Store:
        return self.service.store

    async def _limited(self, conn: Connection, change: Callable[[], Awaitable[Changed]]) -> Changed:
        """Take a rate-limit token for the change; give it back if nothing was stored."""
        bucket = take_token(conn)
        try:
            return await change()
        except ChangeRefused as exc:
            if bucket is not None:
                bucket.give_back()
            raise refusal(exc) from None
        except BaseException:
            if bucket is not None:
                bucket.give_back()
            raise

    @staticmethod
    def _target(payload: Any) -> tuple[dict[str, Any], str, int, str | None]:
        """The room, message id and optional epoch every change names."""
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        return data, room, v.message_id(data), v.epoch(data.get("epoch"))

    # events ------------------------------------------------------------------------------
    async def edit_message(self, sid: str, payload: Any) -> MessageReply:
        data, room, msg_id, epoch = self._target(payload)
        if "text" not in data:
            raise ChatError("bad_request", "Field 'text' is required.")
        text = v.message_text(data.get("text"), self.service.settings.max_text)
        conn, seat = self.service.member(sid, room)
        changed = await self._limited(
            conn,
            lambda: self.store.edit_message(room, msg_id, epoch, seat.user, text, now_ms()),
        )
        if not changed.changed and conn.bucket is not None:
            conn.bucket.give_back()  # an edit to the same text costs nothing
        self._log("edited", sid, room, changed)
        return {"ok": True, "message": changed.message}

    async def delete_message(self, sid: str, payload: Any) -> MessageReply:
        _, room, msg_id, epoch = self._target(payload)
        conn, seat = self.service.member(sid, room)
        moderator = is_moderator(conn)
        changed = await self._limited(
            conn,
            lambda: self.store.delete_message(room, msg_id, epoch, seat.user, moderator=moderator),
        )
        self._log("deleted", sid, room, changed)
        if moderator and changed.changed:
            whom = f"message {msg_id} by {changed.message['name']}"
            self.audit("delete_message", seat.name, whom, room, None)
        return {"ok": True, "message": changed.message}

    async def react(self, sid: str, payload: Any) -> MessageReply:
        data, room, msg_id, epoch = self._target(payload)
        emoji = v.emoji(data.get("emoji"))
        on = v.reaction_on(data.get("on"))
        conn, seat = self.service.member(sid, room)
        changed = await self._limited(
            conn,
            lambda: self.store.react(room, msg_id, epoch, seat.user, seat.name, emoji, on),
        )
        self._log("reacted to", sid, room, changed)
        return {"ok": True, "message": changed.message}

    async def mark_read(self, sid: str, payload: Any) -> MarkReadReply:
        data = v.require_object(payload)
        room = v.room_name(data.get("room"))
        position = v.message_id(data)
        conn, seat = self.service.member(sid, room)
        bucket = take_token(conn)
        try:
            mark = await self.store.mark_read(room, seat.user, seat.name, position, publish=False)
        except ReadOutOfRange:
            if bucket is not None:
                bucket.give_back()
            raise ChatError(
                "bad_request", "Field 'id' is beyond the room's newest message."
            ) from None
        except BaseException:
            if bucket is not None:
                bucket.give_back()
            raise
        if mark.moved:
            await self._announce_read(room, seat)
        return {"ok": True, "room": room, "last_read": mark.last_read}

    # `read` events, coalesced ------------------------------------------------------------
    async def _announce_read(self, room: str, seat: Seat) -> None:
        key = (room, seat.user)
        delay = self.reads.offer(key, time.monotonic())
        if delay == 0.0:
            await self._publish_read(room, seat)  # the position is stored: answer it
        elif delay is not None:
            loop = asyncio.get_running_loop()
            self._flushes[key] = loop.call_later(delay, self._flush, room, seat)

    def _flush(self, room: str, seat: Seat) -> None:
        key = (room, seat.user)
        self._flushes.pop(key, None)
        self.reads.flushed(key, time.monotonic())
        task = asyncio.ensure_future(self._publish_read(room, seat))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_read(self, room: str, seat: Seat) -> None:
        try:
            await self.store.publish_read(room, seat.user, seat.name)
        except ChatError:
            # The position is stored: the next move or a join's `reads` shows it.
            logger.warning("read position of room %s not announced: backend down", room)

    async def close(self) -> None:
        """Cancel scheduled flushes and wait for those under way."""
        for handle in self._flushes.values():
            handle.cancel()
        self._flushes.clear()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    # the server API ----------------------------------------------------------------------
    async def post_system(self, room_value: Any, payload: Any) -> SendReply:
        """`POST /api/rooms/{room}/messages`: a message with `"system": true` under a name
        that follows the name rule but is not reserved; retries matched per API name."""
        room = v.room_name(room_value)
        data = v.require_object(payload)
        name = v.display_name(data.get("name"))
        if "text" not in data:
            raise ChatError("bad_request", "Field 'text' is required.")
        text = v.message_text(data.get("text"), self.service.settings.max_text)
        client_id = v.client_id(data.get("client_id"))
        reply_to = v.reply_to(data.get("reply_to"))
        user = user_for_api(v.name_key(name))
        try:
            appended = await self.store.append_message(
                room, name, text, now_ms(), client_id, user=user, reply_to=reply_to, system=True
            )
        except ChangeRefused as exc:
            raise refusal(exc) from None
        reply: SendReply = {"ok": True, "message": appended.message}
        if appended.duplicate:
            reply["duplicate"] = True
        else:
            self.audit("post_message", API_BY, f"message {appended.message['id']}", room, None)
        return reply

    async def delete_as_api(self, room_value: Any, msg_id: Any) -> MessageReply:
        """`DELETE /api/rooms/{room}/messages/{id}`: the API deletes as a moderator."""
        room = v.room_name(room_value)
        target = v.message_id({"id": msg_id})
        try:
            changed = await self.store.delete_message(room, target, None, None, moderator=True)
        except ChangeRefused as exc:
            raise refusal(exc) from None
        if changed.changed:
            whom = f"message {target} by {changed.message['name']}"
            self.audit("delete_message", API_BY, whom, room, None)
        return {"ok": True, "message": changed.message}

    @staticmethod
    def _log(what: str, sid: str, room: str, changed: Changed) -> None:
        logger.debug(
            "connection %s %s message %d in room %s%s",
            sid,
            what,
            changed.message["id"],
            room,
            "" if changed.changed else " (no change)",
            extra={"room": room, "sid": sid},
        )


def now_ms() -> int:
    return int(time.time() * 1000)
