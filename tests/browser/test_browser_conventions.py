"""Chat conventions: new-messages marker, unread divider, counter, composer, 404 page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import Node, RedisServer

from .support import (
    WAIT_MS,
    Pages,
    message_by_text,
    messages,
    open_room,
    pending,
    tab,
    unique_room,
    wait_joined,
)

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


async def pane_at_bottom(page: Page, room: str) -> bool:
    """True when the room's pane is scrolled to its end."""
    at_bottom: bool = await page.locator(f'[data-pane="{room}"]').evaluate(
        "p => p.scrollHeight - p.scrollTop - p.clientHeight < 4"
    )
    return at_bottom


async def test_new_messages_marker_when_scrolled_up(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Scrolled up, new messages show a counted jump button; it scrolls down and goes."""
    _, (node1, node2) = pair
    room = unique_room("marker")
    other = await clients(node2.url, "other")
    assert (await other.call("join", {"room": room, "name": "zed"}))["ok"]
    for i in range(16):  # within the rate limit (20 per 10 s), enough to scroll
        assert (await other.call("send_message", {"room": room, "text": f"old {i}"}))["ok"]
    page = await open_room(pages, node1.url, room, "una", height=600)
    await expect(messages(page, room)).to_have_count(16, timeout=WAIT_MS)
    jump = page.locator("#jump")
    assert await pane_at_bottom(page, room)

    # At the bottom, new messages just scroll in.
    assert (await other.call("send_message", {"room": room, "text": "while reading"}))["ok"]
    await expect(message_by_text(page, room, "while reading")).to_have_count(1, timeout=WAIT_MS)
    await expect(jump).to_be_hidden()

    await page.locator(f'[data-pane="{room}"]').evaluate("p => { p.scrollTop = 0; }")
    for i in range(2):
        assert (await other.call("send_message", {"room": room, "text": f"new {i}"}))["ok"]
    await expect(jump).to_have_text("2 new messages ↓", timeout=WAIT_MS)
    await expect(jump).to_be_visible()
    assert not await pane_at_bottom(page, room)

    await jump.click()
    await expect(jump).to_be_hidden(timeout=WAIT_MS)
    assert await pane_at_bottom(page, room)
    await expect(page.locator("#text")).to_be_focused()
    assert [] == pages.unexpected_errors()


async def test_unread_divider_when_coming_back(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Back in a room, "New messages" sits above the first message read for the first time."""
    _, (node1, node2) = pair
    first, second = unique_room("back"), unique_room("away")
    page = await open_room(pages, node1.url, first, "vic")
    other = await clients(node2.url, "other")
    assert (await other.call("join", {"room": first, "name": "wyn"}))["ok"]
    assert (await other.call("send_message", {"room": first, "text": "seen already"}))["ok"]
    await expect(messages(page, first)).to_have_count(1, timeout=WAIT_MS)

    await page.locator('#join-room-form input[name="room"]').fill(second)
    await page.locator("#join-room-form").get_by_role("button", name="Join").click()
    await wait_joined(page, second)
    for i in range(3):
        assert (await other.call("send_message", {"room": first, "text": f"unseen {i}"}))["ok"]
    await expect(tab(page, first).locator(".badge[data-unread]")).to_have_attribute(
        "data-unread", "3", timeout=WAIT_MS
    )

    await tab(page, first).locator("button[data-switch]").click()
    divider = page.locator(f'[data-pane="{first}"] .unread-divider')
    await expect(divider).to_have_count(1, timeout=WAIT_MS)
    await expect(divider).to_have_text("New messages")
    after = divider.locator("xpath=following-sibling::*[1]")
    await expect(after).to_contain_text("unseen 0")
    before = divider.locator("xpath=preceding-sibling::*[@data-message-id][1]")
    await expect(before).to_contain_text("seen already")
    assert [] == pages.unexpected_errors()


async def test_counter_and_composer(pair: Pair, pages: Pages) -> None:
    """The counter warns near the limit, an over-long text is kept; the box grows when wrapping."""
    _, (node1, _) = pair
    room = unique_room("compose")
    page = await open_room(pages, node1.url, room, "xia", width=390, height=844)
    box = page.locator("#text")
    counter = page.locator("#text-counter")
    await expect(counter).to_be_hidden()

    await box.fill("x" * 1991)
    await expect(counter).to_have_text("9 characters left")
    await expect(counter).to_be_visible()
    await box.fill("y" * 4991)
    await expect(counter).to_have_text("2991 characters over the limit")
    await box.press("Enter")
    await expect(page.locator("#error")).to_have_attribute("data-error-code", "message_too_long")
    await expect(box).to_have_value("y" * 4991)
    await expect(pending(page, room)).to_have_count(0)

    # One long line without a line break wraps, and the box grows with it.
    await box.fill("")
    assert "1" == await box.get_attribute("rows")
    await box.fill("word " * 40)
    assert 2 < int(await box.get_attribute("rows") or "0")
    await box.fill("first line")
    await box.press("Shift+Enter")
    await box.press_sequentially("second line")
    await expect(box).to_have_value("first line\nsecond line")
    await box.press("Enter")
    shown = message_by_text(page, room, "second line")
    await expect(shown).to_have_count(1, timeout=WAIT_MS)
    assert "first line\nsecond line" == await shown.locator(".msg-text").text_content()
    await expect(counter).to_be_hidden()


async def test_focus_ring_is_neutral(pair: Pair, pages: Pages) -> None:
    """The focused message box has a grey ring, not the colour of errors."""
    _, (node1, _) = pair
    room = unique_room("focus")
    page = await open_room(pages, node1.url, room, "yan")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    box = page.locator("#text")
    await expect(box).to_be_focused()
    outline = await box.evaluate("b => getComputedStyle(b).outlineColor")
    error = await page.locator("#error").evaluate("e => getComputedStyle(e).color")
    assert "rgb(31, 41, 55)" == outline
    assert outline != error


async def test_invalid_room_page_leads_home(pair: Pair, pages: Pages) -> None:
    """/rooms/my%20room answers 404 with a page whose link goes home."""
    _, (node1, _) = pair
    page = await pages.open(node1.url + "/")
    response = await page.goto(f"{node1.url}/rooms/my%20room")
    assert response is not None and 404 == response.status
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here")
    await page.get_by_role("link", name="Go to the home page").click()
    await page.wait_for_url(node1.url + "/", timeout=WAIT_MS)
    await expect(page.locator("#join-form")).to_be_visible()


async def test_unread_divider_when_the_page_is_seen_again(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Messages that came while the tab was hidden are counted in the title and marked."""
    _, (node1, node2) = pair
    room = unique_room("hidden")
    page = await open_room(pages, node1.url, room, "zoe")
    other = await clients(node2.url, "other")
    assert (await other.call("join", {"room": room, "name": "abe"}))["ok"]
    assert (await other.call("send_message", {"room": room, "text": "read in time"}))["ok"]
    await expect(messages(page, room)).to_have_count(1, timeout=WAIT_MS)

    # Headless Chromium is never hidden by itself: say so, as a switch of tabs would.
    visibility = "v => { Object.defineProperty(document, 'hidden', {value: v, configurable: true});"
    visibility += " document.dispatchEvent(new Event('visibilitychange')); }"
    await page.evaluate(visibility, True)
    for i in range(2):
        assert (await other.call("send_message", {"room": room, "text": f"unseen {i}"}))["ok"]
    await expect(messages(page, room)).to_have_count(3, timeout=WAIT_MS)
    await expect(page).to_have_title(f"(2) #{room} · Chat")
    await expect(page.locator(".unread-divider")).to_have_count(0)

    await page.evaluate(visibility, False)
    divider = page.locator(f'[data-pane="{room}"] .unread-divider')
    await expect(divider).to_have_count(1, timeout=WAIT_MS)
    await expect(divider.locator("xpath=following-sibling::*[1]")).to_contain_text("unseen 0")
    await expect(page).to_have_title(f"#{room} · Chat")
    assert [] == pages.unexpected_errors()
