"""Redis out of memory (`maxmemory` reached with `noeviction`): noticed once, told once.

A full Redis still answers reads, PINGs and deletions; it refuses only commands that may
grow its memory. That is not an outage: the node stays ready and keeps its members, the
sender hears `unavailable` with a sentence that says why, and the operator gets one log
line when it starts, one when it ends, and the `chat_redis_oom` gauge in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import OutOfMemoryError, ResponseError

logger = logging.getLogger(__name__)
FullObserver = Callable[[bool], None]


def is_out_of_memory(exc: BaseException) -> bool:
    """Redis' OOM reply, however it arrives (a command, or a write inside a script)."""
    if isinstance(exc, OutOfMemoryError):
        return True
    return isinstance(exc, ResponseError) and "> 'maxmemory'" in str(exc)


class MemoryWatch:
    """Whether Redis refuses writes for lack of memory, as last seen by this node.

    Set by any refusal; cleared only by a write that needs memory succeeding (the
    heartbeat's, every `heartbeat_interval`), since reads succeed either way.
    """

    def __init__(self, on_change: FullObserver | None = None) -> None:
        self.full = False
        self.refusals = 0
        self._since = 0.0
        self._on_change = on_change

    def refused(self, op: str) -> None:
        self.refusals += 1
        if self.full:
            return
        self.full = True
        self._since = time.monotonic()
        logger.error(
            "Redis is out of memory (maxmemory reached, noeviction): writes answer "
            "`unavailable` until it frees memory; reads go on (first refused: %s)",
            op,
        )
        if self._on_change is not None:
            self._on_change(True)

    def stored(self) -> None:
        if not self.full:
            return
        self.full = False
        logger.info(
            "Redis accepts writes again after %.1fs out of memory (%d calls refused)",
            time.monotonic() - self._since,
            self.refusals,
        )
        if self._on_change is not None:
            self._on_change(False)
