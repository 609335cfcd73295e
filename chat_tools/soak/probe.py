"""Samples of the processes and of Redis: memory, fds, tasks, CPU, keys, channels."""

from __future__ import annotations

import contextlib
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


def peer_sockets(tcp_tables: str, inodes: set[int], port: int) -> int:
    """How many of `inodes` are TCP sockets whose remote end is `port`, read from the
    text of /proc/net/tcp and tcp6 (addresses in hex; the inode is the tenth field)."""
    count = 0
    for line in tcp_tables.splitlines():
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[2] or not fields[9].isdigit():
            continue  # a header line
        if int(fields[2].rsplit(":", 1)[1], 16) == port and int(fields[9]) in inodes:
            count += 1
    return count


def sockets_to(pid: int, port: int) -> float | None:
    """Open TCP sockets of a process to a local `port` (its Redis connections); None if
    the process is gone."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        tables = "".join(Path(f"/proc/{pid}/net/{t}").read_text() for t in ("tcp", "tcp6"))
    except OSError:
        return None
    inodes: set[int] = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed since the listing (the listing's own fd)
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(int(link[8:-1]))
    return float(peer_sockets(tables, inodes, port))


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
