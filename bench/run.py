#!/usr/bin/env python3
"""Compare our service with the Node socket.io peer, same tool, same run, interleaved.

For each repetition and each target in turn (ours, peer, ours, peer, ...) it starts a
private Redis and fresh server processes, runs `chat-service bench` against the node
URLs (clients round-robin over them), stops everything, and finally prints min /
median / max per target with ours/peer ratios and writes every result to a JSON file.

Scenarios: `connect` and `fanout` on Redis + --nodes nodes (PERFORMANCE.md's cluster
scenario by default); `broadcast` on Redis + 1 node (500 clients in one room, 200
broadcasts: server CPU per delivery); `fanout-lb`, ours only, through the HAProxy of
`chat_tools.localcluster` when asked with --lb.

    .venv/bin/python bench/run.py --quick
    .venv/bin/python bench/run.py --reps 5 --out bench/results/cluster.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_tools.bench.machine import describe
from chat_tools.bench.peer import PEER_DIR, check_peer, peer_cluster
from chat_tools.bench.report import markdown_table, number, summarize
from chat_tools.procs import cluster

# Ours runs like the peer: no per-connection rate limit, no per-event INFO logging.
OURS_ENV = {"CHAT_RATE_LIMIT": "0", "CHAT_LOG_LEVEL": "WARNING"}
TARGETS = ("ours", "peer")
SCENARIOS = ("connect", "fanout", "broadcast")
QUICK = {
    "rooms": 2, "clients": 10, "senders": 2, "rate": 5.0, "duration": 3.0, "reps": 1,
    "broadcast_clients": 50, "broadcasts": 20, "connections": 100,
}  # fmt: skip


@dataclass
class Deployment:
    urls: list[str]
    pids: list[int]
    redis_pid: int


@contextlib.contextmanager
def deploy(target: str, nodes: int, log_dir: Path) -> Iterator[Deployment]:
    """Fresh Redis + nodes of one target, stopped by PID at exit."""
    if target == "ours":
        with cluster(nodes, log_dir, extra_env=OURS_ENV) as (redis, ours):
            yield Deployment(
                [n.url for n in ours], [n.process.pid for n in ours], redis.process.pid
            )
    else:
        with peer_cluster(nodes, log_dir) as (redis, peers):
            yield Deployment(
                [p.url for p in peers], [p.process.pid for p in peers], redis.process.pid
            )


@contextlib.contextmanager
def deploy_lb(nodes: int, log_dir: Path) -> Iterator[Deployment]:
    """Ours behind the shipped load balancer; the clients get only its URL."""
    from chat_tools.localcluster import local_cluster  # optional: another helper writes it

    with local_cluster(nodes, log_dir=log_dir, extra_env=OURS_ENV) as lc:
        assert lc.redis is not None
        pids = [n.process.pid for n in lc.nodes]
        yield Deployment([lc.lb_url], pids, lc.redis.process.pid)


def bench(scenario: str, deployment: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """One `chat-service bench` run in its own process; its JSON result."""
    argv = [
        sys.executable,
        "-m",
        "chat_tools.bench",
        "connect" if scenario == "connect" else "fanout",
    ]
    for url in deployment.urls:
        argv += ["--url", url]
    for pid in deployment.pids:
        argv += ["--pid", str(pid)]
    argv += ["--redis-pid", str(deployment.redis_pid), "--procs", str(args.procs),
             "--concurrency", str(args.concurrency), "--join-retries", str(args.join_retries),
             "--quiet"]  # fmt: skip
    if scenario == "connect":
        argv += ["--connections", str(args.connections)]
    elif scenario == "broadcast":
        argv += ["--rooms", "1", "--clients", str(args.broadcast_clients),
                 "--senders", "1", "--messages", str(args.broadcasts),
                 "--rate", str(args.broadcast_rate)]  # fmt: skip
    else:
        argv += ["--rooms", str(args.rooms), "--clients", str(args.clients),
                 "--senders", str(args.senders), "--rate", str(args.rate),
                 "--duration", str(args.duration)]  # fmt: skip
    done = subprocess.run(argv, stdout=subprocess.PIPE, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def one_line(run: dict[str, Any]) -> str:
    r = run["result"]
    head = f"rep {run['rep']} {run['target']:>4} {run['scenario']:<9}"
    if run["scenario"] == "connect":
        return (f"{head} {number(r['connections_per_s'])} conn/s, "
                f"{number(r.get('rss_kb_per_connection'))} KiB/conn, "
                f"errors {r['errors'] or 0}")  # fmt: skip
    lat = r["latency_ms"]
    return (
        f"{head} {number(r['deliveries_per_s'])} deliveries/s, p50 {number(lat['p50'])} ms, "
        f"p99 {number(lat['p99'])} ms, {number(r.get('cpu_us_per_delivery'))} µs/delivery, "
        f"lost {r['lost']}, dup {r['duplicates']}, errors {r['errors'] or 0}, "
        f"generator {r['generator']['cpu_frac_max']:.0%}"
    )


def plan(args: argparse.Namespace) -> list[tuple[int, str, str]]:
    """(rep, target, scenario) in the order they run: targets interleaved per rep."""
    order: list[tuple[int, str, str]] = []
    for rep in range(1, args.reps + 1):
        for target in args.targets:
            order += [(rep, target, s) for s in args.scenarios if s != "fanout-lb"]
            if target == "ours" and "fanout-lb" in args.scenarios:
                order.append((rep, target, "fanout-lb"))
    return order


def run_all(args: argparse.Namespace, log_dir: Path) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    order = plan(args)
    # Scenarios of one (rep, target) that share a deployment run on the same processes.
    groups: dict[tuple[int, str, str], list[str]] = {}
    for rep, target, scenario in order:
        kind = {"broadcast": "single", "fanout-lb": "lb"}.get(scenario, "cluster")
        groups.setdefault((rep, target, kind), []).append(scenario)
    for (rep, target, kind), scenarios in groups.items():
        where = log_dir / f"rep{rep}-{target}-{kind}"
        if kind == "lb":
            context = deploy_lb(args.nodes, where)
        else:
            context = deploy(target, 1 if kind == "single" else args.nodes, where)
        with context as deployment:
            for scenario in scenarios:
                name = "fanout" if scenario == "fanout-lb" else scenario
                run: dict[str, Any] = {"rep": rep, "target": target, "scenario": scenario}
                try:
                    run["result"] = bench(name, deployment, args)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    run["failed"] = str(exc)  # recorded, left out of the table
                    print(f"rep {rep} {target} {scenario} FAILED: {exc}", file=sys.stderr)
                    runs.append(run)
                    continue
                print(one_line(run), file=sys.stderr, flush=True)
                runs.append(run)
    return runs


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    add("--reps", type=int, default=3, help="repetitions, targets interleaved [3]")
    add("--nodes", type=int, default=2, help="nodes per target for connect/fanout [2]")
    add("--rooms", type=int, default=10, help="fanout rooms [10]")
    add("--clients", type=int, default=50, help="fanout clients per room [50]")
    add("--senders", type=int, default=5, help="fanout senders per room [5]")
    add("--rate", type=float, default=10.0, help="fanout messages/s per sender [10]")
    add("--duration", type=float, default=10.0, help="fanout seconds of sending [10]")
    add("--broadcast-clients", type=int, default=500, help="clients in the one room [500]")
    add("--broadcasts", type=int, default=200, help="messages broadcast [200]")
    add("--broadcast-rate", type=float, default=20.0, help="broadcasts per second [20]")
    add("--connections", type=int, default=1000, help="idle clients in connect [1000]")
    add("--procs", type=int, default=1, help="load-generator processes [1]")
    add("--concurrency", type=int, default=50, help="joins in flight per generator [50]")
    add("--join-retries", type=int, default=3, help="retries of `unavailable` joins [3]")
    add("--scenarios", default=",".join(SCENARIOS), help="comma-separated [%(default)s]")
    add("--lb", action="store_true", help="also fanout through the load balancer (ours)")
    add("--targets", default=",".join(TARGETS), help="comma-separated [%(default)s]")
    add("--out", type=Path, help="JSON results file [<log dir>/results.json]")
    add("--log-dir", type=Path, help="server logs [a new temporary directory]")
    args = parser.parse_args(argv)
    if args.quick:
        overridden = {a.lstrip("-").replace("-", "_").split("=")[0] for a in argv}
        for key, value in QUICK.items():
            if key not in overridden:
                setattr(args, key, value)
    args.targets = [t for t in args.targets.split(",") if t]
    args.scenarios = [s for s in args.scenarios.split(",") if s] + (
        ["fanout-lb"] if args.lb else []
    )
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if "peer" in args.targets:
        check_peer()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="chat-bench-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    runs = run_all(args, log_dir)
    rows = summarize([run for run in runs if "result" in run], args.targets)
    table = markdown_table(rows, args.targets)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out = args.out or log_dir / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"started": started, "machine": describe(PEER_DIR), "params": params,
                "runs": runs, "table": table}  # fmt: skip
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(table)
    print(f"\nresults: {out}\nserver logs: {log_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
