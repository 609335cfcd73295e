"""The leak verdict on a series of samples."""

from __future__ import annotations

from chat_tools.soak.leak import judge


def test_flat_noisy_series_is_no_leak() -> None:
    """Noise around a level is not growth."""
    values = [100.0, 103.0, 99.0, 101.0, 102.0, 98.0, 100.0, 104.0, 99.0, 101.0, 100.0, 102.0]
    assert judge("rss", values, rel=0.10, floor=8.0).leak is False


def test_steady_growth_is_a_leak() -> None:
    """A series that keeps climbing past both thresholds is a leak."""
    values = [100.0 + 5 * i for i in range(12)]
    assert judge("rss", values, rel=0.10, floor=8.0).leak is True


def test_small_absolute_growth_is_tolerated() -> None:
    """A few units on a small count is under the floor, however large relatively."""
    values = [2.0] * 6 + [5.0] * 6
    assert judge("channels", values, rel=0.20, floor=5.0).leak is False


def test_too_few_samples_are_not_judged() -> None:
    """Under nine samples there is no verdict."""
    assert judge("rss", [1.0, 2.0, 3.0], rel=0.1, floor=0.0).leak is None
