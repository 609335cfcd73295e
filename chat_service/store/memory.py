"""In-memory store for a single node: same semantics as Redis, no I/O."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field

import orjson

from ..bus import MemoryBus
from ..domain.models import (
    Message,
    RoomEvent,
    message_json,
    message_tail,
    presence_payload,
    typing_payload,
)
from ..domain.validation import name_key
from .base import Backlog, JoinResult, NameTaken


@dataclass
class _Room:
    epoch: str = field(default_factory=lambda: secrets.token_hex(6))
    seq: int = 0
    history: deque[str] = field(default_factory=deque)
    members: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (sid, name)


class MemoryStore:
    """Everything in this process: the single-node backend."""

    def __init__(self, bus: MemoryBus, *, history_size: int = 100) -> None:
        self._bus = bus
        self._history_size = history_size
        self._rooms: dict[str, _Room] = {}
        self._held: dict[tuple[str, str], str] = {}  # (room, sid) -> name key

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room()
        return state

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def join(
        self, room: str, name: str, sid: str, since: int | None, ts: int, default_history: int
    ) -> JoinResult:
        state = self._room(room)
        held = self._held.get((room, sid))
        joined = held is None
        if held is not None:
            name = state.members[held][1]
        else:
            key = name_key(name)
            if key in state.members:
                raise NameTaken(name)
            state.members[key] = (sid, name)
            self._held[(room, sid)] = key
            event = RoomEvent("user_joined", state.epoch, 0, sid, presence_payload(room, name, ts))
            await self._bus.publish(room, event)
        if since is not None and since <= state.seq:
            want = min(state.seq - since, len(state.history))
            items = list(state.history)[len(state.history) - want :] if want else []
        else:
            items = list(state.history)[-default_history:]
        return JoinResult(
            name=name,
            joined=joined,
            members=[n for _, n in state.members.values()],
            history=[orjson.loads(i) for i in items],
            epoch=state.epoch,
            head=state.seq,
        )

    async def leave(self, room: str, sid: str, ts: int) -> str | None:
        key = self._held.pop((room, sid), None)
        state = self._rooms.get(room)
        if key is None or state is None:
            return None
        _, name = state.members.pop(key)
        event = RoomEvent("user_left", state.epoch, 0, sid, presence_payload(room, name, ts))
        await self._bus.publish(room, event)
        self._drop_if_empty(room, state)
        return name

    def _drop_if_empty(self, room: str, state: _Room) -> None:
        if not state.members and not state.history:
            del self._rooms[room]

    async def append_message(self, room: str, name: str, text: str, ts: int) -> Message:
        state = self._room(room)
        state.seq += 1
        raw = message_json(state.seq, message_tail(room, name, text, ts))
        state.history.append(raw)
        while len(state.history) > self._history_size:
            state.history.popleft()
        await self._bus.publish(room, RoomEvent("message", state.epoch, state.seq, "", raw))
        return Message(id=state.seq, room=room, name=name, text=text, ts=ts)

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None:
        state = self._rooms.get(room)
        if state is not None:
            payload = typing_payload(room, name, typing)
            await self._bus.publish(room, RoomEvent("typing", state.epoch, 0, sid, payload))

    def _range(self, room: str, after: int, before: int | None, limit: int | None) -> Backlog:
        state = self._rooms.get(room)
        if state is None:
            return Backlog("", [])
        first = state.seq - len(state.history) + 1
        upper = state.seq if before is None else min(state.seq, before - 1)
        lower = max(first, after + 1)
        if limit is not None:
            lower = max(lower, upper - limit + 1)
        items = list(state.history)
        picked = [(i, items[i - first]) for i in range(lower, upper + 1)]
        return Backlog(state.epoch, picked)

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]:
        return [orjson.loads(raw) for _, raw in self._range(room, -1, before, limit).messages]

    async def backlog(self, room: str, after: int) -> Backlog:
        return self._range(room, after, None, None)

    async def members(self, room: str) -> list[str]:
        state = self._rooms.get(room)
        return [] if state is None else [n for _, n in state.members.values()]

    async def rooms(self) -> list[tuple[str, int]]:
        live = [(room, len(s.members)) for room, s in self._rooms.items() if s.members]
        return sorted(live, key=lambda item: (-item[1], item[0]))

    async def heartbeat(self) -> bool:
        return True

    async def reap_dead_nodes(self) -> int:
        return 0

    async def remove_node(self) -> int:
        removed = 0
        for room, sid in list(self._held):
            if await self.leave(room, sid, int(time.time() * 1000)) is not None:
                removed += 1
        return removed
