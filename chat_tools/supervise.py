"""When `chat-tools cluster` restarts a dead node: the one capped exponential `Backoff`.

Pure: callers pass the clock, so the policy is tested without sleeping. A node that stayed
up for `stable_after` seconds starts again from the backoff's base; one that keeps dying
is retried every `cap` seconds, never given up on, while the other nodes keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chat_service.domain.backoff import Backoff


@dataclass
class RestartPolicy:
    # No jitter: one supervisor restarts one process, there is no crowd to spread.
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=10.0, jitter=0.0))
    stable_after: float = 30.0
    started_at: float = 0.0
    failures: int = 0

    def next_delay(self, now: float) -> float:
        """Seconds to wait before restarting a process that has just died at `now`."""
        if now - self.started_at >= self.stable_after:
            self.failures = 0
        delay = self.backoff.delay(self.failures)
        self.failures += 1
        return delay

    def started(self, now: float) -> None:
        """The process was (re)started at `now`."""
        self.started_at = now
