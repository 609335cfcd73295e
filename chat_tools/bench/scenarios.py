"""The scenarios: spread clients over generator processes, drive them, merge one result."""

from __future__ import annotations

import math
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import load
from .pool import BenchFailure, Pool, print_progress
from .procstat import machine_busy_seconds, rss_by_pid, total_cpu_seconds
from .stats import expected_deliveries, latency_summary_ms, merge_counts, rate

BOTTLENECK_CPU = 0.7  # of one core, per generator process


@dataclass(frozen=True)
class Target:
    """Where the load goes and which server processes to watch."""

    urls: tuple[str, ...]
    pids: tuple[int, ...] = ()
    redis_pids: tuple[int, ...] = ()
    procs: int = 1
    concurrency: int = 100
    timeout: float = 60.0
    progress: bool = True
    join_retries: int = 0


@dataclass(frozen=True)
class FanoutParams:
    rooms: int = 10
    clients: int = 50
    senders: int = 5
    rate: float = 10.0
    duration: float = 10.0
    messages: int | None = None  # per sender; default rate x duration
    text_size: int = 0
    drain: float = 10.0

    @property
    def per_sender(self) -> int:
        return self.messages if self.messages is not None else round(self.rate * self.duration)


@dataclass(frozen=True)
class ConnectParams:
    connections: int = 1000
    room_size: int = 50
    settle: float = 1.0


@dataclass
class ServerWatch:
    """CPU seconds and RSS of the watched processes between `start` and `stop`."""

    target: Target
    figures: dict[str, Any] = field(default_factory=dict)
    _cpu: float = 0.0
    _redis_cpu: float = 0.0
    _machine_cpu: float = 0.0
    _started: float = 0.0

    def start(self) -> None:
        self._machine_cpu, self._started = machine_busy_seconds(), time.monotonic()
        self._cpu = total_cpu_seconds(self.target.pids)
        self._redis_cpu = total_cpu_seconds(self.target.redis_pids)
        self.figures["rss_kb_before"] = rss_by_pid(self.target.pids)

    def stop(self) -> None:
        wall = time.monotonic() - self._started
        self.figures["machine_cpu_s"] = round(machine_busy_seconds() - self._machine_cpu, 3)
        self.figures["machine_cpu_wall_s"] = round(wall, 3)
        if self.target.pids:
            server_cpu = total_cpu_seconds(self.target.pids) - self._cpu
            self.figures["server_cpu_s"] = round(server_cpu, 3)
            self.figures["rss_kb_after"] = rss_by_pid(self.target.pids)
        if self.target.redis_pids:
            redis_cpu = total_cpu_seconds(self.target.redis_pids) - self._redis_cpu
            self.figures["redis_cpu_s"] = round(redis_cpu, 3)

    def rss_growth_kb(self) -> int:
        before, after = self.figures["rss_kb_before"], self.figures["rss_kb_after"]
        return int(sum(after.values()) - sum(before.values()))


def _setup_timeout(target: Target, clients: int) -> float:
    """Worst case of joining `clients`: every batch times out on every attempt."""
    batches = math.ceil(clients / target.procs / target.concurrency)
    return batches * target.timeout * (target.join_retries + 1) + 30


def _client_plans(target: Target, runid: str, rooms: int, clients: int) -> list[load.ClientPlan]:
    base = load.ClientPlan(
        target.urls, runid, rooms, clients, 0, target.procs, target.concurrency, target.timeout,
        join_retries=target.join_retries,
    )  # fmt: skip
    return [replace(base, worker=index) for index in range(target.procs)]


def _generator(results: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    # Below a second of wall time the share of a core says nothing.
    fractions = [r["cpu_s"] / r["wall_s"] for r in results if r["wall_s"] >= 1.0]
    busiest = max(fractions, default=0.0)
    if busiest > BOTTLENECK_CPU:
        warnings.append(
            f"a load-generator process used {busiest:.0%} of a core (over "
            f"{BOTTLENECK_CPU:.0%}): the generator may be the bottleneck; try more --procs"
        )
    return {
        "procs": len(results),
        "cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        "cpu_frac_max": round(busiest, 3),
        "bottleneck": busiest > BOTTLENECK_CPU,
    }


def _finish(result: dict[str, Any], watch: ServerWatch, deliveries: int | None) -> dict[str, Any]:
    result.update(watch.figures)
    if not watch.target.pids:
        result["warnings"].append("no --pid given: server CPU and RSS not measured")
    server_cpu = watch.figures.get("server_cpu_s")
    if server_cpu is not None and deliveries:
        result["cpu_us_per_delivery"] = round(server_cpu * 1e6 / deliveries, 2)
    result["generator_cpu_s"] = result["generator"]["cpu_s"]
    # Whatever else ran on the machine meanwhile: the noise in this run's figures.
    ours = [result["generator_cpu_s"], watch.figures.get("server_cpu_s", 0.0),
            watch.figures.get("redis_cpu_s", 0.0)]  # fmt: skip
    other = max(watch.figures["machine_cpu_s"] - sum(ours), 0.0)
    result["other_cpu_cores"] = round(other / max(watch.figures["machine_cpu_wall_s"], 1e-3), 2)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return result


def _progress(target: Target) -> Callable[[float, tuple[int, int, int]], None] | None:
    return print_progress if target.progress else None


def run_fanout(target: Target, params: FanoutParams) -> dict[str, Any]:
    """R rooms x C clients, S senders per room at a rate: deliveries, latency, losses."""
    runid = secrets.token_hex(3)
    plans = [
        load.FanoutPlan(plan, params.senders, params.rate, params.per_sender, params.text_size,
                        params.drain)
        for plan in _client_plans(target, runid, params.rooms, params.clients)
    ]  # fmt: skip
    watch = ServerWatch(target)
    send_time = params.per_sender / params.rate
    with Pool(load.fanout, plans, _progress(target)) as pool:
        ready = pool.gather("ready", _setup_timeout(target, params.rooms * params.clients))
        members = merge_counts(r["joined"] for r in ready)
        if not members:
            errors = merge_counts(r["errors"] for r in ready)
            raise BenchFailure(f"no client could connect and join: {errors}")
        watch.start()
        start_ns = time.perf_counter_ns() + 200_000_000
        pool.broadcast("go", start_ns)
        acked = merge_counts(pool.gather("sent", send_time + params.drain + 30))
        pool.broadcast("totals", acked)
        results = pool.gather("result", params.drain + 30)
        watch.stop()
    expected = expected_deliveries(acked, members)
    deliveries = sum(r["deliveries"] for r in results)
    last_ns = max((r["last_delivery_ns"] for r in results), default=0)
    elapsed = max(last_ns - start_ns, 0) / 1e9
    warnings: list[str] = []
    planned = params.rooms * params.clients
    if sum(members.values()) < planned:
        setup_errors = merge_counts(r["errors"] for r in ready)
        warnings.append(f"only {sum(members.values())} of {planned} clients joined: {setup_errors}")
    if not acked:
        warnings.append("no message was acknowledged: nothing was measured")
    result: dict[str, Any] = {
        "scenario": "fanout",
        "params": {**asdict(params), "messages": params.per_sender, "urls": list(target.urls)},
        "runid": runid,
        "members": sum(members.values()),
        "sent": sum(r["sent"] for r in results),
        "acks_ok": sum(r["acks_ok"] for r in results),
        "acks_failed": sum(r["acks_failed"] for r in results),
        "expected_deliveries": expected,
        "deliveries": deliveries,
        "elapsed_s": round(elapsed, 3),
        "deliveries_per_s": _round(rate(deliveries, elapsed)),
        "offered_deliveries_per_s": params.rooms * params.senders * params.rate * params.clients,
        "latency_ms": latency_summary_ms(ns for r in results for ns in r["latencies_ns"]),
        "lost": max(expected - deliveries, 0),
        "unexpected": max(deliveries - expected, 0),
        "duplicates": sum(r["duplicates"] for r in results),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "foreign": sum(r["foreign"] for r in results),
        "errors": merge_counts(r["errors"] for r in results),  # setup errors included
        "generator": _generator(results, warnings),
        "warnings": warnings,
    }
    return _finish(result, watch, deliveries)


def run_connect(target: Target, params: ConnectParams) -> dict[str, Any]:
    """N idle joined clients: connect rate, and server RSS per connection."""
    runid = secrets.token_hex(3)
    rooms = math.ceil(params.connections / params.room_size)
    plans = _client_plans(target, runid, rooms, params.room_size)
    plans = [replace(plan, limit=params.connections) for plan in plans]
    watch = ServerWatch(target)
    with Pool(load.connect, plans, _progress(target)) as pool:
        pool.gather("ready", 60)
        watch.start()
        start_ns = time.perf_counter_ns()
        pool.broadcast("go")
        joined = pool.gather("joined", _setup_timeout(target, params.connections))
        time.sleep(params.settle)
        watch.stop()
        pool.broadcast("stop")
        results = pool.gather("result", 60)
    total = sum(j["joined"] for j in joined)
    elapsed = (max(j["done_ns"] for j in joined) - start_ns) / 1e9
    warnings: list[str] = []
    if total < params.connections:
        errors = merge_counts(r["errors"] for r in results)
        warnings.append(f"only {total} of {params.connections} clients joined: {errors}")
    result: dict[str, Any] = {
        "scenario": "connect",
        "params": {**asdict(params), "urls": list(target.urls)},
        "runid": runid,
        "connections": total,
        "connect_s": round(elapsed, 3),
        "connections_per_s": _round(rate(total, elapsed)),
        "errors": merge_counts(r["errors"] for r in results),
        "generator": _generator(results, warnings),
        "warnings": warnings,
    }
    if target.pids and total:
        result["rss_kb_per_connection"] = round(watch.rss_growth_kb() / total, 2)
    return _finish(result, watch, None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
