"""Samples of the processes and of Redis: memory, fds, tasks, CPU, keys, channels."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from ..clients import http_get

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Kept by design until an idle TTL ends (history, ids, client_id de-duplication): they
# follow rooms ever used, not rooms in use, so the leak verdict reads the other keys.
RETAINED_KINDS = (":meta", ":history", ":sent", ":sent_at")
_METRIC = re.compile(r"^(chat_[a-z_]+) ([0-9.eE+-]+)$", re.MULTILINE)


def proc_stats(pid: int) -> dict[str, float]:
    """RSS (MiB), open fds and CPU seconds so far of a live process; {} if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return {}
    rss = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    return {"rss_mib": rss / 1024, "fds": float(fds), "cpu_s": cpu}


async def node_metrics(url: str) -> dict[str, float]:
    """The node's own gauges from /metrics; {} if it does not answer (stopped, dead)."""
    try:
        status, body = await http_get(url + "/metrics", timeout=2)
    except Exception:
        return {}
    if status != 200:
        return {}
    return {name: float(value) for name, value in _METRIC.findall(body)}


async def redis_stats(redis: Redis) -> dict[str, float]:
    """Memory, clients, keys (all, and those not retained by design), channels."""
    try:
        info = await redis.info()
        keys = 0
        retained = 0
        async for key in redis.scan_iter(count=1000):
            keys += 1
            if key.decode(errors="replace").endswith(RETAINED_KINDS):
                retained += 1
        channels = len(await redis.pubsub_channels())
    except Exception:
        return {}
    return {
        "used_memory_mib": float(info["used_memory"]) / 2**20,
        "clients": float(info["connected_clients"]),
        "keys": float(keys),
        "live_keys": float(keys - retained),
        "channels": float(channels),
    }


def cpu_percent(before: dict[str, Any], after: dict[str, Any], seconds: float) -> float:
    if not before or not after or seconds <= 0:
        return 0.0
    return max(0.0, 100.0 * float(after["cpu_s"] - before["cpu_s"]) / seconds)
