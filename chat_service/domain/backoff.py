"""Capped exponential backoff, jittered or not: the delay before retry `attempt`.

One rule for every loop that retries: the node's background loops (steady, no jitter:
one node's timing harms no one), and the tooling's reconnecting clients and restarted
processes. Without jitter every client of a dead node retries at the same instants and
the survivors take the whole crowd in one spike; the spread is the one socket.io-client
uses in the browser page (`randomizationFactor`, 0.5 by default): the nominal delay
`base * factor**attempt`, moved up or down by up to `jitter` of itself, then capped.
Pure: the caller counts attempts and may pass the random source.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# 2**32 base intervals is past any cap; the exponent stops there so it never overflows.
MAX_EXPONENT = 32


@dataclass(frozen=True)
class Backoff:
    base: float = 0.25
    factor: float = 2.0
    cap: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt `attempt` (0 is the first after a drop)."""
        nominal = self.base * self.factor ** min(attempt, MAX_EXPONENT)
        spread = nominal * self.jitter * (2.0 * rand() - 1.0) if self.jitter else 0.0
        return max(0.0, min(nominal + spread, self.cap))
