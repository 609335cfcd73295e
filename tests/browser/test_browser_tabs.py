"""Tabs of one browser are one user: they share a name, and the others see it once."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from chat_tools.procs import Node, RedisServer

from .support import (
    WAIT_MS,
    Pages,
    message_by_text,
    open_room,
    pending,
    send,
    unique_room,
    wait_joined,
)

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


async def test_two_tabs_share_one_name(pair: Pair, pages: Pages) -> None:
    """A second tab takes the same name (one key per browser); each sees the other's messages."""
    _, (node1, node2) = pair
    room = unique_room("tabs")
    first = await open_room(pages, node1.url, room, "ann")
    # Same origin, so same localStorage: the tab without ?name= finds the name and key.
    second = await pages.open_tab(first, f"{node1.url}/rooms/{room}")
    await wait_joined(second, room)
    await expect(second.locator("#name-form")).to_be_hidden()

    other = await open_room(pages, node2.url, room, "bob")
    for page in (first, second, other):
        await expect(page.locator('#members [data-member="ann"]')).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#members [data-member]")).to_have_count(2)

    await send(first, "from the first tab")
    await send(second, "from the second tab")
    for page in (first, second, other):
        for text in ("from the first tab", "from the second tab"):
            shown = message_by_text(page, room, text)
            await expect(shown).to_have_count(1, timeout=WAIT_MS)
            await expect(shown).to_have_attribute("data-sender", "ann")
    for page in (first, second):
        await expect(pending(page, room)).to_have_count(0, timeout=WAIT_MS)
    # Each tab's join said nothing to bob: one user_joined for ann at most.
    await expect(other.locator('[data-notice="joined"]')).to_have_count(0)
    assert [] == pages.unexpected_errors()
