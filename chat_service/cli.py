"""The `chat-service` command: run a node (default), `bench`, or a local `cluster`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .config import SettingsError, parse_args


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the first word; anything else is a node's settings flags."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "bench":
        from chat_tools.bench.cli import main as bench_main

        return bench_main(args[1:])
    if args and args[0] == "cluster":
        from chat_tools.localcluster import main as cluster_main

        return cluster_main(args[1:])
    try:
        settings = parse_args(args)
    except SettingsError as exc:
        print(f"chat-service: {exc}", file=sys.stderr)
        return 2
    from .runner import run_node

    return run_node(settings)
