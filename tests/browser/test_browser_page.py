"""The page a person stays on (#23): mentions, formatting, avatars, long messages, alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

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
    wait_joined,
)

pytestmark = pytest.mark.browser
Pair = tuple[RedisServer, list[Node]]

FORMATTED = (
    "**Deploy** is _done_, run `make check` then @ann please look\n"
    "> the old runbook said otherwise\n"
    "```\nkubectl rollout status deploy/chat\n```"
)
HOSTILE = '**<img src=x onerror="window.__xss=1">** _<script>window.__xss=2</script>_ `<b>x</b>`'
# Notifications are recorded, not shown: headless Chromium has nowhere to show them.
RECORD_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
  close() {}
};
"""


async def background(page: Page, selector: str) -> str:
    """The computed background colour of the first element matching `selector`."""
    colour: str = await page.locator(selector).first.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    return colour


async def test_mentions_formatting_and_avatars(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Formatting renders as elements, @ann is highlighted for ann, avatars tell names apart."""
    _, (node1, node2) = pair
    room = unique_room("fmt")
    bob = await clients(node2.url, "bob")
    assert (await bob.call("join", {"room": room, "name": "bob"}))["ok"]
    ann = await open_room(pages, node1.url, room, "ann")

    assert (await bob.call("send_message", {"room": room, "text": FORMATTED}))["ok"]
    assert (await bob.call("send_message", {"room": room, "text": "no mention of anyone"}))["ok"]
    shown = message_by_text(ann, room, "Deploy is done")
    await expect(shown).to_have_count(1, timeout=WAIT_MS)
    await expect(shown).to_have_attribute("data-mention", "")
    await expect(shown.locator("strong")).to_have_text("Deploy")
    await expect(shown.locator("em")).to_have_text("done")
    await expect(shown.locator("p code")).to_have_text("make check")
    await expect(shown.locator("blockquote")).to_have_text("the old runbook said otherwise")
    await expect(shown.locator("pre code")).to_have_text("kubectl rollout status deploy/chat")
    await expect(shown.locator(".mention.mention-own")).to_have_text("@ann")
    text = await shown.text_content() or ""
    assert "**" not in text and "`" not in text
    await expect(message_by_text(ann, room, "no mention")).not_to_have_attribute("data-mention", "")

    # Avatars: initials on a colour from the name, in messages and the member list.
    await expect(shown.locator(".avatar")).to_have_text("B")
    await expect(ann.locator('#members [data-member="bob"] .avatar')).to_have_text("B")
    await expect(ann.locator('#members [data-member="ann"] .avatar')).to_have_text("A")
    assert await background(ann, '#members [data-member="bob"] .avatar') != await background(
        ann, '#members [data-member="ann"] .avatar'
    )

    # Hostile text inside formatting marks stays text.
    assert (await bob.call("send_message", {"room": room, "text": HOSTILE}))["ok"]
    hostile = message_by_text(ann, room, "<img src=x")
    await expect(hostile).to_have_count(1, timeout=WAIT_MS)
    await expect(hostile.locator("strong")).to_have_text('<img src=x onerror="window.__xss=1">')
    assert 0 == await ann.locator("#messages img, #messages script, #messages b").count()
    assert "undefined" == await ann.evaluate("typeof window.__xss")
    assert [] == pages.unexpected_errors()


async def test_mention_completion_and_alerts(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """@ completes member names; a mention elsewhere counts beside its room and notifies."""
    _, (node1, node2) = pair
    room, other = unique_room("at"), unique_room("elsewhere")
    bob = await clients(node2.url, "bob")
    for r in (room, other):
        assert (await bob.call("join", {"room": r, "name": "bobby"}))["ok"]
    ann = await pages.open(f"{node1.url}/rooms/{other}?name=ann")
    await ann.context.add_init_script(RECORD_NOTIFICATIONS)
    await ann.reload()
    await wait_joined(ann, other)

    box = ann.locator("#text")
    await box.press_sequentially("hello @bo")
    options = ann.locator("#mention-options [data-mention-option]")
    await expect(options).to_have_count(1, timeout=WAIT_MS)
    await expect(options).to_have_attribute("data-mention-option", "bobby")
    await box.press("Enter")
    await expect(box).to_have_value("hello @bobby ")
    await box.press("Enter")
    await expect(message_by_text(ann, other, "hello @bobby")).to_have_count(1, timeout=WAIT_MS)

    await ann.locator("#alert-desktop").check()
    await ann.locator("#alert-sound").check()
    await ann.locator('#join-room-form input[name="room"]').fill(room)
    await ann.locator("#join-room-form").get_by_role("button", name="Join").click()
    await wait_joined(ann, room)
    await tab(ann, other).locator("button[data-switch]").click()

    assert (await bob.call("send_message", {"room": room, "text": "@ANN can you check?"}))["ok"]
    assert (await bob.call("send_message", {"room": room, "text": "and a plain one"}))["ok"]
    mention_badge = tab(ann, room).locator("[data-mentions]")
    await expect(mention_badge).to_have_attribute("data-mentions", "1", timeout=WAIT_MS)
    await expect(tab(ann, room).locator("[data-unread]")).to_have_attribute("data-unread", "2")
    notes = await ann.evaluate("() => window.__notes")
    assert [{"title": f"bobby mentioned you in #{room}", "body": "@ANN can you check?"}] == notes
    await tab(ann, room).locator("button[data-switch]").click()
    await expect(mention_badge).to_have_attribute("data-mentions", "0")
    assert [] == pages.unexpected_errors()


async def test_long_messages_collapse_and_long_words_wrap(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """A long message shows "Show more"; a 300-letter word stays inside the pane."""
    _, (node1, _) = pair
    room = unique_room("long")
    bob = await clients(node1.url, "bob")
    assert (await bob.call("join", {"room": room, "name": "bob"}))["ok"]
    long_text = "\n".join(f"line {i} of a long paste" for i in range(40))
    assert (await bob.call("send_message", {"room": room, "text": long_text}))["ok"]
    assert (await bob.call("send_message", {"room": room, "text": "x" * 300}))["ok"]
    page = await open_room(pages, node1.url, room, "ann", width=390, height=844)

    long_msg = message_by_text(page, room, "line 0 of a long paste")
    more = long_msg.get_by_role("button", name="Show more")
    await expect(more).to_be_visible(timeout=WAIT_MS)
    collapsed = await long_msg.locator(".msg-text").evaluate("el => el.clientHeight")
    await more.click()
    await expect(long_msg.get_by_role("button", name="Show less")).to_have_attribute(
        "aria-expanded", "true"
    )
    expanded = await long_msg.locator(".msg-text").evaluate("el => el.clientHeight")
    assert expanded > 2 * collapsed
    pane = page.locator(f'[data-pane="{room}"]')
    assert await pane.evaluate("p => p.scrollWidth <= p.clientWidth")
    assert [] == pages.unexpected_errors()


async def test_older_history_loads_on_scroll_to_top(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Scrolling up loads the previous pages in place, then says where kept history ends."""
    _, (node1, node2) = pair
    room = unique_room("older")
    senders = []
    for i in range(6):  # 20 messages each: within every connection's rate limit
        client = await clients(node2.url, f"s{i}")
        assert (await client.call("join", {"room": room, "name": f"s{i}"}))["ok"]
        senders.append(client)
    for n in range(120):
        reply = await senders[n // 20].call("send_message", {"room": room, "text": f"old {n}"})
        assert reply["ok"], reply
    page = await open_room(pages, node1.url, room, "ann", height=700)
    await expect(messages(page, room)).to_have_count(50, timeout=WAIT_MS)
    pane = page.locator(f'[data-pane="{room}"]')

    first = message_by_text(page, room, "old 70")
    await pane.evaluate("p => { p.scrollTop = 0; }")
    await expect(messages(page, room)).to_have_count(100, timeout=WAIT_MS)
    # The message that was at the top is still in view: the page did not jump.
    await expect(first).to_be_in_viewport()
    await pane.evaluate("p => { p.scrollTop = 0; }")
    start = page.locator(f'[data-pane="{room}"] [data-history-start]')
    await expect(start).to_have_text("This is the start of the kept history.", timeout=WAIT_MS)
    await expect(messages(page, room)).to_have_count(100)
    texts = await messages(page, room).locator(".msg-text").all_text_contents()
    assert [f"old {n}" for n in range(20, 120)] == texts
    assert [] == pages.unexpected_errors()


async def test_address_follows_the_name_and_join_notices_are_not_repeated(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """A taken name is replaced in the address; a reload does not say "You joined" again."""
    _, (node1, node2) = pair
    room = unique_room("addr")
    holder = await clients(node2.url, "holder")
    assert (await holder.call("join", {"room": room, "name": "ann"}))["ok"]
    page = await pages.open(f"{node1.url}/rooms/{room}?name=ann")
    await expect(page.locator("#name-form")).to_be_visible(timeout=WAIT_MS)
    await page.locator("#name-input").fill("ann2")
    await page.locator("#name-input").press("Enter")
    await wait_joined(page, room)
    await expect(page).to_have_url(f"{node1.url}/rooms/{room}?name=ann2", timeout=WAIT_MS)
    await expect(page.locator('[data-notice="self"]')).to_have_count(1)
    await send(page, "still here")
    await page.reload()
    await wait_joined(page, room)
    await expect(message_by_text(page, room, "still here")).to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator('[data-notice="self"]')).to_have_count(0)
    assert [] == pages.unexpected_errors()


async def test_connection_label_tells_offline_from_unreachable(pair: Pair, pages: Pages) -> None:
    """The browser offline: "Offline" and the waiting count; back online: connected."""
    _, (node1, _) = pair
    room = unique_room("label")
    page = await open_room(pages, node1.url, room, "ann")
    await page.context.set_offline(True)
    await page.evaluate("() => window.dispatchEvent(new Event('offline'))")
    label = page.locator("#connection-label")
    await expect(label).to_have_text("Offline", timeout=WAIT_MS)
    await send(page, "typed offline")
    await expect(label).to_have_text("Offline (1 unsent)", timeout=WAIT_MS)
    await page.context.set_offline(False)
    await page.evaluate("() => window.dispatchEvent(new Event('online'))")
    await wait_joined(page, room, timeout=20_000)
    await expect(message_by_text(page, room, "typed offline")).to_have_count(1, timeout=WAIT_MS)
    await expect(label).to_have_text("Connected")
    assert [] == pages.unexpected_errors([r"WebSocket connection to .* failed", r"ERR_INTERNET"])


async def test_connection_label_while_the_service_is_unreachable(
    node: Node, proxy: BlackholeProxy, pages: Pages
) -> None:
    """The network is up but the service does not answer: "Reconnecting…", not "Offline"."""
    room = unique_room("unreachable")
    page = await open_room(pages, proxy.url, room, "ann")
    proxy.stall()
    await send(page, "typed while unreachable")
    label = page.locator("#connection-label")
    await expect(label).to_have_text("Reconnecting… (1 unsent)", timeout=15_000)
    proxy.resume_new()
    await expect(message_by_text(page, room, "typed while unreachable")).to_have_count(
        1, timeout=20_000
    )
    await expect(label).to_have_text("Connected", timeout=WAIT_MS)
    assert [] == pages.unexpected_errors([r"WebSocket connection to .* failed"])


async def test_room_browser_in_the_chat_page(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """Browse rooms lists active rooms with member counts; Join joins in place."""
    _, (node1, node2) = pair
    room, busy = unique_room("here"), unique_room("busy")
    for name in ("cy", "di"):
        client = await clients(node2.url, name)
        assert (await client.call("join", {"room": busy, "name": name}))["ok"]
    page = await open_room(pages, node1.url, room, "ann")
    await page.locator("#room-browser summary").click()
    row = page.locator(f'#room-browser-list [data-browse-room="{busy}"]')
    await expect(row).to_contain_text("2 members", timeout=WAIT_MS)
    await row.get_by_role("button", name=f"Join #{busy}").click()
    await wait_joined(page, busy)
    await expect(page.locator("#members [data-member]")).to_have_count(3, timeout=WAIT_MS)
    await expect(tab(page, room)).to_have_attribute("data-status", "joined")
    assert [] == pages.unexpected_errors()


async def test_message_actions_on_keyboard_focus_and_long_press(
    pair: Pair, pages: Pages, clients: Callable[..., Any]
) -> None:
    """The actions of a message show when a key reaches them and after a long touch."""
    _, (node1, _) = pair
    room = unique_room("actions")
    bob = await clients(node1.url, "bob")
    assert (await bob.call("join", {"room": room, "name": "bob"}))["ok"]
    assert (await bob.call("send_message", {"room": room, "text": "act on me"}))["ok"]
    page = await open_room(pages, node1.url, room, "ann", width=390, height=844)
    shown = message_by_text(page, room, "act on me")
    bar = shown.locator(".msg-actions-bar")
    await expect(bar).to_have_css("opacity", "0", timeout=WAIT_MS)
    # Others' messages offer reply and react, not edit or delete.
    await expect(bar.locator("[data-action]")).to_have_count(2)

    await shown.locator('[data-action="reply"]').focus()
    await expect(bar).to_have_css("opacity", "1")
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer-context")).to_contain_text("Replying to bob: act on me")
    await page.locator("#composer-context-cancel").click()
    await expect(page.locator("#composer-context")).to_be_hidden()

    await shown.evaluate(
        "el => el.dispatchEvent(new PointerEvent('pointerdown',"
        " {pointerType: 'touch', bubbles: true}))"
    )
    await expect(shown).to_have_class("msg is-selected", timeout=WAIT_MS)
    await expect(bar).to_have_css("opacity", "1")
    assert [] == pages.unexpected_errors()
