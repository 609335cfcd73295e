"""What a room's feed keeps on one node: its newest messages, at their newest versions."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RecentWindow:
    """The last `size` messages delivered (their current JSON) and the versions delivered.

    It holds every message delivered after `start`: a joiner whose head is at or after
    it is caught up from here; one further behind needs a read of history. Changes keep
    the copies current, so what a joiner gets from here already carries them.
    """

    size: int = 256
    version_limit: int = 10_000  # ids whose v > 0 is remembered (far more than history)
    messages: deque[tuple[int, str]] = field(default_factory=deque)
    start: int = 0
    versions: dict[int, int] = field(default_factory=dict)  # v > 0 delivered, per id

    def restart(self, start: int) -> None:
        """Nothing is kept: the feed starts after message `start` (0 for a new epoch)."""
        self.messages.clear()
        self.versions.clear()
        self.start = start

    def add(self, msg_id: int, raw: str, v: int) -> None:
        self.messages.append((msg_id, raw))
        if len(self.messages) > self.size:
            self.start = self.messages.popleft()[0]
        if v:
            self._set_version(msg_id, v)

    def version(self, msg_id: int) -> int:
        """The version of `msg_id` the feed delivered last (0: as sent, or unknown)."""
        return self.versions.get(msg_id, 0)

    def after(self, msg_id: int) -> list[tuple[int, str]]:
        return [(i, raw) for i, raw in self.messages if i > msg_id]

    def change(self, msg_id: int, raw: str, v: int) -> None:
        """Message `msg_id` is now at version `v`, whose whole JSON is `raw`."""
        self._set_version(msg_id, v)
        messages = self.messages
        if not messages or not messages[0][0] <= msg_id <= messages[-1][0]:
            return
        guess = msg_id - messages[0][0]  # ids are consecutive unless history lost some
        if guess < len(messages) and messages[guess][0] == msg_id:
            messages[guess] = (msg_id, raw)
            return
        for i, (kept_id, _raw) in enumerate(messages):
            if kept_id == msg_id:
                messages[i] = (msg_id, raw)
                return

    def _set_version(self, msg_id: int, v: int) -> None:
        self.versions[msg_id] = v
        if len(self.versions) > self.version_limit:  # forget the oldest half
            for old in sorted(self.versions)[: len(self.versions) // 2]:
                del self.versions[old]
