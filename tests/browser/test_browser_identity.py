"""Identity on: the page takes its token from the embedding application (examples/embed_app.py)."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chat_tools.procs import LoopbackService, Node, free_port, spawn

from .support import ROOT, WAIT_MS, Pages, message_by_text, send, tab, wait_joined

pytestmark = pytest.mark.browser

EMBED_APP = ROOT / "examples" / "embed_app.py"


class Embedded:
    """A chat node with identity on and the example application that signs its tokens."""

    def __init__(self, chat: Node, app: LoopbackService) -> None:
        self.chat = chat
        self.app = app


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Callable[..., Embedded]]:
    """Starts a node + the example app pair; `ttl` is the tokens' lifetime in seconds."""
    started: list[Embedded] = []

    def start(ttl: int = 600, token_url: bool = True) -> Embedded:
        secret = secrets.token_urlsafe(32)
        app_port = free_port()
        env = {"CHAT_AUTH_SECRET": secret, "CHAT_AUTH_LEEWAY": "0"}
        if token_url:
            env["CHAT_AUTH_TOKEN_URL"] = f"http://127.0.0.1:{app_port}/token"
        chat = Node.start(tmp_path, extra_env=env)
        app_env = {
            "PATH": "/usr/bin:/bin",
            "CHAT_AUTH_SECRET": secret,
            "EXAMPLE_CHAT_URL": chat.url,
            "EXAMPLE_PORT": str(app_port),
            "EXAMPLE_TOKEN_TTL": str(ttl),
        }
        process = spawn(
            f"embed-app-{app_port}", [sys.executable, str(EMBED_APP)], tmp_path, app_env
        )
        app = LoopbackService(app_port, process)
        app.ready_path = "/"
        pair = Embedded(chat, app)
        started.append(pair)
        app.wait_ready()
        return pair

    try:
        yield start
    finally:
        for pair in started:
            pair.app.process.stop()
            pair.chat.process.stop()


async def log_in(pages: Pages, app_url: str, name: str, room: str = "lobby") -> Page:
    """A new browser logs in to the example app and follows its link to a chat room."""
    page = await pages.open(app_url + "/")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name=f"#{room}").click()
    await wait_joined(page, room)
    return page


async def stored_token(page: Page) -> str | None:
    token: str | None = await page.evaluate("() => sessionStorage.getItem('chat.token')")
    return token


async def test_logs_in_through_the_app_and_chats(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """Two people log in to the app, chat under their token names, and are never asked one."""
    pair = embedded()
    alice = await log_in(pages, pair.app.url, "Alice")
    assert "token=" not in alice.url  # taken off the address at once
    assert alice.url == f"{pair.chat.url}/rooms/lobby"
    await expect(alice.locator("#whoami")).to_have_text("Signed in as Alice")
    await expect(alice.locator("#name-form")).to_be_hidden()
    bob = await log_in(pages, pair.app.url, "Bob")

    await send(alice, "hello from a signed-in user")
    shown = message_by_text(bob, "lobby", "hello from a signed-in user")
    await expect(shown).to_have_count(1, timeout=WAIT_MS)
    await expect(shown).to_have_attribute("data-sender", "Alice")
    for page in (alice, bob):
        await expect(page.locator("#members [data-member]")).to_have_count(2, timeout=WAIT_MS)
        await expect(page.locator('#members [data-member="Alice"]')).to_have_count(1)

    # The landing page of that tab lists the rooms with the tab's token, asks no name.
    # A new tab of the same browser has no token of its own (sessionStorage is per tab):
    # the landing page gets one from the token URL with the app's cookie.
    landing = await pages.open_tab(bob, f"{pair.chat.url}/")
    await expect(landing.locator("#name")).to_have_count(0)
    await expect(landing.locator('[data-active-room="lobby"]')).to_contain_text(
        "2 members", timeout=WAIT_MS
    )
    await landing.get_by_role("button", name="Join #lobby").click()
    await wait_joined(landing, "lobby")
    await expect(landing.locator("#whoami")).to_have_text("Signed in as Bob")
    await landing.close()

    # A reload keeps the tab's token (sessionStorage) and the history.
    await alice.reload()
    await wait_joined(alice, "lobby")
    await expect(message_by_text(alice, "lobby", "hello from a signed-in user")).to_have_count(1)
    assert [] == pages.unexpected_errors()


async def test_rooms_outside_the_token_and_taken_names(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """A room the token does not list is refused; another user with the same name waits."""
    pair = embedded()
    alice = await log_in(pages, pair.app.url, "Alice")
    await alice.locator("#join-room-input").fill("secret")
    await alice.locator("#join-room-input").press("Enter")
    await expect(alice.locator("#error")).to_contain_text("not allowed", timeout=WAIT_MS)
    await expect(tab(alice, "secret")).to_have_count(0)
    await expect(tab(alice, "lobby")).to_have_attribute("data-status", "joined")
    # The way out: the rooms this person may join, from the token and the active rooms.
    await alice.get_by_role("button", name="See rooms you may join").click()
    await expect(alice.locator("#room-browser")).to_have_attribute("open", "")
    allowed = alice.locator('#room-browser-list [data-browse-room="support"]')
    await allowed.get_by_role("button", name="Join #support").click()
    await wait_joined(alice, "support")

    impostor = await pages.open(pair.app.url + "/")
    await impostor.get_by_label("Your name").fill("alice")
    await impostor.get_by_role("button", name="Log in").click()
    await impostor.get_by_role("link", name="#lobby").click()
    await expect(impostor.locator("#error")).to_contain_text(
        "another user there is called alice", timeout=WAIT_MS
    )
    await expect(impostor.locator("#error")).to_contain_text("only it can give you a distinct one")
    await expect(impostor.locator("#name-form")).to_be_hidden()
    await expect(alice.locator("#members [data-member]")).to_have_count(1, timeout=WAIT_MS)
    assert [] == pages.unexpected_errors()


async def test_an_expired_token_is_renewed_from_the_token_url(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """The node closes the connection at expiry; the page fetches a new token and goes on."""
    ttl = 10  # above the page's 5 s margin, so the link's token is still usable
    pair = embedded(ttl=ttl)
    alice = await log_in(pages, pair.app.url, "Alice")
    bob = await log_in(pages, pair.app.url, "Bob")
    first = await stored_token(alice)
    await asyncio.sleep(ttl + 2)  # past the first token's exp: the node closed its connection
    await wait_joined(alice, "lobby")
    renewed = await stored_token(alice)
    assert renewed is not None and renewed != first
    await send(alice, "after the renewal")
    await expect(message_by_text(bob, "lobby", "after the renewal")).to_have_count(
        1, timeout=WAIT_MS
    )
    # Same user before and after: nobody was shown Alice leaving and joining again.
    await expect(bob.locator('[data-notice="left"]')).to_have_count(0)
    assert [] == pages.unexpected_errors()


async def test_without_a_token_url_expiry_signs_the_page_out(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """With only the link's token, the page says how to sign in again instead of retrying."""
    ttl = 10
    pair = embedded(ttl=ttl, token_url=False)
    alice = await log_in(pages, pair.app.url, "Alice")
    await expect(alice.locator("#connection")).to_have_attribute(
        "data-connection", "disconnected", timeout=(ttl + 5) * 1000
    )
    await expect(alice.locator("#connection-label")).to_have_text("Signed out")
    await expect(alice.locator("#error")).to_contain_text("Open the chat again")
    await expect(alice.locator("#text")).to_have_attribute("aria-disabled", "true")

    # A chat page opened without any token never asks for a name either.
    stranger = await pages.open(f"{pair.chat.url}/rooms/lobby?name=eve")
    await expect(stranger.locator("#connection-label")).to_have_text("Signed out")
    await expect(stranger.locator("#name-form")).to_be_hidden()
    assert [] == pages.unexpected_errors()


async def test_a_link_for_another_account_does_not_switch_the_tab(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """A #token= link for Bob opened in Alice's tab keeps Alice until she chooses to switch."""
    pair = embedded()
    alice = await log_in(pages, pair.app.url, "Alice")
    bob = await log_in(pages, pair.app.url, "Bob")
    bob_token = await stored_token(bob)
    assert bob_token is not None

    await alice.goto(f"{pair.chat.url}/rooms/support#token={bob_token}")
    await wait_joined(alice, "support")
    assert "token=" not in alice.url
    await expect(alice.locator("#whoami")).to_have_text("Signed in as Alice")
    await expect(alice.locator("#error")).to_contain_text(
        "This link would sign you in as Bob; you are still signed in as Alice."
    )
    await expect(alice.locator('#members [data-member="Alice"]')).to_have_count(1)

    await alice.get_by_role("button", name="Switch to Bob").click()
    await expect(alice.locator("#whoami")).to_have_text("Signed in as Bob", timeout=WAIT_MS)
    await wait_joined(alice, "support")
    assert [] == pages.unexpected_errors()


async def test_signed_out_links_back_to_the_application(
    embedded: Callable[..., Embedded], pages: Pages
) -> None:
    """With a token URL known, "Signed out" offers a link to the application."""
    pair = embedded()
    stranger = await pages.open(f"{pair.chat.url}/rooms/lobby")
    await expect(stranger.locator("#connection-label")).to_have_text("Signed out", timeout=WAIT_MS)
    link = stranger.get_by_role("link", name="Open the application")
    await expect(link).to_have_attribute("href", pair.app.url + "/")
    await link.click()
    await expect(stranger.get_by_label("Your name")).to_be_visible(timeout=WAIT_MS)
    # The page asked the token URL first; the application answered 401 (nobody logged in).
    assert [] == pages.unexpected_errors([r"status of 401"])
