"""Two real Chromium pages on two nodes that share one Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Page, WebSocket, expect

from chat_tools.procs import Node, RedisServer

from .support import (
    WAIT_MS,
    Pages,
    message_by_text,
    message_ids,
    messages,
    metric,
    open_room,
    send,
    tab,
    unique_room,
    wait_joined,
)

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


async def join_from_landing(pages: Pages, base_url: str, name: str, room: str) -> Page:
    """Opens the landing page, fills the join form and submits it."""
    page = await pages.open(base_url + "/")
    form = page.locator("#join-form")
    await form.locator('input[name="name"]').fill(name)
    await form.locator('input[name="room"]').fill(room)
    await form.locator('button[type="submit"]').click()
    await page.wait_for_url(f"{base_url}/rooms/{room}?name={name}", timeout=WAIT_MS)
    await wait_joined(page, room)
    return page


async def test_two_nodes_chat_both_ways(pair: Pair, pages: Pages) -> None:
    """Pages on two nodes join from the landing form, chat both ways, see members and typing."""
    _, (node1, node2) = pair
    room = unique_room("duo")
    ann = await join_from_landing(pages, node1.url, "ann", room)
    bob = await join_from_landing(pages, node2.url, "bob", room)

    for page in (ann, bob):
        for name in ("ann", "bob"):
            await expect(page.locator(f'#members [data-member="{name}"]')).to_have_count(
                1, timeout=WAIT_MS
            )

    box = ann.locator("#text")
    await box.press_sequentially("hello from ann")
    await expect(bob.locator("#typing")).to_have_text("ann is typing…", timeout=WAIT_MS)
    await box.press("Enter")
    await expect(message_by_text(bob, room, "hello from ann")).to_have_count(1, timeout=WAIT_MS)
    await send(bob, "hi ann, bob here")

    for page in (ann, bob):
        from_ann = message_by_text(page, room, "hello from ann")
        from_bob = message_by_text(page, room, "hi ann, bob here")
        await expect(from_ann).to_have_attribute("data-sender", "ann", timeout=WAIT_MS)
        await expect(from_bob).to_have_attribute("data-sender", "bob", timeout=WAIT_MS)
        assert [1, 2] == await message_ids(page, room)
    await expect(bob.locator("#typing")).to_have_text("", timeout=WAIT_MS)
    assert [] == pages.unexpected_errors()


async def test_message_text_is_never_markup(pair: Pair, pages: Pages) -> None:
    """An HTML payload is shown as literal text on both pages and runs nothing."""
    _, (node1, node2) = pair
    room = unique_room("xss")
    payload = '<img src=x onerror="window.__xss=1">'
    sender = await open_room(pages, node1.url, room, "mallory")
    reader = await open_room(pages, node2.url, room, "victim")

    await send(sender, payload)
    for page in (sender, reader):
        shown = messages(page, room)
        await expect(shown).to_have_count(1, timeout=WAIT_MS)
        assert payload in (await shown.text_content() or "")
        assert 0 == await page.locator("#messages img").count()
        assert "undefined" == await page.evaluate("typeof window.__xss")
    assert [] == pages.unexpected_errors()


async def test_keyboard_only_sends_a_message(pair: Pair, pages: Pages) -> None:
    """Tab reaches the message box (through the skip link), typing and Enter send."""
    _, (node1, _) = pair
    room = unique_room("keys")
    page = await open_room(pages, node1.url, room, "kim")

    await page.keyboard.press("Tab")
    await expect(page.locator(".skip-link")).to_be_focused(timeout=WAIT_MS)
    await page.keyboard.press("Enter")
    await expect(page.locator("#text")).to_be_focused(timeout=WAIT_MS)
    await page.keyboard.type("typed without a mouse")
    await page.keyboard.press("Enter")

    await expect(message_by_text(page, room, "typed without a mouse")).to_have_count(
        1, timeout=WAIT_MS
    )
    await expect(page.locator("#text")).to_have_value("", timeout=WAIT_MS)
    assert [] == pages.unexpected_errors()


async def test_rooms_share_one_connection_and_count_unread(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """A second room joins on the same socket; switching keeps it; badges count unread."""
    _, (node1, node2) = pair
    first, second = unique_room("one"), unique_room("two")
    page = await open_room(pages, node1.url, first, "max")
    sockets: list[WebSocket] = []

    def opened(socket: WebSocket) -> None:
        sockets.append(socket)

    page.on("websocket", opened)
    connects = await metric(node1.url, "chat_connects_total")

    await page.locator('#join-room-form input[name="room"]').fill(second)
    await page.locator("#join-room-form").get_by_role("button", name="Join").click()
    await wait_joined(page, second)
    await expect(page.locator(f'[data-pane="{second}"]')).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(f'[data-pane="{first}"]')).to_be_hidden(timeout=WAIT_MS)

    other = await clients(node2.url, "other")
    assert (await other.call("join", {"room": first, "name": "zoe"}))["ok"]
    for i in range(3):
        assert (await other.call("send_message", {"room": first, "text": f"unread {i}"}))["ok"]
    badge = tab(page, first).locator(".badge[data-unread]")
    await expect(badge).to_have_attribute("data-unread", "3", timeout=WAIT_MS)
    await expect(page.locator("#total-unread")).to_have_attribute("data-unread", "3")

    await tab(page, first).locator("button[data-switch]").click()
    await expect(page.locator(f'[data-pane="{first}"]')).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(f'[data-pane="{second}"]')).to_be_hidden(timeout=WAIT_MS)
    await expect(badge).to_have_attribute("data-unread", "0", timeout=WAIT_MS)
    await expect(messages(page, first)).to_have_count(3, timeout=WAIT_MS)
    await tab(page, second).locator("button[data-switch]").click()
    await expect(page.locator(f'[data-pane="{second}"]')).to_be_visible(timeout=WAIT_MS)

    for room in (first, second):
        await expect(tab(page, room)).to_have_attribute("data-status", "joined")
    assert connects == await metric(node1.url, "chat_connects_total")
    assert [] == sockets
    assert [] == pages.unexpected_errors()
