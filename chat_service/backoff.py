"""Jittered, capped exponential backoff: the delay before retry attempt n.

Without jitter everything that failed together retries at the same instants (the clients
of a dead node, every room's history read after a Redis outage) and takes the survivor
in one spike; the spread below is the one socket.io-client uses in the browser page
(`randomizationFactor`, 0.5 by default): the nominal delay `base * factor**n`, moved up
or down by up to `jitter` of itself, then capped. The node's delivery retries and the
tooling's simulated people (`chat_tools.backoff`) share it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 0.25
    factor: float = 2.0
    cap: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt `attempt` (0 is the first after a drop)."""
        nominal = self.base * self.factor ** min(attempt, 32)
        spread = nominal * self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, min(nominal + spread, self.cap))
