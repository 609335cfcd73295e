"""Screenshots of both pages on a phone and a desktop, kept for the docs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import Node

from .support import DOCS_SHOTS, SHOTS, WAIT_MS, Pages, messages, send, wait_joined

pytestmark = pytest.mark.browser
SIZES = {390: 844, 1280: 800}
ROOMS = {"lobby": ["bob", "cleo"], "design-review": ["dana", "eve"], "random": ["finn"]}
CHAT = [
    ("bob", "Morning! Is the deploy still on for 14:00?"),
    ("cleo", "Yes. The HAProxy change is merged and all three nodes are green."),
    ("bob", "Great, I'll keep an eye on the dashboards."),
    ("cleo", "Runbook, in case: https://example.com/runbook#rollback"),
]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node of its own, so the landing page lists only this test's rooms."""
    started = Node.start(tmp_path)
    try:
        yield started
    finally:
        started.process.stop()


async def shoot(page: Page, name: str) -> None:
    """Writes test-artifacts/screenshots/{name}.png; with CHAT_UPDATE_SCREENSHOTS=1 also docs/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled", caret="initial")
    assert path.stat().st_size > 10_000  # a real page, not a blank frame
    if os.environ.get("CHAT_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / path.name)


async def test_screenshots(node: Node, pages: Pages, clients: Callable[..., Any]) -> None:
    """Landing (active rooms, joinable) and chat page (two senders, members, typing) at 390/1280."""
    people = {}
    for room, names in ROOMS.items():
        for name in names:
            people[name] = await clients(node.url, name)
            assert (await people[name].call("join", {"room": room, "name": name}))["ok"]
    for name, text in CHAT:
        reply = await people[name].call("send_message", {"room": "lobby", "text": text})
        assert reply["ok"], reply

    for width, height in SIZES.items():
        landing = await pages.open(node.url + "/", width=width, height=height)
        await expect(landing.locator("#active-rooms li[data-active-room]")).to_have_count(
            len(ROOMS), timeout=WAIT_MS
        )
        await landing.locator('#join-form input[name="name"]').fill("ann")
        await shoot(landing, f"landing-{width}")
    # The listed rooms are joinable: the name typed in the form goes along.
    await landing.locator('[data-active-room="random"] button[data-join-room]').click()
    await landing.wait_for_url(node.url + "/rooms/random?name=ann", timeout=WAIT_MS)
    await wait_joined(landing, "random")

    chat = await pages.open(node.url + "/rooms/lobby?name=ann")
    await wait_joined(chat, "lobby")
    await send(chat, "On my way. Ping me here if anything looks off.")
    await expect(messages(chat, "lobby")).to_have_count(len(CHAT) + 1, timeout=WAIT_MS)
    await expect(chat.locator("#members [data-member]")).to_have_count(3, timeout=WAIT_MS)
    await chat.locator("#text").fill("Thanks both")
    for width, height in SIZES.items():
        await chat.set_viewport_size({"width": width, "height": height})
        assert (await people["bob"].call("typing", {"room": "lobby", "typing": True}))["ok"]
        await expect(chat.locator("#typing")).to_have_text("bob is typing…", timeout=WAIT_MS)
        await shoot(chat, f"chat-{width}")
    assert [] == pages.unexpected_errors()
