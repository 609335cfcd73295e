"""Joins to a node that fell far behind a busy room lose nothing (issue 19), real processes.

Two nodes on one real redis-server. The room's senders are on node B; node A is
SIGSTOPped while they send, so A's feed falls more than its recent window behind, with
joins to A in flight (their reads done just before the stop, or still to be handled).
After SIGCONT the senders keep going, so live messages arrive while A's joiners are
caught up from history. Every joiner must get every message after its history's last id
exactly once, in order, and A's old member every message.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from chat_tools.clients import ChatClient
from chat_tools.procs import cluster

pytestmark = pytest.mark.redis
ROOM = "busy"
# Pings far apart: a client must not give up on the stopped node (a loaded machine may
# keep it stopped for seconds), nor the node on its clients once it runs again.
ENV = {
    "CHAT_RATE_LIMIT": "0",
    "CHAT_HISTORY_SIZE": "20000",
    "CHAT_NODE_TIMEOUT": "60",
    "CHAT_PING_INTERVAL": "60",
    "CHAT_PING_TIMEOUT": "60",
}
BEHIND = 400  # messages sent while A is stopped: more than the feed's 256 recent ones
ROUNDS = 3


class Senders:
    """Clients on node B sending to the room as fast as their acks come back."""

    def __init__(self, clients: list[ChatClient]) -> None:
        self.clients = clients
        self.acked = 0
        self.running = False
        self.tasks: list[asyncio.Task[None]] = []

    async def _send(self, client: ChatClient) -> None:
        while self.running:
            reply = await client.call("send_message", {"room": ROOM, "text": "x"}, timeout=30)
            assert reply["ok"], reply
            self.acked += 1

    def start(self) -> None:
        self.running = True
        self.tasks = [asyncio.create_task(self._send(c)) for c in self.clients]

    async def stop(self) -> None:
        self.running = False
        await asyncio.wait_for(asyncio.gather(*self.tasks), 60)

    async def until(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < count:
            assert time.monotonic() < deadline, f"only {self.acked} of {count} sent"
            await asyncio.sleep(0.005)


async def connected(url: str, name: str, made: list[ChatClient]) -> ChatClient:
    client = await ChatClient(name).connect(url)
    made.append(client)
    return client


async def test_joins_to_a_node_that_fell_behind_lose_nothing(tmp_path: Path) -> None:
    """A SIGSTOPped node's joiners get every message after their head once, in order."""
    made: list[ChatClient] = []
    with cluster(2, tmp_path, extra_env=ENV) as (_redis, (a, b)):
        try:
            old = await connected(a.url, "old", made)
            assert (await old.call("join", {"room": ROOM, "name": "old"}))["ok"]
            senders = Senders([await connected(b.url, f"s{i}", made) for i in range(3)])
            for i, s in enumerate(senders.clients):
                assert (await s.call("join", {"room": ROOM, "name": f"s{i}"}))["ok"]
            joins: list[tuple[ChatClient, asyncio.Task[Any]]] = []
            for round_ in range(ROUNDS):
                early = [await connected(a.url, f"e{round_}{i}", made) for i in range(4)]
                late = [await connected(a.url, f"l{round_}{i}", made) for i in range(2)]
                senders.start()
                await senders.until(senders.acked + 30)
                for i, c in enumerate(early):  # reads just before the stop
                    payload = {"room": ROOM, "name": c.name}
                    joins.append((c, asyncio.create_task(c.call("join", payload, timeout=60))))
                    await asyncio.sleep(0.002 * i)
                a.process.signal(signal.SIGSTOP)
                try:
                    for c in late:  # handled once the node runs again
                        payload = {"room": ROOM, "name": c.name}
                        joins.append((c, asyncio.create_task(c.call("join", payload, timeout=60))))
                    await senders.until(senders.acked + BEHIND)
                finally:
                    a.process.signal(signal.SIGCONT)
                await senders.until(senders.acked + 200)  # live messages during catch-ups
                await senders.stop()
            final = senders.acked
            try:
                await _check(joins, old, final)
            except (AssertionError, TimeoutError) as exc:
                raise AssertionError(f"{exc}\nnode A's log:\n{a.process.log()[-4000:]}") from exc
        finally:
            for client in made:
                await client.close()


async def _check(
    joins: list[tuple[ChatClient, asyncio.Task[Any]]], old: ChatClient, final: int
) -> None:
    """Each joiner: exactly the ids after its history's last one; the old member: all.

    A join sent before the stop whose store call outlived its timeout while the node was
    stopped answers `unavailable` (and changes nothing): that client is no member, so it
    is not checked. Joins handled after the stop (the `l` clients) always succeed.
    """
    for client, task in joins:
        reply = await asyncio.wait_for(task, 60)
        if not reply["ok"] and client.name.startswith("e"):
            assert "unavailable" == reply["error"]["code"], reply
            continue
        assert reply["ok"], (client.name, reply)
        head = reply["history"][-1]["id"]
        await client.wait_for(lambda c=client, h=head: max(h, _last(c)) >= final, 60)
        got = [m["id"] for m in client.messages()]
        assert list(range(head + 1, final + 1)) == got, f"{client.name}: head {head}"
    await old.wait_for(lambda: _last(old) >= final, timeout=60)
    assert list(range(1, final + 1)) == [m["id"] for m in old.messages()]


def _last(client: ChatClient) -> int:
    messages = client.messages()
    return int(messages[-1]["id"]) if messages else 0
