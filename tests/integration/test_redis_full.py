"""A real redis-server that runs out of memory (maxmemory, noeviction) under a real node."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from chat_service.backends.keys import Keys
from chat_tools.clients import ChatClient, ServedApp, http_get, make_settings
from chat_tools.procs import RedisServer

pytestmark = pytest.mark.redis
FULL = {"ok": False, "error": {"code": "unavailable", "message": (
    "The service cannot store messages right now; try again later."
)}}  # fmt: skip
NODE_TIMEOUT = 1.5  # a heartbeat every 0.3 s: the alive key would lapse within the test


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own: the test lowers its maxmemory."""
    server = RedisServer.start(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def admin(redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis.url, decode_responses=True)
    await client.config_set("maxmemory-policy", "noeviction")
    yield client
    await client.config_set("maxmemory", "0")
    await client.aclose()


async def _metric(url: str, name: str) -> float:
    _, body = await http_get(url + "/metrics")
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def _until(check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


class TestRedisFull:
    async def test_told_why_reads_go_on_and_back_when_memory_frees(
        self,
        redis: RedisServer,
        admin: Redis,
        served: Callable[..., Any],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Sends say the service cannot store, reads and /readyz go on, one log line at
        each end, chat_redis_oom meanwhile, the node stays alive, and sends work again."""
        caplog.set_level(logging.INFO, logger="chat_service")
        node: ServedApp = await served(
            make_settings(redis_url=redis.url, node_timeout=NODE_TIMEOUT, rate_limit=None),
            node_id="full-node",
        )
        alice = await ChatClient("alice").connect(node.url)
        try:
            joined = await alice.call("join", {"room": "full", "name": "alice"})
            assert joined["ok"] is True, joined
            first = await alice.call("send_message", {"room": "full", "text": "before"})
            assert first["ok"] is True

            await admin.config_set("maxmemory", "1")
            refused = [
                await alice.call("send_message", {"room": "full", "text": f"t{i}"})
                for i in range(3)
            ]
            assert [FULL] * 3 == refused
            assert 1.0 == await _metric(node.url, "chat_redis_oom")
            history = await alice.call("history", {"room": "full"})
            assert ["before"] == [m["text"] for m in history["messages"]]
            assert 200 == (await http_get(node.url + "/readyz"))[0]
            # Longer than the alive key lives: the heartbeat keeps it through the refusals.
            await asyncio.sleep(NODE_TIMEOUT * 1.5)
            assert 1 == await admin.exists(Keys("chat:").alive("full-node"))
            members = await alice.call("members", {"room": "full"})
            assert ["alice"] == members["members"]
            assert 1 == len(_lines(caplog, "Redis is out of memory"))
            assert 1.0 == await _metric(node.url, "chat_backend_up")

            await admin.config_set("maxmemory", "0")

            async def cleared() -> bool:
                return await _metric(node.url, "chat_redis_oom") == 0.0

            await _until(cleared)
            again = await alice.call("send_message", {"room": "full", "text": "after"})
            assert True is again["ok"]
            assert 1 == len(_lines(caplog, "Redis accepts writes again"))
        finally:
            await alice.close()
