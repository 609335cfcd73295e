"""The single-node backend: the same semantics as Redis, kept in this process."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from ..domain.joiners import message_version
from ..domain.models import Message
from ..domain.users import is_connection_user, user_for_api
from ..domain.validation import name_key
from .base import (
    DEDUPE_MS,
    Appended,
    Backlog,
    ChangeRefused,
    ControlHandler,
    Departure,
    EventHandler,
    JoinResult,
    NameTaken,
    ResubscribeHandler,
)
from .memory_changes import MemoryChanges
from .moderation_memory import MemoryModeration
from .wire import (
    RoomEvent,
    current,
    is_deleted,
    message_body,
    message_id,
    message_json,
    parse_message,
    presence_payload,
    typing_payload,
)

DEDUPE_MAX = 50_000  # per room: a bound on memory past the 5 minutes


class MemoryBus:
    """Delivers a room's events inline, in the order the store publishes them."""

    def __init__(self) -> None:
        self._rooms: set[str] = set()
        self._on_event: EventHandler | None = None
        self._on_control: ControlHandler | None = None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    @property
    def reconnects(self) -> int:
        return 0  # nothing to lose: it never disconnects

    def set_handlers(self, on_event: EventHandler, on_resubscribed: ResubscribeHandler) -> None:
        self._on_event = on_event

    def set_control_handler(self, on_control: ControlHandler) -> None:
        self._on_control = on_control

    async def control(self, kind: str, argument: str) -> int:
        """A node-wide request: this process is the only node."""
        return 0 if self._on_control is None else await self._on_control(kind, argument)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._rooms.clear()

    async def subscribe(self, room: str) -> None:
        self._rooms.add(room)

    async def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)

    async def publish(self, room: str, event: RoomEvent) -> None:
        if room in self._rooms and self._on_event is not None:
            await self._on_event(room, event)


@dataclass
class User:
    name: str
    seats: int = 0
    lingering_until: int | None = None


@dataclass
class Room:
    epoch: str = field(default_factory=lambda: secrets.token_hex(6))
    seq: int = 0
    history: deque[str] = field(default_factory=deque)
    names: dict[str, str] = field(default_factory=dict)  # name key -> user
    users: dict[str, User] = field(default_factory=dict)
    sent: OrderedDict[str, tuple[int, str]] = field(default_factory=OrderedDict)
    authors: dict[int, str] = field(default_factory=dict)  # kept id -> user
    reactions: dict[int, dict[str, dict[str, str]]] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)  # user -> read position

    @property
    def first(self) -> int:
        return self.seq - len(self.history) + 1

    def kept(self, msg_id: int) -> str | None:
        """A kept message's JSON, or None."""
        if not self.first <= msg_id <= self.seq:
            return None
        return self.history[msg_id - self.first]

    def changed(self, upto: int | None = None) -> list[str]:
        """Kept messages with v > 0 (and id <= upto), oldest first."""
        last = self.seq if upto is None else min(upto, self.seq)
        found = [self.history[i - self.first] for i in range(self.first, last + 1)]
        return [raw for raw in found if message_version(raw) > 0]


class MemoryStore(MemoryChanges, MemoryModeration):
    """Everything in this process: the single-node backend."""

    def __init__(
        self, bus: MemoryBus, *, history_size: int = 100, presence_grace: float = 5.0
    ) -> None:
        self._bus = bus
        self._history_size = history_size
        self._grace_ms = int(presence_grace * 1000)
        self._rooms: dict[str, Room] = {}
        self._seats: dict[tuple[str, str], str] = {}  # (room, sid) -> user
        self._bans = {}
        self._subs = {}
        self._kicks = {}

    def _room(self, room: str) -> Room:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = Room()
        return state

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

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
        self._refuse_banned(room, user, ts)
        state = self._room(room)
        seated_user = self._seats.get((room, sid))
        seated = announced = False
        if seated_user is not None and seated_user in state.users:
            held = state.users[seated_user]
        elif user in state.users:
            held = state.users[user]
            held.seats += 1
            held.lingering_until = None
            self._seats[(room, sid)] = user
            seated = True
        else:
            key = name_key(name)
            if key in state.names:
                self._drop_if_empty(room, state)
                raise NameTaken(name)
            held = state.users[user] = User(name, seats=1)
            state.names[key] = user
            self._seats[(room, sid)] = user
            seated = announced = True
            await self._publish(room, state, "user_joined", sid, presence_payload(room, name, ts))
        reset = since is not None and (
            (epoch is not None and epoch != state.epoch) or (epoch is None and since > state.seq)
        )
        updated: list[str] = []
        if since is not None and not reset:
            want = min(state.seq - since, len(state.history))
            items = list(state.history)[len(state.history) - want :] if want else []
            updated = state.changed(upto=since)
        else:
            items = list(state.history)[-default_history:]
        holder = seated_user if seated_user is not None and seated_user in state.users else user
        return JoinResult(
            name=held.name,
            seated=seated,
            announced=announced,
            members=[u.name for u in state.users.values()],
            history=[parse_message(i) for i in items],
            epoch=state.epoch,
            head=state.seq,
            reset=reset,
            updated=[parse_message(i) for i in updated],
            last_read=state.reads.get(holder, 0),
            reads={
                u.name: state.reads[uid] for uid, u in state.users.items() if uid in state.reads
            },
        )

    async def _publish(self, room: str, state: Room, kind: str, skip: str, payload: str) -> None:
        await self._bus.publish(room, RoomEvent(kind, state.epoch, 0, skip, payload))

    async def leave(self, room: str, sid: str, ts: int, *, grace: bool) -> Departure | None:
        user = self._seats.pop((room, sid), None)
        state = self._rooms.get(room)
        if user is None or state is None or user not in state.users:
            return None
        held = state.users[user]
        held.seats = max(held.seats - 1, 0)
        if held.seats:
            return Departure(held.name, gone=False, lingering_until=None)
        if grace and self._grace_ms > 0:
            held.lingering_until = ts + self._grace_ms
            return Departure(held.name, gone=False, lingering_until=held.lingering_until)
        await self._remove_user(room, state, user, ts, skip=sid)
        return Departure(held.name, gone=True, lingering_until=None)

    async def _remove_user(self, room: str, state: Room, user: str, ts: int, skip: str) -> None:
        held = state.users.pop(user)
        state.names.pop(name_key(held.name), None)
        if is_connection_user(user):  # never comes back: its read position goes with it
            state.reads.pop(user, None)
        await self._publish(room, state, "user_left", skip, presence_payload(room, held.name, ts))
        self._drop_if_empty(room, state)

    def _drop_if_empty(self, room: str, state: Room) -> None:
        if not state.users and not state.history and not state.sent:
            del self._rooms[room]

    async def restore(self, room: str, user: str, name: str, sid: str) -> bool:
        return (room, sid) in self._seats  # this backend never loses its data

    async def expire_lingering(self, now: int) -> int:
        due = [
            (room, user)
            for room, state in self._rooms.items()
            for user, held in state.users.items()
            if held.seats == 0 and held.lingering_until is not None and held.lingering_until <= now
        ]
        for room, user in due:
            await self._remove_user(room, self._rooms[room], user, now, skip="")
        return len(due)

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
        state = self._room(room)
        owner = user if user is not None else user_for_api(name_key(name))
        dedupe = None
        if client_id is not None:
            self._forget_sent(state, ts)
            dedupe = owner + "\n" + client_id
            first = state.sent.get(dedupe)
            if first is not None:
                return Appended(parse_message(first[1]), duplicate=True)
        if reply_to is not None:
            target = state.kept(reply_to)
            if target is None or is_deleted(target):
                self._drop_if_empty(room, state)
                raise ChangeRefused("not_found")
        state.seq += 1
        body = message_body(room, name, text, ts, client_id, reply_to, system)
        raw = message_json(state.seq, body, state.epoch)
        state.history.append(raw)
        state.authors[state.seq] = owner
        while len(state.history) > self._history_size:
            state.history.popleft()
            gone = state.first - 1
            state.authors.pop(gone, None)
            state.reactions.pop(gone, None)
        if dedupe is not None:
            state.sent[dedupe] = (ts, raw)
        await self._bus.publish(room, RoomEvent("message", state.epoch, state.seq, "", raw))
        return Appended(parse_message(raw), duplicate=False)

    @staticmethod
    def _forget_sent(state: Room, now: int) -> None:
        sent = state.sent
        while sent and (len(sent) >= DEDUPE_MAX or next(iter(sent.values()))[0] <= now - DEDUPE_MS):
            sent.popitem(last=False)

    async def publish_typing(self, room: str, name: str, sid: str, typing: bool) -> None:
        state = self._rooms.get(room)
        if state is not None:
            await self._publish(room, state, "typing", sid, typing_payload(room, name, typing))

    def _range(self, room: str, after: int, before: int | None, limit: int | None) -> Backlog:
        state = self._rooms.get(room)
        if state is None:
            return Backlog("", [], [])
        first = state.seq - len(state.history) + 1
        upper = state.seq if before is None else min(state.seq, before - 1)
        lower = max(first, after + 1)
        if limit is not None:
            lower = max(lower, upper - limit + 1)
        items = list(state.history)
        picked = [(i, current(items[i - first])) for i in range(lower, upper + 1)]
        changed = [(message_id(raw), message_version(raw), raw) for raw in state.changed()]
        return Backlog(state.epoch, picked, changed)

    async def history(self, room: str, before: int | None, limit: int) -> list[Message]:
        return [parse_message(raw) for _, raw in self._range(room, -1, before, limit).messages]

    async def backlog(self, room: str, after: int) -> Backlog:
        return self._range(room, after, None, None)

    async def members(self, room: str) -> list[str]:
        state = self._rooms.get(room)
        return [] if state is None else [u.name for u in state.users.values()]

    async def rooms(self) -> list[tuple[str, int]]:
        live = [(room, len(s.users)) for room, s in self._rooms.items() if s.users]
        return sorted(live, key=lambda item: (-item[1], item[0]))

    async def heartbeat(self) -> bool:
        return True

    async def reap_dead_nodes(self) -> int:
        return 0

    async def remove_node(self) -> int:
        removed = 0
        now = int(time.time() * 1000)
        for room, sid in list(self._seats):
            if await self.leave(room, sid, now, grace=True) is not None:
                removed += 1
        return removed
