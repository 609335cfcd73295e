"""The seeded fault schedule: which fault, on which node, when, for how long.

Pure, so a run can be repeated exactly from its seed and the schedule tested alone.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

FAULTS = ("kill9", "rolling", "redis_aof", "redis_empty", "sigstop", "blackhole", "storm")


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start of the run
    kind: str
    node: int  # index of the node it hits (ignored by faults that hit none or all)
    hold: float  # seconds a pause or a black hole lasts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_schedule(
    seed: int,
    duration: float,
    warmup: float,
    interval: float,
    nodes: int,
    kinds: tuple[str, ...] = FAULTS,
) -> list[Fault]:
    """One fault every `interval` seconds (plus up to 30% jitter) after warm-up, kinds in
    shuffled rounds so every kind comes before any repeats; none in the last interval, so
    the last fault is measured to the end."""
    unknown = set(kinds) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults: {sorted(unknown)}")
    rng = random.Random(seed)
    faults: list[Fault] = []
    slot = 0
    order: list[str] = []
    while warmup + (slot + 1) * interval <= duration and kinds:
        if not order:
            order = list(kinds)
            rng.shuffle(order)
        kind = order.pop(0)
        at = warmup + slot * interval + rng.uniform(0.0, 0.3 * interval)
        faults.append(Fault(round(at, 2), kind, rng.randrange(nodes), round(rng.uniform(5, 20), 2)))
        slot += 1
    return faults
