"""The `chat-tools` command: `bench`, a local `cluster`, a `soak`.

Its own console script, so the arrow points one way: the tooling imports `chat_service`
to start and drive nodes, and `chat-service` (a node) never imports the tooling. Each
command's module is imported only when that command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: chat-tools COMMAND [options]

commands:
  bench      the load generator and the comparisons (chat-tools bench --help)
  cluster    Redis, N nodes and HAProxy on this machine (chat-tools cluster --help)
  soak       a cluster under churn and scheduled faults (chat-tools soak --help)

A node itself is `chat-service` (chat-service --help)."""


def _bench(args: list[str]) -> int:
    from .bench.cli import main

    return main(args)


def _cluster(args: list[str]) -> int:
    from .localcluster import main

    return main(args)


def _soak(args: list[str]) -> int:
    from .soak.cli import main

    return main(args)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "bench": _bench,
    "cluster": _cluster,
    "soak": _soak,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the first word; no command or --help prints the commands."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"chat-tools: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return command(args[1:])
