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

from chat_tools.clients import ResilientClient, http_get
from chat_tools.procs import Node, RedisServer, cluster

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
            "retried_attempts": sum(s.retries for s in senders),
            "duplicate_acks": sum(s.duplicate_acks for s in senders),
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
    assert sum(s.retries for s in senders) > 0  # the outage was felt, and retried
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


async def test_redis_restarted_empty_disconnects_nobody(
    trio: tuple[RedisServer, list[Node]], tmp_path: Path
) -> None:
    """Redis comes back with no data: nodes put their members back, nobody reconnects,
    and sends work again (in a new epoch) without a rejoin."""
    redis, nodes = trio
    redis.persistent = False  # come back empty
    senders, receivers = await members(nodes)
    await burst(senders, per_sender=3, pause=0.01)
    started = time.monotonic()
    await asyncio.to_thread(redis.restart, 0.5)
    sending = asyncio.create_task(burst(senders, per_sender=1, pause=0))
    await asyncio.wait_for(sending, 60)
    sends_back = time.monotonic() - started
    everyone = senders + receivers
    deadline = time.monotonic() + 20
    listed: list[str] = []
    while time.monotonic() < deadline:
        status, body = await http_get(f"{nodes[1].url}/api/rooms")
        rooms = json.loads(body)["rooms"] if status == 200 else []
        listed = [r["room"] for r in rooms if r["members"] == len(everyone)]
        if listed:
            break
        await asyncio.sleep(0.2)
    record(
        "redis_restart_empty",
        {
            "disconnects": sum(c.reconnects for c in everyone),
            "seconds_until_sends_work": round(sends_back, 3),
            "failed_sends": sum(s.failed_sends for s in senders),
        },
    )
    assert (0, [ROOM], 0) == (
        sum(c.reconnects for c in everyone),
        listed,
        sum(s.failed_sends for s in senders),
    )
    epochs = {m["epoch"] for c in receivers for m in c.received}
    assert 2 == len(epochs)  # the old history and the new one
    for client in everyone:
        await client.stop()


async def test_kill_9_is_invisible_to_the_others(tmp_path: Path) -> None:
    """100 users in 10 rooms on a node killed with -9 reconnect with their key: they can
    send again quickly, the others see no one leave or join, nothing acknowledged is lost."""
    env = {**ENV, "CHAT_PRESENCE_GRACE": "5"}
    with cluster(3, tmp_path, extra_env=env) as (_, nodes):
        urls = [n.url for n in nodes]
        watchers = [
            await ResilientClient(urls[1:], f"room{r}", f"watcher{r}").start() for r in range(10)
        ]
        users = [
            await ResilientClient([urls[0], *urls[1:]], f"room{i % 10}", f"user{i}").start()
            for i in range(100)
        ]
        for watcher in watchers:
            await watcher.send("hello")
        watched: list[tuple[str, Any]] = []
        for watcher in watchers:
            client = watcher._client
            assert client is not None
            client.sio.on("user_left", lambda d, w=watched: w.append(("left", d)))
            client.sio.on("user_joined", lambda d, w=watched: w.append(("joined", d)))
        killed_at = time.monotonic()
        nodes[0].process.kill()
        back = await asyncio.gather(*(u.send(f"back {u.name}") for u in users))
        until_all_send = time.monotonic() - killed_at
        await asyncio.sleep(env_seconds(env) + 1.0)  # past node timeout + grace
        record(
            "kill9_100_users",
            {
                "seconds_until_all_can_send": round(until_all_send, 3),
                "median_rejoin_s": round(sorted(r for u in users for r in u.rejoin_seconds)[50], 3),
                "slowest_rejoin_s": round(max(r for u in users for r in u.rejoin_seconds), 3),
                "leave_join_events_seen": len(watched),
                "failed_sends": sum(u.failed_sends for u in users),
            },
        )
        assert (None not in back, [], 0) == (True, watched, sum(u.failed_sends for u in users))
        assert until_all_send < 5  # measured: about 0.5 s here
        for room in range(10):
            expected = sorted(["watcher" + str(room), *(f"user{i}" for i in range(room, 100, 10))])
            reply = await watchers[room]._client.call("members", {"room": f"room{room}"})  # type: ignore[union-attr]
            assert expected == reply["members"]
        for client in [*users, *watchers]:
            await client.stop()


def env_seconds(env: dict[str, str]) -> float:
    """Node timeout plus presence grace: when a dead node's users would be seen leaving."""
    return float(env["CHAT_NODE_TIMEOUT"]) + float(env["CHAT_PRESENCE_GRACE"])
