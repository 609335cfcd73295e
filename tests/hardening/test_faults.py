"""Faults under traffic: no acknowledged message lost, no duplicate shown."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_service.testing import Node, RedisServer, ResilientClient, cluster, http_get

pytestmark = pytest.mark.redis
ENV = {"CHAT_NODE_TIMEOUT": "3", "CHAT_RATE_LIMIT": "0", "CHAT_HISTORY_SIZE": "10000"}
FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "figures.json"
ROOM = "faults"


def record(scenario: str, figures: dict[str, Any]) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[f"fault_{scenario}"] = figures
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True))


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[tuple[RedisServer, list[Node]]]:
    with cluster(3, tmp_path, extra_env=ENV, persistent_redis=True) as running:
        yield running


async def members(nodes: list[Node]) -> tuple[list[ResilientClient], list[ResilientClient]]:
    """Three senders and three receivers, one of each starting on every node."""
    urls = [n.url for n in nodes]
    senders, receivers = [], []
    for i in range(3):
        rotated = urls[i:] + urls[:i]
        senders.append(await ResilientClient(rotated, ROOM, f"sender{i}").start())
        receivers.append(await ResilientClient(rotated, ROOM, f"receiver{i}").start())
    return senders, receivers


async def burst(senders: list[ResilientClient], per_sender: int, pause: float) -> None:
    async def one(sender: ResilientClient, i: int) -> None:
        for k in range(per_sender):
            await sender.send(f"{i}:{k}")
            await asyncio.sleep(pause)

    await asyncio.gather(*(one(s, i) for i, s in enumerate(senders)))


async def history_ids(node: Node) -> list[int]:
    status, body = await http_get(f"{node.url}/api/rooms/{ROOM}/messages?limit=100")
    assert 200 == status, body
    ids: list[int] = [m["id"] for m in json.loads(body)["messages"]]
    while ids and ids[0] > 1:  # page back to the first kept message
        status, body = await http_get(
            f"{node.url}/api/rooms/{ROOM}/messages?limit=100&before={ids[0]}"
        )
        older = [m["id"] for m in json.loads(body)["messages"]]
        if not older:
            break
        ids = older + ids
    return ids


async def settle_and_count(
    scenario: str, node: Node, senders: list[ResilientClient], receivers: list[ResilientClient]
) -> None:
    """Every acknowledged message is kept and shown to every member exactly once, in order."""
    kept = await history_ids(node)
    acked = sorted(i for s in senders for i in s.acked)
    everyone = senders + receivers
    for client in everyone:
        await client.wait_for_ids(kept, timeout=30)
    lost = sorted(set(acked) - set(kept))
    duplicates = {c.name: len(c.ids()) - len(set(c.ids())) for c in everyone}
    record(
        scenario,
        {
            "acknowledged": len(acked),
            "kept": len(kept),
            "unacknowledged_attempts": sum(s.failed_sends for s in senders),
            "lost": len(lost),
            "duplicates_shown": sum(duplicates.values()),
            "reconnects": sum(c.reconnects for c in everyone),
        },
    )
    assert [] == lost
    assert list(range(1, len(kept) + 1)) == kept  # gapless ids
    assert {c.name: 0 for c in everyone} == duplicates
    for client in everyone:
        assert kept == client.ids()  # every member saw every message once, in id order
    for client in everyone:
        await client.stop()


async def test_kill_9_during_a_burst(trio: tuple[RedisServer, list[Node]]) -> None:
    """A node killed mid-burst: its clients move on and nothing acknowledged is lost."""
    _, nodes = trio
    senders, receivers = await members(nodes)
    sending = asyncio.create_task(burst(senders, per_sender=60, pause=0.01))
    await asyncio.sleep(0.4)
    nodes[0].process.kill()
    await asyncio.wait_for(sending, 90)
    await settle_and_count("kill9", nodes[1], senders, receivers)


async def test_redis_restart_during_a_burst(trio: tuple[RedisServer, list[Node]]) -> None:
    """Redis restarts (from its append-only file) mid-burst: sends fail fast, then resume."""
    redis, nodes = trio
    senders, receivers = await members(nodes)
    sending = asyncio.create_task(burst(senders, per_sender=60, pause=0.01))
    await asyncio.sleep(0.4)
    started = time.monotonic()
    await asyncio.to_thread(redis.restart, 1.0)
    await asyncio.wait_for(sending, 90)
    record("redis_restart_downtime_s", {"seconds": round(time.monotonic() - started, 3)})
    assert sum(s.failed_sends for s in senders) > 0  # the outage was felt
    await settle_and_count("redis_restart", nodes[0], senders, receivers)


async def test_rolling_restart_under_traffic(trio: tuple[RedisServer, list[Node]]) -> None:
    """SIGTERM and restart every node in turn while members keep chatting."""
    _, nodes = trio
    senders, receivers = await members(nodes)
    sending = asyncio.create_task(burst(senders, per_sender=120, pause=0.02))
    for node in nodes:
        await asyncio.sleep(0.5)
        node.process.signal(signal.SIGTERM)
        assert 0 == await asyncio.to_thread(node.process.proc.wait, 12)
        await asyncio.to_thread(node.restart)
    await asyncio.wait_for(sending, 120)
    await settle_and_count("rolling_restart", nodes[0], senders, receivers)
