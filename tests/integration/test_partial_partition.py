"""One node cut off from Redis while another is fine: its people move to the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_tools.clients import ResilientClient, ServedApp, http_get, make_settings
from chat_tools.procs import RedisServer
from chat_tools.soak.link import LinkProxy

pytestmark = pytest.mark.redis
MOVE_AFTER = 2.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def proxy(redis: RedisServer) -> AsyncIterator[LinkProxy]:
    link = await LinkProxy(redis.port).start()
    yield link
    await link.stop()


async def _ready(url: str) -> int:
    status, _ = await http_get(url + "/readyz")
    return status


async def _until_status(url: str, status: int, timeout: float) -> float:
    started = time.monotonic()
    while await _ready(url) != status:
        assert time.monotonic() - started < timeout, f"/readyz never {status}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


class TestPartialPartition:
    async def test_people_on_the_cut_off_node_move_and_send(
        self, redis: RedisServer, proxy: LinkProxy, served: Callable[..., Any]
    ) -> None:
        """The cut-off node fails /readyz and answers `unavailable`; its member moves to
        the healthy node after `move_after` seconds of that, and its message is stored
        once; the node is ready again when the link returns."""
        cut_off: ServedApp = await served(make_settings(redis_url=proxy.redis_url))
        healthy: ServedApp = await served(make_settings(redis_url=redis.url))
        await _until_status(cut_off.url, 200, timeout=10)
        member = ResilientClient([cut_off.url, healthy.url], "split", "ann", move_after=MOVE_AFTER)
        await member.start()
        try:
            assert 1 == await member.send("before", deadline=5)
            assert (cut_off.url, 0) == (member._client.sio.connection_url, member.reconnects)
            proxy.cut = True
            await _until_status(cut_off.url, 503, timeout=8)
            started = time.monotonic()
            sent = await member.send("during", deadline=30)
            took = time.monotonic() - started
            assert (2, 1) == (sent, member.moves)
            assert MOVE_AFTER <= took < MOVE_AFTER + 8
            assert [1, 2] == member.ids()
        finally:
            proxy.cut = False
            await member.stop()
        await _until_status(cut_off.url, 200, timeout=15)

    async def test_a_full_redis_is_no_reason_to_move(
        self, redis: RedisServer, served: Callable[..., Any]
    ) -> None:
        """Answered "cannot store" (every node's Redis is full), the member stays put."""
        from redis.asyncio import Redis

        node: ServedApp = await served(make_settings(redis_url=redis.url))
        member = ResilientClient([node.url], "full", "bo", move_after=0.5)
        await member.start()
        admin = Redis.from_url(redis.url)
        try:
            await admin.config_set("maxmemory-policy", "noeviction")
            await admin.config_set("maxmemory", "1")
            assert None is await member.send("refused", deadline=2.5)
            assert (0, 0) == (member.moves, member.reconnects)
        finally:
            await admin.config_set("maxmemory", "0")
            await admin.aclose()
            await member.stop()
