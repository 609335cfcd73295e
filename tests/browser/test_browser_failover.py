"""A failover is invisible: kill -9 of the page's node behind HAProxy, and nobody notices."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from chat_tools.clients import ChatClient
from chat_tools.localcluster import LocalCluster, local_cluster

from .support import WAIT_MS, Pages, by_client_id, metric, open_room, type_and_send, unique_room

pytestmark = pytest.mark.browser
NODE_TIMEOUT = 3.0  # seconds until the cluster declares the killed node dead
PRESENCE_GRACE = 2.0  # seconds a gone user stays listed
SEND_AGAIN_S = 2.0  # from the kill to the next message delivered
TOLERATED = [r"WebSocket connection to .* failed", r"Failed to load resource: .* 50[23]"]


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[LocalCluster]:
    """Redis, two nodes and HAProxy with the shipped config."""
    env = {"CHAT_NODE_TIMEOUT": str(NODE_TIMEOUT), "CHAT_PRESENCE_GRACE": str(PRESENCE_GRACE)}
    with local_cluster(2, log_dir=tmp_path, extra_env=env) as started:
        yield started


async def test_kill_of_the_users_node_is_invisible(two_nodes: LocalCluster, pages: Pages) -> None:
    """The user sends again within 2 s of the kill; the other user sees no leave or join."""
    room = unique_room("failover")
    page = await open_room(pages, two_nodes.lb_url, room, "pat")
    counts = await asyncio.gather(*(metric(n.url, "chat_connections") for n in two_nodes.nodes))
    doomed = two_nodes.nodes[counts.index(1)]
    survivor = next(n for n in two_nodes.nodes if n is not doomed)

    other = await ChatClient("sid").connect(survivor.url)
    try:
        assert (await other.call("join", {"room": room, "name": "sid"}))["ok"]
        await expect(page.locator('#members [data-member="sid"]')).to_have_count(1, timeout=WAIT_MS)

        doomed.process.kill()
        killed_at = time.monotonic()
        client_id = await type_and_send(page, "still here")
        delivered = by_client_id(page, client_id)
        await expect(delivered).to_have_attribute(
            "data-message-id", re.compile(r"^\d+$"), timeout=SEND_AGAIN_S * 1000
        )
        assert SEND_AGAIN_S > time.monotonic() - killed_at
        await expect(delivered).not_to_have_attribute("data-pending", "")
        await other.wait_for(lambda: len(other.messages(room)) == 1, timeout=5)
        assert "pat" == other.messages(room)[0]["name"]

        # Nothing to await: the point is that no event comes. Wait out the node's death
        # and the presence grace, with a margin, then look.
        await asyncio.sleep(NODE_TIMEOUT + PRESENCE_GRACE + 2.0)
        assert [] == [e for e in other.of("user_left") if e.get("name") == "pat"]
        assert [] == [e for e in other.of("user_joined") if e.get("name") == "pat"]
        members = await other.call("members", {"room": room})
        assert ["pat", "sid"] == members["members"]
    finally:
        await other.close()
    await expect(page.locator("#connection")).to_have_attribute("data-connection", "connected")
    await expect(page.locator('[data-notice="left"]')).to_have_count(0)
    assert [] == pages.unexpected_errors(TOLERATED)
