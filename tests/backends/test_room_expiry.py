"""A room's data keys share one idle expiry: any use of the room renews all of them, so
a room in use never loses its history, reactions, changes or read positions to a TTL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client
from chat_tools.procs import RedisServer

IDLE_MS = 600_000
NEARLY_GONE_MS = 5_000  # what a key has left when a room was last used long ago


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
async def store(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[RedisStore]:
    if request.param == "fakeredis":
        client = fake_redis_factory()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = make_client(server.url)
    made = RedisStore(client, node_id="n1", prefix=f"e{secrets.token_hex(3)}:", idle_ttl_ms=IDLE_MS)
    yield made
    await made.close()


async def used_long_ago(store: RedisStore) -> list[str]:
    """A room with a message, a reaction and a read position, whose keys are about to
    expire; returns those keys."""
    k = store.keys
    await store.join("lobby", "kA", "Ann", "s1", None, None, 1000, 50)
    await store.append_message("lobby", "Ann", "hi", 1000, None, user="kA")
    await store.react("lobby", 1, None, "kA", "Ann", "👍", True)
    await store.mark_read("lobby", "kA", "Ann", 1, publish=False)
    keys = [k.meta("lobby"), k.history("lobby"), k.reactions("lobby"), k.changed("lobby")]
    keys.append(k.reads("lobby"))
    for key in keys:
        assert await store.client.pexpire(key, NEARLY_GONE_MS)
    return keys


async def ttls(store: RedisStore, keys: list[str]) -> dict[str, bool]:
    """Whether each key has its full idle expiry again."""
    return {key: int(await store.client.pttl(key)) > IDLE_MS - 60_000 for key in keys}


class TestRenewal:
    async def test_a_join_renews_every_data_key(self, store: RedisStore) -> None:
        """Someone joining a quiet room renews its history, reactions, changes and reads,
        not only its meta."""
        keys = await used_long_ago(store)
        await store.join("lobby", "kB", "Bob", "s2", None, None, 2000, 50)
        assert dict.fromkeys(keys, True) == await ttls(store, keys)

    async def test_a_message_renews_reactions_and_changes(self, store: RedisStore) -> None:
        """A new message renews the kept messages' reactions and changes with the history
        (else, after a week of messages and no reaction, a reaction to an older message
        would start from none and drop the ones it had). Messages renew at most once a
        minute of message time (append.lua), so this one comes a minute later."""
        keys = await used_long_ago(store)
        await store.append_message("lobby", "Ann", "again", 1000 + 60_001, None, user="kA")
        renewed = [store.keys.history("lobby"), store.keys.reactions("lobby")]
        renewed.append(store.keys.changed("lobby"))
        assert dict.fromkeys(renewed, True) == await ttls(store, renewed)
        assert set(renewed) < set(keys)
