"""Redis beyond one server: the cluster tier's checks on Sentinel and on Redis Cluster, and
a master SIGKILLed under traffic while clients send with client_id retries."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_real_cluster import ENV, TestDelivery, TestNodeDeath, connect, record

from chat_service.backends.keys import Keys
from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_bus import RedisBus
from chat_service.backends.redis_clients import make_client
from chat_service.backends.wire import RoomEvent
from chat_service.errors import BackendUnavailable
from chat_tools.clients import ChatClient, ResilientClient
from chat_tools.procs import Node, free_port
from chat_tools.redis_topologies import (
    SENTINEL_PASSWORD,
    ClusterTopology,
    RedisInstance,
    SentinelTopology,
    move_slot,
    server_argv,
    wait_in_sync,
)

pytestmark = pytest.mark.redis
__all__ = ["TestDelivery", "TestNodeDeath", "connect"]  # the cluster tier, run again here
Topology = ClusterTopology | SentinelTopology


def topology_env(topology: Topology, prefix: str) -> dict[str, str]:
    env = {**ENV, "CHAT_REDIS_PREFIX": prefix}
    if isinstance(topology, SentinelTopology):
        env["CHAT_REDIS_SENTINEL_PASSWORD"] = SENTINEL_PASSWORD
    return env


def start_nodes(topology: Topology, log_dir: Path, count: int, **extra: str) -> list[Node]:
    env = {**topology_env(topology, f"t{secrets.token_hex(3)}:"), **extra}
    started = [Node.start(log_dir, topology.url, extra_env=env, wait=False) for _ in range(count)]
    for node in started:
        node.wait_ready()
    return started


@pytest.fixture(params=["sentinel", "cluster"])
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Topology, list[Node]]]:
    """Three nodes on a shared Sentinel or Cluster topology, under a prefix of their own."""
    topology: Topology = request.getfixturevalue(f"redis_{request.param}")
    started = start_nodes(topology, tmp_path, 3)
    yield topology, started
    for node in started:
        node.process.stop()


@dataclass
class Traffic:
    """Senders in one room, each sending in a loop; every ack with its text and time."""

    senders: list[ResilientClient]
    acked: dict[int, str] = field(default_factory=dict)
    acks: list[tuple[float, float, int]] = field(default_factory=list)  # (began, acked, id)
    failed: int = 0
    _stop: bool = False

    async def _loop(self, client: ResilientClient) -> None:
        k = 0
        while not self._stop:
            k += 1
            text = f"{client.name}:{k}"
            began = time.monotonic()
            msg_id = await client.send(text, deadline=20)
            if msg_id is None:
                self.failed += 1
                continue
            assert self.acked.setdefault(msg_id, text) == text, f"id {msg_id} acked twice"
            self.acks.append((began, time.monotonic(), msg_id))
            await asyncio.sleep(0.05)

    async def run_until(self, stop: asyncio.Event) -> None:
        loops = [asyncio.create_task(self._loop(c)) for c in self.senders]
        await stop.wait()
        self._stop = True
        await asyncio.wait_for(asyncio.gather(*loops), 30)


async def start_clients(
    started: list[Node], room: str, count: int
) -> tuple[list[ResilientClient], ResilientClient]:
    """`count` senders spread over two nodes (each fails over to the other) and a watcher
    that prefers the second node; all joined to `room`."""
    urls = [n.url for n in started]
    senders = [ResilientClient(urls[i % 2 :] + urls[: i % 2], room, f"s{i}") for i in range(count)]
    watcher = ResilientClient(urls[::-1], room, "watcher")
    for client in [*senders, watcher]:
        await client.start()
    return senders, watcher


async def history(url: str, room: str) -> list[dict[str, Any]]:
    """Everything the room keeps, read by a fresh client."""
    client = await ChatClient("auditor").connect(url)
    try:
        reply = await client.call("join", {"room": room, "name": "auditor", "since": 0})
        assert reply["ok"], reply
        return list(reply["history"])
    finally:
        await client.close()


def order_breaks(ids: list[int]) -> int:
    return sum(1 for before, after in itertools.pairwise(ids) if after <= before)


async def assert_all_shown_once(
    clients: list[ResilientClient], traffic: Traffic, url: str, room: str
) -> None:
    """After the traffic: the history keeps every acknowledged message (ids 1..n, no gap),
    and every client was shown each once, in order, without ever disconnecting."""
    expected = sorted(traffic.acked)
    for client in clients:
        await client.wait_for_ids(sorted(set(expected) | set(client.ids())), timeout=20)
    kept = {m["id"]: m["text"] for m in await history(url, room)}
    shown = [c.ids() for c in clients]
    assert {} == {i: t for i, t in traffic.acked.items() if kept.get(i) != t}
    assert [0] * len(clients) == [len(ids) - len(set(ids)) for ids in shown]
    assert [0] * len(clients) == [order_breaks(ids) for ids in shown]
    assert list(range(1, len(kept) + 1)) == sorted(kept)
    assert [0] * len(clients) == [c.reconnects for c in clients]  # nobody disconnected


@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
async def test_master_killed_under_traffic(kind: str, tmp_path: Path) -> None:
    """SIGKILL the master holding a busy room while clients send with client_id retries
    (CHAT_REDIS_MIN_REPLICAS=1): sends work again within 10 s, nothing is shown twice or
    out of order, no acknowledged message is lost, and no client is disconnected."""
    room = "busy"
    topology: Topology = await asyncio.to_thread(
        SentinelTopology.start if kind == "sentinel" else ClusterTopology.start, tmp_path
    )
    started: list[Node] = []
    clients: list[ResilientClient] = []
    try:
        started = await asyncio.to_thread(
            start_nodes,
            topology,
            tmp_path,
            2,
            CHAT_REDIS_MIN_REPLICAS="1",
            CHAT_HISTORY_SIZE="10000",
        )
        senders, watcher = await start_clients(started, room, 4)
        clients = [*senders, watcher]
        traffic = Traffic(senders)
        stop = asyncio.Event()
        running = asyncio.create_task(traffic.run_until(stop))
        await asyncio.sleep(2.0)

        killed_at = time.monotonic()
        if isinstance(topology, ClusterTopology):
            key = Keys(started[0].env["CHAT_REDIS_PREFIX"]).meta(room)
            victim = topology.kill_master_of(key)
            await asyncio.to_thread(topology.wait_failover, key, victim.port)
        else:
            victim = topology.kill_master()
            await asyncio.to_thread(topology.wait_failover, victim.port)
        failed_over = time.monotonic() - killed_at
        # The killed master comes back as a replica (a supervisor restarts it), so WAIT
        # has a replica to count again.
        await asyncio.to_thread(topology.rejoin, victim)
        await asyncio.sleep(max(0.0, killed_at + 9.0 - time.monotonic()))
        stop.set()
        await running

        after = [acked for began, acked, _ in traffic.acks if began >= killed_at]
        assert len(after) > 20 and len(traffic.acks) - len(after) > 20, "too little traffic"
        recovered = min(after) - killed_at
        record(f"{kind}_failover_s", failed_over)
        record(f"{kind}_sends_back_s", recovered)
        assert recovered < 10.0, f"sends came back after {recovered:.1f}s"
        assert 0 == traffic.failed

        await assert_all_shown_once(clients, traffic, started[0].url, room)
        texts = [[m["text"] for m in c.received] for c in clients]
        assert [0] * len(clients) == [len(t) - len(set(t)) for t in texts]
        assert [0] * len(clients) == [c.resets for c in clients]
    finally:
        for client in clients:
            await client.stop()
        for node in started:
            node.process.stop()
        await asyncio.to_thread(topology.stop)


@pytest.fixture
def master_and_replica(tmp_path: Path) -> Iterator[tuple[RedisInstance, RedisInstance]]:
    """A master and one replica, no sentinels: the replica is stopped by hand."""
    master_port, replica_port = free_port(), free_port()
    master = RedisInstance.start(
        master_port, server_argv(master_port, tmp_path / "m"), tmp_path, "master"
    )
    replica = RedisInstance.start(
        replica_port,
        server_argv(replica_port, tmp_path / "r", "--replicaof", "127.0.0.1", str(master_port)),
        tmp_path,
        "replica",
    )
    yield master, replica
    replica.stop()
    master.stop()


async def test_min_replicas_withholds_the_ack(
    master_and_replica: tuple[RedisInstance, RedisInstance],
) -> None:
    """CHAT_REDIS_MIN_REPLICAS=1: with the replica gone a send is `unavailable`; the retry
    with its client_id, once the replica is back, answers the message stored the first time."""
    master, replica = master_and_replica
    client = make_client(f"redis://127.0.0.1:{master.port}/0")
    # WAIT gets half of this (2 s): room for a replica on a busy machine to acknowledge.
    store = RedisStore(client, node_id="n1", min_replicas=1, op_timeout=4.0)
    try:
        await asyncio.to_thread(wait_in_sync, replica.port)
        first = await store.append_message("lobby", "Ann", "one", 1, "c1")
        replica.kill()
        with pytest.raises(BackendUnavailable):
            await store.append_message("lobby", "Ann", "two", 2, "c2")
        replica.start_again()
        await asyncio.to_thread(wait_in_sync, replica.port)
        retry = await store.append_message("lobby", "Ann", "two", 3, "c2")
        assert (1, 2, True, "two") == (
            first.message["id"],
            retry.message["id"],
            retry.duplicate,
            retry.message["text"],
        )
    finally:
        await store.close()


async def test_slot_moved_under_traffic(tmp_path: Path) -> None:
    """Resharding: the busy room's slot migrates to another master while clients send
    (ASK / TRYAGAIN / MOVED on the way): nothing lost, nothing shown twice or out of order."""
    room = "busy"
    topology = await asyncio.to_thread(ClusterTopology.start, tmp_path, False)
    started: list[Node] = []
    clients: list[ResilientClient] = []
    try:
        started = await asyncio.to_thread(
            start_nodes, topology, tmp_path, 2, CHAT_HISTORY_SIZE="10000"
        )
        senders, watcher = await start_clients(started, room, 3)
        clients = [*senders, watcher]
        traffic = Traffic(senders)
        stop = asyncio.Event()
        running = asyncio.create_task(traffic.run_until(stop))
        await asyncio.sleep(1.5)
        key = Keys(started[0].env["CHAT_REDIS_PREFIX"]).meta(room)
        owner = topology.master_port_of(key)
        target = next(n.port for n in topology.nodes if n.port != owner)
        moved_at = time.monotonic()
        await asyncio.to_thread(move_slot, topology, key, target)
        assert target == topology.master_port_of(key)
        await asyncio.sleep(3.0)
        stop.set()
        await running

        after = [acked for began, acked, _ in traffic.acks if began >= moved_at]
        assert len(after) > 20 and 0 == traffic.failed
        await assert_all_shown_once(clients, traffic, started[1].url, room)
    finally:
        for client in clients:
            await client.stop()
        for node in started:
            node.process.stop()
        await asyncio.to_thread(topology.stop)


async def test_quiet_subscriber_follows_a_moved_slot(redis_cluster: ClusterTopology) -> None:
    """A node that only listens to a room whose slot moves (Redis drops its subscription
    with a sunsubscribe) subscribes again on the new owner and hears the next message."""
    prefix = f"q{secrets.token_hex(3)}:"
    keys = Keys(prefix)
    listener_client, sender_client = make_client(redis_cluster.url), make_client(redis_cluster.url)
    listener = RedisBus(listener_client, keys, "listener", probe_interval=0.5)
    sender = RedisStore(sender_client, node_id="sender", prefix=prefix)
    heard: list[int] = []
    resubscribed: asyncio.Event = asyncio.Event()

    async def on_event(room: str, event: RoomEvent) -> None:
        heard.append(event.seq)

    async def on_resubscribed(room: str) -> None:
        resubscribed.set()

    listener.set_handlers(on_event, on_resubscribed)
    await listener.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                await listener.subscribe("quiet")
                break
            except BackendUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        await sender.append_message("quiet", "Ann", "before", 1, None)
        owner = redis_cluster.master_port_of(keys.meta("quiet"))
        masters = {redis_cluster.master_port_of(f"{{{n}}}") for n in range(50)}
        target = next(p for p in sorted(masters) if p != owner)
        resubscribed.clear()
        await asyncio.to_thread(move_slot, redis_cluster, keys.meta("quiet"), target)
        await asyncio.wait_for(resubscribed.wait(), 10)
        await sender.append_message("quiet", "Ann", "after", 2, None)
        deadline = time.monotonic() + 5
        while heard != [1, 2]:
            assert time.monotonic() < deadline, heard
            await asyncio.sleep(0.02)
    finally:
        await listener.close()
        await listener_client.aclose()
        await sender.close()
