"""The seeded fault schedule: which fault, on which node, when, for how long.

Pure, so a run can be repeated exactly from its seed and the schedule tested alone.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

FAULTS = (
    "kill9", "rolling", "redis_aof", "redis_empty", "sigstop", "blackhole", "storm",
    "partition", "slow_redis", "redis_full", "lossy",
)  # fmt: skip
# Seconds a fault lasts, by kind (others: 5-20). A partition outlasts the clients' 10 s
# of `unavailable` before they move, so the move is what gets measured.
HOLDS = {
    "partition": (15.0, 40.0),
    "slow_redis": (10.0, 30.0),
    "redis_full": (10.0, 30.0),
    "lossy": (20.0, 40.0),
}
# Faults that need each node to reach Redis through a proxy of the soak's.
VIA_REDIS_PROXY = frozenset({"partition", "slow_redis"})


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start of the run
    kind: str
    node: int  # index of the node it hits (ignored by faults that hit none or all)
    hold: float  # seconds a pause, a black hole, a partition or a bad link lasts
    level: float = 0.0  # 0-1: how bad (a slow Redis's added round trip, a link's latency)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_schedule(
    seed: int,
    duration: float,
    warmup: float,
    interval: float,
    nodes: int,
    kinds: tuple[str, ...] = FAULTS,
    max_hold: float | None = None,
) -> list[Fault]:
    """One fault every `interval` seconds (plus up to 30% jitter) after warm-up, kinds in
    shuffled rounds so every kind comes before any repeats; none in the last interval, so
    the last fault is measured to the end. `max_hold` caps every hold (short smokes)."""
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
        node = rng.randrange(nodes)
        hold = rng.uniform(*HOLDS.get(kind, (5.0, 20.0)))
        hold = hold if max_hold is None else min(hold, max_hold)
        faults.append(Fault(round(at, 2), kind, node, round(hold, 2), round(rng.random(), 2)))
        slot += 1
    return faults
