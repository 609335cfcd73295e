"""Moderation in memory: the same rules as moderation_redis, for the single node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.moderation import in_force
from ..domain.validation import name_key as key_of
from ..errors import Banned
from .base import Ban, BanOrder, Removed
from .wire import KickedControl, RoomEvent, kicked_control, parse_kicked_control

if TYPE_CHECKING:
    from .memory import MemoryBus, _Room


KICK_RECORD_MS = 600_000  # as moderate.lua keeps its kicks key


class MemoryModeration:
    """The Moderation half of MemoryStore (mixed in; it brings rooms, seats and bus)."""

    _bus: MemoryBus
    _rooms: dict[str, _Room]
    _seats: dict[tuple[str, str], str]
    _bans: dict[str, dict[str, Ban]]  # room -> user -> ban
    _subs: dict[str, dict[str, tuple[str, int]]]  # room -> user -> (sub, kept until ms)
    _kicks: dict[str, dict[str, tuple[int, str]]]  # room -> user -> (ms, kicked control)

    if TYPE_CHECKING:  # MemoryStore's

        async def _remove_user(
            self, room: str, state: _Room, user: str, ts: int, skip: str
        ) -> None: ...

    def _refuse_banned(self, room: str, user: str, now: int) -> None:
        """Join's check, before it seats anyone."""
        ban = self._bans.get(room, {}).get(user)
        if ban is not None and in_force(ban.until, now):
            raise Banned(ban.until)

    def _settle_bans(self, room: str, now: int) -> dict[str, Ban]:
        """Drop ended bans (a room keeps only bans in force)."""
        kept = {u: b for u, b in self._bans.get(room, {}).items() if in_force(b.until, now)}
        if kept:
            self._bans[room] = kept
        else:
            self._bans.pop(room, None)
        return kept

    async def remember_subject(self, room: str, user: str, sub: str, until: int) -> None:
        subs = self._subs.setdefault(room, {})
        for other in [u for u, (_, end) in subs.items() if end <= until - 86_400_000]:
            del subs[other]  # a bound on memory: long gone users are forgotten
        subs[user] = (sub, until)

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
        state = self._rooms.get(room)
        if name_key is not None:
            user = state.names.get(name_key) if state is not None else None
        if user is None:
            return None
        held = state.users.get(user) if state is not None else None
        if ban is None and held is None:
            return None
        if ban is not None:
            known = self._subs.get(room, {}).get(user)
            sub = ban.sub if ban.sub is not None else (known[0] if known else None)
            name = held.name if held is not None else None
            record = Ban(user, name, sub, ban.until, ban.by, ban.reason, ts)
            self._bans.setdefault(room, {})[user] = record
            self._settle_bans(room, ts)
        if state is None or held is None:
            return Removed(user, None, present=False)
        seats = [s for s, u in self._seats.items() if s[0] == room and u == user]
        for seat in seats:
            del self._seats[seat]
        payload = kicked_control(user, [sid for _, sid in seats], kicked)
        kicks = self._kicks.setdefault(room, {})
        for old in [u for u, (at, _) in kicks.items() if at <= ts - KICK_RECORD_MS]:
            del kicks[old]
        kicks[user] = (ts, payload)
        event = RoomEvent("kicked", state.epoch, 0, "", payload)
        await self._bus.publish(room, event)
        await self._remove_user(room, state, user, ts, skip="")
        return Removed(user, held.name, present=True)

    async def missed_kicks(self, room: str, seats: dict[str, str]) -> dict[str, KickedControl]:
        kicks = self._kicks.get(room, {})
        found = {}
        for sid, user in seats.items():
            record = kicks.get(user)
            if (room, sid) not in self._seats and record is not None:
                control = parse_kicked_control(record[1])
                if sid in control.sids:
                    found[sid] = control
        return found

    async def bans(self, room: str, now: int) -> list[Ban]:
        return sorted(self._settle_bans(room, now).values(), key=lambda b: (b.at, b.user))

    async def unban(
        self, room: str, now: int, *, name: str | None = None, user: str | None = None
    ) -> int:
        wanted = None if name is None else key_of(name)
        bans = self._settle_bans(room, now)
        lifted = [
            u
            for u, b in bans.items()
            if u == user or (wanted is not None and b.name is not None and key_of(b.name) == wanted)
        ]
        for u in lifted:
            del bans[u]
        self._settle_bans(room, now)
        return len(lifted)

    async def disconnect_subject(self, user: str) -> int:
        return await self._bus.control("disconnect", user)
