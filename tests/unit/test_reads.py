"""The coalescing of `read` events (domain/reads.py)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chat_service.domain.reads import PRUNE_ABOVE, ReadCoalescer


def run(moves: list[float], interval: float = 1.0) -> list[float]:
    """Feed moves at the given times through the coalescer, firing flushes when due;
    returns the times at which a `read` went out."""
    coalescer = ReadCoalescer(interval)
    sent: list[float] = []
    flush_at: float | None = None
    for now in sorted(moves):
        if flush_at is not None and flush_at <= now:
            coalescer.flushed("k", flush_at)
            sent.append(flush_at)
            flush_at = None
        delay = coalescer.offer("k", now)
        if delay == 0.0:
            sent.append(now)
        elif delay is not None:
            flush_at = now + delay
    if flush_at is not None:
        coalescer.flushed("k", flush_at)
        sent.append(flush_at)
    return sent


class TestReadCoalescer:
    def test_first_move_goes_out_at_once(self) -> None:
        """A user's first move is published immediately."""
        assert 0.0 == ReadCoalescer().offer(("lobby", "u1"), 10.0)

    def test_moves_within_the_interval_make_one_flush(self) -> None:
        """Later moves in the interval schedule one flush at its end; more moves ride on it."""
        reads = ReadCoalescer(1.0)
        assert (0.0, 0.75, None) == (
            reads.offer("k", 10.0),
            reads.offer("k", 10.25),
            reads.offer("k", 10.5),
        )
        reads.flushed("k", 11.0)
        assert (0.5, 0.0) == (reads.offer("k", 11.5), reads.offer("other", 11.5))

    @given(st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), min_size=1, max_size=40))
    def test_at_most_one_per_interval_and_the_last_is_latest(self, moves: list[float]) -> None:
        """Whatever the timing: publications are at least an interval apart, and one goes
        out at or after the last move (so the latest position is always shown)."""
        sent = run(moves)
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert all(gap >= 1.0 - 1e-9 for gap in gaps), sent
        assert sent[-1] >= max(moves)

    def test_idle_entries_are_pruned(self) -> None:
        """Entries of users idle past the interval do not accumulate."""
        reads = ReadCoalescer(1.0)
        for i in range(PRUNE_ABOVE + 10):
            reads.offer(i, 0.0)
        reads.offer("late", 5.0)
        assert 1 == len(reads)
