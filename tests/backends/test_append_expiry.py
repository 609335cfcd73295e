"""The append script renews a room's idle expiry sparingly and never leaves a key without one."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client
from chat_service.backends.wire import parse_message
from chat_tools.procs import RedisServer

TTL = 64_000  # the script refreshes at most every ttl / 64 = 1 s of message time


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def store(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[RedisStore]:
    if request.param == "fakeredis":
        client = fake_redis_factory()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = make_client(server.url)
    made = RedisStore(
        client, node_id="n1", prefix=f"x{secrets.token_hex(3)}:", idle_ttl_ms=TTL, history_size=3
    )
    yield made
    await made.close()


async def post(store: RedisStore, ts: int) -> int:
    appended = await store.append_message("lobby", "Ann", "hi", ts, None, user="u1")
    return int(appended.message["id"])


async def ttls(store: RedisStore) -> tuple[int, int]:
    k = store.keys
    return (await store.client.pttl(k.meta("lobby")), await store.client.pttl(k.history("lobby")))


async def shorten(store: RedisStore) -> None:
    for key in (store.keys.meta("lobby"), store.keys.history("lobby")):
        await store.client.pexpire(key, 5_000)


class TestAppendExpiry:
    async def test_first_message_sets_the_idle_expiry(self, store: RedisStore) -> None:
        """A new room's meta and history both get the idle TTL."""
        await post(store, 1_000)
        meta, hist = await ttls(store)
        assert (True, True) == (TTL - 2_000 < meta <= TTL, TTL - 2_000 < hist <= TTL)

    async def test_refresh_waits_for_the_interval(self, store: RedisStore) -> None:
        """Within ttl/64 of message time the expiry is left; past it both keys are refreshed."""
        await post(store, 1_000)
        await shorten(store)
        await post(store, 1_999)
        within = await ttls(store)
        await post(store, 2_000)
        meta, hist = await ttls(store)
        assert (True, True, True) == (
            max(within) <= 5_000,
            TTL - 2_000 < meta <= TTL,
            TTL - 2_000 < hist <= TTL,
        )

    async def test_a_clock_behind_refreshes(self, store: RedisStore) -> None:
        """A message stamped before the last refresh (another node's clock) refreshes."""
        await post(store, 10_000)
        await shorten(store)
        await post(store, 9_000)
        meta, hist = await ttls(store)
        assert (True, True) == (meta > 5_000, hist > 5_000)

    async def test_a_history_lost_alone_gets_an_expiry_again(self, store: RedisStore) -> None:
        """History recreated by the next append (meta kept) has an expiry at once."""
        await post(store, 1_000)
        await store.client.delete(store.keys.history("lobby"))
        await post(store, 1_001)
        assert 0 < (await ttls(store))[1]

    async def test_ids_and_window_across_trims(self, store: RedisStore) -> None:
        """Ids keep counting and the newest history_size messages are kept, trim by trim."""
        ids = [await post(store, 1_000 + i) for i in range(6)]
        kept = await store.client.lrange(store.keys.history("lobby"), 0, -1)
        assert ([1, 2, 3, 4, 5, 6], [4, 5, 6]) == (ids, [parse_message(m)["id"] for m in kept])
