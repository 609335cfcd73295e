"""Every Redis key and channel name, in one place, under a configurable prefix.

| key | type | contents | expiry |
| --- | --- | --- | --- |
| `{p}room:{room}:meta` | hash | `seq` (last message id), `epoch` (history generation) | idle TTL |
| `{p}room:{room}:history` | list | message JSON, oldest first, newest N kept | idle TTL |
| `{p}room:{room}:members` | hash | name key -> `node\\nsid\\nname` | none (emptied by leave/reap) |
| `{p}room:{room}:events` | channel | room events (`RoomEvent` wire form) | - |
| `{p}rooms` | zset | room -> live member count | none |
| `{p}nodes` | set | ids of registered nodes | none |
| `{p}node:{node}:alive` | string | "1" while the node heartbeats | node timeout |
| `{p}node:{node}:members` | hash | `room\\nsid` -> name key | none (deleted by reap) |

The reap script builds room key names from the prefix itself (it touches rooms found in
a node's hash); it follows exactly these patterns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    def meta(self, room: str) -> str:
        return f"{self.prefix}room:{room}:meta"

    def history(self, room: str) -> str:
        return f"{self.prefix}room:{room}:history"

    def members(self, room: str) -> str:
        return f"{self.prefix}room:{room}:members"

    def channel(self, room: str) -> str:
        return f"{self.prefix}room:{room}:events"

    def room_of_channel(self, channel: str) -> str | None:
        head, tail = f"{self.prefix}room:", ":events"
        if channel.startswith(head) and channel.endswith(tail):
            return channel[len(head) : -len(tail)]
        return None

    @property
    def rooms(self) -> str:
        return f"{self.prefix}rooms"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}nodes"

    def alive(self, node: str) -> str:
        return f"{self.prefix}node:{node}:alive"

    def node_members(self, node: str) -> str:
        return f"{self.prefix}node:{node}:members"
