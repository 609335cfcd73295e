"""Side-by-side comparison of repeated runs: min / median / max per target, and ratios."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .stats import ratio, spread

Result = Mapping[str, Any]


def _latency(key: str) -> Callable[[Result], float | None]:
    return lambda r: r["latency_ms"][key]


def _errors(result: Result) -> float:
    return float(sum(result["errors"].values()))


def _broadcast(key: str) -> Callable[[Result], float | None]:
    def read(result: Result) -> float | None:
        once = result.get("broadcast")
        if not once:
            return None
        value = once["latency_ms"][key] if key in ("p50", "p99") else once[key]
        return None if value is None else float(value)

    return read


class Metric(NamedTuple):
    kind: str  # fanout, broadcast or connect: which results the metric reads
    name: str
    read: Callable[[Result], float | None]


METRICS: tuple[Metric, ...] = (
    Metric("fanout", "clients joined", lambda r: r["members"]),
    Metric("fanout", "deliveries/s", lambda r: r["deliveries_per_s"]),
    Metric("fanout", "latency p50 ms", _latency("p50")),
    Metric("fanout", "latency p95 ms", _latency("p95")),
    Metric("fanout", "latency p99 ms", _latency("p99")),
    Metric("fanout", "latency max ms", _latency("max")),
    Metric("fanout", "node CPU µs/delivery", lambda r: r.get("cpu_us_per_delivery")),
    Metric("fanout", "Redis CPU s", lambda r: r.get("redis_cpu_s")),
    Metric("fanout", "lost", lambda r: r["lost"]),
    Metric("fanout", "duplicates", lambda r: r["duplicates"]),
    Metric("fanout", "out of order", lambda r: r["out_of_order"]),
    Metric("fanout", "deflate negotiated", lambda r: r.get("deflate_negotiated")),
    Metric("fanout", "errors", _errors),
    Metric("fanout", "generator CPU, share of a core", lambda r: r["generator"]["cpu_frac_max"]),
    Metric("fanout", "other processes' CPU, cores", lambda r: r.get("other_cpu_cores")),
    Metric("broadcast", "clients joined", lambda r: r["members"]),
    Metric("broadcast", "node CPU µs/delivery", lambda r: r.get("cpu_us_per_delivery")),
    Metric("broadcast", "deliveries/s", lambda r: r["deliveries_per_s"]),
    Metric("broadcast", "latency p50 ms", _latency("p50")),
    Metric("broadcast", "latency p99 ms", _latency("p99")),
    Metric("broadcast", "lost", lambda r: r["lost"]),
    Metric("broadcast", "errors", _errors),
    Metric("broadcast", "generator CPU, share of a core", lambda r: r["generator"]["cpu_frac_max"]),
    Metric("broadcast", "other processes' CPU, cores", lambda r: r.get("other_cpu_cores")),
    Metric("connect", "clients joined", lambda r: r["connections"]),
    Metric("connect", "connections/s", lambda r: r["connections_per_s"]),
    Metric("connect", "node RSS KiB/connection", lambda r: r.get("rss_kb_per_connection")),
    Metric("connect", "deflate negotiated", lambda r: r.get("deflate_negotiated")),
    Metric("connect", "errors", _errors),
    Metric("connect", "broadcast to all: last delivery ms", _broadcast("all_delivered_ms")),
    Metric("connect", "broadcast to all: p50 ms", _broadcast("p50")),
    Metric("connect", "broadcast to all: p99 ms", _broadcast("p99")),
    Metric("connect", "broadcast to all: lost", _broadcast("lost")),
    Metric("connect", "broadcast to all: duplicates", _broadcast("duplicates")),
)


def kind_of(run: Mapping[str, Any]) -> str:
    """Which metrics apply to a run: its `kind`, else its scenario's name."""
    return str(run.get("kind") or run["scenario"])


class Row(NamedTuple):
    scenario: str
    metric: str
    spreads: dict[str, dict[str, float] | None]
    ratio: float | None


def summarize(runs: Sequence[Mapping[str, Any]], targets: Sequence[str]) -> list[Row]:
    """One row per metric of every scenario that ran, scenarios in the order they first
    ran; runs are {target, scenario, kind?, result}."""
    rows: list[Row] = []
    scenarios = list(dict.fromkeys(run["scenario"] for run in runs))
    for scenario in scenarios:
        kind = next(kind_of(run) for run in runs if run["scenario"] == scenario)
        for metric in (m for m in METRICS if m.kind == kind):
            spreads: dict[str, dict[str, float] | None] = {}
            for target in targets:
                values = [
                    metric.read(run["result"])
                    for run in runs
                    if run["target"] == target and run["scenario"] == scenario
                ]
                spreads[target] = spread(values)
            if all(s is None for s in spreads.values()):
                continue
            medians = [s["median"] if s else None for s in spreads.values()]
            both = ratio(medians[0], medians[1]) if len(medians) == 2 else None
            rows.append(Row(scenario, metric.name, spreads, both))
    return rows


def number(value: float | None) -> str:
    """Few significant digits: enough to compare, not more than the noise."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3f}"


def markdown_table(rows: Sequence[Row], targets: Sequence[str]) -> str:
    """| scenario | metric | <target> min / median / max ... | first/second |"""
    ratio_title = f"{targets[0]}/{targets[1]} (medians)" if len(targets) == 2 else "ratio"
    header = ["scenario", "metric", *(f"{t} min / median / max" for t in targets), ratio_title]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.scenario, row.metric]
        for target in targets:
            got = row.spreads.get(target)
            cells.append(
                " / ".join(number(got[k]) for k in ("min", "median", "max")) if got else "-"
            )
        cells.append("-" if row.ratio is None else f"{row.ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
