"""Redis store: every multi-key write is one Lua script, every key from keys.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from ..domain.models import Message
from ..domain.validation import name_key
from ..errors import BackendUnavailable
from .base import DEDUPE_MS, Appended, Backlog, Departure, JoinResult, NameTaken
from .keys import Keys
from .wire import (
    RoomEvent,
    message_body,
    message_id,
    name_record,
    parse_message,
    record_name,
    split_pair,
    typing_payload,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
LatencyObserver = Callable[[str, float], None]
IDLE_TTL_MS = 7 * 24 * 3600 * 1000
DEDUPE_MAX = 50_000  # client_ids remembered per room: a bound on memory past 5 minutes
SCRIPTS = ("join", "leave", "expire", "restore", "append", "range", "reap", "heartbeat")
SEATING = frozenset({"join", "leave", "expire", "restore", "reap"})


def make_client(url: str, *, timeout: float = 2.0, max_connections: int = 64) -> Redis:
    """A client that fails fast and notices half-open connections.

    The pool blocks (up to `timeout`) when all its connections are busy, instead of
    redis-py's default of failing past 100 commands in flight.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=5,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
    )
    return Redis(connection_pool=pool)


def load_script(name: str) -> str:
    """A script's source; those that seat or unseat get the shared presence rules first."""
    lua = resources.files("chat_service.backends").joinpath("lua")
    source = lua.joinpath(f"{name}.lua").read_text()
    if name in SEATING:
        source = lua.joinpath("presence.lua").read_text() + "\n" + source
    return source


def _names(raw: list[Any]) -> list[str]:
    return [str(orjson.loads(item)) for item in raw]


class RedisStore:
    """The cluster store. Redis errors and timeouts become `unavailable`."""

    def __init__(
        self,
        client: Redis,
        *,
        node_id: str,
        prefix: str = "chat:",
        history_size: int = 100,
        node_timeout: float = 15.0,
        presence_grace: float = 5.0,
        op_timeout: float = 3.0,
        idle_ttl_ms: int = IDLE_TTL_MS,
        on_latency: LatencyObserver | None = None,
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.node_id = node_id
        self._history_size = history_size
        self._node_ttl_ms = int(node_timeout * 1000)
        self._grace_ms = int(presence_grace * 1000)
        self._op_timeout = op_timeout
        self._idle_ttl_ms = idle_ttl_ms
        self._on_latency = on_latency
        self._scripts = {name: client.register_script(load_script(name)) for name in SCRIPTS}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(make(), self._op_timeout)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("redis %s failed: %s", op, exc.__class__.__name__)
            raise BackendUnavailable() from exc
        finally:
            if self._on_latency is not None:
                self._on_latency(op, time.perf_counter() - started)

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        return await self._call(name, lambda: script(keys=keys, args=args))

    async def ping(self) -> None:
        await self._call("ping", self.client.ping)

    def _seating_keys(self, room: str) -> list[str]:
        return [*self.keys.presence_keys(room), self.keys.node_seats(self.node_id)]

    async def join(
        self,
        room: str,
        user: str,
        name: str,
        sid: str,
        since: int | None,
        epoch: str | None,
        ts: int,
        default_history: int,
    ) -> JoinResult:
        k = self.keys
        keys = [*k.presence_keys(room), k.history(room), k.node_seats(self.node_id)]
        args = [
            room,
            user,
            name_record(user, name),
            name_key(name),
            sid,
            -1 if since is None else since,
            epoch or "",
            default_history,
            secrets.token_hex(6),
            ts,
        ]
        reply = await self._script("join", keys, args)
        if reply[0] == "taken":
            raise NameTaken(name)
        _, room_epoch, seq, seated, announced, held, names, items, reset = reply
        return JoinResult(
            name=str(orjson.loads(held)),
            seated=bool(int(seated)),
            announced=bool(int(announced)),
            members=_names(names),
            history=[parse_message(i) for i in items],
            epoch=room_epoch,
            head=int(seq),
            reset=bool(int(reset)),
        )

    async def leave(self, room: str, sid: str, ts: int, *, grace: bool) -> Departure | None:
        grace_ms = self._grace_ms if grace else 0
        reply = await self._script("leave", self._seating_keys(room), [room, sid, ts, grace_ms])
        if not reply:
            return None
        name_json, state, deadline = reply
        return Departure(
            name=str(orjson.loads(name_json)),
            gone=state == "gone",
            lingering_until=int(deadline) if state == "linger" else None,
        )

    async def restore(self, room: str, user: str, name: str, sid: str) -> bool:
        args = [room, user, name_record(user, name), name_key(name), sid]
        return bool(await self._script("restore", self._seating_keys(room), args) == "ok")

    async def expire_lingering(self, now: int) -> int:
        key = self.keys.lingering
        due: list[Any] = await self._call(
            "lingering", lambda: self.client.zrangebyscore(key, "-inf", now, start=0, num=200)
        )
        left = 0
        for member in due:
            room, user = split_pair(str(member))
            keys = self.keys.presence_keys(room)
            left += int(await self._script("expire", keys, [room, user, now]))
        return left

    async def append_message(
        self, room: str, name: str, text: str, ts: int, client_id: str | None
    ) -> Appended:
        k = self.keys
        keys = [k.meta(room), k.history(room), k.channel(room), k.sent(room), k.sent_at(room)]
        dedupe = "" if client_id is None else name_key(name) + "\n" + client_id
        args = [
            secrets.token_hex(6),
            message_body(room, name, text, ts, client_id),
            self._history_size,
            self._idle_ttl_ms,
            dedupe,
            ts,
            DEDUPE_MS,
            DEDUPE_MAX,
        ]
        stored, raw = await self._script("append", keys, args)
        return Appended(parse_message(raw), duplicate=not int(stored))

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None:
        wire = RoomEvent("typing", "", 0, sid, typing_payload(room, name, typing)).encode()
        channel = self.keys.channel(room)
        await self._call("publish", lambda: self.client.publish(channel, wire))

    async def _range(self, room: str, after: int, before: int | None, limit: int | None) -> Backlog:
        keys = [self.keys.meta(room), self.keys.history(room)]
        args = [after, -1 if before is None else before, -1 if limit is None else limit]
        epoch, items = await self._script("range", keys, args)
        return Backlog(epoch, [(message_id(raw), raw) for raw in items])

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]:
        backlog = await self._range(room, -1, before, limit)
        return [parse_message(raw) for _, raw in backlog.messages]

    async def backlog(self, room: str, after: int) -> Backlog:
        return await self._range(room, after, None, None)

    async def members(self, room: str) -> list[str]:
        key = self.keys.names(room)
        records: list[Any] = await self._call("members", lambda: self.client.hvals(key))
        return [record_name(str(rec)) for rec in records]

    async def rooms(self) -> list[tuple[str, int]]:
        key = self.keys.rooms
        pairs: list[Any] = await self._call(
            "rooms", lambda: self.client.zrangebyscore(key, 1, "+inf", withscores=True)
        )
        live = [(str(room), int(score)) for room, score in pairs]
        return sorted(live, key=lambda item: (-item[1], item[0]))

    async def heartbeat(self) -> bool:
        keys = [self.keys.nodes, self.keys.alive(self.node_id)]
        known = await self._script("heartbeat", keys, [self.node_id, self._node_ttl_ms])
        return bool(int(known))

    async def _reap(self, node: str, force: bool) -> int:
        k = self.keys
        keys = [k.node_seats(node), k.nodes, k.alive(node), k.rooms, k.lingering]
        ts = int(time.time() * 1000)
        args = [k.prefix, node, ts, "1" if force else "0", self._grace_ms]
        return int(await self._script("reap", keys, args))

    async def reap_dead_nodes(self) -> int:
        key = self.keys.nodes
        nodes: set[Any] = await self._call("nodes", lambda: self.client.smembers(key))
        removed = 0
        for node in sorted(str(n) for n in nodes):
            if node == self.node_id:
                continue
            count = await self._reap(node, force=False)
            if count >= 0:
                logger.info("reaped dead node %s: %d connections unseated", node, count)
                removed += count
        return removed

    async def remove_node(self) -> int:
        return max(await self._reap(self.node_id, force=True), 0)
