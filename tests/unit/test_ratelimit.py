"""Token bucket and typing throttle, with time passed in."""

from __future__ import annotations

from chat_service.domain.ratelimit import TokenBucket, TypingThrottle


class TestTokenBucket:
    def test_burst_then_refuse(self) -> None:
        """A full bucket allows `capacity` actions at once, then refuses."""
        bucket = TokenBucket(20, 10.0)
        allowed = [bucket.try_take(0.0) for _ in range(21)]
        assert [True] * 20 + [False] == allowed

    def test_refills_evenly(self) -> None:
        """20 per 10 s refills one token every half second."""
        bucket = TokenBucket(20, 10.0)
        for _ in range(20):
            bucket.try_take(0.0)
        assert bucket.try_take(0.4) is False
        assert bucket.try_take(0.5) is True
        assert bucket.try_take(0.5) is False

    def test_never_exceeds_capacity(self) -> None:
        """A long idle period does not bank more than capacity."""
        bucket = TokenBucket(3, 1.0)
        assert [True, True, True, False] == [bucket.try_take(1000.0) for _ in range(4)]

    def test_give_back(self) -> None:
        """A failed action's token is returned."""
        bucket = TokenBucket(1, 10.0)
        assert bucket.try_take(0.0) is True
        bucket.give_back()
        assert bucket.try_take(0.0) is True

    def test_clock_going_backwards_is_harmless(self) -> None:
        """An earlier timestamp neither refills nor breaks the bucket."""
        bucket = TokenBucket(1, 10.0)
        bucket.try_take(5.0)
        assert bucket.try_take(1.0) is False


class TestTypingThrottle:
    def test_changes_pass_repeats_throttled(self) -> None:
        """A state change passes at once; the same state repeats once per interval."""
        throttle = TypingThrottle(1.0)
        results = [
            throttle.allow(True, 0.0),
            throttle.allow(True, 0.5),
            throttle.allow(False, 0.6),
            throttle.allow(True, 0.7),
            throttle.allow(True, 1.8),
        ]
        assert [True, False, True, True, True] == results
