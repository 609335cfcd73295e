"""People: mostly idle, now and then a burst of messages, a room joined or left, a tab
reloaded. Each tab is a ResilientClient (one room, the person's key), so reconnects
resume with `since` / `epoch` and sends are retried with their `client_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chat_service.domain.backoff import Backoff

from ..clients import ResilientClient
from .ledger import Ledger, View


@dataclass
class World:
    """What every person reads: the rooms in use, whether churn is paused, the records."""

    rooms: list[str]
    ledger: Ledger
    backoff: Backoff
    started: float = field(default_factory=time.monotonic)
    frozen: bool = False
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (t, seconds)
    presence: list[tuple[float, str, str, str]] = field(
        default_factory=list
    )  # t, event, room, name
    failed_sends: int = 0
    join_failures: int = 0
    actions: dict[str, int] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Tab:
    member: ResilientClient
    view: View


class Person:
    def __init__(
        self, number: int, urls: Sequence[str], world: World, rng: random.Random, idle: float
    ) -> None:
        self.name = f"person{number}"
        self.key = secrets.token_urlsafe(24)
        self.urls = list(urls)
        self.world = world
        self.rng = rng
        self.idle = idle
        self.tabs: dict[str, Tab] = {}
        self._said = 0

    def _observer(self, room: str, view: View) -> Any:
        def observe(event: str, data: Any) -> None:
            if event == "message":
                view.shown.append((str(data["epoch"]), int(data["id"]), str(data["text"])))
            elif event in ("user_joined", "user_left") and isinstance(data, dict):
                self.world.presence.append((self.world.now(), event, room, str(data.get("name"))))

        return observe

    def _member(self, room: str, view: View, since: dict[str, Any] | None) -> ResilientClient:
        return ResilientClient(
            self.urls, room, self.name, self.key, backoff=self.world.backoff, since=since,
            observer=self._observer(room, view), drop_after=2,
        )  # fmt: skip

    async def enter(self, room: str) -> bool:
        if room in self.tabs:
            return True
        view = self.world.ledger.view(room)
        member = self._member(room, view, None)
        try:
            await member.start()
        except Exception:
            self.world.join_failures += 1
            view.open = False
            await member.stop()
            return False
        self.tabs[room] = Tab(member, view)
        return True

    async def leave(self, room: str) -> None:
        tab = self.tabs.pop(room, None)
        if tab is None:
            return
        tab.view.open = False
        with contextlib.suppress(Exception):
            await tab.member.call("leave", {"room": room}, timeout=3)
        await tab.member.stop()

    async def reload(self, room: str) -> None:
        """Close the tab and open it again, resuming after the last message it showed."""
        tab = self.tabs.get(room)
        if tab is None:
            return
        member = tab.member
        await member.stop()
        since = member.last_message  # after the stop: a message shown while closing counts
        fresh = self._member(room, tab.view, since)
        try:
            await fresh.start()
        except Exception:
            self.world.join_failures += 1
            tab.view.open = False
            del self.tabs[room]
            await fresh.stop()
            return
        tab.member = fresh

    async def say(self, room: str, deadline: float = 30.0) -> float | None:
        """Send one message; the seconds until it was acknowledged, or None."""
        tab = self.tabs.get(room)
        if tab is None:
            return None
        self._said += 1
        started = time.monotonic()
        msg_id = await tab.member.send(f"{self.name}/{self._said}", deadline=deadline)
        if msg_id is None or tab.member.last_ack is None:
            self.world.failed_sends += 1
            return None
        self.world.ledger.ack(room, tab.member.last_ack)
        took = time.monotonic() - started
        self.world.latencies.append((self.world.now(), took))
        return took

    async def live(self, stop: asyncio.Event) -> None:
        """Idle (exponential gaps), then one action; churn waits while the world is frozen."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.expovariate(1.0 / self.idle))
            if stop.is_set():
                return
            await self.act()

    async def act(self) -> None:
        roll = self.rng.random()
        rooms = sorted(self.tabs)
        if roll < 0.6 or self.world.frozen:
            if rooms:
                room = self.rng.choice(rooms)
                self._count("burst")
                for _ in range(self.rng.randint(1, 5)):
                    await self.say(room)
                    await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            return
        if roll < 0.75 and rooms:
            self._count("reload")
            await self.reload(self.rng.choice(rooms))
        elif roll < 0.9 and rooms:
            self._count("switch")
            await self.leave(self.rng.choice(rooms))
            await self.enter(self.rng.choice(self.world.rooms))
        elif len(rooms) < 2 or (len(rooms) == 2 and self.rng.random() < 0.5):
            self._count("join")  # joins balance leaves: the number of tabs stays level
            await self.enter(self.rng.choice(self.world.rooms))
        elif rooms:
            self._count("leave")
            await self.leave(self.rng.choice(rooms))

    def _count(self, action: str) -> None:
        self.world.actions[action] = self.world.actions.get(action, 0) + 1

    async def close(self) -> None:
        for tab in self.tabs.values():
            await tab.member.stop()
