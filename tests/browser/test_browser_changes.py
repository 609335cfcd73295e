"""Messages people change (protocol version 3) in two real pages: edits, deletions,
replies, reactions and read positions, live across two nodes and after a network cut."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, Page, expect

from chat_tools.procs import Node, RedisServer

from .blackhole import BlackholeProxy
from .support import (
    WAIT_MS,
    Pages,
    message_by_text,
    messages,
    open_room,
    send,
    tab,
    unique_room,
    violations,
    wait_joined,
)

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]
# "Within a second" on an idle machine; the margin is for a CI runner shared with others.
LIVE_MS = 2_000
# The cut page's own socket dies under it and is reported by Chromium.
TOLERATED = [r"WebSocket connection to .* failed"]


async def act(page: Page, message: Locator, action: str) -> None:
    """Shows a message's actions (hover) and clicks one of them."""
    await message.hover()
    await message.locator(f'[data-action="{action}"]').click()


async def test_edit_delete_reply_react_seen_across_two_nodes(pair: Pair, pages: Pages) -> None:
    """Each change by one person shows on the other's page, on another node, at once."""
    _, (node1, node2) = pair
    room = unique_room("v3")
    ann = await pages.open(f"{node1.url}/rooms/{room}?name=ann", bypass_csp=True)  # axe
    await wait_joined(ann, room)
    bob = await open_room(pages, node2.url, room, "bob")

    await send(ann, "frist draft")
    on_bob = message_by_text(bob, room, "frist draft")
    await expect(on_bob).to_have_count(1, timeout=WAIT_MS)
    message_id = await on_bob.get_attribute("data-message-id")

    # Up arrow in the empty box edits the last own message; Enter saves it.
    box = ann.locator("#text")
    await box.press("ArrowUp")
    await expect(box).to_have_value("frist draft")
    await expect(ann.locator("#composer-context")).to_contain_text("Editing")
    await box.fill("first draft")
    await box.press("Enter")
    edited = bob.locator(f'[data-pane="{room}"] [data-message-id="{message_id}"]')
    await expect(edited).to_have_attribute("data-edited", "", timeout=LIVE_MS)
    await expect(edited.locator(".msg-text")).to_have_text("first draft")
    await expect(edited).to_contain_text("(edited)")
    await expect(box).to_have_value("")

    # Escape cancels an edit and gives the box back.
    await box.press("ArrowUp")
    await expect(box).to_have_value("first draft")
    await box.press("Escape")
    await expect(ann.locator("#composer-context")).to_be_hidden()
    await expect(box).to_have_value("")

    # Bob replies: Ann sees the quote, and it jumps to the original.
    await act(bob, edited, "reply")
    await expect(bob.locator("#composer-context")).to_contain_text("Replying to ann")
    await send(bob, "agreed")
    reply = message_by_text(ann, room, "agreed")
    await expect(reply).to_have_attribute("data-reply-to", message_id or "", timeout=LIVE_MS)
    await expect(reply.locator(".msg-reply-quote")).to_contain_text("first draft")
    await reply.locator(".msg-reply-quote").click()
    await expect(messages(ann, room).first).to_be_in_viewport()

    # Reactions: counts, who, the reader's own highlighted.
    await act(bob, edited, "react")
    await edited.locator('[data-emoji="👍"]').click()
    on_ann = ann.locator(f'[data-pane="{room}"] [data-message-id="{message_id}"]')
    thumbs = on_ann.locator('[data-reaction="👍"]')
    await expect(thumbs).to_have_attribute("data-count", "1", timeout=LIVE_MS)
    await expect(thumbs).to_have_attribute("aria-pressed", "false")
    await expect(thumbs).to_have_attribute("title", "bob")
    await thumbs.click()
    await expect(thumbs).to_have_attribute("data-count", "2", timeout=LIVE_MS)
    await expect(thumbs).to_have_attribute("aria-pressed", "true")
    bob_thumbs = edited.locator('[data-reaction="👍"]')
    await expect(bob_thumbs).to_have_attribute("data-count", "2", timeout=LIVE_MS)
    await expect(bob_thumbs).to_have_attribute("aria-pressed", "true")

    # Read positions: Ann's latest message says who has seen it.
    await send(ann, "anyone around?")
    await expect(message_by_text(bob, room, "anyone around?")).to_have_count(1, timeout=LIVE_MS)
    latest = message_by_text(ann, room, "anyone around?")
    await expect(latest.locator("[data-seen-by]")).to_have_text("Seen by bob", timeout=WAIT_MS)

    # Ann deletes her first message, with a confirmation: a tombstone for both.
    await act(ann, on_ann, "delete")
    await on_ann.locator('[data-action="confirm"]').click()
    for page in (ann, bob):
        gone = page.locator(f'[data-pane="{room}"] [data-message-id="{message_id}"]')
        await expect(gone).to_have_attribute("data-deleted", "", timeout=LIVE_MS)
        await expect(gone.locator(".msg-text")).to_have_text("message deleted")
        await expect(gone.locator("[data-reaction]")).to_have_count(0)
        await expect(gone.locator('[data-action="edit"], [data-action="react"]')).to_have_count(0)
    await expect(reply.locator(".msg-reply-quote")).to_contain_text("message deleted")
    # A reply, reactions, "Seen by", a tombstone, the picker and the confirmation: axe-clean.
    await act(ann, reply, "react")
    await expect(reply.locator("[data-emoji]")).to_have_count(8)
    await act(ann, latest, "delete")
    await expect(latest.locator('[data-action="confirm"]')).to_be_visible()
    assert [] == await violations(ann)
    assert [] == pages.unexpected_errors()


async def test_changes_made_while_away_show_on_return(
    node: Node, proxy: BlackholeProxy, pages: Pages
) -> None:
    """The laptop's network is cut; edits and deletions meanwhile show once it is back."""
    room = unique_room("away")
    ann = await open_room(pages, node.url, room, "ann")
    bob = await open_room(pages, proxy.url, room, "bob")
    for text in ("keep me", "fix me", "drop me"):
        await send(ann, text)
    await expect(messages(bob, room)).to_have_count(3, timeout=WAIT_MS)
    fix_id = await message_by_text(bob, room, "fix me").get_attribute("data-message-id")
    drop_id = await message_by_text(bob, room, "drop me").get_attribute("data-message-id")

    proxy.stall()
    await act(ann, message_by_text(ann, room, "fix me"), "edit")
    await ann.locator("#text").fill("fixed while bob was away")
    await ann.locator("#text").press("Enter")
    dropped = ann.locator(f'[data-pane="{room}"] [data-message-id="{drop_id}"]')
    await act(ann, dropped, "delete")
    await dropped.locator('[data-action="confirm"]').click()
    await expect(dropped).to_have_attribute("data-deleted", "", timeout=WAIT_MS)
    await expect(bob.locator("#connection")).not_to_have_attribute(
        "data-connection", "connected", timeout=15_000
    )

    proxy.resume_new()
    fixed = bob.locator(f'[data-pane="{room}"] [data-message-id="{fix_id}"]')
    await expect(fixed.locator(".msg-text")).to_have_text(
        "fixed while bob was away", timeout=20_000
    )
    await expect(fixed).to_have_attribute("data-edited", "")
    gone = bob.locator(f'[data-pane="{room}"] [data-message-id="{drop_id}"]')
    await expect(gone).to_have_attribute("data-deleted", "")
    await expect(message_by_text(bob, room, "drop me")).to_have_count(0)
    await expect(messages(bob, room)).to_have_count(3)
    assert [] == pages.unexpected_errors(TOLERATED)


async def join_and_look_away(page: Page, room: str, other: str) -> None:
    """Joins `room` beside the open `other` and goes back to `other`."""
    await page.locator('#join-room-form input[name="room"]').fill(room)
    await page.locator("#join-room-form").get_by_role("button", name="Join").click()
    await wait_joined(page, room)
    await tab(page, other).locator("button[data-switch]").click()


async def test_unread_counts_follow_the_read_position_across_tabs(pair: Pair, pages: Pages) -> None:
    """A message read in one tab stops counting as unread in the person's other tab."""
    _, (node1, node2) = pair
    room, other = unique_room("reads"), unique_room("elsewhere")
    first = await open_room(pages, node1.url, other, "ann")
    # One origin: tabs share the browser's key (localStorage) only there.
    second = await pages.open_tab(first, f"{node1.url}/rooms/{other}?name=ann")
    await wait_joined(second, other)
    for page in (first, second):
        await join_and_look_away(page, room, other)
    bob = await open_room(pages, node2.url, room, "bob")

    await send(bob, "read me once")
    for page in (first, second):
        badge = tab(page, room).locator("[data-unread]")
        await expect(badge).to_have_attribute("data-unread", "1", timeout=WAIT_MS)
    await tab(first, room).locator("button[data-switch]").click()
    badge = tab(second, room).locator("[data-unread]")
    await expect(badge).to_have_attribute("data-unread", "0", timeout=WAIT_MS)
    latest = message_by_text(bob, room, "read me once")
    await expect(latest.locator("[data-seen-by]")).to_have_text("Seen by ann", timeout=WAIT_MS)

    # Two more while both tabs look elsewhere: a new tab puts the divider above them.
    await tab(first, other).locator("button[data-switch]").click()
    for text in ("unread one", "unread two"):
        await send(bob, text)
    await expect(tab(second, room).locator("[data-unread]")).to_have_attribute(
        "data-unread", "2", timeout=WAIT_MS
    )
    third = await pages.open_tab(first, f"{node1.url}/rooms/{room}?name=ann")
    await wait_joined(third, room)
    divider = third.locator(f'[data-pane="{room}"] [data-unread-divider]')
    await expect(divider).to_have_attribute("data-unread-divider", "2", timeout=WAIT_MS)
    following = divider.locator("xpath=following-sibling::*[@data-message-id][1]")
    await expect(following).to_contain_text("unread one")
    assert [] == pages.unexpected_errors()
