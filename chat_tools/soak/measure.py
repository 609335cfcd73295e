"""One fault, measured: everyone tries to send, the tabs coming back, CPU peaks, member
lists agreeing again, the presence noise, and what the ledger says about its window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ..clients import ChatClient
from .people import Person
from .probe import cpu_percent, proc_stats
from .records import FaultRecord
from .stage import Stage

MEASURE_FOR = 90.0  # the longest a fault's recovery is waited for


class FaultMeter:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    async def measure(
        self, record: FaultRecord, action: Callable[[], Coroutine[Any, Any, Any]]
    ) -> None:
        """Run the fault; meanwhile every person sends once (retrying), CPU and the tabs
        back are sampled, then member lists are polled until they agree."""
        stage = self.stage
        began = time.monotonic()
        total = len(stage.tabs())
        moves, reconnects = stage.moves(), stage.reconnects()
        failed = stage.world.failed_sends
        doing = asyncio.create_task(action())
        watching = asyncio.create_task(self._watch(record, began, total, doing))
        await asyncio.sleep(0.5)  # the fault has hit before anyone tries

        async def probe(person: Person) -> float | None:
            rooms = sorted(person.tabs)
            if not rooms:
                return 0.0
            took = await person.say(rooms[0], deadline=MEASURE_FOR)
            return None if took is None else time.monotonic() - began

        times = await asyncio.gather(*(probe(p) for p in stage.people))
        record.can_send_s = None if None in times else round(max(t or 0.0 for t in times), 2)
        await doing
        await watching
        deadline = began + MEASURE_FOR
        while time.monotonic() < deadline:
            if stage.ready_tabs() == len(stage.tabs()) and await self._members_agree():
                record.members_agree_s = round(time.monotonic() - began, 2)
                break
            await asyncio.sleep(1.0)
        record.moves = stage.moves() - moves
        record.reconnects = stage.reconnects() - reconnects
        record.failed_sends = stage.world.failed_sends - failed

    async def _watch(
        self, record: FaultRecord, began: float, total: int, doing: asyncio.Task[None]
    ) -> None:
        """Every 0.25 s: CPU of each process, and how many tabs are connected and joined."""
        stage = self.stage
        procs = {f"node{i}": n.process for i, n in enumerate(stage.cluster.nodes, start=1)}
        dropped = False
        last: dict[str, dict[str, float]] = {}
        last_t = time.monotonic()
        while time.monotonic() - began < MEASURE_FOR:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            current = {name: proc_stats(p.pid) for name, p in procs.items()}
            current["redis"] = proc_stats(stage.redis.process.pid)
            for name, stats in current.items():
                pct = cpu_percent(last.get(name, {}), stats, now - last_t)
                record.cpu_peak[name] = round(max(record.cpu_peak.get(name, 0.0), pct), 1)
            last, last_t = current, now
            ready = stage.ready_tabs()
            dropped = dropped or ready < total
            if ready >= 0.9 * total and dropped and record.ninety_back_s is None:
                record.ninety_back_s = round(now - began, 2)
            if ready == len(stage.tabs()) and doing.done():
                record.all_back_s = round(now - began, 2)
                if not dropped:
                    record.ninety_back_s = 0.0
                return

    async def _members_agree(self) -> bool:
        """Every node lists, for every room in use, exactly the people with a tab in it."""
        expected: dict[str, set[str]] = {}
        for person in self.stage.people:
            for room in person.tabs:
                expected.setdefault(room, set()).add(person.name)
        rooms = sorted(set(expected) | set(self.stage.world.rooms))
        for node in self.stage.cluster.nodes:
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

    def count_noise(self, record: FaultRecord, began: float, ended: float) -> None:
        events = [e for e in self.stage.world.presence if began <= e[0] <= ended]
        record.user_left = sum(1 for e in events if e[1] == "user_left")
        record.user_joined = sum(1 for e in events if e[1] == "user_joined")
        record.distinct_presence_changes = len({e[1:] for e in events})
