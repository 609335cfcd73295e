"""The seeded fault schedule."""

from __future__ import annotations

import pytest

from chat_tools.soak.schedule import FAULTS, HOLDS, make_schedule


def test_same_seed_same_schedule() -> None:
    """A run can be repeated exactly from its seed."""
    assert make_schedule(7, 1800, 120, 110, 3) == make_schedule(7, 1800, 120, 110, 3)


def test_every_kind_before_any_repeat() -> None:
    """Faults come in shuffled rounds: the first len(FAULTS) are all different."""
    kinds = [f.kind for f in make_schedule(3, 1800, 120, 110, 3)]
    assert sorted(FAULTS) == sorted(kinds[: len(FAULTS)])


def test_faults_fit_between_warmup_and_end() -> None:
    """None before warm-up ends, none in the last interval, holds in their kind's range,
    valid nodes and levels."""
    schedule = make_schedule(1, 600, 60, 50, 3)
    assert 10 == len(schedule)
    assert all(60 <= f.at <= 600 - 50 for f in schedule)
    for f in schedule:
        low, high = HOLDS.get(f.kind, (5, 20))
        assert low <= f.hold <= high and 0 <= f.node < 3 and 0 <= f.level <= 1, f


def test_unknown_fault_is_refused() -> None:
    """A typo in the fault list is an error, not a quiet run without it."""
    with pytest.raises(ValueError):
        make_schedule(1, 600, 60, 50, 3, ("kill9", "meteor"))
