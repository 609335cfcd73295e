"""What one load-generator process does: its share of the clients, its share of the load.

Client number g (global over all processes) is in room g // clients, is named u<j> with
j = g % clients, connects to url g % len(urls) and belongs to process g % workers; the
first `senders` clients of each room send. Send times are fixed in advance (open loop),
so a slow server gets a queue, not a slower generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .eio import EioError, SocketIOClient
from .pool import Link
from .procstat import own_cpu_seconds
from .stats import expected_deliveries


@dataclass(frozen=True)
class ClientPlan:
    """Which clients exist and where they connect; shared by both scenarios."""

    urls: tuple[str, ...]
    runid: str
    rooms: int
    clients: int
    worker: int = 0
    workers: int = 1
    concurrency: int = 100
    timeout: float = 30.0
    join_retries: int = 0  # retries of a join answered `unavailable` (each still counted)
    limit: int | None = None  # fewer clients than rooms x clients: the last room is short

    def room(self, index: int) -> str:
        return f"bench-{self.runid}-{index}"

    def mine(self) -> list[tuple[int, int, str]]:
        """(room index, client index in room, url) of this process's clients."""
        total = self.rooms * self.clients
        if self.limit is not None:
            total = min(total, self.limit)
        return [
            (g // self.clients, g % self.clients, self.urls[g % len(self.urls)])
            for g in range(self.worker, total, self.workers)
        ]


@dataclass(frozen=True)
class FanoutPlan:
    clients: ClientPlan
    senders: int
    rate: float
    messages: int
    text_size: int = 0
    drain: float = 10.0


@dataclass
class Counters:
    sent: int = 0
    delivered: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    foreign: int = 0
    acks_ok: int = 0
    acks_failed: int = 0
    last_delivery_ns: int = 0
    stopping: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def progress(self) -> tuple[int, int, int]:
        return (self.sent, self.delivered, sum(self.errors.values()))


def error_code(reply: Any) -> str:
    """The protocol error code of a failed ack."""
    error = reply.get("error") if isinstance(reply, dict) else None
    return str(error.get("code")) if isinstance(error, dict) else "malformed_ack"


class Member:
    """One joined client: checks ids and records the latency of every chat message."""

    def __init__(self, room: str, name: str, prefix: str, counters: Counters) -> None:
        self.room = room
        self.name = name
        self.client: SocketIOClient | None = None
        self._prefix = prefix
        self._counters = counters
        self._seen: set[int] = set()
        self._last = 0

    def on_event(self, event: str, payload: Any) -> None:
        if event != "message":
            return
        now = time.perf_counter_ns()
        counters = self._counters
        text = payload.get("text")
        if not isinstance(text, str) or not text.startswith(self._prefix):
            counters.foreign += 1
            return
        message_id = payload["id"]
        if message_id in self._seen:
            counters.duplicates += 1
            return
        self._seen.add(message_id)
        if message_id < self._last:
            counters.out_of_order += 1
        else:
            self._last = message_id
        counters.latencies_ns.append(now - int(text.split(":", 5)[4]))
        counters.delivered += 1
        counters.last_delivery_ns = now

    def on_ack(self, reply: Any) -> None:
        counters = self._counters
        if isinstance(reply, dict) and reply.get("ok") is True:
            counters.acks_ok += 1
            counters.acked[self.room] = counters.acked.get(self.room, 0) + 1
            return
        counters.acks_failed += 1
        counters.error(error_code(reply))

    def on_close(self, _client: SocketIOClient) -> None:
        if self.client is not None and not self._counters.stopping:
            self._counters.error("disconnected")


async def join_all(plan: ClientPlan, counters: Counters) -> list[Member]:
    """Connect and join this process's clients, `concurrency` at a time."""
    gate = asyncio.Semaphore(plan.concurrency)
    prefix = f"b:{plan.runid}:"

    async def join_one(room: int, index: int, url: str) -> Member | None:
        member = Member(plan.room(room), f"u{index}", prefix, counters)
        client = SocketIOClient(url, member.on_event, member.on_close)
        async with gate:
            try:
                await client.connect(plan.timeout)
                for attempt in range(plan.join_retries + 1):
                    payload = {"room": member.room, "name": member.name}
                    reply = await client.call("join", payload, plan.timeout)
                    if isinstance(reply, dict) and reply.get("ok") is True:
                        break
                    counters.error(f"join:{error_code(reply)}")
                    if error_code(reply) != "unavailable" or attempt == plan.join_retries:
                        client.close()
                        return None
            except (EioError, TimeoutError) as exc:
                counters.error(f"connect_failed:{type(exc).__name__}")
                client.close()
                return None
        member.client = client
        return member

    joined = await asyncio.gather(*(join_one(*spec) for spec in plan.mine()))
    return [member for member in joined if member is not None]


def members_by_room(members: list[Member]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in members:
        counts[member.room] = counts.get(member.room, 0) + 1
    return counts


async def close_all(members: list[Member], counters: Counters) -> None:
    counters.stopping = True
    for member in members:
        if member.client is not None:
            member.client.close()
    await asyncio.sleep(0.1)  # let the close frames go out


async def report_progress(link: Link, progress: Callable[[], tuple[int, int, int]]) -> None:
    while True:
        link.send("progress", progress())
        await asyncio.sleep(1.0)


async def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def send_loop(member: Member, plan: FanoutPlan, start_ns: int, counters: Counters) -> None:
    """Send `messages` chat messages at `rate`, starting at start_ns."""
    assert member.client is not None
    interval_ns = int(1e9 / plan.rate)
    payload = {"room": member.room, "text": ""}
    head = f"b:{plan.clients.runid}:{member.name}:"
    for seq in range(plan.messages):
        delay = start_ns + seq * interval_ns - time.perf_counter_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        text = f"{head}{seq}:{time.perf_counter_ns()}:"
        payload["text"] = text + "x" * (plan.text_size - len(text))
        try:
            member.client.emit("send_message", payload, member.on_ack)
        except EioError:
            counters.error("send_failed")
            return
        counters.sent += 1


async def fanout(plan: FanoutPlan, link: Link) -> None:
    """Join, then on "go" send; report acks, wait for every expected delivery, report."""
    counters = Counters()
    members = await join_all(plan.clients, counters)
    link.send("ready", {"joined": members_by_room(members), "errors": dict(counters.errors)})
    start_ns: int = await link.recv("go")
    cpu0, wall0 = own_cpu_seconds(), time.perf_counter_ns()
    progress = asyncio.create_task(report_progress(link, counters.progress))
    senders = [m for m in members if int(m.name[1:]) < plan.senders]
    total_senders = plan.clients.rooms * plan.senders
    step_ns = int(1e9 / plan.rate / max(total_senders, 1))

    def stagger(member: Member) -> int:
        room = int(member.room.rsplit("-", 1)[1])
        return start_ns + (room * plan.senders + int(member.name[1:])) * step_ns

    await asyncio.gather(*(send_loop(m, plan, stagger(m), counters) for m in senders))

    def acks_in() -> bool:
        return all(m.client is None or m.client.pending_acks == 0 for m in senders)

    if not await wait_until(acks_in, plan.drain):
        counters.error("ack_timeout")
    link.send("sent", dict(counters.acked))
    totals: dict[str, int] = await link.recv("totals")
    expected = expected_deliveries(totals, members_by_room(members))
    await wait_until(lambda: counters.delivered >= expected, plan.drain)
    cpu, wall = own_cpu_seconds() - cpu0, (time.perf_counter_ns() - wall0) / 1e9
    progress.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await progress
    await close_all(members, counters)
    link.send(
        "result",
        {
            "expected": expected,
            "deliveries": counters.delivered,
            "duplicates": counters.duplicates,
            "out_of_order": counters.out_of_order,
            "foreign": counters.foreign,
            "sent": counters.sent,
            "acks_ok": counters.acks_ok,
            "acks_failed": counters.acks_failed,
            "errors": counters.errors,
            "latencies_ns": counters.latencies_ns,
            "last_delivery_ns": counters.last_delivery_ns,
            "cpu_s": cpu,
            "wall_s": wall,
        },
    )


async def connect(plan: ClientPlan, link: Link) -> None:
    """On "go" connect and join every client; hold them idle until "stop"."""
    counters = Counters()
    link.send("ready")
    await link.recv("go")
    cpu0, wall0 = own_cpu_seconds(), time.perf_counter_ns()
    members = await join_all(plan, counters)
    done_ns = time.perf_counter_ns()
    cpu, wall = own_cpu_seconds() - cpu0, (done_ns - wall0) / 1e9
    link.send("joined", {"joined": len(members), "done_ns": done_ns})
    await link.recv("stop")
    await close_all(members, counters)
    link.send("result", {"errors": counters.errors, "cpu_s": cpu, "wall_s": wall})
