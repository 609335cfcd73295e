"""A page behind the real HAProxy survives the kill -9 of its node and misses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from chat_tools.clients import ChatClient
from chat_tools.localcluster import LocalCluster, local_cluster
from chat_tools.procs import Node

from .support import WAIT_MS, Pages, message_ids, messages, metric, open_room, tab, unique_room

pytestmark = pytest.mark.browser
NODE_TIMEOUT = 3  # seconds until the cluster frees the dead node's names (default 15)
# The dead node's socket dies under the page, and the balancer may briefly answer for it.
TOLERATED = [r"WebSocket connection to .* failed", r"Failed to load resource: .* 50[23]"]
RECONNECT_MS = 30_000  # reconnect + name release (NODE_TIMEOUT) + the page's 2 s retries


@pytest.fixture
def lb_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Redis, three nodes and HAProxy with the shipped config."""
    with local_cluster(
        3, log_dir=tmp_path, extra_env={"CHAT_NODE_TIMEOUT": str(NODE_TIMEOUT)}
    ) as started:
        yield started


async def node_with_connections(nodes: list[Node], count: int) -> list[Node]:
    """The nodes whose chat_connections gauge equals `count`."""
    values = await asyncio.gather(*(metric(n.url, "chat_connections") for n in nodes))
    return [n for n, v in zip(nodes, values, strict=True) if v == count]


async def test_page_reconnects_after_its_node_is_killed(
    lb_cluster: LocalCluster, pages: Pages
) -> None:
    """kill -9 of the page's node: it reconnects via the lb and shows each message once."""
    room = unique_room("survive")
    page = await open_room(pages, lb_cluster.lb_url, room, "pat")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert "CHAT_NODE" in cookies
    home = await node_with_connections(lb_cluster.nodes, 1)
    assert 1 == len(home)
    doomed = home[0]
    survivor = next(n for n in lb_cluster.nodes if n is not doomed)

    # Every data-connection change, kept in the page: a short disconnect is not missed.
    await page.evaluate(
        """() => {
            const el = document.querySelector('#connection');
            window.__states = [];
            new MutationObserver(() => window.__states.push(el.dataset.connection))
                .observe(el, {attributes: true, attributeFilter: ['data-connection']});
        }"""
    )

    sender = await ChatClient("sender").connect(survivor.url)
    try:
        assert (await sender.call("join", {"room": room, "name": "sid"}))["ok"]
        sent: list[int] = []

        async def say(text: str) -> None:
            reply = await sender.call("send_message", {"room": room, "text": text})
            assert reply["ok"], reply
            sent.append(reply["message"]["id"])

        for i in range(2):
            await say(f"before {i}")
        await expect(messages(page, room)).to_have_count(2, timeout=WAIT_MS)

        doomed.process.kill()
        await page.wait_for_function(
            "() => window.__states.includes('disconnected')", timeout=WAIT_MS
        )
        for i in range(5):
            await say(f"meanwhile {i}")
        # Sent while the page was out of the room: they can only come back through `since`.
        assert "joined" != await tab(page, room).get_attribute("data-status")

        await expect(tab(page, room)).to_have_attribute(
            "data-status", "joined", timeout=RECONNECT_MS
        )
        await expect(page.locator("#connection")).to_have_attribute(
            "data-connection", "connected", timeout=WAIT_MS
        )
        await say("after")
        await expect(messages(page, room)).to_have_count(len(sent), timeout=WAIT_MS)
    finally:
        await sender.close()

    for message_id in sent:
        one = page.locator(f'#messages [data-room="{room}"][data-message-id="{message_id}"]')
        assert 1 == await one.count()
    assert sent == await message_ids(page, room)
    assert [1, 2, 3, 4, 5, 6, 7, 8] == sent
    assert 0 == await page.locator('[data-notice="gap"]').count()
    states = await page.evaluate("() => window.__states")
    assert "disconnected" in states
    assert "connected" == states[-1]
    assert [] == pages.unexpected_errors(TOLERATED)
