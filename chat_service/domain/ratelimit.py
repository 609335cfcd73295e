"""Token buckets: the per-connection message allowance and typing throttle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`capacity` tokens refilled evenly over `period` seconds.

    Time is passed in, so the rule is testable without clocks.
    """

    capacity: float
    period: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if now > self.updated:
            rate = self.capacity / self.period
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
        self.updated = max(self.updated, now)

    def try_take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def give_back(self) -> None:
        """Return a token whose action failed, so failures cost no allowance."""
        self.tokens = min(self.capacity, self.tokens + 1.0)


@dataclass
class TypingThrottle:
    """Lets through a typing change at once, repeats of the same state once per interval."""

    interval: float
    last_state: bool | None = None
    last_sent: float = float("-inf")

    def allow(self, typing: bool, now: float) -> bool:
        if typing != self.last_state or now - self.last_sent >= self.interval:
            self.last_state = typing
            self.last_sent = now
            return True
        return False
