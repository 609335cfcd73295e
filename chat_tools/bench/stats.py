"""Pure aggregation: percentiles, latency summaries, merged counters, spreads and ratios."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, interpolated linearly between ranks."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def latency_summary_ms(latencies_ns: Iterable[int]) -> dict[str, float | None]:
    """p50, p95, p99, max and mean in milliseconds of latencies in nanoseconds."""
    ordered = sorted(latencies_ns)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    summary = {f"p{q}": percentile(ordered, q) for q in (50, 95, 99)}
    summary["max"] = float(ordered[-1])
    summary["mean"] = sum(ordered) / len(ordered)
    return {key: round(value / 1e6, 3) for key, value in summary.items()}


def merge_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum counters key by key, keys sorted."""
    total: dict[str, int] = {}
    for one in counts:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))


def expected_deliveries(acked: Mapping[str, int], members: Mapping[str, int]) -> int:
    """Every acked message reaches every member of its room, the sender included."""
    return sum(count * members.get(room, 0) for room, count in acked.items())


def rate(count: float, seconds: float) -> float | None:
    """count per second, or None when no time passed."""
    return count / seconds if seconds > 0 else None


def spread(values: Iterable[float | None]) -> dict[str, float] | None:
    """min, median and max of the values that are known; None when none is."""
    known = sorted(value for value in values if value is not None)
    if not known:
        return None
    return {"min": known[0], "median": percentile(known, 50), "max": known[-1]}


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is unknown or theirs is zero."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs
