"""Redis half of the changes people make to messages: each one Lua script on one room.

Kept apart from redis.py (presence, appends, nodes) so each stays readable. Every change
reads, checks, writes and publishes in one script (lua/change.lua, lua/read.lua): two
nodes changing one message at once never lose a change, and the room's channel carries
the changes in the order they were made.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.models import Message
from ..domain.validation import MAX_REACTIONS, REACTION_NAMES
from .base import DEDUPE_MS, Changed, ChangeRefused, ReadMark, ReadOutOfRange
from .keys import Keys
from .wire import ChangeScriptReply, ReadScriptReply, parse_message


class RedisChanges:
    """Edits, deletions, reactions and read positions (mixed into RedisStore)."""

    keys: Keys
    _idle_ttl_ms: int

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError  # RedisStore's

    async def _cmd(self, op: str, *args: Any) -> Any:
        raise NotImplementedError  # RedisStore's

    async def sent_message(self, room: str, user: str, client_id: str, now: int) -> Message | None:
        field = user + "\n" + client_id
        at = await self._cmd("sent", "ZSCORE", self.keys.sent_at(room), field)
        if at is None or int(float(at)) <= now - DEDUPE_MS:
            return None  # never stored, or no longer answered (append.lua drops it next)
        raw = await self._cmd("sent", "HGET", self.keys.sent(room), field)
        return None if raw is None else parse_message(raw)

    async def _change(
        self,
        room: str,
        op: str,
        msg_id: int,
        epoch: str | None,
        user: str | None,
        ts: int,
        *,
        moderator: bool = False,
        value: str = "",
        name: str = "",
        on: bool = False,
    ) -> Changed:
        k = self.keys
        keys = [
            k.meta(room),
            k.history(room),
            k.channel(room),
            k.reactions(room),
            k.changed(room),
            k.sent(room),
        ]
        args = [
            op,
            msg_id,
            epoch or "",
            user or "",
            1 if moderator else 0,
            ts,
            self._idle_ttl_ms,
            value,
            name,
            1 if on else 0,
            MAX_REACTIONS,
            REACTION_NAMES,
        ]
        reply = ChangeScriptReply.parse(await self._script("change", keys, args))
        if reply.status in ("not_found", "forbidden", "too_many"):
            raise ChangeRefused(reply.status)
        return Changed(parse_message(reply.raw), changed=reply.status == "ok")

    async def edit_message(
        self, room: str, msg_id: int, epoch: str | None, user: str, text: str, ts: int
    ) -> Changed:
        return await self._change(room, "edit", msg_id, epoch, user, ts, value=text)

    async def delete_message(
        self, room: str, msg_id: int, epoch: str | None, user: str | None, *, moderator: bool
    ) -> Changed:
        return await self._change(room, "delete", msg_id, epoch, user, 0, moderator=moderator)

    async def react(
        self,
        room: str,
        msg_id: int,
        epoch: str | None,
        user: str,
        name: str,
        emoji: str,
        on: bool,
    ) -> Changed:
        return await self._change(
            room, "react", msg_id, epoch, user, 0, value=emoji, name=name, on=on
        )

    async def _read(self, room: str, user: str, name: str, position: int, publish: bool) -> Any:
        k = self.keys
        keys = [k.meta(room), k.reads(room), k.channel(room), k.users(room)]
        name_json = orjson.dumps(name).decode()
        args = [room, user, name_json, position, 1 if publish else 0, self._idle_ttl_ms]
        return ReadScriptReply.parse(await self._script("read", keys, args))

    async def mark_read(
        self, room: str, user: str, name: str, position: int, *, publish: bool
    ) -> ReadMark:
        reply = await self._read(room, user, name, position, publish)
        if not reply.in_range:
            raise ReadOutOfRange(reply.last_read)
        return ReadMark(reply.last_read, reply.moved)

    async def publish_read(self, room: str, user: str, name: str) -> None:
        await self._read(room, user, name, -1, True)
