"""Message bucket, join windows and the typing gate, with time passed in."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chat_service.domain.ratelimit import KeyedWindows, TokenBucket, TypingGate, Window


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

    def test_wait_says_when_the_next_token_comes(self) -> None:
        """An empty 20/10 bucket has its next token in half a second."""
        bucket = TokenBucket(20, 10.0)
        for _ in range(20):
            bucket.try_take(0.0)
        assert (0.5, 0.0) == (bucket.wait(0.0), bucket.wait(0.5))

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


class TestWindow:
    def test_limit_per_window_then_retry_after(self) -> None:
        """5 per 10 s: the sixth waits until the first leaves the window."""
        window = Window(5, 10.0)
        taken = [window.try_take(float(t)) for t in range(6)]
        assert [0.0] * 5 + [5.0] == taken
        assert 0.0 == window.try_take(10.0)

    def test_give_back_uncounts(self) -> None:
        """A failed action costs nothing."""
        window = Window(1, 10.0)
        window.try_take(0.0)
        window.give_back()
        assert 0.0 == window.try_take(1.0)

    @given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=200))
    def test_never_more_than_limit_in_any_window(self, offsets: list[float]) -> None:
        """Whatever the arrival times, no window of `seconds` holds more than `limit`."""
        window = Window(5, 10.0)
        times = sorted(offsets)
        allowed = [t for t in times if window.try_take(t) == 0.0]
        for i, start in enumerate(allowed):
            assert len([t for t in allowed[i:] if t < start + 10.0]) <= 5


class TestKeyedWindows:
    def test_keys_are_independent_and_idle_ones_forgotten(self) -> None:
        """One window per (user, room); windows idle for a whole period are dropped."""
        windows = KeyedWindows(1, 10.0)
        assert 0.0 == windows.get(("u", "a"), 0.0).try_take(0.0)
        assert 0.0 == windows.get(("u", "b"), 0.0).try_take(0.0)
        assert 0.0 < windows.get(("u", "a"), 1.0).try_take(1.0)
        windows.get(("v", "c"), 30.0)
        assert [("v", "c")] == list(windows.windows)


def run_gate(changes: list[tuple[float, bool]], interval: float) -> list[tuple[float, bool]]:
    """What others see of `changes` (time, state): the gate driven with exact timers."""
    gate = TypingGate(interval)
    sent: list[tuple[float, bool]] = []
    timer: float | None = None
    for at, state in changes:
        if timer is not None and timer <= at:
            fired = gate.fire(timer)
            if fired is not None:
                sent.append((timer, fired))
            timer = None
        send, due = gate.change(state, at)
        if send is not None:
            sent.append((at, send))
        if due is not None:
            timer = due
    if timer is not None:
        fired = gate.fire(timer)
        if fired is not None:
            sent.append((timer, fired))
    return sent


class TestTypingGate:
    def test_flood_shows_first_and_last(self) -> None:
        """300 alternating changes in 0.08 s: true at once, the final false 2 s later."""
        changes = [(i * 0.08 / 300, i % 2 == 0) for i in range(300)]
        assert [(0.0, True), (2.0, False)] == run_gate(changes, 2.0)

    def test_repeat_of_shown_state_cancels_held_change(self) -> None:
        """true, false, true inside one interval: others keep seeing true, nothing more."""
        assert [(0.0, True)] == run_gate([(0.0, True), (0.5, False), (1.0, True)], 2.0)

    def test_repeats_pass_once_per_interval(self) -> None:
        """A typist repeating true every 2 s is shown every 2 s (observers expire it)."""
        changes = [(float(t), True) for t in range(0, 7)]
        assert [(0.0, True), (2.0, True), (4.0, True), (6.0, True)] == run_gate(changes, 2.0)

    @given(
        st.lists(
            st.tuples(st.floats(min_value=0, max_value=20, allow_nan=False), st.booleans()),
            min_size=1,
            max_size=60,
        )
    )
    def test_bounds(self, raw: list[tuple[float, bool]]) -> None:
        """Any interleaving: sends at least an interval apart, the latest state always
        shown within an interval, and the last one ever asked is the last one shown."""
        changes = sorted(raw, key=lambda c: c[0])
        sent = run_gate(changes, 2.0)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
        assert all(gap >= 2.0 - 1e-9 for gap in gaps)
        for i, (at, state) in enumerate(changes):
            following = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            if following > at + 2.0:
                shown = [s for t, s in sent if t <= at + 2.0]
                assert state == shown[-1]
        assert changes[-1][1] == sent[-1][1]
