"""Start the Node comparison peer (bench/node-peer/server.js) the way procs.py starts nodes."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..procs import LoopbackService, RedisServer, free_port, spawn

# A source checkout's bench/node-peer; CHAT_BENCH_PEER_DIR points elsewhere.
PEER_DIR = Path(
    os.environ.get(
        "CHAT_BENCH_PEER_DIR", Path(__file__).resolve().parents[2] / "bench" / "node-peer"
    )
)


class PeerUnavailable(RuntimeError):
    """node or the peer's node_modules is missing."""


def check_peer(peer_dir: Path = PEER_DIR) -> str:
    """The node binary, once node and the peer's dependencies are known to be there."""
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailable("node is not installed")
    if not (peer_dir / "node_modules" / "socket.io").is_dir():
        raise PeerUnavailable(f"the peer's dependencies are missing: npm ci --prefix {peer_dir}")
    return node


@dataclass
class PeerNode(LoopbackService):
    """One Node socket.io peer process."""

    @classmethod
    def start(
        cls,
        log_dir: Path,
        redis_url: str,
        *,
        port: int | None = None,
        key_prefix: str = "peer:",
        peer_dir: Path = PEER_DIR,
        wait: bool = True,
    ) -> PeerNode:
        node = check_peer(peer_dir)
        port = port or free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "REDIS_URL": redis_url,
            "KEY_PREFIX": key_prefix,
            "NODE_ENV": "production",
        }
        process = spawn(f"peer-{port}", [node, str(peer_dir / "server.js")], log_dir, env)
        peer = cls(port, process)
        if wait:
            peer.wait_ready()
        return peer


@contextlib.contextmanager
def peer_cluster(nodes: int, log_dir: Path) -> Iterator[tuple[RedisServer, list[PeerNode]]]:
    """A private Redis and N peer processes, all stopped by PID at exit."""
    redis = RedisServer.start(log_dir, name="peer-redis")
    started: list[PeerNode] = []
    try:
        for _ in range(nodes):
            started.append(PeerNode.start(log_dir, redis.url, wait=False))
        for peer in started:
            peer.wait_ready()
        yield redis, started
    finally:
        for peer in started:
            peer.process.stop()
        redis.stop()
