"""ModerationService on a node: applying `kicked` to local connections, even mid-join."""

from __future__ import annotations

import asyncio

from chat_service.app import create_app
from chat_service.appkeys import MODERATION, SERVICE
from chat_service.backends.wire import RoomEvent, kicked_control
from chat_service.service import Seat
from chat_tools.clients import make_settings

EVENT = '{"room":"lobby","by":"api"}'


async def forward(room: str, event: RoomEvent) -> None:
    raise AssertionError(f"a kicked event reached delivery: {event}")


class TestMissedKick:
    async def test_resubscribed_room_removes_what_a_kick_removed(self) -> None:
        """A kick whose event this node missed (its feed was down) is applied when the
        room's feed is back; connections it did not touch stay."""
        app = create_app(make_settings())
        chat, moderation = app[SERVICE], app[MODERATION]
        store = chat.store
        kicked, stays = chat.connect("sid-1", "127.0.0.1"), chat.connect("sid-2", "127.0.0.1")
        for conn, user, name in ((kicked, "kA", "Ann"), (stays, "kB", "Bob")):
            await store.join("lobby", user, name, conn.sid, None, None, 1000, 50)
            conn.rooms["lobby"] = Seat(name, user)
        # Not subscribed to the room: the `kicked` event goes nowhere, as in an outage.
        await store.moderate("lobby", 2000, EVENT, None, user="kA")
        refilled: list[str] = []

        async def refill(room: str) -> None:
            refilled.append(room)

        await moderation.resubscribed(refill)("lobby")
        for _ in range(50):
            if "lobby" not in kicked.rooms:
                break
            await asyncio.sleep(0.01)
        assert (["lobby"], {}, ["lobby"]) == (refilled, kicked.rooms, list(stays.rooms))


class TestKickedFeed:
    async def test_seated_connection_is_removed_at_once(self) -> None:
        """A local connection of the kicked user leaves the room before the next event."""
        app = create_app(make_settings())
        chat, moderation = app[SERVICE], app[MODERATION]
        conn = chat.connect("sid-1", "127.0.0.1")
        conn.rooms["lobby"] = Seat("Ann", "kA")
        other = chat.connect("sid-2", "127.0.0.1")
        other.rooms["lobby"] = Seat("Bob", "kB")
        payload = kicked_control("kA", ["sid-1"], EVENT)
        await moderation.feed(forward)("lobby", RoomEvent("kicked", "e", 0, "", payload))
        assert ({}, ["lobby"]) == (conn.rooms, list(other.rooms))

    async def test_connection_mid_join_is_removed_when_its_join_ends(self) -> None:
        """A seat the kick removed while its join was finishing is dropped once the join
        records it; a connection the kick did not list is left alone."""
        app = create_app(make_settings())
        chat, moderation = app[SERVICE], app[MODERATION]
        joining = chat.connect("sid-1", "127.0.0.1")
        bystander = chat.connect("sid-3", "127.0.0.1")
        await joining.lock.acquire()  # as ChatService.join holds it around the seat
        payload = kicked_control("kA", ["sid-1"], EVENT)
        await moderation.feed(forward)("lobby", RoomEvent("kicked", "e", 0, "", payload))
        joining.rooms["lobby"] = Seat("Ann", "kA")
        bystander.rooms["lobby"] = Seat("Ann2", "kZ")
        joining.lock.release()
        for _ in range(50):
            if "lobby" not in joining.rooms:
                break
            await asyncio.sleep(0.01)
        assert ({}, ["lobby"]) == (joining.rooms, list(bystander.rooms))

    async def test_other_events_go_on(self) -> None:
        """Everything but `kicked` reaches delivery unchanged."""
        app = create_app(make_settings())
        seen: list[RoomEvent] = []

        async def record(room: str, event: RoomEvent) -> None:
            seen.append(event)

        event = RoomEvent("user_left", "e", 0, "", '{"room":"lobby","name":"Ann","ts":1}')
        await app[MODERATION].feed(record)("lobby", event)
        assert [event] == seen
