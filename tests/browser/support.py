"""Shared pieces of the browser tier: Chromium, pages that record their errors, page hooks."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000  # the longest any single page condition may take, unless a test says so
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def unique_room(prefix: str) -> str:
    """A fresh room name (rooms outlive a test in the shared cluster's Redis)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Pages:
    """Opens pages, each in a context of its own, and records their console errors."""

    browser: Browser
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def open(
        self,
        url: str,
        width: int = 1280,
        height: int = 800,
        *,
        locale: str = "en-GB",
        clock: datetime | None = None,
        bypass_csp: bool = False,
    ) -> Page:
        """A new page (own cookies and localStorage) that has loaded `url`.

        `clock` fixes the page's Date (timers keep running); `bypass_csp` lets a test
        inject a script such as axe-core into a page whose CSP forbids inline scripts.
        """
        context = await self.browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="light",
            locale=locale,
            timezone_id="UTC",
            bypass_csp=bypass_csp,
        )
        self.contexts.append(context)
        page = await context.new_page()
        if clock is not None:
            await page.clock.set_fixed_time(clock)
        self._record(page, f"page {len(self.contexts)}")
        await page.goto(url)
        return page

    async def open_tab(self, beside: Page, url: str) -> Page:
        """Another tab of the same browser profile as `beside` (shared localStorage)."""
        page = await beside.context.new_page()
        self._record(page, f"tab {len(beside.context.pages)} of {beside.url}")
        await page.goto(url)
        return page

    def _record(self, page: Page, label: str) -> None:
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"{label} console: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: self.errors.append(f"{label} pageerror: {exc}"))

    def unexpected_errors(self, tolerated: Iterable[str] = ()) -> list[str]:
        """Console errors and uncaught exceptions, but those matching a tolerated regex."""
        patterns = [re.compile(p) for p in tolerated]
        return [e for e in self.errors if not any(p.search(e) for p in patterns)]


def tab(page: Page, room: str) -> Locator:
    """The sidebar entry of a room."""
    return page.locator(f'#rooms li[data-room-tab="{room}"]')


def messages(page: Page, room: str) -> Locator:
    """Every message element shown for a room."""
    return page.locator(f'#messages div.msg[data-room="{room}"][data-message-id]')


def message_by_text(page: Page, room: str, text: str) -> Locator:
    """The message elements of a room whose text content includes `text`."""
    return messages(page, room).filter(has_text=text)


async def wait_joined(page: Page, room: str, timeout: float = WAIT_MS) -> None:
    """Until the room's tab says joined and the socket is connected."""
    await expect(tab(page, room)).to_have_attribute("data-status", "joined", timeout=timeout)
    await expect(page.locator("#connection")).to_have_attribute(
        "data-connection", "connected", timeout=timeout
    )


async def open_room(
    pages: Pages, base_url: str, room: str, name: str, width: int = 1280, height: int = 800
) -> Page:
    """A chat page opened at /rooms/{room}?name={name}, joined."""
    page = await pages.open(f"{base_url}/rooms/{room}?name={name}", width, height)
    await wait_joined(page, room)
    return page


async def send(page: Page, text: str) -> None:
    """Types into the message box (replacing what is there) and presses Enter."""
    box = page.locator("#text")
    await expect(box).to_be_editable(timeout=WAIT_MS)
    await box.fill(text)
    await box.press("Enter")


def pending(page: Page, room: str) -> Locator:
    """The messages of a room still in the page's outbox."""
    return page.locator(f'#messages [data-room="{room}"][data-pending]')


def by_client_id(page: Page, client_id: str) -> Locator:
    """The element of one typed message, pending or delivered."""
    return page.locator(f'#messages [data-client-id="{client_id}"]')


async def type_and_send(page: Page, text: str) -> str:
    """Types a message and presses Enter; returns the client_id of its pending element."""
    await send(page, text)
    typed = page.locator("#messages [data-client-id]").filter(has_text=text).last
    await expect(typed).to_have_count(1, timeout=WAIT_MS)
    client_id = await typed.get_attribute("data-client-id")
    assert client_id is not None
    return client_id


async def outbox(page: Page) -> list[dict[str, object]]:
    """The outbox the page keeps in localStorage."""
    stored: list[dict[str, object]] = await page.evaluate(
        "() => JSON.parse(localStorage.getItem('chat.outbox') || '[]')"
    )
    return stored


async def message_ids(page: Page, room: str) -> list[int]:
    """The ids of a room's shown messages, in page order."""
    raw = await messages(page, room).evaluate_all(
        "els => els.map(e => e.getAttribute('data-message-id'))"
    )
    return [int(x) for x in raw]


async def metric(node_url: str, name: str) -> float:
    """One unlabelled sample of a node's /metrics (nodes are scraped directly, not via the lb)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(node_url + "/metrics", timeout=aiohttp.ClientTimeout(5)) as resp,
    ):
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    if match is None:
        raise KeyError(f"{name} not in {node_url}/metrics")
    return float(match.group(1))


async def violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings, one line each, light then dark."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found: list[str] = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        result = await page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        found += [
            f"{scheme}: {v['id']} ({v['impact']}) at {json.dumps(v['nodes'][:3])}"
            for v in result
            if v["impact"] in BLOCKING
        ]
    return found
