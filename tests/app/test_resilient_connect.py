"""ResilientClient's connection attempts: one that gets no answer is given up in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from chat_service.domain.backoff import Backoff
from chat_tools.clients import ChatClient, ResilientClient, ServedApp


@pytest.fixture
async def frozen_url() -> AsyncIterator[str]:
    """A server that accepts connections and never answers, as a SIGSTOPped node behind
    a balancer that still routes to it."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_unanswered_attempt_gives_up_and_tries_the_next_url(
    frozen_url: str, node: ServedApp
) -> None:
    """An attempt that hears nothing ends after connect_timeout; the next URL serves."""
    member = ResilientClient(
        [frozen_url, node.url], "r", "ann", backoff=Backoff(base=0.01), connect_timeout=0.5
    )
    started = time.monotonic()
    try:
        await asyncio.wait_for(member.start(), 10)
        took = time.monotonic() - started
        assert (True, 1) == (member.ready, member.connect_timeouts)
        assert took < 3.0, took
        watcher = await ChatClient("watcher").connect(node.url)
        reply = await watcher.call("members", {"room": "r"})
        await watcher.close()
        assert ["ann"] == reply["members"]
    finally:
        await member.stop()
