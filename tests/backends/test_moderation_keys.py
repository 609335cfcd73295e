"""Moderation's Redis side: ban keys expire with their bans, and Lua writes wire.py's bytes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat_service.backends import wire
from chat_service.backends.base import BanOrder
from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client
from chat_tools.procs import RedisServer

NOW = 10**15  # far in the future of the servers' clocks: nothing expires during a test
KICKED = '{"room":"lobby","by":"Mod \\"x\\""}'


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def store(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[RedisStore]:
    if request.param == "fakeredis":
        client = fake_redis_factory()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = make_client(server.url)
    made = RedisStore(client, node_id="n1", prefix=f"m{secrets.token_hex(3)}:")
    yield made
    await made.close()


def order(until: int | None, reason: str | None = None, sub: str | None = None) -> BanOrder:
    return BanOrder(until=until, by="Mod", reason=reason, sub=sub)


class TestBanKeys:
    async def test_bans_key_lives_as_long_as_a_ban_in_force(self, store: RedisStore) -> None:
        """Expiry at the latest ban's end; none while one lasts until unban; gone when empty."""
        key = store.keys.bans("lobby")
        await store.moderate("lobby", NOW, KICKED, order(NOW + 50_000), user="kA")
        await store.moderate("lobby", NOW, KICKED, order(NOW + 90_000), user="kB")
        at_latest = await store.client.pttl(key)
        await store.moderate("lobby", NOW, KICKED, order(None), user="kC")
        forever = await store.client.pttl(key)
        await store.unban("lobby", NOW, user="kC")
        again = await store.client.pttl(key)
        await store.unban("lobby", NOW, user="kA")
        await store.unban("lobby", NOW, user="kB")
        assert at_latest > NOW // 2 and again > NOW // 2
        assert (-1, 0) == (forever, await store.client.exists(key))

    async def test_kicks_key_expires(self, store: RedisStore) -> None:
        """What a kick said is kept ten minutes, for a node that missed its event."""
        await store.join("lobby", "kA", "Ann", "s1", None, None, 1000, 50)
        await store.moderate("lobby", 2000, KICKED, None, user="kA")
        assert 590_000 < await store.client.pttl(store.keys.kicks("lobby")) <= 600_000

    async def test_subjects_key_expires(self, store: RedisStore) -> None:
        """The subs a room remembers expire with the longest-lived token."""
        key = store.keys.subs("lobby")
        await store.remember_subject("lobby", "sA", "alice", NOW)
        first = await store.client.pttl(key)
        await store.remember_subject("lobby", "sB", "bob", 0)
        assert 0 < first and first - 1000 <= await store.client.pttl(key) <= first
        assert '"alice"' == await store.client.hget(key, "sA")


class TestWire:
    @pytest.mark.parametrize("name", ["Ann", 'Zoë "q" \\ / 😀'])
    async def test_ban_record_matches_the_encoder(self, store: RedisStore, name: str) -> None:
        """The record moderate.lua stores equals wire.ban_record's bytes."""
        await store.remember_subject("lobby", "sA", 'a"b', NOW)
        await store.join("lobby", "sA", name, "s1", None, None, 1000, 50)
        await store.moderate("lobby", 2000, KICKED, order(NOW, 'why "so"'), user="sA")
        raw = await store.client.hget(store.keys.bans("lobby"), "sA")
        tail = wire.ban_tail("Mod", 'why "so"', 2000)
        assert wire.ban_record(NOW, name, 'a"b', tail) == raw
        expected = wire.StoredBan(name, 'a"b', NOW, "Mod", 'why "so"', 2000)
        assert expected == wire.parse_ban(raw)

    async def test_kicked_event_matches_the_encoder(self, store: RedisStore) -> None:
        """The `kicked` event's payload equals wire.kicked_control's bytes."""
        await store.join("lobby", "kA", "Ann", "s1", None, None, 1000, 50)
        pubsub = store.client.pubsub()
        await pubsub.subscribe(store.keys.channel("lobby"))
        await pubsub.get_message(timeout=1)
        await store.moderate("lobby", 2000, KICKED, None, name_key="ann")
        message = None
        for _ in range(20):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                break
        await pubsub.aclose()
        assert message is not None
        event = wire.RoomEvent.decode(message["data"])
        assert ("kicked", "", wire.kicked_control("kA", ["s1"], KICKED)) == (
            event.kind,
            event.skip_sid,
            event.payload,
        )
