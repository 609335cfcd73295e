"""A real redis-server and three real node processes, driven by python-socketio clients."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_service.backends.redis import make_client
from chat_tools.clients import ChatClient
from chat_tools.procs import Node, RedisServer, cluster

pytestmark = pytest.mark.redis
NODE_TIMEOUT = 3.0
GRACE = 1.0
ENV = {
    "CHAT_NODE_TIMEOUT": str(NODE_TIMEOUT),
    "CHAT_PRESENCE_GRACE": str(GRACE),
    "CHAT_RATE_LIMIT": "0",
}
FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "figures.json"


def record(name: str, value: float) -> None:
    """Keep measured figures for the closing note and docs."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = round(value, 3)
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True))


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[RedisServer, list[Node]]]:
    with cluster(3, tmp_path, extra_env=ENV) as running:
        yield running


@pytest.fixture
async def connect() -> Any:
    made: list[ChatClient] = []

    async def make(url: str, name: str = "c") -> ChatClient:
        client = await ChatClient(name).connect(url)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def join(client: ChatClient, room: str, name: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("join", {"room": room, "name": name, **extra})
    assert reply["ok"], reply
    return reply


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


async def eventually(check: Any, timeout: float, step: float = 0.05) -> float:
    """Wait until the blocking `check()` is truthy; returns the seconds it took."""
    start = time.monotonic()
    while not await asyncio.to_thread(check):
        assert time.monotonic() - start < timeout, "condition not met in time"
        await asyncio.sleep(step)
    return time.monotonic() - start


class TestDelivery:
    async def test_cross_node_delivery(self, nodes: Any, connect: Any) -> None:
        """A message sent on one node reaches members on all three."""
        _, (a, b, c) = nodes
        members = [await connect(n.url, f"m{i}") for i, n in enumerate((a, b, c))]
        for i, m in enumerate(members):
            await join(m, "lobby", f"user{i}")
        reply = await members[1].call("send_message", {"room": "lobby", "text": "hello all"})
        for m in members:
            await m.wait_for(lambda m=m: len(m.messages()) == 1)
            assert [reply["message"]] == m.messages()

    async def test_concurrent_senders_see_one_order(self, nodes: Any, connect: Any) -> None:
        """6 senders on 3 nodes at once: every receiver sees ids 1..N, gapless, no duplicate."""
        _, trio = nodes
        senders = [await connect(trio[i % 3].url, f"s{i}") for i in range(6)]
        watchers = [await connect(n.url, f"w{i}") for i, n in enumerate(trio)]
        for i, c in enumerate(senders + watchers):
            await join(c, "race", f"p{i}")
        per_sender = 40

        async def burst(c: ChatClient, i: int) -> list[int]:
            out = []
            for k in range(per_sender):
                reply = await c.call("send_message", {"room": "race", "text": f"{i}:{k}"})
                out.append(reply["message"]["id"])
            return out

        acked = await asyncio.gather(*(burst(c, i) for i, c in enumerate(senders)))
        total = per_sender * len(senders)
        assert list(range(1, total + 1)) == sorted(x for ids in acked for x in ids)
        for c in senders + watchers:
            await c.wait_for(lambda c=c: len(c.messages()) >= total, timeout=15)
            assert list(range(1, total + 1)) == [m["id"] for m in c.messages()]
        for i, c in enumerate(senders):  # each sender's own messages in its send order
            mine = [m["text"] for m in c.messages() if m["name"] == f"p{i}"]
            assert [f"{i}:{k}" for k in range(per_sender)] == mine

    async def test_name_race_across_nodes(self, nodes: Any, connect: Any) -> None:
        """Two joins with one name on two nodes at the same moment: one winner, every time."""
        _, (a, b, _) = nodes
        ca, cb = await connect(a.url), await connect(b.url)
        outcomes = []
        for round_ in range(25):
            room = f"race{round_}"
            ra, rb = await asyncio.gather(
                ca.call("join", {"room": room, "name": "Sam"}),
                cb.call("join", {"room": room, "name": "SAM"}),
            )
            outcomes.append(sorted("ok" if r["ok"] else r["error"]["code"] for r in (ra, rb)))
        assert [["name_taken", "ok"]] * 25 == outcomes


class TestNodeDeath:
    async def test_kill_9_members_leave_and_clients_recover(self, nodes: Any, connect: Any) -> None:
        """kill -9 a node: its members leave everywhere in time; its clients lose nothing."""
        _, (a, b, c) = nodes
        victim = await connect(a.url, "victim")
        watch_b, watch_c = await connect(b.url, "wb"), await connect(c.url, "wc")
        await join(victim, "lobby", "victim")
        await join(watch_b, "lobby", "wb")
        await join(watch_c, "lobby", "wc")
        await watch_b.call("send_message", {"room": "lobby", "text": "before"})
        await victim.wait_for(lambda: len(victim.messages()) == 1)
        last_seen = victim.messages()[-1]["id"]

        a.process.kill()
        killed = time.monotonic()
        sent = [
            await watch_b.call("send_message", {"room": "lobby", "text": f"while dead {i}"})
            for i in range(5)
        ]
        for w in (watch_b, watch_c):
            await w.wait_for(
                lambda w=w: any(e["name"] == "victim" for e in w.of("user_left")),
                timeout=NODE_TIMEOUT + GRACE + 3,
            )
        cleanup = time.monotonic() - killed
        record("dead_node_cleanup_s", cleanup)
        assert cleanup <= NODE_TIMEOUT + GRACE + 1.0
        for w in (watch_b, watch_c):
            assert 1 == sum(e["name"] == "victim" for e in w.of("user_left"))

        back = await connect(c.url, "victim-again")
        reply = await join(back, "lobby", "victim", since=last_seen)
        assert [s["message"] for s in sent] == reply["history"]
        assert ["victim", "wb", "wc"] == reply["members"]

    async def test_sigterm_drains(self, nodes: Any, connect: Any) -> None:
        """SIGTERM: members leave after the grace, clients are dropped, exit 0 within 10 s."""
        _, (a, b, _) = nodes
        leaving, staying = await connect(a.url, "leaving"), await connect(b.url, "staying")
        await join(leaving, "lobby", "leaving")
        await join(staying, "lobby", "staying")
        started = time.monotonic()
        a.process.signal(signal.SIGTERM)
        await staying.wait_for(lambda: len(staying.of("user_left")) == 1, timeout=5)
        announced = time.monotonic() - started
        code = await asyncio.to_thread(a.process.proc.wait, 12)
        exited = time.monotonic() - started
        record("sigterm_user_left_s", announced)
        record("sigterm_exit_s", exited)
        await leaving.wait_for(lambda: not leaving.sio.connected, timeout=5)
        assert (0, True) == (code, exited < 10)
        assert ["staying"] == (await staying.call("members", {"room": "lobby"}))["members"]


class TestRedisOutage:
    async def test_restart_empty_mid_conversation(self, nodes: Any, connect: Any) -> None:
        """Redis down: unavailable fast and 503; back empty: members stay, nobody is
        disconnected, ids restart in a new epoch."""
        redis, (a, b, _) = nodes
        ca, cb = await connect(a.url, "a"), await connect(b.url, "b")
        await join(ca, "lobby", "ann")
        await join(cb, "lobby", "bob")
        for i in range(3):
            await ca.call("send_message", {"room": "lobby", "text": f"m{i}"})
        await cb.wait_for(lambda: len(cb.messages()) == 3)
        old_epoch = cb.messages()[0]["epoch"]

        redis.process.kill()
        asked = time.monotonic()
        reply = await ca.call("send_message", {"room": "lobby", "text": "lost?"}, timeout=10)
        assert ("unavailable", True) == (reply["error"]["code"], time.monotonic() - asked < 4)
        await eventually(lambda: status(a.url + "/readyz") == 503, timeout=10)
        assert 200 == status(a.url + "/healthz")

        await asyncio.to_thread(redis.restart)
        back = time.monotonic()
        await eventually(lambda: all(status(n.url + "/readyz") == 200 for n in (a, b)), timeout=15)
        record("redis_restart_ready_s", time.monotonic() - back)

        # Presence was lost with Redis' data: the nodes put their members back.
        async def restored() -> bool:
            reply = await cb.call("members", {"room": "lobby"})
            return bool(reply["ok"] and reply["members"] == ["ann", "bob"])

        deadline = time.monotonic() + 15
        while not await restored():
            assert time.monotonic() < deadline, "members were not restored"
            await asyncio.sleep(0.1)
        record("redis_restart_empty_members_back_s", time.monotonic() - back)
        sent = await ca.call("send_message", {"room": "lobby", "text": "after restart"})
        await cb.wait_for(lambda: len(cb.messages()) == 4)
        latest = cb.messages()[-1]
        assert (1, True, True) == (
            sent["message"]["id"],
            latest["epoch"] != old_epoch,
            ca.sio.connected and cb.sio.connected,
        )
        assert [] == cb.of("user_joined") + cb.of("user_left")
        rejoin = await connect(b.url, "late")
        stale = await join(rejoin, "lobby", "cy", since=3, epoch=old_epoch)
        assert (True, [1]) == (stale["reset"], [m["id"] for m in stale["history"]])

    async def test_short_blip_keeps_clients(self, nodes: Any, connect: Any) -> None:
        """Nodes stay up through a Redis outage and serve again when it returns."""
        redis, (a, _, _) = nodes
        c = await connect(a.url)
        redis.process.kill()
        reply = await c.call("list_rooms", {}, timeout=10)
        assert "unavailable" == reply["error"]["code"]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.restart)
        await eventually(lambda: status(a.url + "/readyz") == 200, timeout=15)
        fresh = await connect(a.url)
        assert (await fresh.call("join", {"room": "x", "name": "y"}))["ok"]
        assert all(n.process.alive() for n in nodes[1])


async def numsub(redis: RedisServer, room: str) -> int:
    """How many subscribers the room's channel has, as Redis itself counts them."""
    client = make_client(redis.url)
    try:
        pairs = await client.pubsub_numsub(f"chat:room:{room}:events")
        return int(pairs[0][1])
    finally:
        await client.aclose()


async def test_no_subscription_outlives_the_last_member(
    nodes: tuple[RedisServer, list[Node]], connect: Any
) -> None:
    """N joins then N leaves, and N joins then N disconnects: PUBSUB NUMSUB is 0 after."""
    redis, (node, *_) = nodes
    people = [await connect(node.url, f"p{i}") for i in range(3)]
    for i, person in enumerate(people):
        await join(person, "leaky", f"p{i}")
    assert 1 == await numsub(redis, "leaky")
    for person in people:
        assert (await person.call("leave", {"room": "leaky"}))["ok"]
    assert 0 == await numsub(redis, "leaky")
    again = [await connect(node.url, f"q{i}") for i in range(3)]
    for i, person in enumerate(again):
        await join(person, "leaky", f"q{i}")
    assert 1 == await numsub(redis, "leaky")
    for person in again:
        await person.close()
    deadline = time.monotonic() + 5
    while await numsub(redis, "leaky") and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert 0 == await numsub(redis, "leaky")


async def test_second_tab_and_reconnect_across_nodes(
    nodes: tuple[RedisServer, list[Node]], connect: Any
) -> None:
    """One key on two nodes holds one name; a third node's watcher sees one join only."""
    _, (a, b, c) = nodes
    watcher = await connect(c.url, "w")
    await join(watcher, "tabs", "w")
    key = "k" * 24
    tab1, tab2 = await connect(a.url, "t1"), await connect(b.url, "t2")
    await join(tab1, "tabs", "Ann", key=key)
    second = await join(tab2, "tabs", "ann", key=key)
    await tab1.close()
    sent = await tab2.call("send_message", {"room": "tabs", "text": "hi", "client_id": "x1"})
    again = await tab2.call("send_message", {"room": "tabs", "text": "hi", "client_id": "x1"})
    await watcher.wait_for(lambda: len(watcher.messages("tabs")) == 1)
    await asyncio.sleep(0.3)
    assert ("Ann", ["Ann", "w"], True) == (second["name"], second["members"], again["duplicate"])
    assert (1, [], [1]) == (
        len(watcher.of("user_joined")),
        watcher.of("user_left"),
        [m["id"] for m in watcher.messages("tabs")],
    )
    assert sent["message"] == again["message"]
