"""The soak: a local cluster, people, the fault schedule, samples, and the verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from chat_service.backends.redis_clients import ClientOptions
from chat_service.domain.backoff import Backoff

from ..clients import ChatClient
from ..localcluster import LocalCluster
from ..procs import RedisServer
from . import faults
from .leak import Trend, judge, node_trends
from .ledger import Ledger
from .people import Person, World
from .probe import cpu_percent, node_metrics, proc_stats, redis_stats, sockets_to
from .proxy import BlackHoleProxy
from .schedule import FAULTS, Fault, make_schedule

FREEZE_BEFORE = 6.0  # churn pauses this long before a fault: longer than the presence grace
MEASURE_FOR = 90.0  # the longest a fault's recovery is waited for
REDIS_POOL = ClientOptions().max_connections  # each node's pool of Redis connections
NOISE_WINDOW = 30.0  # presence events this long after a fault are blamed on it


@dataclass
class SoakConfig:
    out: Path
    duration: float = 1800.0
    clients: int = 200
    rooms: int = 20
    nodes: int = 3
    seed: int = 1
    warmup: float = 120.0
    interval: float = 110.0
    faults: tuple[str, ...] = FAULTS
    sample_every: float = 5.0
    idle: float = 20.0
    jitter: float = 0.5
    blackhole_share: float = 0.2
    rotate_every: float = 60.0

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class FaultRecord:
    fault: Fault
    can_send_s: float | None = None
    members_agree_s: float | None = None
    all_back_s: float | None = None
    ninety_back_s: float | None = None
    user_left: int = 0
    user_joined: int = 0
    distinct_presence_changes: int = 0
    cpu_peak: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fault"] = self.fault.to_json()
        return data


def loadavg() -> float:
    with contextlib.suppress(OSError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Soak:
    def __init__(self, cfg: SoakConfig, cluster: LocalCluster, redis: RedisServer) -> None:
        self.cfg = cfg
        self.cluster = cluster
        self.redis = redis
        self.rng = random.Random(cfg.seed)
        self._room_counter = 0
        rooms = [self._new_room() for _ in range(cfg.rooms)]
        self.world = World(rooms, Ledger(), Backoff(jitter=cfg.jitter))
        self.schedule = make_schedule(
            cfg.seed, cfg.duration, cfg.warmup, cfg.interval, cfg.nodes, cfg.faults
        )
        self.people: list[Person] = []
        self.samples: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self.records: list[FaultRecord] = []
        self.fault_windows: list[tuple[float, float]] = []
        self.stop = asyncio.Event()
        self.proxy = BlackHoleProxy(cluster.lb.port)
        self.redis_client = Redis.from_url(redis.url, socket_timeout=3, socket_connect_timeout=3)

    def _new_room(self) -> str:
        self._room_counter += 1
        return f"soak-{self._room_counter}"

    async def run(self) -> dict[str, Any]:
        await self.proxy.start()
        try:
            return await self._run()
        finally:
            await self.proxy.stop()
            await self.redis_client.aclose()

    async def _run(self) -> dict[str, Any]:
        await self._arrive()
        tasks = [asyncio.create_task(p.live(self.stop)) for p in self.people]
        loops = [
            asyncio.create_task(self._sampler()),
            asyncio.create_task(self._rotator()),
            asyncio.create_task(self._checkpoints()),
        ]
        await self._faults()
        await self._until(self.cfg.duration)
        self.world.frozen = True
        self.stop.set()
        await asyncio.wait(tasks, timeout=45)
        for task in [*tasks, *loops]:
            task.cancel()
        await asyncio.gather(*tasks, *loops, return_exceptions=True)
        settled = await self._settle(timeout=30)
        verdict = self.world.ledger.check(self._final_epochs())
        self.checkpoints.append({"t": self.world.now(), **verdict.to_json()})
        trends = self._trends()
        await self._leave_all()
        leaks = [t.name for t in trends if t.leak]
        return {
            "config": self.cfg.to_json(),
            "schedule": [f.to_json() for f in self.schedule],
            "verdict": verdict.to_json(),
            "settled": settled,
            "faults": [r.to_json() for r in self.records],
            "trends": [t.to_json() for t in trends],
            "leak": leaks,
            "fault_windows": self.fault_windows,
            "latency": self._latency_summary(),
            "people": {
                "persons": len(self.people),
                "failed_sends": self.world.failed_sends,
                "join_failures": self.world.join_failures,
                "actions": self.world.actions,
                "presence_events": len(self.world.presence),
            },
            "samples": self.samples,
            "checkpoints": self.checkpoints,
        }

    # -- people -------------------------------------------------------------------------

    async def _arrive(self) -> None:
        """Everyone joins one or two rooms, a few at a time, within the first part of warm-up."""
        lb = self.cluster.lb_url
        gate = asyncio.Semaphore(20)
        for number in range(self.cfg.clients):
            holed = self.rng.random() < self.cfg.blackhole_share
            urls = [self.proxy.url, lb] if holed else [lb]
            person = Person(
                number, urls, self.world, random.Random(self.rng.random()), self.cfg.idle
            )
            self.people.append(person)

        async def arrive(person: Person) -> None:
            async with gate:
                for _ in range(person.rng.randint(1, 2)):
                    await person.enter(person.rng.choice(self.world.rooms))

        await asyncio.gather(*(arrive(p) for p in self.people))

    async def _leave_all(self) -> None:
        gate = asyncio.Semaphore(50)

        async def close(person: Person) -> None:
            async with gate:
                await person.close()

        await asyncio.gather(*(close(p) for p in self.people), return_exceptions=True)

    def _tabs(self) -> list[Any]:
        return [tab for person in self.people for tab in person.tabs.values()]

    def _ready_tabs(self) -> int:
        return sum(1 for tab in self._tabs() if tab.member.ready)

    async def _rotator(self) -> None:
        """A constant number of rooms in use: the oldest is closed, a new one opened."""
        while True:
            await asyncio.sleep(self.cfg.rotate_every)
            if self.world.frozen:
                continue
            old = self.world.rooms.pop(0)
            new = self._new_room()
            self.world.rooms.append(new)
            movers = [p for p in self.people if old in p.tabs]
            for person in movers:
                await person.leave(old)
                await person.enter(new)

    # -- the clock ----------------------------------------------------------------------

    async def _until(self, t: float) -> None:
        delay = t - self.world.now()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)

    # -- faults -------------------------------------------------------------------------

    async def _faults(self) -> None:
        for fault in self.schedule:
            await self._until(fault.at - FREEZE_BEFORE)
            self.world.frozen = True
            await self._until(fault.at)
            began = self.world.now()
            record = FaultRecord(fault)
            try:
                await self._measure(record, self._action(fault))
            except Exception as exc:  # the record says so; the soak goes on
                record.error = repr(exc)[:300]
            ended = self.world.now()
            # The leak verdict skips the disruption itself; the noise count looks longer.
            self.fault_windows.append((began - FREEZE_BEFORE, ended + 10))
            await self._until(max(began + NOISE_WINDOW, ended))
            self._count_noise(record, began, self.world.now())
            self.records.append(record)
            self.world.frozen = False
            print(f"[{self.world.now():7.1f}s] {json.dumps(record.to_json())}", flush=True)

    def _action(self, fault: Fault) -> Callable[[], Coroutine[Any, Any, Any]]:
        c = self.cluster
        blocking: dict[str, Callable[[], None]] = {
            "kill9": functools.partial(faults.kill_node, c, fault.node, 3.0),
            "storm": functools.partial(faults.kill_node, c, fault.node, 0.0),
            "rolling": functools.partial(faults.rolling_restart, c),
            "sigstop": functools.partial(faults.pause_node, c, fault.node, fault.hold),
            "redis_aof": functools.partial(faults.restart_redis, self.redis, True),
            "redis_empty": functools.partial(faults.restart_redis, self.redis, False),
        }
        if fault.kind == "blackhole":
            return functools.partial(self._black_hole, fault.hold)
        return functools.partial(asyncio.to_thread, blocking[fault.kind])

    async def _black_hole(self, hold: float) -> None:
        self.proxy.hole(True)
        await asyncio.sleep(hold)
        self.proxy.hole(False)

    async def _measure(
        self, record: FaultRecord, action: Callable[[], Coroutine[Any, Any, Any]]
    ) -> None:
        """Run the fault; meanwhile every person sends once (retrying), CPU and the tabs
        back are sampled, then member lists are polled until they agree."""
        began = time.monotonic()
        total = len(self._tabs())
        doing = asyncio.create_task(action())
        watching = asyncio.create_task(self._watch(record, began, total, doing))
        await asyncio.sleep(0.5)  # the fault has hit before anyone tries

        async def probe(person: Person) -> float | None:
            rooms = sorted(person.tabs)
            if not rooms:
                return 0.0
            took = await person.say(rooms[0], deadline=MEASURE_FOR)
            return None if took is None else time.monotonic() - began

        times = await asyncio.gather(*(probe(p) for p in self.people))
        record.can_send_s = None if None in times else round(max(t or 0.0 for t in times), 2)
        await doing
        await watching
        deadline = began + MEASURE_FOR
        while time.monotonic() < deadline:
            if self._ready_tabs() == len(self._tabs()) and await self._members_agree():
                record.members_agree_s = round(time.monotonic() - began, 2)
                break
            await asyncio.sleep(1.0)

    async def _watch(
        self, record: FaultRecord, began: float, total: int, doing: asyncio.Task[None]
    ) -> None:
        """Every 0.25 s: CPU of each process, and how many tabs are connected and joined."""
        procs = {f"node{i}": n.process for i, n in enumerate(self.cluster.nodes, start=1)}
        dropped = False
        last: dict[str, dict[str, float]] = {}
        last_t = time.monotonic()
        while time.monotonic() - began < MEASURE_FOR:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            current = {name: proc_stats(p.pid) for name, p in procs.items()}
            current["redis"] = proc_stats(self.redis.process.pid)
            for name, stats in current.items():
                pct = cpu_percent(last.get(name, {}), stats, now - last_t)
                record.cpu_peak[name] = round(max(record.cpu_peak.get(name, 0.0), pct), 1)
            last, last_t = current, now
            ready = self._ready_tabs()
            dropped = dropped or ready < total
            if ready >= 0.9 * total and dropped and record.ninety_back_s is None:
                record.ninety_back_s = round(now - began, 2)
            if ready == len(self._tabs()) and doing.done():
                record.all_back_s = round(now - began, 2)
                if not dropped:
                    record.ninety_back_s = 0.0
                return

    async def _members_agree(self) -> bool:
        """Every node lists, for every room in use, exactly the people with a tab in it."""
        expected: dict[str, set[str]] = {}
        for person in self.people:
            for room in person.tabs:
                expected.setdefault(room, set()).add(person.name)
        rooms = sorted(set(expected) | set(self.world.rooms))
        for node in self.cluster.nodes:
            client = ChatClient("members-poll")
            try:
                await client.connect(node.url, timeout=2)
                for room in rooms:
                    reply = await client.call("members", {"room": room}, timeout=2)
                    if not reply.get("ok") or set(reply["members"]) != expected.get(room, set()):
                        return False
            except Exception:
                return False
            finally:
                await client.close()
        return True

    def _count_noise(self, record: FaultRecord, began: float, ended: float) -> None:
        events = [e for e in self.world.presence if began <= e[0] <= ended]
        record.user_left = sum(1 for e in events if e[1] == "user_left")
        record.user_joined = sum(1 for e in events if e[1] == "user_joined")
        record.distinct_presence_changes = len({e[1:] for e in events})

    # -- records ------------------------------------------------------------------------

    async def _sampler(self) -> None:
        previous: dict[str, dict[str, float]] = {}
        previous_t = time.monotonic()
        while True:
            now = time.monotonic()
            t = self.world.now()
            row: dict[str, Any] = {"t": round(t, 1), "load1": loadavg(), "nodes": []}
            for i, node in enumerate(self.cluster.nodes, start=1):
                stats = proc_stats(node.process.pid)
                gauges = await node_metrics(node.url)
                key = f"node{i}:{node.process.pid}"
                row["nodes"].append({
                    "name": f"node{i}", "pid": node.process.pid, **stats,
                    "cpu_pct": cpu_percent(previous.get(key, {}), stats, now - previous_t),
                    "tasks": gauges.get("chat_asyncio_tasks"),
                    "connections": gauges.get("chat_connections"),
                    "rooms": gauges.get("chat_rooms"),
                    "redis_sockets": sockets_to(node.process.pid, self.redis.port),
                })  # fmt: skip
                previous[key] = stats
            redis_proc = proc_stats(self.redis.process.pid)
            row["redis"] = {
                **redis_proc, **(await redis_stats(self.redis_client)),
                "cpu_pct": cpu_percent(previous.get("redis", {}), redis_proc, now - previous_t),
            }  # fmt: skip
            previous["redis"] = redis_proc
            previous_t = now
            recent = [s for when, s in self.world.latencies if when > t - self.cfg.sample_every]
            row["tabs"] = len(self._tabs())
            row["ready_tabs"] = self._ready_tabs()
            row["sends"] = len(recent)
            row["p50_ms"] = _ms(percentile(recent, 0.5))
            row["p99_ms"] = _ms(percentile(recent, 0.99))
            self.samples.append(row)
            await asyncio.sleep(max(0.0, self.cfg.sample_every - (time.monotonic() - now)))

    async def _checkpoints(self) -> None:
        """Losses, duplicates and order breaks so far (the tail is judged at the end)."""
        while True:
            await asyncio.sleep(60)
            verdict = self.world.ledger.check()
            self.checkpoints.append({"t": round(self.world.now(), 1), **verdict.to_json()})

    async def _settle(self, timeout: float) -> bool:
        """Until every open tab is connected and has shown its room's last message."""
        deadline = time.monotonic() + timeout
        epochs = self._final_epochs()
        while time.monotonic() < deadline:
            if all(tab.member.ready and self._caught_up(tab, epochs) for tab in self._tabs()):
                return True
            await asyncio.sleep(0.5)
        return False

    def _final_epochs(self) -> dict[str, str]:
        return dict(self.world.ledger.latest_epoch)

    def _caught_up(self, tab: Any, epochs: dict[str, str]) -> bool:
        room = tab.view.room
        epoch = epochs.get(room)
        if epoch is None:
            return True
        top = max((i for e, i in self.world.ledger.acked[room] if e == epoch), default=0)
        return any(e == epoch and i >= top for e, i, _ in tab.view.shown[-50:])

    def _latency_summary(self) -> dict[str, Any]:
        """All sends, and the sends outside every fault's window (the everyday figure)."""
        values = [s for _, s in self.world.latencies]
        quiet = [
            s for t, s in self.world.latencies
            if not any(a <= t <= b for a, b in self.fault_windows)
        ]  # fmt: skip
        return {
            "sends": len(values),
            "p50_ms": _ms(percentile(values, 0.5)),
            "p99_ms": _ms(percentile(values, 0.99)),
            "max_ms": _ms(max(values) if values else None),
            "quiet_sends": len(quiet),
            "quiet_p50_ms": _ms(percentile(quiet, 0.5)),
            "quiet_p99_ms": _ms(percentile(quiet, 0.99)),
        }

    def _trends(self) -> list[Trend]:
        """Flat after warm-up? Samples inside a fault's window are left out; a node is
        judged on its longest-lived process, after a warm-up of its own."""
        quiet = [
            s for s in self.samples
            if s["t"] >= self.cfg.warmup
            and not any(a <= s["t"] <= b for a, b in self.fault_windows)
        ]  # fmt: skip
        trends: list[Trend] = []
        for i in range(self.cfg.nodes):
            runs: dict[int, list[dict[str, Any]]] = {}
            first_seen: dict[int, float] = {}
            for s in self.samples:
                n = s["nodes"][i]
                first_seen.setdefault(n["pid"], s["t"])
            for s in quiet:
                n = s["nodes"][i]
                if "rss_mib" in n and s["t"] - first_seen[n["pid"]] >= self.cfg.warmup:
                    runs.setdefault(n["pid"], []).append(n)
            longest = max(runs.values(), key=len, default=[])
            trends.extend(node_trends(f"node{i + 1}", longest, REDIS_POOL))
        redis = [s["redis"] for s in quiet if "live_keys" in s["redis"]]
        trends.append(judge("redis live_keys", [r["live_keys"] for r in redis], 0.20, 20.0))
        trends.append(judge("redis channels", [r["channels"] for r in redis], 0.20, 5.0))
        return trends


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
