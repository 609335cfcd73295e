"""The one backoff: exponential, jittered both ways (or not at all), capped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chat_service.domain.backoff import Backoff


class TestDelay:
    def test_nominal_delay_doubles_without_jitter(self) -> None:
        """With no jitter the delays are base, 2 base, 4 base..."""
        backoff = Backoff(base=0.25, cap=100.0, jitter=0.0)
        assert [0.25, 0.5, 1.0, 2.0] == [backoff.delay(n) for n in range(4)]

    def test_jitter_spreads_half_each_way(self) -> None:
        """A jitter of 0.5 moves the delay within [0.5, 1.5] x nominal, as socket.io-client
        does."""
        backoff = Backoff(base=1.0, cap=100.0, jitter=0.5)
        assert (0.5, 1.5) == (backoff.delay(0, lambda: 0.0), backoff.delay(0, lambda: 1.0))

    def test_cap_bounds_every_delay(self) -> None:
        """However many attempts, no delay exceeds the cap."""
        backoff = Backoff(base=0.25, cap=5.0, jitter=0.5)
        assert 5.0 == max(backoff.delay(n, lambda: 1.0) for n in range(200))

    def test_without_jitter_the_random_source_is_unused(self) -> None:
        """A steady backoff (the node's loops) is the same whatever the random source says."""
        backoff = Backoff(base=1.0, cap=5.0, jitter=0.0)
        assert [1.0, 2.0, 4.0, 5.0] == [backoff.delay(n, lambda: 1.0) for n in range(4)]

    @given(
        attempt=st.integers(min_value=0, max_value=10_000),
        rand=st.floats(min_value=0.0, max_value=1.0),
        jitter=st.floats(min_value=0.0, max_value=1.0),
    )
    def test_any_attempt_waits_between_zero_and_the_cap(
        self, attempt: int, rand: float, jitter: float
    ) -> None:
        """For any attempt, random draw and jitter the delay is finite, >= 0 and <= cap."""
        delay = Backoff(base=0.25, cap=5.0, jitter=jitter).delay(attempt, lambda: rand)
        assert True is (0.0 <= delay <= 5.0)

    @given(attempt=st.integers(min_value=0, max_value=10_000))
    def test_steady_delays_never_shrink(self, attempt: int) -> None:
        """Without jitter each attempt waits at least as long as the one before."""
        backoff = Backoff(base=0.05, cap=5.0, jitter=0.0)
        assert True is (backoff.delay(attempt) <= backoff.delay(attempt + 1))
