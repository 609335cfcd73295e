"""The leak verdict: after warm-up, a series must stay flat within noise.

Flat means the median of the last third of the samples is no more than `rel` above the
median of the first third, or no more than `floor` above it in absolute terms (small
series jitter by whole units). Fewer than 9 samples are not judged.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Trend:
    name: str
    samples: int
    first: float
    last: float
    leak: bool | None  # None: too few samples to judge

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "samples": self.samples, "first": self.first,
                "last": self.last, "leak": self.leak}  # fmt: skip


def judge(name: str, values: Sequence[float], rel: float, floor: float) -> Trend:
    if len(values) < 9:
        return Trend(name, len(values), 0.0, 0.0, None)
    third = len(values) // 3
    first = statistics.median(values[:third])
    last = statistics.median(values[-third:])
    growth = last - first
    leak = growth > floor and growth > rel * max(first, 1e-9)
    return Trend(name, len(values), first, last, leak)
