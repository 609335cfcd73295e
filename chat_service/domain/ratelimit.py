"""Allowances, with time passed in: the message bucket, the join windows, the typing gate.

What one connection may send (messages, joins) and what others see of it (typing,
presence) are both bounded here; the service layer only keeps the state and the timers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


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

    def wait(self, now: float) -> float:
        """Seconds until the next token (0 when one is there)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) * self.period / self.capacity)

    def give_back(self) -> None:
        """Return a token whose action failed, so failures cost no allowance."""
        self.tokens = min(self.capacity, self.tokens + 1.0)


@dataclass
class Window:
    """At most `limit` actions in any `seconds`-long window (a log of the last `limit`).

    A sliding log, not a bucket: a bucket would let `limit` through at once and refill
    meanwhile, so a window could see nearly twice the limit.
    """

    limit: int
    seconds: float
    times: deque[float] = field(default_factory=deque)

    def try_take(self, now: float) -> float:
        """0.0 when the action may go (and is counted), else seconds until it may."""
        while self.times and now - self.times[0] >= self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return max(self.times[0] + self.seconds - now, 0.001)
        self.times.append(now)
        return 0.0

    def give_back(self) -> None:
        """Uncount the latest action (it failed, so it cost nothing)."""
        if self.times:
            self.times.pop()

    def idle(self, now: float) -> bool:
        """Nothing counted any more: the window may be forgotten."""
        return not self.times or now - self.times[-1] >= self.seconds


@dataclass
class KeyedWindows:
    """One `Window` per key (a user and a room), forgotten once idle."""

    limit: int
    seconds: float
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    swept: float = float("-inf")

    def get(self, key: tuple[str, str], now: float) -> Window:
        self._sweep(now)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(self.limit, self.seconds)
        return window

    def _sweep(self, now: float) -> None:
        """At most once per window length: memory follows the keys used recently."""
        if now - self.swept < self.seconds:
            return
        self.swept = now
        for key in [k for k, w in self.windows.items() if w.idle(now)]:
            del self.windows[key]


@dataclass
class TypingGate:
    """What others see of one user's typing in one room.

    At most one `typing` event per `interval`, and the latest state within `interval`
    of the change: a change inside the interval is held until the interval ends (the
    caller arms a timer for `due` and calls `fire` then), replaced by a later change,
    or dropped when others already see that state. So a final `false` is never lost,
    only delayed. Repeats of the state shown pass once per interval (the page repeats
    `true` while someone keeps typing, and observers expire it otherwise).
    """

    interval: float
    shown: bool | None = None
    shown_at: float = float("-inf")
    pending: bool | None = None
    armed: bool = False

    def change(self, typing: bool, now: float) -> tuple[bool | None, float | None]:
        """`typing` asked at `now`: (the state to send now, or None; the time at which
        to call `fire`, when a timer must be armed, or None)."""
        if now - self.shown_at >= self.interval:
            self.pending = None
            self.shown, self.shown_at = typing, now
            return typing, None
        if typing == self.shown:
            self.pending = None  # the latest state is the one others see
            return None, None
        self.pending = typing
        if self.armed:
            return None, None
        self.armed = True
        return None, self.shown_at + self.interval

    def fire(self, now: float) -> bool | None:
        """The timer armed by `change` ran: the state to send now, if any."""
        self.armed = False
        state, self.pending = self.pending, None
        if state is None:
            return None
        self.shown, self.shown_at = state, now
        return state

    def idle(self, now: float) -> bool:
        return not self.armed and now - self.shown_at >= self.interval
