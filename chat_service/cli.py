"""The `chat-service` command: `run` a node (the default).

The tooling (bench, a local cluster, the soak) is the separate `chat-tools` command:
a node imports nothing from `chat_tools`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .config import SettingsError, parse_args

# Commands that `chat-service` had before the tooling got its own entry point.
MOVED_TO_TOOLS = ("bench", "cluster", "soak")


def main(argv: Sequence[str] | None = None) -> int:
    """`run` is optional; anything else is a node's settings flags."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in MOVED_TO_TOOLS:
        print(
            f"chat-service: {args[0]} is a command of chat-tools: chat-tools {args[0]} --help",
            file=sys.stderr,
        )
        return 2
    if args and args[0] == "run":
        args = args[1:]
    try:
        settings = parse_args(args)
    except SettingsError as exc:
        print(f"chat-service: {exc}", file=sys.stderr)
        return 2
    from .runner import run_node

    return run_node(settings)
