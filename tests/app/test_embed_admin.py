"""examples/embed_app.py: the moderator account and the admin page, over the server API."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import jwt
import pytest
from test_moderation_events import API_KEY, SECRET, node_settings

from chat_tools.clients import ChatClient, ServedApp

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed_app.py"
PASSWORD = "correct horse"


def load_example(monkeypatch: pytest.MonkeyPatch, chat_url: str) -> ModuleType:
    """A fresh copy of the example, configured by its environment as when run."""
    for name, value in {
        "CHAT_AUTH_SECRET": SECRET,
        "CHAT_API_KEY": API_KEY,
        "EXAMPLE_CHAT_URL": chat_url,
        "EXAMPLE_MODERATOR_PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("embed_app_under_test", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "embed_app_under_test", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def setup(
    served: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ServedApp, ModuleType, ServedApp]]:
    chat: ServedApp = await served(node_settings())
    example = load_example(monkeypatch, chat.url)
    app = await ServedApp(example.make_app()).start()
    yield chat, example, app
    await app.stop()


async def log_in(app: ServedApp, name: str, password: str = "") -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(app.url + "/login", data={"name": name, "password": password}):
        pass
    return session


class TestModeratorAccount:
    async def test_only_the_password_makes_the_moderator(
        self, setup: tuple[ServedApp, ModuleType, ServedApp]
    ) -> None:
        """The moderator's token carries the role; a wrong password or another name does not."""
        _, example, app = setup
        claims = jwt.decode(example.issue("moderator", "moderator"), SECRET, algorithms=["HS256"])
        assert ["moderator"] == claims["roles"]
        assert "roles" not in jwt.decode(example.issue("user-1", "x"), SECRET, algorithms=["HS256"])
        for name, password in (("moderator", "wrong"), ("Ann", PASSWORD)):
            session = await log_in(app, name, password)
            async with session.get(app.url + "/admin", allow_redirects=False) as response:
                assert (303, "/") == (response.status, response.headers["Location"])
            await session.close()


class TestAdminPage:
    async def test_lists_bans_and_unbans(
        self,
        setup: tuple[ServedApp, ModuleType, ServedApp],
        clients: Callable[..., Any],
    ) -> None:
        """Members and bans are listed; ban and unban go through the server API."""
        chat, example, app = setup
        ann: ChatClient = await clients(
            chat.url, "ann", auth={"token": example.issue("u-ann", "Ann")}
        )
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
        session = await log_in(app, "moderator", PASSWORD)
        try:
            async with session.get(app.url + "/admin?room=lobby") as response:
                listed = await response.text()
            form = {"room": "lobby", "name": "Ann", "seconds": "3600", "reason": "spam <b>"}
            async with session.post(app.url + "/admin/ban", data=form) as response:
                banned = await response.text()
            await ann.wait_for(lambda: bool(ann.of("kicked")))
            unban = {"room": "lobby", "sub": "u-ann"}
            async with session.post(app.url + "/admin/unban", data=unban) as response:
                after = await response.text()
        finally:
            await session.close()
        assert "<li>Ann " in listed and "spam &lt;b&gt;" in banned
        assert ("api", True) == (ann.of("kicked")[0]["by"], ann.of("kicked")[0]["banned"])
        assert "spam" not in after
        assert (await ann.call("join", {"room": "lobby"}))["ok"]
