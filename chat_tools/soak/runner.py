"""The soak: a local cluster, people, the fault schedule, samples, and the verdicts.

The parts: `stage.py` (what they share), `people.py`, `measure.py` (one fault's
record), `sampler.py`, `records.py` (records, latency, leak trends), `faults.py` (to
processes) and `linkfaults.py` (to links and Redis' memory), `ledger.py` (the verdict).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from chat_service.domain.backoff import Backoff

from ..localcluster import LocalCluster
from ..procs import RedisServer
from . import faults, linkfaults
from .ledger import Ledger, Verdict
from .linkfaults import Links
from .measure import FaultMeter
from .people import Person, World
from .proxy import BlackHoleProxy
from .records import FaultRecord, latency_summary, trends
from .sampler import sample_forever
from .schedule import FAULTS, Fault, make_schedule
from .stage import Stage

FREEZE_BEFORE = 6.0  # churn pauses this long before a fault: longer than the presence grace
NOISE_WINDOW = 30.0  # presence events this long after a fault are blamed on it
CHECK_EVERY = 60.0  # seconds between checkpoints of the ledger


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
    lossy_share: float = 0.2
    max_hold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


class Soak:
    def __init__(
        self,
        cfg: SoakConfig,
        cluster: LocalCluster,
        redis: RedisServer,
        links: Links | None = None,
    ) -> None:
        self.cfg = cfg
        self.links = links
        self.rng = random.Random(cfg.seed)
        self._room_counter = 0
        rooms = [self._new_room() for _ in range(cfg.rooms)]
        world = World(rooms, Ledger(), Backoff(jitter=cfg.jitter))
        client = Redis.from_url(redis.url, socket_timeout=3, socket_connect_timeout=3)
        ports = [link.port for link in links.redis] if links else []
        self.stage = Stage(cluster, redis, client, world, node_redis_ports=ports)
        self.world = world
        self.meter = FaultMeter(self.stage)
        self.schedule = make_schedule(
            cfg.seed, cfg.duration, cfg.warmup, cfg.interval, cfg.nodes, cfg.faults,
            cfg.max_hold,
        )  # fmt: skip
        self.samples: list[dict[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self.records: list[FaultRecord] = []
        self.fault_windows: list[tuple[float, float]] = []
        self.stop = asyncio.Event()
        self.proxy = BlackHoleProxy(cluster.lb.port)

    @property
    def people(self) -> list[Person]:
        return self.stage.people

    def _new_room(self) -> str:
        self._room_counter += 1
        return f"soak-{self._room_counter}"

    async def run(self) -> dict[str, Any]:
        await self.proxy.start()
        try:
            return await self._run()
        finally:
            await self.proxy.stop()
            await self.stage.redis_client.aclose()

    async def _run(self) -> dict[str, Any]:
        await self._arrive()
        tasks = [asyncio.create_task(p.live(self.stop)) for p in self.people]
        loops = [
            asyncio.create_task(sample_forever(self.stage, self.cfg.sample_every, self.samples)),
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
        verdict = self._checkpoint(self.world.ledger.check(dict(self.world.ledger.latest_epoch)))
        found = trends(self.samples, self.cfg.nodes, self.cfg.warmup, self.fault_windows)
        await self._leave_all()
        return {
            "config": self.cfg.to_json(),
            "schedule": [f.to_json() for f in self.schedule],
            "verdict": verdict.to_json(),
            "settled": settled,
            "faults": [r.to_json() for r in self.records],
            "trends": [t.to_json() for t in found],
            "leak": [t.name for t in found if t.leak],
            "fault_windows": self.fault_windows,
            "latency": latency_summary(self.world.latencies, self.fault_windows),
            "people": {
                "persons": len(self.people),
                "lossy": sum(1 for p in self.people if self._is_lossy(p)),
                "failed_sends": self.world.failed_sends,
                "join_failures": self.world.join_failures,
                "actions": self.world.actions,
                "presence_events": len(self.world.presence),
                "moves": self.stage.moves(),
            },
            "samples": self.samples,
            "checkpoints": self.checkpoints,
        }

    # -- people -------------------------------------------------------------------------

    def _is_lossy(self, person: Person) -> bool:
        lossy = self.links.lossy if self.links else None
        return lossy is not None and lossy.url in person.urls

    async def _arrive(self) -> None:
        """Everyone joins one or two rooms, a few at a time, within the first part of warm-up.
        A share of the people reconnect through the black hole first, another share live
        behind a mobile link (the lossy proxy) for good."""
        lb = self.stage.cluster.lb_url
        lossy = self.links.lossy if self.links else None
        gate = asyncio.Semaphore(20)
        for number in range(self.cfg.clients):
            roll = self.rng.random()
            urls = [lb]
            if roll < self.cfg.blackhole_share:
                urls = [self.proxy.url, lb]
            elif lossy is not None and roll < self.cfg.blackhole_share + self.cfg.lossy_share:
                urls = [lossy.url]
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
            before = self.world.ledger.check()
            began = self.world.now()
            record = FaultRecord(fault)
            try:
                await self.meter.measure(record, self._action(fault))
            except Exception as exc:  # the record says so; the soak goes on
                record.error = repr(exc)[:300]
            ended = self.world.now()
            # The leak verdict skips the disruption itself; the noise count looks longer.
            self.fault_windows.append((began - FREEZE_BEFORE, ended + 10))
            await self._until(max(began + NOISE_WINDOW, ended))
            self.meter.count_noise(record, began, self.world.now())
            after = self.world.ledger.check()
            record.lost = after.lost - before.lost
            record.duplicates = after.duplicates - before.duplicates
            record.order_breaks = after.order_breaks - before.order_breaks
            self.records.append(record)
            self.world.frozen = False
            print(f"[{self.world.now():7.1f}s] {json.dumps(record.to_json())}", flush=True)

    def _action(self, fault: Fault) -> Callable[[], Coroutine[Any, Any, Any]]:
        c, redis, links = self.stage.cluster, self.stage.redis, self.links
        blocking: dict[str, Callable[[], None]] = {
            "kill9": functools.partial(faults.kill_node, c, fault.node, 3.0),
            "storm": functools.partial(faults.kill_node, c, fault.node, 0.0),
            "rolling": functools.partial(faults.rolling_restart, c),
            "sigstop": functools.partial(faults.pause_node, c, fault.node, fault.hold),
            "redis_aof": functools.partial(faults.restart_redis, redis, True),
            "redis_empty": functools.partial(faults.restart_redis, redis, False),
        }
        if fault.kind in blocking:
            return functools.partial(asyncio.to_thread, blocking[fault.kind])
        if fault.kind == "blackhole":
            return functools.partial(self._black_hole, fault.hold)
        if fault.kind == "redis_full":
            return functools.partial(linkfaults.redis_full, redis.url, fault.hold)
        if links is None:
            raise RuntimeError(f"{fault.kind} needs the soak's proxies")
        if fault.kind == "partition":
            return functools.partial(linkfaults.partition, links, fault.node, fault.hold)
        if fault.kind == "slow_redis":
            return functools.partial(linkfaults.slow_redis, links, fault.level, fault.hold)
        rng = random.Random(f"{self.cfg.seed}/{fault.at}")
        return functools.partial(linkfaults.lossy, links, fault.level, fault.hold, rng)

    async def _black_hole(self, hold: float) -> None:
        self.proxy.hole(True)
        await asyncio.sleep(hold)
        self.proxy.hole(False)

    # -- verdicts -----------------------------------------------------------------------

    def _checkpoint(self, verdict: Verdict) -> Verdict:
        self.checkpoints.append({"t": round(self.world.now(), 1), **verdict.to_json()})
        return verdict

    async def _checkpoints(self) -> None:
        """Losses, duplicates and order breaks so far (the tail is judged at the end)."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            started = time.monotonic()
            self._checkpoint(self.world.ledger.check())
            self.checkpoints[-1]["check_ms"] = round((time.monotonic() - started) * 1000, 1)

    async def _settle(self, timeout: float) -> bool:
        """Until every open tab is connected and has shown its room's last message."""
        deadline = time.monotonic() + timeout
        epochs = dict(self.world.ledger.latest_epoch)
        while time.monotonic() < deadline:
            tabs = self.stage.tabs()
            if all(tab.member.ready and self._caught_up(tab, epochs) for tab in tabs):
                return True
            await asyncio.sleep(0.5)
        return False

    def _caught_up(self, tab: Any, epochs: dict[str, str]) -> bool:
        room = tab.view.room
        epoch = epochs.get(room)
        if epoch is None:
            return True
        top = self.world.ledger.top_acked(room, epoch)
        return any(e == epoch and i >= top for e, i, _ in tab.view.shown[-50:])
