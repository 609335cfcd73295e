"""When `chat-tools cluster` restarts a dead node: capped exponential backoff.

Pure: callers pass the clock, so the policy is tested without sleeping. A node that stayed
up for `stable_after` seconds starts again from `initial`; one that keeps dying is retried
every `cap` seconds, never given up on, while the other nodes keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    initial: float = 0.5
    cap: float = 10.0
    stable_after: float = 30.0
    started_at: float = 0.0
    failures: int = 0

    def next_delay(self, now: float) -> float:
        """Seconds to wait before restarting a process that has just died at `now`."""
        if now - self.started_at >= self.stable_after:
            self.failures = 0
        delay = min(self.cap, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay

    def started(self, now: float) -> None:
        """The process was (re)started at `now`."""
        self.started_at = now
