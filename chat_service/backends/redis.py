"""Redis store: every multi-key write is one Lua script, every key from keys.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, NoReturn, TypeVar

import orjson
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from ..domain.models import Message
from ..domain.users import user_for_api
from ..domain.validation import name_key
from ..errors import BackendFull, BackendUnavailable, Banned
from .base import (
    DEDUPE_MS,
    Appended,
    Backlog,
    ChangeRefused,
    Departure,
    JoinResult,
    NameTaken,
)
from .keys import Keys
from .moderation_redis import RedisModeration
from .redis_changes import RedisChanges
from .redis_clients import RedisClient, is_cluster
from .redis_gate import CallGate
from .redis_memory import FullObserver, MemoryWatch, is_out_of_memory
from .wire import (
    AppendScriptReply,
    JoinScriptReply,
    RangeScriptReply,
    RoomEvent,
    message_body,
    name_record,
    parse_message,
    record_names,
    typing_payload,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
LatencyObserver = Callable[[str, float], None]
IDLE_TTL_MS = 7 * 24 * 3600 * 1000
DEDUPE_MAX = 50_000  # client_ids remembered per room: a bound on memory past 5 minutes
SCRIPTS = ("join", "leave", "expire", "restore", "append", "range", "reap", "change", "read")
SEATING = frozenset({"join", "leave", "expire", "restore", "reap"})
STARTING = frozenset({"join"})  # may start a room's history: lua/room.lua (append inlines it)
REAP_BATCH = 200  # rooms a sweep handles per call: a bound on one sweep's duration
# Calls whose success proves Redis has memory again (reads succeed while it is full).
NEEDS_MEMORY = frozenset({"heartbeat"})


def load_script(name: str, *, sharded: bool = False) -> str:
    """A script's source; those that seat or unseat get the shared presence rules first.

    On Redis Cluster room events go out with SPUBLISH (sharded pub/sub: delivered by the
    shard that owns the room's slot, not broadcast to every shard).
    """
    lua = resources.files("chat_service.backends").joinpath("lua")
    source = lua.joinpath(f"{name}.lua").read_text()
    if name in STARTING:
        source = lua.joinpath("room.lua").read_text() + "\n" + source
    if name in SEATING:
        source = lua.joinpath("presence.lua").read_text() + "\n" + source
    command = "SPUBLISH" if sharded else "PUBLISH"
    return f"local PUBLISH = '{command}'\n" + source


class RedisStore(RedisChanges, RedisModeration):
    """The cluster store. Redis errors and timeouts become `unavailable`.

    Every script touches the keys of one room only (one Cluster slot). The global
    indexes (rooms with users, rooms with lingering users, a node's rooms) are kept from
    Python around the scripts, always adding after a room gains an entry and removing
    then re-checking, so a concurrent change is never lost from an index.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        node_id: str,
        prefix: str = "chat:",
        history_size: int = 100,
        node_timeout: float = 15.0,
        presence_grace: float = 5.0,
        op_timeout: float = 3.0,
        idle_ttl_ms: int = IDLE_TTL_MS,
        min_replicas: int = 0,
        on_latency: LatencyObserver | None = None,
        on_full: FullObserver | None = None,
    ) -> None:
        self.client = client
        self.sharded = is_cluster(client)
        self.keys = Keys(prefix)
        self.node_id = node_id
        self._history_size = history_size
        self._node_ttl_ms = int(node_timeout * 1000)
        self._grace_ms = int(presence_grace * 1000)
        self._op_timeout = op_timeout
        self._idle_ttl_ms = idle_ttl_ms
        self.min_replicas = min_replicas
        # WAIT gives up well inside the operation timeout, so the sender hears `unavailable`
        # (and retries with its client_id) rather than a timeout.
        self._wait_ms = max(int(op_timeout * 1000 / 2), 1)
        self._on_latency = on_latency
        self.memory = MemoryWatch(on_full)
        self.gate = CallGate()
        self._scripts = {
            name: client.register_script(load_script(name, sharded=self.sharded))
            for name in SCRIPTS
        }

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T:
        async with self.gate:  # waits its turn while the node is busy (redis_gate.py)
            started = time.perf_counter()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every command
                # in a task of its own (one per chat message sent, in the profile at 20,000/s).
                async with asyncio.timeout(self._op_timeout):
                    result = await make()
            except RedisError as exc:
                if is_out_of_memory(exc):  # Redis answers, but will not store
                    self.memory.refused(op)  # logged once by the watch, not once per call
                    raise BackendFull() from exc
                self._failed(op, exc)
            except (TimeoutError, OSError) as exc:
                self._failed(op, exc)
            finally:
                if self._on_latency is not None:
                    self._on_latency(op, time.perf_counter() - started)
        self.gate.succeeded()
        if op in NEEDS_MEMORY:
            self.memory.stored()
        return result

    def _failed(self, op: str, exc: BaseException) -> NoReturn:
        logger.warning("redis %s failed: %s", op, exc.__class__.__name__)
        self.gate.failed()
        raise BackendUnavailable() from exc

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        return await self._call(name, lambda: script(keys=keys, args=args))

    async def _cmd(self, op: str, *args: Any) -> Any:
        return await self._call(op, lambda: self.client.execute_command(*args))

    async def ping(self) -> None:
        await self._call("ping", self.client.ping)

    def _seating_keys(self, room: str, node: str | None = None) -> list[str]:
        return [*self.keys.presence_keys(room), self.keys.conns(room, node or self.node_id)]

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
        # Listed among our rooms before the seat exists: a reaper can always find it.
        await self._cmd("join", "SADD", k.node_rooms(self.node_id), room)
        keys = [
            *k.presence_keys(room),
            k.history(room),
            k.conns(room, self.node_id),
            k.changed(room),
            k.reactions(room),
            k.bans(room),
        ]
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
            self._idle_ttl_ms,
        ]
        reply = JoinScriptReply.parse(await self._script("join", keys, args))
        if reply.taken:
            raise NameTaken(name)
        if reply.banned:
            raise Banned(reply.ban_until)
        if reply.announced:  # the room may have had no users: list it (after the seat)
            await self._cmd("join", "SADD", k.rooms, room)
        return JoinResult(
            name=reply.name,
            seated=reply.seated,
            announced=reply.announced,
            members=reply.members,
            history=[parse_message(i) for i in reply.history],
            epoch=reply.epoch,
            head=reply.head,
            reset=reply.reset,
            updated=[parse_message(i) for i in reply.updated],
            last_read=reply.last_read,
            reads=reply.reads,
        )

    async def leave(self, room: str, sid: str, ts: int, *, grace: bool) -> Departure | None:
        grace_ms = self._grace_ms if grace else 0
        reply = await self._script("leave", self._seating_keys(room), [room, sid, ts, grace_ms])
        if not reply:
            return None
        name_json, state, deadline, left_here = reply
        if state == "linger":
            await self._note_lingering(room, int(deadline))
        if int(left_here) == 0:
            await self._forget_node_room(room)
        return Departure(
            name=str(orjson.loads(name_json)),
            gone=state == "gone",
            lingering_until=int(deadline) if state == "linger" else None,
        )

    async def _note_lingering(self, room: str, deadline: int) -> None:
        """After the script: the sweep will look at the room by this deadline (an earlier
        one already noted stays)."""
        await self._cmd("lingering", "ZADD", self.keys.lingering, "NX", deadline, room)

    async def _forget_node_room(self, room: str) -> None:
        """We hold no connection in the room any more: drop it from our rooms, then put it
        back if a join of ours seated one meanwhile."""
        key = self.keys.node_rooms(self.node_id)
        await self._cmd("leave", "SREM", key, room)
        if int(await self._cmd("leave", "HLEN", self.keys.conns(room, self.node_id))):
            await self._cmd("leave", "SADD", key, room)

    async def restore(self, room: str, user: str, name: str, sid: str) -> bool:
        await self._cmd("restore", "SADD", self.keys.node_rooms(self.node_id), room)
        args = [room, user, name_record(user, name), name_key(name), sid]
        restored = await self._script("restore", self._seating_keys(room), args) == "ok"
        if restored:
            await self._cmd("restore", "SADD", self.keys.rooms, room)
        return bool(restored)

    async def expire_lingering(self, now: int) -> int:
        index = self.keys.lingering
        due: list[Any] = await self._cmd(
            "lingering", "ZRANGEBYSCORE", index, "-inf", now, "LIMIT", 0, REAP_BATCH
        )
        left = 0
        for room in (str(r) for r in due):
            gone, following = await self._script(
                "expire", self.keys.presence_keys(room), [room, now]
            )
            left += int(gone)
            await self._reindex_lingering(room, int(following))
        return left

    async def _reindex_lingering(self, room: str, following: int) -> None:
        """Point the index at the room's next deadline; with none left, remove the room
        and then look again, so a user who began lingering meanwhile is not missed."""
        index = self.keys.lingering
        if following >= 0:
            await self._cmd("lingering", "ZADD", index, following, room)
            return
        await self._cmd("lingering", "ZREM", index, room)
        first: list[Any] = await self._cmd(
            "lingering", "ZRANGE", self.keys.room_lingering(room), 0, 0, "WITHSCORES"
        )
        if first:
            await self._cmd("lingering", "ZADD", index, int(float(first[1])), room)

    async def append_message(
        self,
        room: str,
        name: str,
        text: str,
        ts: int,
        client_id: str | None,
        *,
        user: str | None = None,
        reply_to: int | None = None,
        system: bool = False,
    ) -> Appended:
        k = self.keys
        keys = [
            k.meta(room),
            k.history(room),
            k.channel(room),
            k.sent(room),
            k.sent_at(room),
            k.reactions(room),
            k.changed(room),
            k.reads(room),
        ]
        owner = user if user is not None else user_for_api(name_key(name))
        dedupe = "" if client_id is None else owner + "\n" + client_id
        args = [
            secrets.token_hex(6),
            message_body(room, name, text, ts, client_id, reply_to, system),
            self._history_size,
            self._idle_ttl_ms,
            dedupe,
            ts,
            DEDUPE_MS,
            DEDUPE_MAX,
            owner,
            reply_to or 0,
        ]
        if self.min_replicas > 0:
            raw_reply = await self._call("append", lambda: self._append_replicated(keys, args))
        else:
            raw_reply = await self._script("append", keys, args)
        reply = AppendScriptReply.parse(raw_reply)
        if reply.status == "no_target":
            raise ChangeRefused("not_found")
        return Appended(parse_message(reply.raw), duplicate=reply.status == "duplicate")

    async def _append_replicated(self, keys: list[str], args: list[Any]) -> Any:
        """The append, then WAIT on the same connection (WAIT counts the replicas holding
        this connection's writes). Too few replicas in time: `unavailable`, and the
        sender's retry with its client_id is answered from the stored message."""
        script = self._scripts["append"]
        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            wait = ("WAIT", self.min_replicas, self._wait_ms)
            if isinstance(self.client, RedisCluster):
                node = self.client.get_node_from_key(keys[0])
                pipe.execute_command(*wait, target_nodes=node)
            else:
                pipe.execute_command(*wait)
            reply, acked = await pipe.execute(raise_on_error=False)
            if isinstance(reply, NoScriptError) and attempt == 1:
                await self.client.script_load(script.script)  # a new master after failover
                continue
            if isinstance(reply, Exception):
                raise reply
            if isinstance(acked, Exception):
                raise acked
            if int(acked) < self.min_replicas:
                logger.warning("WAIT: %s of %d replicas acknowledged", acked, self.min_replicas)
                raise BackendUnavailable()
            return reply
        raise BackendUnavailable()

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None:
        wire = RoomEvent("typing", "", 0, sid, typing_payload(room, name, typing)).encode()
        command = "SPUBLISH" if self.sharded else "PUBLISH"
        await self._cmd("publish", command, self.keys.channel(room), wire)

    async def _range(
        self, room: str, after: int, before: int | None, limit: int | None, changed: bool
    ) -> RangeScriptReply:
        k = self.keys
        keys = [k.meta(room), k.history(room), k.changed(room)]
        bounds = [after, -1 if before is None else before, -1 if limit is None else limit]
        return RangeScriptReply.parse(
            await self._script("range", keys, [*bounds, 1 if changed else 0])
        )

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]:
        reply = await self._range(room, -1, before, limit, changed=False)
        return [parse_message(raw) for _, raw in reply.messages]

    async def backlog(self, room: str, after: int) -> Backlog:
        reply = await self._range(room, after, None, None, changed=True)
        return Backlog(reply.epoch, reply.messages, reply.changed)

    async def members(self, room: str) -> list[str]:
        records: list[Any] = await self._cmd("members", "HVALS", self.keys.names(room))
        return record_names(records)

    async def _count_users(self, rooms: list[str]) -> list[int]:
        """Users listed per room, in one pipeline (per shard on Cluster)."""
        if not rooms:
            return []
        pipe = self.client.pipeline(transaction=False)
        for room in rooms:
            pipe.hlen(self.keys.users(room))
        counts: list[Any] = await self._call("rooms", pipe.execute)
        return [int(n) for n in counts]

    async def rooms(self) -> list[tuple[str, int]]:
        listed = sorted(str(r) for r in await self._cmd("rooms", "SMEMBERS", self.keys.rooms))
        counts = await self._count_users(listed)
        empty = [room for room, n in zip(listed, counts, strict=True) if n == 0]
        if empty:  # remove, then put back any a join filled meanwhile
            await self._cmd("rooms", "SREM", self.keys.rooms, *empty)
            refilled = [r for r, n in zip(empty, await self._count_users(empty), strict=True) if n]
            if refilled:
                await self._cmd("rooms", "SADD", self.keys.rooms, *refilled)
        live = [(room, n) for room, n in zip(listed, counts, strict=True) if n > 0]
        return sorted(live, key=lambda item: (-item[1], item[0]))

    async def heartbeat(self) -> bool:
        alive = self.keys.alive(self.node_id)
        try:
            added = await self._cmd("heartbeat", "SADD", self.keys.nodes, self.node_id)
            await self._cmd("heartbeat", "SET", alive, "1", "PX", self._node_ttl_ms)
        except BackendFull:
            # A full Redis refuses SADD and SET but not PEXPIRE: keep the alive key, so
            # the peers do not reap (and unseat) a node that can only not store.
            if not int(await self._cmd("alive", "PEXPIRE", alive, self._node_ttl_ms)):
                raise
            return True
        return not int(added)

    async def _reap(self, node: str, force: bool) -> int:
        """Unseat a node's connections room by room (each room one script, one slot),
        then drop the node. Two reapers at once unseat each connection once."""
        k = self.keys
        if not force and int(await self._cmd("reap", "EXISTS", k.alive(node))):
            return -1
        ts = int(time.time() * 1000)
        removed = 0
        rooms: list[Any] = await self._cmd("reap", "SMEMBERS", k.node_rooms(node))
        for room in sorted(str(r) for r in rooms):
            keys = self._seating_keys(room, node)
            count, deadline = await self._script("reap", keys, [room, ts, self._grace_ms])
            removed += int(count)
            if int(deadline) >= 0:
                await self._note_lingering(room, int(deadline))
        await self._cmd("reap", "DEL", k.node_rooms(node))
        dropped = int(await self._cmd("reap", "SREM", k.nodes, node))
        if not (dropped or removed or force):
            return -1  # another reaper got there first
        return removed

    async def reap_dead_nodes(self) -> int:
        nodes: list[Any] = await self._cmd("nodes", "SMEMBERS", self.keys.nodes)
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
