"""What a soak writes down: a record per fault, the latency summary, the leak trends."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chat_service.backends.redis_clients import ClientOptions

from .leak import Trend, judge, node_trends
from .schedule import Fault

REDIS_POOL = ClientOptions().max_connections  # each node's pool of Redis connections
Window = tuple[float, float]


@dataclass
class FaultRecord:
    fault: Fault
    can_send_s: float | None = None  # until every person's probe message was acknowledged
    members_agree_s: float | None = None
    all_back_s: float | None = None
    ninety_back_s: float | None = None
    user_left: int = 0
    user_joined: int = 0
    distinct_presence_changes: int = 0
    # The ledger's counts over the fault and its noise window (must all be 0).
    lost: int = 0
    duplicates: int = 0
    order_breaks: int = 0
    moves: int = 0  # connections left for answering only `unavailable` (or nothing)
    reconnects: int = 0
    failed_sends: int = 0
    cpu_peak: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fault"] = self.fault.to_json()
        return data


def loadavg() -> float:
    with contextlib.suppress(OSError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _inside(t: float, windows: Sequence[Window]) -> bool:
    return any(a <= t <= b for a, b in windows)


def latency_summary(
    latencies: Sequence[tuple[float, float]], windows: Sequence[Window]
) -> dict[str, Any]:
    """All sends, and the sends outside every fault's window (the everyday figure)."""
    values = [s for _, s in latencies]
    quiet = [s for t, s in latencies if not _inside(t, windows)]
    return {
        "sends": len(values),
        "p50_ms": ms(percentile(values, 0.5)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values) if values else None),
        "quiet_sends": len(quiet),
        "quiet_p50_ms": ms(percentile(quiet, 0.5)),
        "quiet_p99_ms": ms(percentile(quiet, 0.99)),
    }


def trends(
    samples: Sequence[dict[str, Any]], nodes: int, warmup: float, windows: Sequence[Window]
) -> list[Trend]:
    """Flat after warm-up? Samples inside a fault's window are left out; a node is
    judged on its longest-lived process, after a warm-up of its own."""
    quiet = [s for s in samples if s["t"] >= warmup and not _inside(s["t"], windows)]
    found: list[Trend] = []
    for i in range(nodes):
        runs: dict[int, list[dict[str, Any]]] = {}
        first_seen: dict[int, float] = {}
        for s in samples:
            first_seen.setdefault(s["nodes"][i]["pid"], s["t"])
        for s in quiet:
            n = s["nodes"][i]
            if "rss_mib" in n and s["t"] - first_seen[n["pid"]] >= warmup:
                runs.setdefault(n["pid"], []).append(n)
        longest = max(runs.values(), key=len, default=[])
        found.extend(node_trends(f"node{i + 1}", longest, REDIS_POOL))
    redis = [s["redis"] for s in quiet if "live_keys" in s["redis"]]
    found.append(judge("redis live_keys", [r["live_keys"] for r in redis], 0.20, 20.0))
    found.append(judge("redis channels", [r["channels"] for r in redis], 0.20, 5.0))
    return found
