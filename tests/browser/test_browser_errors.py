"""What the chat page shows when the server refuses: the error line and the name form."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_tools.procs import Node, RedisServer

from .support import WAIT_MS, Pages, messages, open_room, tab, unique_room, wait_joined

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


@pytest.fixture
def strict_node(tmp_path: Path) -> Iterator[Node]:
    """One in-memory node that allows two messages a minute per connection."""
    node = Node.start(tmp_path, extra_env={"CHAT_RATE_LIMIT": "2/60"})
    try:
        yield node
    finally:
        node.process.stop()


async def test_rate_limited_message_waits_in_the_outbox(strict_node: Node, pages: Pages) -> None:
    """The third quick message is refused for now: it stays pending, saying why, not lost."""
    room = unique_room("fast")
    page = await open_room(pages, strict_node.url, room, "quick")
    box = page.locator("#text")
    for i in range(2):
        await box.fill(f"allowed {i}")
        await box.press("Enter")
    await expect(messages(page, room)).to_have_count(2, timeout=WAIT_MS)
    await box.fill("one too many")
    await box.press("Enter")

    waiting = page.locator("[data-pending]").filter(has_text="one too many")
    await expect(waiting).to_have_count(1, timeout=WAIT_MS)
    await expect(waiting.locator(".msg-status")).to_have_text(
        "Sending too fast; waiting a moment…", timeout=WAIT_MS
    )
    await expect(box).to_have_value("")
    await expect(box).to_be_editable()
    assert 2 == await messages(page, room).count()
    stored = await page.evaluate("() => JSON.parse(localStorage.getItem('chat.outbox'))")
    assert ["one too many"] == [entry["text"] for entry in stored]
    assert [] == pages.unexpected_errors()


async def test_taken_name_asks_for_another(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """A name another node's member holds opens the name form; a new name then joins."""
    _, (node1, node2) = pair
    room = unique_room("names")
    holder = await clients(node2.url, "holder")
    assert (await holder.call("join", {"room": room, "name": "sam"}))["ok"]

    page = await pages.open(f"{node1.url}/rooms/{room}?name=sam")
    await expect(tab(page, room)).to_have_attribute("data-status", "needs-name", timeout=WAIT_MS)
    form = page.locator("#name-form")
    await expect(form).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#text")).not_to_be_editable()
    await expect(page.locator("#name-form-error")).not_to_have_text("")

    await form.locator('input[name="name"]').fill("sam2")
    await form.locator('input[name="name"]').press("Enter")
    await wait_joined(page, room)
    await expect(form).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator('#members [data-member="sam2"]')).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator('#members [data-member="sam"]')).to_have_count(1, timeout=WAIT_MS)
    assert [] == pages.unexpected_errors()
