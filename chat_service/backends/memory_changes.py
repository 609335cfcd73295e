"""Memory half of the changes people make to messages: the semantics of lua/change.lua
and lua/read.lua, in this process (mixed into MemoryStore)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.models import Message
from ..domain.validation import MAX_REACTIONS, REACTION_NAMES
from .base import DEDUPE_MS, Changed, ChangeRefused, ReadMark, ReadOutOfRange
from .wire import RoomEvent, parse_message, reactions_view, read_payload, render_message

if TYPE_CHECKING:
    from .memory import MemoryBus, Room


class MemoryChanges:
    """Edits, deletions, reactions and read positions of the memory store."""

    _rooms: dict[str, Room]
    _bus: MemoryBus

    def _target(self, room: str, msg_id: int, epoch: str | None) -> tuple[Room, Message]:
        state = self._rooms.get(room)
        raw = None if state is None or epoch not in (None, state.epoch) else state.kept(msg_id)
        if state is None or raw is None:
            raise ChangeRefused("not_found")
        return state, parse_message(raw)

    async def _store(self, room: str, state: Room, message: Message) -> Changed:
        """Write the message's next version in place and publish it."""
        msg_id = message["id"]
        message["v"] += 1
        message.pop("reactions", None)
        shown = reactions_view(state.reactions.get(msg_id, {}), REACTION_NAMES)
        if shown:
            message["reactions"] = shown  # type: ignore[typeddict-item]
        raw = render_message(message)
        state.history[msg_id - state.first] = raw
        author, client_id = state.authors.get(msg_id), message.get("client_id")
        if author is not None and client_id is not None:
            field = author + "\n" + client_id
            if field in state.sent:  # a client_id retry answers the message as it is now
                state.sent[field] = (state.sent[field][0], raw)
        await self._bus.publish(room, RoomEvent("message_updated", state.epoch, msg_id, "", raw))
        return Changed(parse_message(raw), changed=True)

    async def sent_message(self, room: str, user: str, client_id: str, now: int) -> Message | None:
        state = self._rooms.get(room)
        entry = None if state is None else state.sent.get(user + "\n" + client_id)
        if entry is None or entry[0] <= now - DEDUPE_MS:
            return None
        return parse_message(entry[1])

    async def edit_message(
        self, room: str, msg_id: int, epoch: str | None, user: str, text: str, ts: int
    ) -> Changed:
        state, message = self._target(room, msg_id, epoch)
        if message.get("deleted"):
            raise ChangeRefused("not_found")
        if state.authors.get(msg_id) != user:
            raise ChangeRefused("forbidden")
        if message["text"] == text:
            return Changed(message, changed=False)
        message["text"], message["edited"] = text, ts
        return await self._store(room, state, message)

    async def delete_message(
        self, room: str, msg_id: int, epoch: str | None, user: str | None, *, moderator: bool
    ) -> Changed:
        state, message = self._target(room, msg_id, epoch)
        if message.get("deleted"):
            return Changed(message, changed=False)
        author = state.authors.get(msg_id)
        if not moderator and (author is None or author != user):
            raise ChangeRefused("forbidden")
        tombstone: Message = {
            "id": message["id"],
            "v": message["v"],
            "room": message["room"],
            "name": message["name"],
            "text": "",
            "ts": message["ts"],
            "epoch": message["epoch"],
        }
        if message.get("system"):
            tombstone["system"] = True
        tombstone["deleted"] = True
        state.reactions.pop(msg_id, None)
        changed = await self._store(room, state, tombstone)
        if author is not None and "client_id" in message:  # the retry answers the tombstone
            field = author + "\n" + message["client_id"]
            if field in state.sent:
                state.sent[field] = (state.sent[field][0], render_message(changed.message))
        return changed

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
        state, message = self._target(room, msg_id, epoch)
        if message.get("deleted"):
            raise ChangeRefused("not_found")
        reactions = state.reactions.setdefault(msg_id, {})
        users = reactions.get(emoji, {})
        if on == (user in users):
            if not reactions:
                del state.reactions[msg_id]
            return Changed(message, changed=False)
        if on:
            if emoji not in reactions and len(reactions) >= MAX_REACTIONS:
                raise ChangeRefused("too_many")
            reactions.setdefault(emoji, {})[user] = name
        else:
            del users[user]
            if not users:
                del reactions[emoji]
        if not reactions:
            del state.reactions[msg_id]
        return await self._store(room, state, message)

    async def mark_read(
        self, room: str, user: str, name: str, position: int, *, publish: bool
    ) -> ReadMark:
        state = self._rooms.get(room)
        newest = 0 if state is None else state.seq
        if position > newest:
            raise ReadOutOfRange(newest)
        if state is None or position <= state.reads.get(user, 0):
            return ReadMark(0 if state is None else state.reads.get(user, 0), moved=False)
        state.reads[user] = position
        if publish:
            await self.publish_read(room, user, name)
        return ReadMark(position, moved=True)

    async def publish_read(self, room: str, user: str, name: str) -> None:
        state = self._rooms.get(room)
        # Only while the user still holds its name: not after it left or was kicked.
        if state is not None and user in state.reads and user in state.users:
            payload = read_payload(room, name, state.reads[user])
            await self._bus.publish(room, RoomEvent("read", state.epoch, 0, "", payload))
