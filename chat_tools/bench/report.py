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


class Metric(NamedTuple):
    scenario: str
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
    Metric("connect", "errors", _errors),
)


class Row(NamedTuple):
    scenario: str
    metric: str
    spreads: dict[str, dict[str, float] | None]
    ratio: float | None


def summarize(runs: Sequence[Mapping[str, Any]], targets: Sequence[str]) -> list[Row]:
    """One row per metric of every scenario that ran; runs are {target, scenario, result}."""
    rows: list[Row] = []
    for metric in METRICS:
        spreads: dict[str, dict[str, float] | None] = {}
        for target in targets:
            values = [
                metric.read(run["result"])
                for run in runs
                if run["target"] == target and run["scenario"] == metric.scenario
            ]
            spreads[target] = spread(values)
        if all(s is None for s in spreads.values()):
            continue
        medians = [s["median"] if s else None for s in spreads.values()]
        both = ratio(medians[0], medians[1]) if len(medians) == 2 else None
        rows.append(Row(metric.scenario, metric.name, spreads, both))
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
