"""`chat-tools soak`: run the soak, write results.json and the plots, print the verdict."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..localcluster import local_cluster
from ..procs import RedisServer
from .link import ProxyHost
from .linkfaults import Links
from .runner import Soak, SoakConfig
from .schedule import FAULTS, VIA_REDIS_PROXY


def parse_args(argv: Sequence[str]) -> SoakConfig:
    parser = argparse.ArgumentParser(
        prog="chat-tools soak",
        description="Redis (AOF), N nodes and HAProxy under people-like churn and a seeded "
        "fault schedule; writes results.json and PNG plots.",
    )
    parser.add_argument("--out", type=Path, default=Path("soak-results"), help="results folder")
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    parser.add_argument("--clients", type=int, default=200, help="people (default 200)")
    parser.add_argument("--rooms", type=int, default=20, help="rooms in use at any time")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="seeds the faults and the people")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before any fault")
    parser.add_argument("--interval", type=float, default=110.0, help="seconds between faults")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated subset of {','.join(FAULTS)}"
    )
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=20.0, help="mean idle seconds per person")
    parser.add_argument("--jitter", type=float, default=0.5, help="reconnect jitter, 0 to 1")
    parser.add_argument("--blackhole-share", type=float, default=0.2)
    parser.add_argument("--rotate-every", type=float, default=60.0)
    parser.add_argument(
        "--lossy-share",
        type=float,
        default=0.2,
        help="share of people behind a mobile link (used when the faults include lossy)",
    )
    parser.add_argument(
        "--max-hold", type=float, default=None, help="cap every fault's hold (short smokes)"
    )
    a = parser.parse_args(argv)
    kinds = tuple(k for k in a.faults.split(",") if k)
    if set(kinds) - set(FAULTS):
        parser.error(f"--faults: unknown {sorted(set(kinds) - set(FAULTS))}")
    if a.duration <= a.warmup or a.clients < 1 or a.rooms < 1 or a.nodes < 1:
        parser.error("need duration > warmup and at least one client, room and node")
    if not 0.0 <= a.jitter <= 1.0:
        parser.error("--jitter must be between 0 and 1")
    if (
        not 0.0 <= a.blackhole_share + a.lossy_share <= 1.0
        or min(a.blackhole_share, a.lossy_share) < 0
    ):
        parser.error("--blackhole-share and --lossy-share must add up to between 0 and 1")
    return SoakConfig(
        out=a.out, duration=a.duration, clients=a.clients, rooms=a.rooms, nodes=a.nodes,
        seed=a.seed, warmup=a.warmup, interval=a.interval, faults=kinds,
        sample_every=a.sample_every, idle=a.idle, jitter=a.jitter,
        blackhole_share=a.blackhole_share, rotate_every=a.rotate_every,
        lossy_share=a.lossy_share, max_hold=a.max_hold,
    )  # fmt: skip


def summary(results: dict[str, Any]) -> list[str]:
    v = results["verdict"]
    lines = [
        f"acknowledged {v['acked']}, shown {v['shown']}: lost {v['lost']}, "
        f"duplicates {v['duplicates']}, order breaks {v['order_breaks']}",
        f"send ack p50 {results['latency']['p50_ms']} ms, p99 {results['latency']['p99_ms']} ms"
        f" (outside faults: p50 {results['latency']['quiet_p50_ms']} ms,"
        f" p99 {results['latency']['quiet_p99_ms']} ms)",
    ]
    for r in results["faults"]:
        f = r["fault"]
        lines.append(
            f"{f['at']:7.1f}s {f['kind']:<11} node{f['node'] + 1} can send {r['can_send_s']}s, "
            f"members agree {r['members_agree_s']}s, all back {r['all_back_s']}s, "
            f"user_left {r['user_left']} user_joined {r['user_joined']}, "
            f"lost {r.get('lost', 0)} dup {r.get('duplicates', 0)} "
            f"order {r.get('order_breaks', 0)}, moves {r.get('moves', 0)}"
            + (f" ERROR {r['error']}" if r["error"] else "")
        )
    lines.append("leak: " + ", ".join(results["leak"]) if results["leak"] else "no leak")
    return lines


def run(cfg: SoakConfig) -> dict[str, Any]:
    cfg.out.mkdir(parents=True, exist_ok=True)
    log_dir = cfg.out / "logs"
    redis = RedisServer.start(log_dir, persistent=True)
    host = ProxyHost()  # the proxies' own thread: up before the nodes, busy loop or not
    try:
        links = Links(host)
        if VIA_REDIS_PROXY & set(cfg.faults):
            links.redis = [host.add(redis.port, seed=cfg.seed + i) for i in range(cfg.nodes)]
        urls = [link.redis_url for link in links.redis] or None
        with local_cluster(
            cfg.nodes, log_dir=log_dir, redis_url=redis.url, node_redis_urls=urls
        ) as cluster:
            if "lossy" in cfg.faults and cfg.lossy_share > 0:
                links.lossy = host.add(cluster.lb.port, seed=cfg.seed)
            started = time.time()
            results = asyncio.run(Soak(cfg, cluster, redis, links).run())
            results["wall_seconds"] = round(time.time() - started, 1)
    finally:
        host.stop()
        redis.stop()
    (cfg.out / "results.json").write_text(json.dumps(results, indent=1))
    from .plots import write_plots

    write_plots(results, cfg.out)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Dropped connections are the point of a soak: the client libraries' complaints
    # about them ("packet queue is empty") would bury the summary.
    for name in ("engineio.client", "socketio.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    results = run(cfg)
    print("\n".join(summary(results)))
    v = results["verdict"]
    bad = v["lost"] or v["duplicates"] or v["order_breaks"] or results["leak"]
    return 1 if bad else 0
