"""Every Redis key and channel name, in one place, under a configurable prefix.

All keys of a room carry the hash tag `{room}`, so on Redis Cluster they share one slot
and each room script runs on one shard. No script touches keys of two rooms, nor a room
and a global key: the global indexes below are kept from Python, in an order that
never loses an entry (see redis.py).

| key | type | contents | expiry |
| --- | --- | --- | --- |
| `{p}room:{room}:meta` | hash | `seq`, `epoch`, `a{id}` (sender), `refreshed` (append.lua) | idle |
| `{p}room:{room}:history` | list | message JSON, current state, oldest first, newest N | idle TTL |
| `{p}room:{room}:reactions` | hash | message id -> its reactions by user (cjson) | idle TTL |
| `{p}room:{room}:changed` | zset | ids of kept messages with v > 0 (score = id) | idle TTL |
| `{p}room:{room}:reads` | hash | user -> read position (of the current epoch) | idle TTL |
| `{p}room:{room}:names` | hash | name key (validation.name_key) -> `user\\nname_json` | none |
| `{p}room:{room}:users` | hash | user -> name key | none |
| `{p}room:{room}:seats` | hash | user -> number of its connections in the room | none |
| `{p}room:{room}:lingering` | zset | user -> ms when its presence grace ends | none |
| `{p}room:{room}:on:{node}` | hash | sid -> user: a node's connections in the room | none |
| `{p}room:{room}:sent` | hash | `user\\nclient_id` -> first message, current state | 6 min idle |
| `{p}room:{room}:sent_at` | zset | `user\\nclient_id` -> ms it was stored | 6 min idle |
| `{p}room:{room}:bans` | hash | user -> ban record (`wire.ban_record`) | latest ban's end [1] |
| `{p}room:{room}:kicks` | hash | user -> its latest `kicked` event JSON | 10 min |
| `{p}room:{room}:subs` | hash | user -> its token `sub` (JSON), for `bans` | token lifetime |
| `{p}room:{room}:events` | channel | room events (`wire.RoomEvent`), sharded on Cluster | - |
| `{p}room-index` | set | rooms that may have users (counts are read per room) | none |
| `{p}lingering` | zset | room -> earliest end of a presence grace in it | none |
| `{p}nodes` | set | ids of registered nodes | none |
| `{p}node:{node}:alive` | string | "1" while the node heartbeats | node timeout |
| `{p}node:{node}:rooms` | set | rooms where the node may hold connections | none |
| `{p}control` | channel | node-control requests (`wire.control_request`) to every node | - |
| `{p}control:{request}` | list | each node's answer to one request | 30 s |

[1] None while a ban lasts until unban: the key lives exactly as long as a ban in force.

A user is the digest of a join `key`, of a token's `sub`, the server API under a name,
or a lone connection (`domain.users`). Keys without an expiry (names, users, seats,
lingering, a node's connections) are emptied, and so deleted, when the room's last user
leaves; every other room key is written with the idle TTL (history, reactions and
changes renewed together by each join and message), so an abandoned room leaves
nothing behind for good. A new epoch deletes what an older one left (history, reactions,
changed, reads). Authors (`a{id}`: the user that sent kept message id) live in meta, not
a key of their own: an append then costs one more command, not three (a field, its trim
and an expiry). Room names are letters, digits, `_` and `-`, so `{room}` is always a
well-formed hash tag.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOM_KEY_KINDS = (
    "meta",
    "history",
    "names",
    "users",
    "seats",
    "lingering",
    "sent",
    "sent_at",
    "events",
    "reactions",
    "changed",
    "reads",
    "bans",
    "kicks",
    "subs",
)


@dataclass(frozen=True)
class Keys:
    prefix: str

    def room_key(self, room: str, kind: str) -> str:
        return f"{self.prefix}room:{{{room}}}:{kind}"

    def meta(self, room: str) -> str:
        return self.room_key(room, "meta")

    def history(self, room: str) -> str:
        return self.room_key(room, "history")

    def names(self, room: str) -> str:
        return self.room_key(room, "names")

    def users(self, room: str) -> str:
        return self.room_key(room, "users")

    def seats(self, room: str) -> str:
        return self.room_key(room, "seats")

    def room_lingering(self, room: str) -> str:
        return self.room_key(room, "lingering")

    def conns(self, room: str, node: str) -> str:
        """A node's connections in the room (sid -> user): what a reaper unseats."""
        return self.room_key(room, f"on:{node}")

    def sent(self, room: str) -> str:
        return self.room_key(room, "sent")

    def sent_at(self, room: str) -> str:
        return self.room_key(room, "sent_at")

    def reactions(self, room: str) -> str:
        return self.room_key(room, "reactions")

    def changed(self, room: str) -> str:
        return self.room_key(room, "changed")

    def reads(self, room: str) -> str:
        return self.room_key(room, "reads")

    def channel(self, room: str) -> str:
        return self.room_key(room, "events")

    def room_of_channel(self, channel: str) -> str | None:
        head, tail = f"{self.prefix}room:{{", "}:events"
        if channel.startswith(head) and channel.endswith(tail):
            return channel[len(head) : -len(tail)]
        return None

    def bans(self, room: str) -> str:
        return self.room_key(room, "bans")

    def kicks(self, room: str) -> str:
        """What a kick told its user, for a node that missed the `kicked` event."""
        return self.room_key(room, "kicks")

    def subs(self, room: str) -> str:
        return self.room_key(room, "subs")

    @property
    def control(self) -> str:
        """Node-control requests that every node subscribes to."""
        return f"{self.prefix}control"

    def control_replies(self, request: str) -> str:
        return f"{self.prefix}control:{request}"

    @property
    def rooms(self) -> str:
        return f"{self.prefix}room-index"

    @property
    def lingering(self) -> str:
        return f"{self.prefix}lingering"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}nodes"

    def alive(self, node: str) -> str:
        return f"{self.prefix}node:{node}:alive"

    def node_rooms(self, node: str) -> str:
        return f"{self.prefix}node:{node}:rooms"

    def presence_keys(self, room: str) -> list[str]:
        """KEYS 1-7 of every script that seats or unseats (see lua/presence.lua)."""
        return [
            self.meta(room),
            self.names(room),
            self.users(room),
            self.seats(room),
            self.room_lingering(room),
            self.channel(room),
            self.reads(room),
        ]
