"""Screenshots of both pages on a phone and a desktop, light and dark, kept for the docs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any, Literal

import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import Node

from .blackhole import BlackholeProxy
from .support import DOCS_SHOTS, SHOTS, WAIT_MS, Pages, messages, pending, send, wait_joined

pytestmark = pytest.mark.browser
SIZES = {390: 844, 1280: 800}
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
ROOMS = {"lobby": ["bob", "cleo"], "design-review": ["dana", "eve"], "random": ["finn"]}
CHAT = [
    ("bob", "Morning! Is the deploy still on for **14:00**?"),
    ("cleo", "Yes. The HAProxy change is merged and all three nodes are _green_."),
    ("bob", "Great, I'll keep an eye on the dashbaords."),
    ("cleo", "(wrong room, sorry)"),
    ("cleo", "Runbook, in case: https://example.com/runbook#rollback"),
    ("bob", "@ann do we drain node 2 first or node 3?"),
    ("cleo", "Node 3: it has the fewest connections right now."),
    ("bob", "OK. Draining node 3 now:\n```\nkubectl drain node-3 --grace-period=30\n```"),
    (
        "cleo",
        "Notes from the drain, for the record:\n"
        + "\n".join(
            f"- {step}"
            for step in (
                "readyz failed at once, the balancer took node 3 out within 2 s",
                "its 412 connections moved over within a second",
                "no message was lost or shown twice (the soak's ledger agrees)",
                "presence grace hid every reconnect: nobody saw a leave",
                "node 3 exited 0 after 11 s",
                "rejoined, passing /readyz, 40 s later",
                "p99 delivery stayed under 30 ms throughout",
                "the outbox of two phones resent 3 messages, each shown once",
                "`chat_errors_total` did not move",
            )
        ),
    ),
    ("bob", "Node 3 is back and passing `/readyz`."),
    ("cleo", "Same for node 2. Deploy done. Thanks @ann and @bob!"),
]
# Version 3 on top: (who, event, payload) by message id of the lobby (1-based, as sent).
CHANGES = [
    ("bob", "edit_message", {"id": 3, "text": "Great, I'll keep an eye on the dashboards."}),
    ("cleo", "delete_message", {"id": 4}),
    ("bob", "react", {"id": 2, "emoji": "👍", "on": True}),
    ("cleo", "react", {"id": 1, "emoji": "👍", "on": True}),
    ("bob", "react", {"id": 10, "emoji": "🎉", "on": True}),
    ("cleo", "react", {"id": 10, "emoji": "🎉", "on": True}),
]
REPLIES = {"Node 3: it has the fewest connections right now.": 6}  # text -> reply_to
LATE = [("bob", "One more thing: the metrics dashboard moved."), ("cleo", "Link in the wiki.")]
# The stalled page's own socket dies under it and is reported by Chromium.
TOLERATED = [r"WebSocket connection to .* failed"]


def shot_name(page: str, width: int, scheme: str) -> str:
    """chat-390, chat-390-dark, ...: the light ones keep the names the README has used."""
    return f"{page}-{width}" + ("" if scheme == "light" else f"-{scheme}")


async def shoot(page: Page, name: str) -> None:
    """Writes test-artifacts/screenshots/{name}.png; with CHAT_UPDATE_SCREENSHOTS=1 also docs/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled", caret="initial")
    assert path.stat().st_size > 10_000  # a real page, not a blank frame
    if os.environ.get("CHAT_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / path.name)


async def look(page: Page, width: int, scheme: Literal["light", "dark"]) -> None:
    """Resizes the page and switches its colour scheme."""
    await page.set_viewport_size({"width": width, "height": SIZES[width]})
    await page.emulate_media(color_scheme=scheme)


async def converse(people: dict[str, Any]) -> None:
    """The lobby's conversation, then its edits, deletions and reactions."""
    for name, text in CHAT:
        payload: dict[str, Any] = {"room": "lobby", "text": text}
        if text in REPLIES:
            payload["reply_to"] = REPLIES[text]
        reply = await people[name].call("send_message", payload)
        assert reply["ok"], reply
    for name, event, change in CHANGES:
        reply = await people[name].call(event, {"room": "lobby", **change})
        assert reply["ok"], reply


async def test_screenshots(
    node: Node, proxy: BlackholeProxy, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Landing page; chat page with formatting, mentions, a reply, reactions, an edited and a
    deleted message, the new-messages marker and typing; a pending message; "Seen by"."""
    people = {}
    for room, names in ROOMS.items():
        for name in names:
            people[name] = await clients(node.url, name)
            assert (await people[name].call("join", {"room": room, "name": name}))["ok"]
    await converse(people)

    landing = await pages.open(node.url + "/")
    await expect(landing.locator("#active-rooms li[data-active-room]")).to_have_count(
        len(ROOMS), timeout=WAIT_MS
    )
    await landing.locator('#join-form input[name="name"]').fill("ann")
    for width in SIZES:
        for scheme in SCHEMES:
            await look(landing, width, scheme)
            await shoot(landing, shot_name("landing", width, scheme))
    # The listed rooms are joinable: the name typed in the form goes along.
    await landing.locator('[data-active-room="random"] button[data-join-room]').click()
    await landing.wait_for_url(node.url + "/rooms/random?name=ann", timeout=WAIT_MS)
    await wait_joined(landing, "random")

    chat = await pages.open(proxy.url + "/rooms/lobby?name=ann")
    await wait_joined(chat, "lobby")
    await send(chat, "On my way. Ping me here if anything looks off.")
    await expect(messages(chat, "lobby")).to_have_count(len(CHAT) + 1, timeout=WAIT_MS)
    await expect(chat.locator("#members [data-member]")).to_have_count(3, timeout=WAIT_MS)
    # Both have read it: ann's message says so.
    for name in ("bob", "cleo"):
        read = {"room": "lobby", "id": len(CHAT) + 1}
        assert (await people[name].call("mark_read", read))["ok"]
    await expect(chat.locator("[data-seen-by]")).to_have_text("Seen by bob, cleo", timeout=WAIT_MS)

    # Scrolled up while two messages arrive: the marker counts them.
    lobby = chat.locator('[data-pane="lobby"]')
    await lobby.evaluate("p => { p.scrollTop = 0; }")
    for name, text in LATE:
        assert (await people[name].call("send_message", {"room": "lobby", "text": text}))["ok"]
    await expect(chat.locator("#jump")).to_have_text("2 new messages ↓", timeout=WAIT_MS)
    for width in SIZES:
        for scheme in SCHEMES:
            await look(chat, width, scheme)
            await lobby.evaluate("p => { p.scrollTop = 0; }")
            assert (await people["bob"].call("typing", {"room": "lobby", "typing": True}))["ok"]
            await expect(chat.locator("#typing")).to_have_text("bob is typing…", timeout=WAIT_MS)
            await expect(chat.locator("#jump")).to_be_visible()
            await shoot(chat, shot_name("chat-new", width, scheme))
    await chat.locator("#jump").click()
    assert (await people["bob"].call("typing", {"room": "lobby", "typing": False}))["ok"]

    # The connection stalls: the message waits in the outbox, visibly, while reconnecting.
    proxy.stall()
    await send(chat, "Thanks both. My train is in a tunnel, this goes out when I'm back.")
    await expect(chat.locator("#connection")).to_have_attribute(
        "data-connection", "connecting", timeout=15_000
    )
    waiting = pending(chat, "lobby").locator(".msg-status")
    await expect(waiting).to_have_text("Waiting for the connection…", timeout=WAIT_MS)
    await chat.locator("#text").fill("And the dash")
    for width in SIZES:
        for scheme in SCHEMES:
            await look(chat, width, scheme)
            await expect(chat.locator("#connection")).to_have_attribute(
                "data-connection", "connecting"
            )
            await expect(pending(chat, "lobby")).to_be_in_viewport()
            await shoot(chat, shot_name("chat", width, scheme))

    proxy.resume_new()
    await expect(pending(chat, "lobby")).to_have_count(0, timeout=20_000)
    await expect(messages(chat, "lobby")).to_have_count(len(CHAT) + len(LATE) + 2)
    assert [] == pages.unexpected_errors(TOLERATED)
