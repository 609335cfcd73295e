"""Moderation in the page (#21): a moderator removes and bans a user with tabs on two nodes."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import LoopbackService, Node, cluster, free_port, spawn

from .support import ROOT, WAIT_MS, Pages, tab, violations, wait_joined

pytestmark = pytest.mark.browser

EMBED_APP = ROOT / "examples" / "embed_app.py"
PASSWORD = "moderator-password"


@dataclass
class Community:
    """Two nodes with identity on, sharing one Redis, and the example application."""

    nodes: list[Node]
    app: LoopbackService
    secret: str  # the nodes' and the app's token secret
    api_key: str  # the nodes' server API key (the example app is not given it)


@pytest.fixture
def community(tmp_path: Path) -> Iterator[Community]:
    """The example app (with a moderator account) in front of a two-node chat cluster."""
    secret = secrets.token_urlsafe(32)
    api_key = secrets.token_hex(32)
    app_port = free_port()
    env = {
        "CHAT_AUTH_SECRET": secret,
        "CHAT_API_KEY": api_key,
        "CHAT_AUTH_TOKEN_URL": f"http://127.0.0.1:{app_port}/token",
        "CHAT_PRESENCE_GRACE": "0",
    }
    with cluster(2, tmp_path, extra_env=env) as (_, nodes):
        app_env = {
            "PATH": "/usr/bin:/bin",
            "CHAT_AUTH_SECRET": secret,
            "EXAMPLE_CHAT_URL": nodes[0].url,
            "EXAMPLE_PORT": str(app_port),
            "EXAMPLE_MODERATOR_PASSWORD": PASSWORD,
        }
        process = spawn(
            f"embed-app-{app_port}", [sys.executable, str(EMBED_APP)], tmp_path, app_env
        )
        app = LoopbackService(app_port, process)
        app.ready_path = "/"
        try:
            app.wait_ready()
            yield Community(nodes, app, secret, api_key)
        finally:
            process.stop()


async def log_in(pages: Pages, app_url: str, name: str, password: str = "") -> Page:
    """A new browser logs in to the example app and opens #lobby from it (axe may run)."""
    page = await pages.open(app_url + "/", bypass_csp=True)
    await page.get_by_label("Your name").fill(name)
    if password:
        await page.get_by_label("Password (moderator only)").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="#lobby").click()
    await wait_joined(page, "lobby")
    return page


async def moderate(page: Page, name: str, action: str, reason: str) -> None:
    """Opens the dialog for `name` in the member list and applies `action` with `reason`."""
    await page.get_by_role("button", name=f"Moderate {name}").click()
    dialog = page.locator("#moderate")
    await expect(dialog).to_be_visible()
    await dialog.locator(f'input[name="action"][value="{action}"]').check()
    await dialog.get_by_label("Reason (shown to them)").fill(reason)
    await dialog.get_by_role("button", name="Apply").click()
    await expect(dialog).to_be_hidden(timeout=WAIT_MS)


async def test_a_moderator_kicks_then_bans_a_user_with_two_tabs(
    community: Community, pages: Pages
) -> None:
    """Both of the user's tabs (two nodes) say why; others see one leave each time."""
    node2 = community.nodes[1]
    mod = await log_in(pages, community.app.url, "moderator", PASSWORD)
    await expect(mod.locator("#moderator-badge")).to_be_visible()
    troll = await log_in(pages, community.app.url, "troll")
    token = await troll.evaluate("() => sessionStorage.getItem('chat.token')")
    second = await pages.open_tab(troll, f"{node2.url}/rooms/lobby#token={token}")
    await wait_joined(second, "lobby")
    olive = await log_in(pages, community.app.url, "olive")
    await expect(olive.locator("#members [data-member]")).to_have_count(3, timeout=WAIT_MS)
    # Only moderators are offered the controls.
    await expect(olive.get_by_role("button", name="Moderate troll")).to_have_count(0)
    await mod.get_by_role("button", name="Moderate olive").click()
    await expect(mod.locator("#moderate")).to_be_visible()
    assert [] == await violations(mod)
    await mod.get_by_role("button", name="Cancel").click()

    await moderate(mod, "troll", "kick", "cool down")
    for page in (troll, second):
        await expect(page.locator("#error")).to_have_text(
            "You were removed from #lobby by moderator. Reason: cool down You may join it again.",
            timeout=WAIT_MS,
        )
        await expect(tab(page, "lobby")).to_have_attribute("data-status", "removed")
    await expect(olive.locator('[data-notice="left"]')).to_have_count(1, timeout=WAIT_MS)
    await expect(troll.locator("#text")).to_have_attribute("aria-disabled", "true")
    for page in (troll, second):
        await page.get_by_role("button", name="Join #lobby again").click()
        await wait_joined(page, "lobby")
    await expect(olive.locator('#members [data-member="troll"]')).to_have_count(1, timeout=WAIT_MS)

    await moderate(mod, "troll", "ban", "spam")
    for page in (troll, second):
        await expect(page.locator("#error")).to_contain_text(
            "You are banned from #lobby until", timeout=WAIT_MS
        )
        await expect(page.locator("#error")).to_contain_text("(by moderator). Reason: spam")
        await expect(page.locator("#text")).to_have_attribute("aria-disabled", "true")
    await expect(olive.locator('[data-notice="left"]')).to_have_count(2, timeout=WAIT_MS)
    # A reload (a new connection of the same user) is refused, with the end of the ban.
    await troll.reload()
    await expect(troll.locator("#error")).to_contain_text(
        "You are banned from #lobby until", timeout=WAIT_MS
    )
    await expect(olive.locator('#members [data-member="troll"]')).to_have_count(0)

    # The ban binds the user, not the name: the same sub under another name is refused.
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    claims = {"sub": sub, "name": "Trollface", "exp": int(time.time()) + 600}
    renamed = jwt.encode(claims, community.secret, algorithm="HS256")
    third = await pages.open_tab(olive, f"{node2.url}/rooms/lobby#token={renamed}")
    await expect(third.locator("#error")).to_contain_text(
        "You are banned from #lobby until", timeout=WAIT_MS
    )
    # A ban that ends by itself lets the user in again, with nobody's action.
    until = await short_ban(community, sub, seconds=2)
    await asyncio.sleep(max(0.0, until / 1000 - time.time()) + 0.5)
    await troll.reload()
    await wait_joined(troll, "lobby")
    await expect(olive.locator('#members [data-member="troll"]')).to_have_count(1, timeout=WAIT_MS)
    assert [] == pages.unexpected_errors()


async def short_ban(community: Community, sub: str, seconds: int) -> int:
    """Through the server API: lift the user's ban, then ban them for `seconds`."""
    url = community.nodes[0].url + "/api/rooms/lobby/bans"
    headers = {"Authorization": f"Bearer {community.api_key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async with http.delete(url, params={"sub": sub}, headers=headers) as lifted:
            assert 200 == lifted.status
        body = {"sub": sub, "seconds": seconds}
        async with http.post(url, json=body, headers=headers) as banned:
            assert 200 == banned.status
            until: int = (await banned.json())["until"]
    return until
