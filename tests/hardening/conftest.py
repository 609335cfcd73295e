"""Real node processes for the hardening tier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tools.procs import Node


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start real `python -m chat_service` processes; all stopped by PID at the end."""
    started: list[Node] = []

    def start(redis_url: str | None = None, **env: Any) -> Node:
        extra = {f"CHAT_{k.upper()}": str(v) for k, v in env.items()}
        node = Node.start(tmp_path, redis_url, extra_env=extra)
        started.append(node)
        return node

    yield start
    for node in started:
        node.process.stop()


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One default node shared by a module's tests that do not change its settings."""
    node = Node.start(tmp_path_factory.mktemp("shared-node"), extra_env={"CHAT_RATE_LIMIT": "0"})
    yield node
    node.process.stop()
