"""`chat-tools bench fanout|connect|capacity ...`: progress on stderr, one JSON result on
stdout.

`chat-tools bench compare` and `chat-tools bench redis-ha` are whole measurement runs
(their own servers, many scenarios), in `compare.py` and `redis_ha.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .capacity import Hardware, Load
from .capacity_run import NODE_FANOUT, CapacityParams, run_capacity
from .pool import BenchFailure
from .redisprobe import ProbeParams
from .scenarios import ConnectParams, FanoutParams, Target, run_connect, run_fanout

DEFAULT_URL = "http://127.0.0.1:5000"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", action="append", dest="urls", metavar="URL",
        help=f"node or load-balancer base URL; repeat to spread clients round-robin "
        f"[{DEFAULT_URL}]",
    )  # fmt: skip
    common.add_argument(
        "--procs", type=_positive_int, default=1, help="load-generator processes [1]"
    )
    common.add_argument(
        "--pid", type=int, action="append", default=[], dest="pids",
        help="a server process to read CPU time and RSS from (repeatable)",
    )  # fmt: skip
    common.add_argument(
        "--redis-pid", type=int, action="append", default=[], dest="redis_pids",
        help="a Redis process whose CPU time is reported apart (repeatable)",
    )  # fmt: skip
    common.add_argument(
        "--concurrency", type=_positive_int, default=100,
        help="connects in flight per generator process [100]",
    )  # fmt: skip
    common.add_argument(
        "--timeout", type=_positive_float, default=60.0, help="connect/join timeout, s [60]"
    )
    common.add_argument(
        "--join-retries", type=int, default=0,
        help="retry a join answered `unavailable` this often (failures still counted) [0]",
    )  # fmt: skip
    common.add_argument(
        "--no-deflate", action="store_false", dest="deflate",
        help="do not offer permessage-deflate (browsers and socket.io-client offer it)",
    )  # fmt: skip
    common.add_argument("--quiet", action="store_true", help="no progress lines")
    common.add_argument("--output", type=Path, help="also write the JSON result to this file")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-tools bench",
        description="Load-test a chat deployment over raw Socket.IO websockets.",
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    common = _common()
    fanout = sub.add_parser(
        "fanout", parents=[common], help="rooms of clients, some sending at a rate"
    )
    fanout.add_argument("--rooms", type=_positive_int, default=10, help="rooms [10]")
    fanout.add_argument("--clients", type=_positive_int, default=50, help="clients per room [50]")
    fanout.add_argument(
        "--senders", type=int, default=5, help="senders per room, among its clients [5]"
    )
    fanout.add_argument(
        "--rate", type=_positive_float, default=10.0, help="messages/s per sender [10]"
    )
    fanout.add_argument(
        "--duration", type=_positive_float, default=10.0, help="seconds of sending [10]"
    )
    fanout.add_argument(
        "--messages", type=_positive_int, help="messages per sender (instead of --duration)"
    )
    fanout.add_argument("--text-size", type=int, default=0, help="pad texts to this length [0]")
    fanout.add_argument(
        "--drain", type=_positive_float, default=10.0, help="max wait for late deliveries, s [10]"
    )
    connect = sub.add_parser("connect", parents=[common], help="N idle joined clients")
    connect.add_argument("--connections", type=_positive_int, default=1000, help="clients [1000]")
    connect.add_argument(
        "--room-size", type=_positive_int, default=50, help="clients per room [50]"
    )
    connect.add_argument("--settle", type=float, default=1.0, help="wait before reading RSS, s [1]")
    connect.add_argument(
        "--broadcast", action="store_true",
        help="then one message to every room at once: time until every client has it, p99",
    )  # fmt: skip
    # Listed for --help only: main() hands these to their own modules before parsing.
    sub.add_parser(
        "compare",
        add_help=False,
        help="ours beside the Node peer, interleaved "
        "repetitions of many scenarios (chat-tools bench compare --help)",
    )
    sub.add_parser("redis-ha", add_help=False, help="the cost of WAIT; fanout on a Redis "
                   "Cluster (chat-tools bench redis-ha --help)")  # fmt: skip
    _capacity_parser(sub, common)
    return parser


def _compare(argv: list[str]) -> int:
    from .compare import main

    return main(argv)


def _redis_ha(argv: list[str]) -> int:
    from .redis_ha import main

    return main(argv)


# Whole measurement runs: each deploys its own servers and runs the scenarios above in
# processes of their own.
RUNS: dict[str, Callable[[list[str]], int]] = {"compare": _compare, "redis-ha": _redis_ha}


def _subscriber_counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(part) for part in text.split(","))
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a list of positive integers")
    return counts


def _capacity_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    capacity = sub.add_parser(
        "capacity", parents=[common],
        help="measure Redis and node coefficients here, then size a deployment (docs/capacity.md)",
    )  # fmt: skip
    add = capacity.add_argument
    add("--redis-url", required=True, help="a Redis like production's, used by nothing else")
    add("--people", type=_positive_int, default=100_000, help="people online [100000]")
    add("--rooms", type=_positive_int, default=5_000, help="rooms they are spread over [5000]")
    add("--rate", type=_positive_float, default=1.0, help="messages per person per minute [1]")
    add("--connections-per-person", type=_positive_float, default=1.0, help="tabs/devices [1]")
    add("--node-cores", type=_positive_float, default=2.0, help="cores per node [2]")
    add("--node-gib", type=_positive_float, default=4.0, help="memory per node, GiB [4]")
    add("--headroom", type=_positive_float, default=0.5, help="plan for this share of a core [0.5]")
    add("--probe-messages", type=_positive_int, default=4000, help="appends per Redis run [4000]")
    add("--subscribers", type=_subscriber_counts, default=(1, 4),
        help="nodes subscribed to the rooms, one Redis run each [1,4]")  # fmt: skip
    add("--min-replicas", type=int, default=0, help="WAIT for this many replicas [0]")
    add("--no-client-id", action="store_false", dest="client_id", help="appends without one")
    add("--fanout-rooms", type=_positive_int, default=10, help="rooms of 20 in the CPU run [10]")
    add("--fanout-duration", type=_positive_float, default=10.0, help="CPU run, s [10]")
    add("--connections", type=_positive_int, default=1000, help="clients of the memory run [1000]")
    add("--node-us-per-delivery", type=_positive_float, help="instead of measuring (no --pid)")
    add("--node-kib-per-connection", type=_positive_float, help="instead of measuring (no --pid)")


def _capacity_params(args: argparse.Namespace) -> CapacityParams:
    return CapacityParams(
        redis_url=args.redis_url,
        load=Load(args.people, args.rooms, args.rate, args.connections_per_person),
        hardware=Hardware(args.node_cores, args.node_gib, min(args.headroom, 1.0)),
        probe=ProbeParams(
            messages=args.probe_messages,
            subscribers=args.subscribers,
            min_replicas=args.min_replicas,
            client_id=args.client_id,
        ),
        fanout=replace(NODE_FANOUT, rooms=args.fanout_rooms, duration=args.fanout_duration),
        connections=args.connections,
        node_us_per_delivery=args.node_us_per_delivery,
        node_kib_per_connection=args.node_kib_per_connection,
    )


def main(argv: Sequence[str]) -> int:
    """Run one scenario; exit 0 when it ran (read the JSON for losses), 1 when it failed."""
    if argv and argv[0] in RUNS:
        return RUNS[argv[0]](list(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(list(argv))
    target = Target(
        urls=tuple(args.urls or [DEFAULT_URL]),
        pids=tuple(args.pids),
        redis_pids=tuple(args.redis_pids),
        procs=args.procs,
        concurrency=args.concurrency,
        timeout=args.timeout,
        progress=not args.quiet,
        join_retries=args.join_retries,
        deflate=args.deflate,
    )
    result: dict[str, Any]
    try:
        if args.scenario == "fanout":
            if not 0 <= args.senders <= args.clients:
                parser.error("--senders must be between 0 and --clients")
            params = FanoutParams(
                rooms=args.rooms,
                clients=args.clients,
                senders=args.senders,
                rate=args.rate,
                duration=args.duration,
                messages=args.messages,
                text_size=args.text_size,
                drain=args.drain,
            )
            result = run_fanout(target, params)
        elif args.scenario == "capacity":
            result = run_capacity(target, _capacity_params(args))
        else:
            result = run_connect(
                target,
                ConnectParams(args.connections, args.room_size, args.settle, args.broadcast),
            )
    except (BenchFailure, OSError) as exc:
        print(f"chat-tools bench: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    if args.output is not None:
        args.output.write_text(text + "\n")
    print(text)
    return 0
