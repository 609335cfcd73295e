"""Nothing typed is lost: the outbox across a black-holed connection, an outage and a reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from chat_tools.clients import ChatClient
from chat_tools.procs import Node, RedisServer

from .blackhole import BlackholeProxy
from .support import (
    WAIT_MS,
    Pages,
    by_client_id,
    message_by_text,
    messages,
    open_room,
    outbox,
    pending,
    type_and_send,
    unique_room,
)

pytestmark = pytest.mark.browser
# A stalled socket is declared dead after the ping interval + timeout (5 + 5 s); the
# page then reconnects with a backoff of at most 5 s.
STALL_NOTICED_MS = 12_000
RECOVERED_MS = 20_000
# The page's own dead socket, and a reload while the service is down, log errors.
TOLERATED = [r"WebSocket connection to .* failed", r"Failed to load resource"]


@pytest.fixture
def redis_node(tmp_path: Path) -> Iterator[tuple[RedisServer, Node]]:
    """A Redis of this test's own (it is stopped mid-test) and a node on it."""
    redis = RedisServer.start(tmp_path)
    node = Node.start(tmp_path, redis_url=redis.url)
    try:
        yield redis, node
    finally:
        node.process.stop()
        redis.stop()


async def watch(clients: Callable[..., Any], url: str, room: str) -> ChatClient:
    """Another member of the room, connected straight to the node."""
    observer: ChatClient = await clients(url, "observer")
    assert (await observer.call("join", {"room": room, "name": "obs"}))["ok"]
    return observer


async def wait_delivered(page: Page, client_id: str, timeout: float) -> None:
    """Until the typed message is a delivered one: an id, no pending mark."""
    typed = by_client_id(page, client_id)
    await expect(typed).to_have_attribute("data-message-id", re.compile(r"^\d+$"), timeout=timeout)
    await expect(typed).not_to_have_attribute("data-pending", "")
    await expect(typed).to_have_count(1)


async def test_outbox_survives_a_black_holed_connection(
    proxy: BlackholeProxy, node: Node, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Sent into a stall: pending at once, slow, then reconnecting; delivered once after."""
    room = unique_room("stall")
    page = await open_room(pages, proxy.url, room, "ann")
    observer = await watch(clients, node.url, room)
    connection = page.locator("#connection")

    proxy.stall()
    first = await type_and_send(page, "typed into the stall")
    await expect(by_client_id(page, first)).to_have_attribute("data-pending", "")
    await expect(connection).to_have_attribute("data-slow", "true", timeout=WAIT_MS)
    await expect(connection).not_to_have_attribute(
        "data-connection", "connected", timeout=STALL_NOTICED_MS
    )

    # Offline, the box stays editable and what is typed joins the queue.
    second = await type_and_send(page, "typed while offline")
    await expect(pending(page, room)).to_have_count(2)
    assert [first, second] == [e["clientId"] for e in await outbox(page)]

    proxy.resume_new()
    await expect(connection).to_have_attribute("data-connection", "connected", timeout=RECOVERED_MS)
    for client_id in (first, second):
        await wait_delivered(page, client_id, WAIT_MS)
    await expect(pending(page, room)).to_have_count(0)
    assert [] == await outbox(page)

    texts = ["typed into the stall", "typed while offline"]
    await observer.wait_for(lambda: len(observer.messages(room)) >= 2, timeout=5)
    assert texts == [m["text"] for m in observer.messages(room)]
    for text in texts:
        await expect(message_by_text(page, room, text)).to_have_count(1)
    assert [] == pages.unexpected_errors(TOLERATED)


async def test_a_lost_ack_still_shows_the_message_once(
    proxy: BlackholeProxy, node: Node, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Stored but unanswered (replies black-holed): after the reconnect it shows once."""
    room = unique_room("lostack")
    page = await open_room(pages, proxy.url, room, "bea")
    observer = await watch(clients, node.url, room)

    proxy.stall(upstream=False)  # the message reaches the node; nothing comes back
    client_id = await type_and_send(page, "stored, answer lost")
    await observer.wait_for(lambda: len(observer.messages(room)) == 1, timeout=5)
    assert client_id == observer.messages(room)[0].get("client_id")
    await expect(by_client_id(page, client_id)).to_have_attribute("data-pending", "")

    proxy.resume_new()
    await wait_delivered(page, client_id, STALL_NOTICED_MS + RECOVERED_MS)
    await expect(message_by_text(page, room, "stored, answer lost")).to_have_count(1)
    await asyncio.sleep(0)  # let any late duplicate event land before counting
    assert 1 == len(observer.messages(room))
    assert [] == await outbox(page)
    assert [] == pages.unexpected_errors(TOLERATED)


async def test_pending_messages_survive_an_outage_and_a_reload(
    redis_node: tuple[RedisServer, Node], pages: Pages, clients: Callable[..., Any]
) -> None:
    """Redis down: the page says unavailable, keeps the message across a reload, sends it once."""
    redis, node = redis_node
    room = unique_room("reload")
    page = await open_room(pages, node.url, room, "cy")
    connection = page.locator("#connection")

    redis.process.kill()
    client_id = await type_and_send(page, "written during the outage")
    await expect(connection).to_have_attribute("data-connection", "unavailable", timeout=WAIT_MS)
    await expect(page.locator("#connection-label")).not_to_have_text("Connected")
    await expect(by_client_id(page, client_id)).to_have_attribute("data-pending", "")

    await page.reload()
    await expect(by_client_id(page, client_id)).to_have_attribute(
        "data-pending", "", timeout=WAIT_MS
    )
    await expect(connection).to_have_attribute("data-connection", "unavailable", timeout=WAIT_MS)

    restarted = RedisServer.start(redis.process.log_path.parent, port=redis.port, name="redis-back")
    redis.process = restarted.process
    await wait_delivered(page, client_id, RECOVERED_MS)
    await expect(connection).to_have_attribute("data-connection", "connected", timeout=WAIT_MS)

    reader: ChatClient = await clients(node.url, "reader")
    history = await reader.call("history", {"room": room})
    assert ["written during the outage"] == [m["text"] for m in history["messages"]]
    await page.reload()
    await expect(messages(page, room)).to_have_count(1, timeout=WAIT_MS)
    await expect(pending(page, room)).to_have_count(0)
    assert [] == pages.unexpected_errors(TOLERATED)
