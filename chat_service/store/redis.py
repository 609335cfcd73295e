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
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..domain.models import Message, message_tail, typing_payload
from ..domain.validation import name_key
from ..errors import BackendUnavailable
from .base import Backlog, JoinResult, NameTaken
from .keys import Keys

logger = logging.getLogger(__name__)
T = TypeVar("T")
LatencyObserver = Callable[[str, float], None]
IDLE_TTL_MS = 7 * 24 * 3600 * 1000


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


def _load(name: str) -> str:
    return resources.files("chat_service.store").joinpath(f"lua/{name}.lua").read_text()


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
        op_timeout: float = 3.0,
        idle_ttl_ms: int = IDLE_TTL_MS,
        on_latency: LatencyObserver | None = None,
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.node_id = node_id
        self._history_size = history_size
        self._node_ttl_ms = int(node_timeout * 1000)
        self._op_timeout = op_timeout
        self._idle_ttl_ms = idle_ttl_ms
        self._on_latency = on_latency
        self._scripts = {
            name: client.register_script(_load(name))
            for name in ("join", "leave", "append", "range", "reap", "heartbeat")
        }

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

    async def join(
        self, room: str, name: str, sid: str, since: int | None, ts: int, default_history: int
    ) -> JoinResult:
        k = self.keys
        keys = [
            k.meta(room),
            k.history(room),
            k.members(room),
            k.rooms,
            k.node_members(self.node_id),
            k.channel(room),
        ]
        args = [
            room,
            name,
            name_key(name),
            sid,
            self.node_id,
            -1 if since is None else since,
            default_history,
            secrets.token_hex(6),
            ts,
        ]
        reply = await self._script("join", keys, args)
        if reply[0] == "taken":
            raise NameTaken(name)
        _, epoch, seq, joined, held_name, names, items = reply
        return JoinResult(
            name=held_name,
            joined=bool(int(joined)),
            members=list(names),
            history=[orjson.loads(i) for i in items],
            epoch=epoch,
            head=int(seq),
        )

    async def leave(self, room: str, sid: str, ts: int) -> str | None:
        k = self.keys
        keys = [
            k.meta(room),
            k.members(room),
            k.rooms,
            k.node_members(self.node_id),
            k.channel(room),
        ]
        name = await self._script("leave", keys, [room, sid, ts])
        return name if isinstance(name, str) else None

    async def append_message(self, room: str, name: str, text: str, ts: int) -> Message:
        k = self.keys
        keys = [k.meta(room), k.history(room), k.channel(room)]
        tail = message_tail(room, name, text, ts)
        args = [secrets.token_hex(6), tail, self._history_size, self._idle_ttl_ms]
        msg_id, _epoch = await self._script("append", keys, args)
        return Message(id=int(msg_id), room=room, name=name, text=text, ts=ts)

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None:
        wire = f"typing\n\n0\n{sid}\n{typing_payload(room, name, typing)}"
        channel = self.keys.channel(room)
        await self._call("publish", lambda: self.client.publish(channel, wire))

    async def _range(self, room: str, after: int, before: int | None, limit: int | None) -> Backlog:
        keys = [self.keys.meta(room), self.keys.history(room)]
        args = [after, -1 if before is None else before, -1 if limit is None else limit]
        epoch, items = await self._script("range", keys, args)
        messages = []
        for raw in items:
            msg_id = int(raw[6 : raw.index(",")])  # raw starts with '{"id":N,'
            messages.append((msg_id, raw))
        return Backlog(epoch, messages)

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]:
        backlog = await self._range(room, -1, before, limit)
        return [orjson.loads(raw) for _, raw in backlog.messages]

    async def backlog(self, room: str, after: int) -> Backlog:
        return await self._range(room, after, None, None)

    async def members(self, room: str) -> list[str]:
        key = self.keys.members(room)
        records: list[Any] = await self._call("members", lambda: self.client.hvals(key))
        return [str(rec).split("\n", 2)[2] for rec in records]

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
        keys = [self.keys.node_members(node), self.keys.nodes, self.keys.alive(node)]
        ts = int(time.time() * 1000)
        args = [self.keys.prefix, node, ts, "1" if force else "0"]
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
                logger.info("reaped dead node %s: %d members removed", node, count)
                removed += count
        return removed

    async def remove_node(self) -> int:
        return max(await self._reap(self.node_id, force=True), 0)
