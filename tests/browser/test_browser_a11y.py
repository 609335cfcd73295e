"""axe-core on every page, light and dark: no serious or critical violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import expect

from chat_tools.procs import Node, RedisServer

from .support import WAIT_MS, Pages, messages, pending, unique_room, violations, wait_joined

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


async def test_landing_page_has_no_serious_violation(pair: Pair, pages: Pages) -> None:
    """The landing page, with an active room listed."""
    _, (node, _) = pair
    room = unique_room("axe")
    chat = await pages.open(f"{node.url}/rooms/{room}?name=ally")
    await wait_joined(chat, room)
    landing = await pages.open(node.url + "/", bypass_csp=True)
    await expect(landing.locator(f'[data-active-room="{room}"]')).to_have_count(1, timeout=WAIT_MS)
    assert [] == await violations(landing)


async def test_chat_page_has_no_serious_violation(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """The chat page with messages, members, a refused message's controls and the counter."""
    _, (node, _) = pair
    room = unique_room("axe")
    other = await clients(node.url, "other")
    assert (await other.call("join", {"room": room, "name": "bo"}))["ok"]
    assert (await other.call("send_message", {"room": room, "text": "hello there"}))["ok"]
    refused = [
        {
            "clientId": "axe-refused",
            "room": room,
            "text": "refused for good",
            "createdAt": 1_700_000_000_000,
            "state": "failed",
            "error": "invalid_text",
        }
    ]
    page = await pages.open(f"{node.url}/rooms/{room}?name=ally", bypass_csp=True)
    await page.evaluate(
        "entries => localStorage.setItem('chat.outbox', JSON.stringify(entries))", refused
    )
    await page.reload()
    await wait_joined(page, room)
    await expect(messages(page, room)).to_have_count(1, timeout=WAIT_MS)
    await expect(pending(page, room).locator("[data-retry]")).to_have_count(1)
    await page.locator("#text").fill("x" * 1995)
    await expect(page.locator("#text-counter")).to_be_visible()
    assert [] == await violations(page)
    assert [] == pages.unexpected_errors()


async def test_chat_page_features_have_no_serious_violation(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Formatting, mentions, avatars, a collapsed message, actions, the picker, the room
    browser, alerts and mention completion, light and dark."""
    _, (node, _) = pair
    room = unique_room("axe")
    other = await clients(node.url, "other")
    assert (await other.call("join", {"room": room, "name": "bo"}))["ok"]
    texts = [
        "**bold** _italic_ `code` https://example.com/ and @ally",
        "> a quote\n```\ncode block\n```",
        "\n".join(f"line {i}" for i in range(30)),
    ]
    for text in texts:
        assert (await other.call("send_message", {"room": room, "text": text}))["ok"]
    page = await pages.open(f"{node.url}/rooms/{room}?name=ally", bypass_csp=True)
    await wait_joined(page, room)
    await expect(messages(page, room)).to_have_count(3, timeout=WAIT_MS)
    await expect(page.locator("[data-more]")).to_have_count(1)
    await page.locator("#room-browser summary").click()
    await expect(page.locator("#room-browser-list [data-browse-room]")).not_to_have_count(
        0, timeout=WAIT_MS
    )
    first = messages(page, room).first
    await first.hover()
    await first.locator('[data-action="reply"]').click()
    await expect(page.locator("#composer-context")).to_be_visible()
    await first.hover()
    await first.locator('[data-action="react"]').click()
    await expect(first.locator("[data-emoji]")).to_have_count(8)
    await page.locator("#text").press_sequentially("hi @b")
    await expect(page.locator("#mention-options [data-mention-option]")).to_have_count(1)
    assert [] == await violations(page)
    assert [] == pages.unexpected_errors()


async def test_not_found_page_has_no_serious_violation(pair: Pair, pages: Pages) -> None:
    """The invalid-room page."""
    _, (node, _) = pair
    page = await pages.open(f"{node.url}/rooms/my%20room", bypass_csp=True)
    await expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
    assert [] == await violations(page)
