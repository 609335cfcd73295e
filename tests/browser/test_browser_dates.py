"""Day separators and times in the reader's locale, with the page's clock fixed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import Node, RedisServer

from .support import WAIT_MS, Pages, messages, unique_room, wait_joined

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]


async def separators(page: Page, room: str) -> list[str]:
    """The day separators of a room's pane, in order."""
    labels: list[str] = await page.locator(f'[data-pane="{room}"] .day-separator').all_inner_texts()
    return labels


async def open_at(
    pages: Pages, url: str, room: str, name: str, when: datetime, locale: str
) -> Page:
    """The room's page with Date fixed at `when` (timers keep running)."""
    page = await pages.open(f"{url}/rooms/{room}?name={name}", clock=when, locale=locale)
    await wait_joined(page, room)
    await expect(messages(page, room)).to_have_count(2, timeout=WAIT_MS)
    return page


async def test_today_yesterday_then_dates(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """The same two messages read on the day, the day after and days later."""
    _, (node, _) = pair
    room = unique_room("dates")
    writer = await clients(node.url, "writer")
    assert (await writer.call("join", {"room": room, "name": "wes"}))["ok"]
    for text in ("first", "second"):
        reply = await writer.call("send_message", {"room": room, "text": text})
        assert reply["ok"]
    sent = datetime.fromtimestamp(reply["message"]["ts"] / 1000, UTC)
    clock = f"{sent.hour}:{sent:%M}"  # en-GB with hour "numeric": 1:05, not 01:05

    same_day = await open_at(pages, node.url, room, "ada", sent + timedelta(seconds=30), "en-GB")
    assert ["Today"] == await separators(same_day, room)
    await expect(messages(same_day, room).last.locator("time")).to_have_text(clock)

    # The join notice is stamped with the page's (fixed) now: a second day starts.
    next_day = await open_at(pages, node.url, room, "bo", sent + timedelta(days=1), "en-GB")
    assert ["Yesterday", "Today"] == await separators(next_day, room)

    later = sent + timedelta(days=4)
    days_later = await open_at(pages, node.url, room, "cy", later, "en-US")
    day = f"{sent:%A}, {sent:%B} {sent.day}"
    if sent.year != later.year:
        day += f", {sent.year}"
    assert [day, "Today"] == await separators(days_later, room)
    hour = sent.hour % 12 or 12
    us_time = f"{hour}:{sent:%M}\u202f{'AM' if sent.hour < 12 else 'PM'}"
    shown = await messages(days_later, room).last.locator("time").inner_text()
    assert us_time.replace("\u202f", " ") == shown.replace("\u202f", " ")
    assert [] == pages.unexpected_errors()
