"""Moderation on Redis: kicks and bans as one script per room, and node-wide requests.

A kick or ban removes the user's seats on every node: the script gets the connection
hashes of every registered node (all in the room's slot) and publishes `kicked` on the
room's channel, which each node applies to its own connections (`moderation.py`).
A request to every node (close a user's connections) goes out on the control channel;
each node pushes its answer to a list the asker reads until every receiver answered.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from redis.commands.core import AsyncScript

from ..domain.moderation import in_force
from ..domain.validation import name_key as key_of
from .base import Ban, BanOrder, Removed
from .keys import Keys
from .redis_clients import RedisClient
from .wire import (
    KickedControl,
    ban_tail,
    ban_until,
    control_request,
    parse_ban,
    parse_kicked_control,
)

T = TypeVar("T")
GATHER_S = 3.0  # how long a node-wide request waits for every node's answer
KICK, FOREVER = "-2", "-1"


def load_moderation_script(name: str, *, sharded: bool) -> str:
    """A moderation script with the shared rules it needs (presence, bans) in front."""
    lua = resources.files("chat_service.backends").joinpath("lua")
    parts = [f"local PUBLISH = '{'SPUBLISH' if sharded else 'PUBLISH'}'"]
    if name == "moderate":
        parts.append(lua.joinpath("presence.lua").read_text())
    if name in ("moderate", "unban"):
        parts.append(lua.joinpath("bans.lua").read_text())
    parts.append(lua.joinpath(f"{name}.lua").read_text())
    return "\n".join(parts)


class RedisModeration:
    """The Moderation half of RedisStore (mixed in; it brings the client and keys)."""

    client: RedisClient
    keys: Keys
    node_id: str
    sharded: bool
    _moderation_scripts: dict[str, AsyncScript] | None = None

    if TYPE_CHECKING:  # RedisStore's, with its timeouts and error mapping

        async def _cmd(self, op: str, *args: Any) -> Any: ...

        async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T: ...

    async def _moderation_script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._moderation_scripts is None:
            self._moderation_scripts = {
                script: self.client.register_script(
                    load_moderation_script(script, sharded=self.sharded)
                )
                for script in ("moderate", "unban", "subject")
            }
        script = self._moderation_scripts[name]
        return await self._call(name, lambda: script(keys=keys, args=args))

    async def remember_subject(self, room: str, user: str, sub: str, until: int) -> None:
        keep_ms = max(until - int(time.time() * 1000), 1000)
        args = [user, orjson.dumps(sub).decode(), keep_ms]
        await self._moderation_script("subject", [self.keys.subs(room)], args)

    async def moderate(
        self,
        room: str,
        ts: int,
        kicked: str,
        ban: BanOrder | None,
        *,
        name_key: str | None = None,
        user: str | None = None,
    ) -> Removed | None:
        k = self.keys
        registered = await self._cmd("moderate", "SMEMBERS", k.nodes)
        nodes = sorted({str(n) for n in registered} | {self.node_id})
        keys = [*k.presence_keys(room), k.bans(room), k.subs(room), k.kicks(room)]
        keys += [k.conns(room, node) for node in nodes]
        till, sub, tail = KICK, "", ""
        if ban is not None:
            till = FOREVER if ban.until is None else str(ban.until)
            sub = "" if ban.sub is None else orjson.dumps(ban.sub).decode()
            tail = ban_tail(ban.by, ban.reason, ts)
        by, target = ("name", name_key) if name_key is not None else ("user", user)
        args = [room, by, target, ts, till, sub, tail, kicked]
        reply = await self._moderation_script("moderate", keys, args)
        if not reply:
            return None
        found, name_json, present = reply
        name = str(orjson.loads(name_json)) if name_json else None
        return Removed(user=str(found), name=name, present=bool(int(present)))

    async def missed_kicks(self, room: str, seats: dict[str, str]) -> dict[str, KickedControl]:
        if not seats:
            return {}
        sids = list(seats)
        held: list[Any] = await self._cmd(
            "kicks", "HMGET", self.keys.conns(room, self.node_id), *sids
        )
        gone = [sid for sid, user in zip(sids, held, strict=True) if user is None]
        if not gone:
            return {}
        users = sorted({seats[sid] for sid in gone})
        records: list[Any] = await self._cmd("kicks", "HMGET", self.keys.kicks(room), *users)
        kicks = {u: parse_kicked_control(r) for u, r in zip(users, records, strict=True) if r}
        return {
            sid: kicks[seats[sid]]
            for sid in gone
            if seats[sid] in kicks and sid in kicks[seats[sid]].sids
        }

    async def _ban_records(self, room: str) -> dict[str, str]:
        records: dict[Any, Any] = await self._cmd("bans", "HGETALL", self.keys.bans(room))
        return {str(user): str(rec) for user, rec in records.items()}

    async def bans(self, room: str, now: int) -> list[Ban]:
        found = []
        for user, record in (await self._ban_records(room)).items():
            if in_force(ban_until(record), now):
                b = parse_ban(record)
                found.append(Ban(user, b.name, b.sub, b.until, b.by, b.reason, b.at))
        return sorted(found, key=lambda b: (b.at, b.user))

    async def unban(
        self, room: str, now: int, *, name: str | None = None, user: str | None = None
    ) -> int:
        wanted = None if name is None else key_of(name)
        pairs: list[str] = []
        for holder, record in (await self._ban_records(room)).items():
            if not in_force(ban_until(record), now):
                continue
            held = parse_ban(record).name  # the name the user held when banned
            if holder == user or (
                wanted is not None and held is not None and key_of(held) == wanted
            ):
                pairs += [holder, record]
        if not pairs:
            return 0
        lifted = await self._moderation_script("unban", [self.keys.bans(room)], [now, *pairs])
        return int(lifted)

    async def disconnect_subject(self, user: str) -> int:
        request = secrets.token_hex(8)
        command = "SPUBLISH" if self.sharded else "PUBLISH"
        message = control_request("disconnect", request, user)
        receivers = int(await self._cmd("disconnect", command, self.keys.control, message))
        replies = self.keys.control_replies(request)
        deadline = time.monotonic() + GATHER_S
        answers: list[Any] = []
        while time.monotonic() < deadline:
            answers = await self._cmd("disconnect", "LRANGE", replies, 0, -1)
            if len(answers) >= receivers:
                break
            await asyncio.sleep(0.02)
        await self._cmd("disconnect", "DEL", replies)
        return sum(int(a) for a in answers)


async def answer_control(client: RedisClient, keys: Keys, request: str, count: int) -> None:
    """A node's answer to a node-wide request (kept briefly: the asker reads it at once)."""
    pipe = client.pipeline(transaction=True)
    pipe.rpush(keys.control_replies(request), count)
    pipe.pexpire(keys.control_replies(request), 30_000)
    await pipe.execute()
