"""How many Redis calls a node has in flight, and what a call does when all are busy.

A saturated node (a join burst, a reconnect storm after a node died) holds its Redis
connections longer than usual, because its own event loop is late to read the replies.
That is the node being busy, not Redis being away: the call waits its turn here (first
come, first served) instead of in redis-py's pool, whose wait ends in a ConnectionError
that reads as `unavailable`. The wait is bounded: past `queue_timeout` the caller hears
`rate_limited` with `retry_after_ms` while Redis answers, and `unavailable` only when
Redis itself is failing (the last call that finished failed with a connection error or
a timeout, and none succeeded since). With Redis failing, a call that would have to
queue fails at once: the ones in flight already wait out the timeouts.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from ..errors import BackendUnavailable, RateLimited

IN_FLIGHT = 64  # calls at once; the connection pool is a little larger (the bus's too)
QUEUE_TIMEOUT = 10.0  # seconds a call may wait for its turn: generous, well past op time
RETRY_AFTER = 1.0  # seconds a shed caller is told to wait
BUSY = "The server is busy; try again in a moment."


class CallGate:
    """`async with gate:` around each Redis call; `failed()` / `succeeded()` after it."""

    def __init__(self, in_flight: int = IN_FLIGHT, queue_timeout: float = QUEUE_TIMEOUT) -> None:
        self._slots = asyncio.Semaphore(in_flight)
        self.queue_timeout = queue_timeout
        self.failing = False
        self.waiting = 0
        self.shed = 0

    async def __aenter__(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without suspending
            return
        if self.failing:
            raise BackendUnavailable()
        self.waiting += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            if self.failing:
                raise BackendUnavailable() from None
            self.shed += 1
            raise RateLimited(BUSY, RETRY_AFTER) from None
        finally:
            self.waiting -= 1

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()

    def failed(self) -> None:
        """Redis did not answer in time, or the connection failed."""
        self.failing = True

    def succeeded(self) -> None:
        self.failing = False
