"""`chat-tools bench compare`: our service beside the Node socket.io peer, interleaved.

For each repetition and each target in turn (ours, peer, ours, peer, ...) it starts a
private Redis and fresh server processes, runs `chat-tools bench fanout|connect` against
the node URLs (clients round-robin over them), stops everything, and finally prints min /
median / max per target with ours/peer ratios and writes every result to a JSON file.

Scenarios (names for --scenarios):
- `connect`: 1,000 idle joined clients on Redis + --nodes nodes: connects/s, RSS each;
- `fanout20k`: 10 rooms x 20 clients, 2 senders per room at 50 msg/s for 10 s on --nodes
  nodes (20,000 deliveries/s offered); `fanout2k`: the same at 5 msg/s (2,000/s);
- `fanout`: PERFORMANCE.md's cluster scenario (10 x 50 clients, 5 senders at 10/s);
- `broadcast`: Redis + 1 node, 500 clients in one room, 200 broadcasts;
- `idle10k`: Redis + 1 node, 10,000 idle joined clients in rooms of 50, then one
  message to every room at once (time until the last client has it, p99);
- `scale`: fanout20k on 1, 2 and 4 nodes (`scale-1`, `scale-2`, `scale-4`);
- `fanout-lb`, ours only, through the HAProxy of `chat_tools.localcluster` (--lb).
Clients offer permessage-deflate as browsers do (--no-deflate: they do not). PNG plots
of the medians are written next to the JSON results.

    .venv/bin/chat-tools bench compare --quick
    .venv/bin/chat-tools bench compare --reps 5 --out bench/results/cluster.json
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

from ..localcluster import local_cluster
from ..procs import cluster
from .machine import describe
from .peer import PEER_DIR, check_peer, peer_cluster
from .plots import write_plots
from .report import markdown_table, number, summarize

# Ours runs like the peer: no per-connection rate limit, no per-event INFO logging.
OURS_ENV = {"CHAT_RATE_LIMIT": "0", "CHAT_LOG_LEVEL": "WARNING"}
# Targets that are ours with other settings: what accepting compression costs.
VARIANTS = {"ours-deflate": {"CHAT_WS_COMPRESSION": "on"}}
TARGETS = ("ours", "peer")
SCENARIOS = ("connect", "fanout20k", "fanout2k", "fanout", "broadcast")
QUICK = {
    "rooms": 2, "clients": 10, "senders": 2, "rate": 5.0, "duration": 3.0, "reps": 1,
    "broadcast_clients": 50, "broadcasts": 20, "connections": 100,
    "idle_connections": 200, "room_scale": 0.25,
}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """One named measurement: which bench command, on how many nodes, with what load."""

    name: str
    kind: str  # fanout, broadcast or connect (which figures report.py reads)
    nodes: int
    argv: tuple[str, ...]
    lb: bool = False
    fresh: bool = False  # its own deployment (memory figures need an unused node)


def fanout_argv(
    rooms: int, clients: int, senders: int, rate: float, duration: float
) -> tuple[str, ...]:
    return ("fanout", "--rooms", str(rooms), "--clients", str(clients), "--senders",
            str(senders), "--rate", str(rate), "--duration", str(duration))  # fmt: skip


def catalogue(args: argparse.Namespace) -> dict[str, Scenario]:
    """Every scenario by name, sized by the arguments (--quick shrinks them)."""
    rooms20k = max(2, round(10 * args.room_scale))
    clients20k = max(3, round(20 * args.room_scale))
    f20k = fanout_argv(rooms20k, clients20k, 2, 50.0, args.duration)
    f2k = fanout_argv(rooms20k, clients20k, 2, 5.0, args.duration)
    connect = ("connect", "--connections", str(args.connections))
    idle = ("connect", "--connections", str(args.idle_connections), "--broadcast",
            "--settle", "2")  # fmt: skip
    found = {
        "connect": Scenario("connect", "connect", args.nodes, connect, fresh=True),
        "fanout20k": Scenario("fanout20k", "fanout", args.nodes, f20k),
        "fanout2k": Scenario("fanout2k", "fanout", args.nodes, f2k),
        "fanout": Scenario("fanout", "fanout", args.nodes, fanout_argv(
            args.rooms, args.clients, args.senders, args.rate, args.duration)),
        "broadcast": Scenario("broadcast", "broadcast", 1, (
            "fanout", "--rooms", "1", "--clients", str(args.broadcast_clients), "--senders",
            "1", "--messages", str(args.broadcasts), "--rate", str(args.broadcast_rate))),
        "idle10k": Scenario("idle10k", "connect", 1, idle, fresh=True),
        "fanout-lb": Scenario("fanout-lb", "fanout", args.nodes, fanout_argv(
            args.rooms, args.clients, args.senders, args.rate, args.duration), lb=True),
    }  # fmt: skip
    for count in args.scale_nodes:
        name = f"scale-{count}"
        found[name] = Scenario(name, "fanout", count, f20k)
    return found


def loadavg() -> str:
    """The machine's load averages: how busy it was around a measurement."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Deployment:
    urls: list[str]
    pids: list[int]
    redis_pid: int


@contextlib.contextmanager
def deploy(target: str, nodes: int, log_dir: Path, pythons: dict[str, str]) -> Iterator[Deployment]:
    """Fresh Redis + nodes of one target, stopped by PID at exit. `ours`, VARIANTS and
    every `--python LABEL=PATH` target are this service (run by that interpreter)."""
    if target == "ours" or target in pythons or target in VARIANTS:
        python = pythons.get(target)
        env = {**OURS_ENV, **VARIANTS.get(target, {})}
        with cluster(nodes, log_dir, extra_env=env, python=python) as (redis, ours):
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
    with local_cluster(nodes, log_dir=log_dir, extra_env=OURS_ENV) as lc:
        assert lc.redis is not None
        pids = [n.process.pid for n in lc.nodes]
        yield Deployment([lc.lb_url], pids, lc.redis.process.pid)


def bench(scenario: Scenario, deployment: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """One `chat-tools bench` run in its own process; its JSON result."""
    argv = [sys.executable, "-m", "chat_tools.bench", *scenario.argv]
    for url in deployment.urls:
        argv += ["--url", url]
    for pid in deployment.pids:
        argv += ["--pid", str(pid)]
    argv += ["--redis-pid", str(deployment.redis_pid), "--procs", str(args.procs),
             "--concurrency", str(args.concurrency), "--join-retries", str(args.join_retries),
             "--quiet"]  # fmt: skip
    if not args.deflate:
        argv.append("--no-deflate")
    done = subprocess.run(argv, stdout=subprocess.PIPE, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def one_line(run: dict[str, Any]) -> str:
    r = run["result"]
    head = f"rep {run['rep']} {run['target']:>4} {run['scenario']:<9}"
    deflate = f"deflate {r.get('deflate_negotiated', '-')}"
    if run["kind"] == "connect":
        once = r.get("broadcast")
        tail = ""
        if once:
            tail = (f", broadcast to all {number(once['all_delivered_ms'])} ms, p99 "
                    f"{number(once['latency_ms']['p99'])} ms, lost {once['lost']}")  # fmt: skip
        return (f"{head} {number(r['connections_per_s'])} conn/s, "
                f"{number(r.get('rss_kb_per_connection'))} KiB/conn, {deflate}, "
                f"errors {r['errors'] or 0}{tail}")  # fmt: skip
    lat = r["latency_ms"]
    return (
        f"{head} {number(r['deliveries_per_s'])} deliveries/s, p50 {number(lat['p50'])} ms, "
        f"p99 {number(lat['p99'])} ms, {number(r.get('cpu_us_per_delivery'))} µs/delivery, "
        f"lost {r['lost']}, dup {r['duplicates']}, order {r['out_of_order']}, {deflate}, "
        f"errors {r['errors'] or 0}, generator {r['generator']['cpu_frac_max']:.0%}"
    )


def plan(args: argparse.Namespace) -> list[tuple[int, str, Scenario]]:
    """(rep, target, scenario) in the order they run: targets interleaved per rep."""
    known = catalogue(args)
    order: list[tuple[int, str, Scenario]] = []
    for rep in range(1, args.reps + 1):
        for target in args.targets:
            for name in args.scenarios:
                scenario = known[name]
                if not scenario.lb or target == "ours":
                    order.append((rep, target, scenario))
    return order


def run_all(args: argparse.Namespace, log_dir: Path) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    # Scenarios of one (rep, target) that can share a deployment run on the same processes.
    groups: dict[tuple[int, str, int, bool, str], list[Scenario]] = {}
    for rep, target, scenario in plan(args):
        key = (rep, target, scenario.nodes, scenario.lb, scenario.name if scenario.fresh else "")
        groups.setdefault(key, []).append(scenario)
    for (rep, target, nodes, lb, _), scenarios in groups.items():
        where = log_dir / f"rep{rep}-{target}-{nodes}n-{scenarios[0].name}"
        context = deploy_lb(nodes, where) if lb else deploy(target, nodes, where, args.pythons)
        with context as deployment:
            for scenario in scenarios:
                run: dict[str, Any] = {"rep": rep, "target": target, "scenario": scenario.name,
                                       "kind": scenario.kind, "nodes": nodes,
                                       "loadavg_before": loadavg()}  # fmt: skip
                try:
                    run["result"] = bench(scenario, deployment, args)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    run["failed"] = str(exc)  # recorded, left out of the table
                    print(f"rep {rep} {target} {scenario.name} FAILED: {exc}", file=sys.stderr)
                    runs.append(run)
                    continue
                run["loadavg_after"] = loadavg()
                print(one_line(run), file=sys.stderr, flush=True)
                runs.append(run)
    return runs


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chat-tools bench compare",
        description="Compare our service with the Node socket.io peer, interleaved.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    add("--reps", type=int, default=3, help="repetitions, targets interleaved [3]")
    add("--nodes", type=int, default=2, help="nodes per target for connect/fanout* [2]")
    add("--rooms", type=int, default=10, help="fanout rooms [10]")
    add("--clients", type=int, default=50, help="fanout clients per room [50]")
    add("--senders", type=int, default=5, help="fanout senders per room [5]")
    add("--rate", type=float, default=10.0, help="fanout messages/s per sender [10]")
    add("--duration", type=float, default=10.0, help="seconds of sending, fanout* [10]")
    add("--room-scale", type=float, default=1.0, help="scale fanout20k/2k rooms and clients [1]")
    add("--broadcast-clients", type=int, default=500, help="clients in the one room [500]")
    add("--broadcasts", type=int, default=200, help="messages broadcast [200]")
    add("--broadcast-rate", type=float, default=20.0, help="broadcasts per second [20]")
    add("--connections", type=int, default=1000, help="idle clients in connect [1000]")
    add("--idle-connections", type=int, default=10_000, help="idle clients in idle10k [10000]")
    add("--scale-nodes", default="1,2,4", help="node counts of `scale` [%(default)s]")
    add("--procs", type=int, default=1, help="load-generator processes [1]")
    add("--concurrency", type=int, default=50, help="joins in flight per generator [50]")
    add("--join-retries", type=int, default=3, help="retries of `unavailable` joins [3]")
    add("--no-deflate", action="store_false", dest="deflate",
        help="clients do not offer permessage-deflate (browsers do)")  # fmt: skip
    add("--scenarios", default=",".join(SCENARIOS), help="comma-separated [%(default)s]")
    add("--lb", action="store_true", help="also fanout through the load balancer (ours)")
    add("--targets", default=",".join(TARGETS),
        help="comma-separated: ours, peer, ours-deflate (CHAT_WS_COMPRESSION=on) or a "
        "--python label [%(default)s]")  # fmt: skip
    add("--python", action="append", default=[], dest="pythons", metavar="LABEL=PATH",
        help="a target LABEL: this service run by the interpreter PATH (in a virtualenv with "
        "its dependencies), e.g. py312=.venv312/bin/python; list it in --targets")  # fmt: skip
    add("--out", type=Path, help="JSON results file [<log dir>/results.json]; plots beside it")
    add("--log-dir", type=Path, help="server logs [a new temporary directory]")
    args = parser.parse_args(argv)
    if args.quick:
        overridden = {a.lstrip("-").replace("-", "_").split("=")[0] for a in argv}
        for key, value in QUICK.items():
            if key not in overridden:
                setattr(args, key, value)
    args.scale_nodes = [int(n) for n in args.scale_nodes.split(",") if n]
    args.pythons = dict(item.split("=", 1) for item in args.pythons)
    args.targets = [t for t in args.targets.split(",") if t]
    names: list[str] = []
    for name in (s for s in args.scenarios.split(",") if s):
        names += [f"scale-{n}" for n in args.scale_nodes] if name == "scale" else [name]
    args.scenarios = names + (["fanout-lb"] if args.lb else [])
    unknown = set(args.scenarios) - set(catalogue(args))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    """Run every (rep, target, scenario); print the table, write the JSON and the plots."""
    args = parse_args(argv)
    if "peer" in args.targets:
        check_peer()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="chat-bench-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_before = loadavg()
    runs = run_all(args, log_dir)
    rows = summarize([run for run in runs if "result" in run], args.targets)
    table = markdown_table(rows, args.targets)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out = args.out or log_dir / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"started": started, "machine": describe(PEER_DIR), "params": params,
                "loadavg_before": load_before, "loadavg_after": loadavg(),
                "runs": runs, "table": table}  # fmt: skip
    out.write_text(json.dumps(document, indent=2) + "\n")
    plots = write_plots(rows, args.targets, out.with_suffix(""))
    print(table)
    print(f"\nresults: {out}\nplots: {', '.join(map(str, plots)) or 'none'}\n"
          f"server logs: {log_dir}\nload average before / after: {load_before} / {loadavg()}",
          file=sys.stderr)  # fmt: skip
    return 0
