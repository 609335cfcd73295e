"""The reconnect backoff: exponential, jittered both ways, capped."""

from __future__ import annotations

from chat_tools.backoff import Backoff


def test_nominal_delay_doubles_without_jitter() -> None:
    """With no jitter the delays are base, 2 base, 4 base..."""
    backoff = Backoff(base=0.25, cap=100.0, jitter=0.0)
    assert [0.25, 0.5, 1.0, 2.0] == [backoff.delay(n) for n in range(4)]


def test_jitter_spreads_half_each_way() -> None:
    """A jitter of 0.5 moves the delay within [0.5, 1.5] x nominal, as socket.io-client does."""
    backoff = Backoff(base=1.0, cap=100.0, jitter=0.5)
    assert (0.5, 1.5) == (backoff.delay(0, lambda: 0.0), backoff.delay(0, lambda: 1.0))


def test_cap_bounds_every_delay() -> None:
    """However many attempts, no delay exceeds the cap."""
    backoff = Backoff(base=0.25, cap=5.0, jitter=0.5)
    assert 5.0 == max(backoff.delay(n, lambda: 1.0) for n in range(200))
