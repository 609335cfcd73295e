"""Coalescing of `read` events: at most one per user and room per interval, and the
last one always carries the latest position (no I/O: the service owns the timer)."""

from __future__ import annotations

from collections.abc import Hashable

PRUNE_ABOVE = 256  # entries kept before idle ones are dropped: a bound on memory


class ReadCoalescer:
    """Decides, per key (room, user), whether a moved read position goes out now or
    with a flush at the end of the current interval."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[Hashable, float] = {}  # when a `read` last went out
        self._pending: set[Hashable] = set()  # a flush is scheduled

    def offer(self, key: Hashable, now: float) -> float | None:
        """A position moved at `now`. Returns 0.0: publish it now; a delay: schedule
        a flush after it (it publishes whatever the position is then); None: a flush
        is already scheduled and will carry this move."""
        if key in self._pending:
            return None
        if len(self._last) > PRUNE_ABOVE:
            self._prune(now)
        last = self._last.get(key)
        if last is None or now - last >= self.interval:
            self._last[key] = now
            return 0.0
        self._pending.add(key)
        return last + self.interval - now

    def flushed(self, key: Hashable, now: float) -> None:
        """The scheduled flush went out at `now`."""
        self._pending.discard(key)
        self._last[key] = now

    def _prune(self, now: float) -> None:
        for key, last in list(self._last.items()):
            if now - last >= self.interval and key not in self._pending:
                del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
