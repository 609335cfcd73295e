"""Faults done to real processes: every call blocks, so the runner runs them in a thread."""

from __future__ import annotations

import shutil
import signal
import time

from ..localcluster import LocalCluster
from ..procs import RedisServer


def kill_node(cluster: LocalCluster, index: int, down: float) -> None:
    """kill -9, `down` seconds without it, then a fresh process on the same port."""
    node = cluster.nodes[index]
    node.process.kill()
    time.sleep(down)
    node.restart()


def rolling_restart(cluster: LocalCluster, pause: float = 2.0) -> None:
    """SIGTERM each node in turn (it drains), start it again, wait until it is ready."""
    for node in cluster.nodes:
        node.restart()
        time.sleep(pause)


def pause_node(cluster: LocalCluster, index: int, hold: float) -> None:
    process = cluster.nodes[index].process
    process.signal(signal.SIGSTOP)
    try:
        time.sleep(hold)
    finally:
        process.signal(signal.SIGCONT)


def restart_redis(redis: RedisServer, keep_data: bool, down: float = 2.0) -> None:
    """kill -9 Redis; it comes back on the same port from its append-only file, or empty."""
    redis.process.kill()
    if not keep_data:
        shutil.rmtree(redis.workdir, ignore_errors=True)
        redis.workdir.mkdir(parents=True)
    time.sleep(down)
    fresh = RedisServer.start(
        redis.process.log_path.parent, port=redis.port, name="redis-again",
        persistent=True, workdir=redis.workdir,
    )  # fmt: skip
    redis.process = fresh.process
