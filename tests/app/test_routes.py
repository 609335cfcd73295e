"""HTTP routes through aiohttp's test client on the real app factory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chat_service.app import create_app
from chat_service.appkeys import RUNTIME, SERVICE
from chat_service.config import Settings
from chat_service.errors import BackendUnavailable
from chat_tools.clients import ChatClient, make_settings


@pytest.fixture
async def http() -> AsyncIterator[Callable[..., Any]]:
    made: list[TestClient[Any, Any]] = []

    async def build(settings: Settings | None = None) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(settings or make_settings()))
        )
        await client.start_server()
        made.append(client)
        return client

    yield build
    while SEEDERS:
        await SEEDERS.pop().close()
    for client in made:
        await client.close()


SEEDERS: list[ChatClient] = []


async def seed(client: TestClient[Any, Any], room: str, texts: list[str]) -> None:
    """A real socket client joins the room and sends the texts (it stays connected)."""
    seeder = await ChatClient("seed").connect(str(client.make_url("/")).rstrip("/"))
    SEEDERS.append(seeder)
    await seeder.call("join", {"room": room, "name": "seed"})
    for text in texts:
        await seeder.call("send_message", {"room": room, "text": text})


class TestPages:
    async def test_landing_page_hooks(self, http: Callable[..., Any]) -> None:
        """The landing page has a form with name and room inputs and a submit button."""
        client = await http()
        resp = await client.get("/", params={"name": "<b>Ann</b>"})
        html = await resp.text()
        assert 200 == resp.status
        assert 'name="name"' in html and 'name="room"' in html and "<form" in html
        assert 'type="submit"' in html or "<button" in html
        assert "<b>Ann</b>" not in html  # reflected values are escaped

    async def test_room_page_hooks(self, http: Callable[..., Any]) -> None:
        """The chat page has the text input in a form and a connection-state element."""
        client = await http()
        resp = await client.get("/rooms/lobby")
        html = await resp.text()
        assert 200 == resp.status
        assert 'name="text"' in html and "<form" in html and "data-connection" in html
        assert "/static/vendor/socket.io.min.js" in html

    async def test_room_page_lower_cases(self, http: Callable[..., Any]) -> None:
        """/rooms/Lobby redirects to /rooms/lobby, keeping the query."""
        client = await http()
        resp = await client.get("/rooms/Lobby?name=x", allow_redirects=False)
        assert (301, "/rooms/lobby?name=x") == (resp.status, resp.headers["Location"])

    async def test_invalid_room_page(self, http: Callable[..., Any]) -> None:
        """A room name breaking the rule is a 404."""
        client = await http()
        assert 404 == (await client.get("/rooms/" + "x" * 33)).status

    async def test_invalid_room_page_is_friendly(self, http: Callable[..., Any]) -> None:
        """/rooms/my%20room is an HTML 404 that says why, links home and suggests a room."""
        client = await http()
        resp = await client.get("/rooms/my%20room")
        html = await resp.text()
        assert (404, "text/html") == (resp.status, resp.content_type)
        assert 'href="/"' in html
        assert 'href="/rooms/my-room"' in html
        assert "my room" in html

    async def test_invalid_room_page_escapes_the_name(self, http: Callable[..., Any]) -> None:
        """The requested name is shown as text, never as markup."""
        client = await http()
        resp = await client.get("/rooms/%3Cb%3Ex%3C%2Fb%3E")
        html = await resp.text()
        assert 404 == resp.status
        assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html

    async def test_security_headers(self, http: Callable[..., Any]) -> None:
        """Pages carry a CSP without inline scripts and the other hardening headers."""
        client = await http()
        resp = await client.get("/")
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert ("nosniff", "same-origin") == (
            resp.headers["X-Content-Type-Options"],
            resp.headers["Referrer-Policy"],
        )

    async def test_pages_have_no_inline_script(self, http: Callable[..., Any]) -> None:
        """No inline <script> bodies or on* attributes, so the CSP cannot break the page."""
        import re

        client = await http()
        for path in ("/", "/rooms/lobby"):
            html = await (await client.get(path)).text()
            scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
            assert all("src=" in attrs and not body.strip() for attrs, body in scripts), path
            assert not re.search(r"\son[a-z]+\s*=", html), path

    async def test_static_and_vendor(self, http: Callable[..., Any]) -> None:
        """Static assets and the pinned socket.io client are served by the node."""
        client = await http()
        vendor = await client.get("/static/vendor/socket.io.min.js")
        assert 200 == vendor.status
        assert "io" in (await vendor.text())[:5000]
        assert 404 == (await client.get("/static/vendor/other.js")).status


class TestApi:
    async def test_rooms(self, http: Callable[..., Any]) -> None:
        """/api/rooms lists live rooms like list_rooms."""
        client = await http()
        assert {"rooms": []} == await (await client.get("/api/rooms")).json()
        await seed(client, "lobby", [])
        assert {"rooms": [{"room": "lobby", "members": 1}]} == await (
            await client.get("/api/rooms")
        ).json()

    async def test_messages(self, http: Callable[..., Any]) -> None:
        """/api/rooms/{room}/messages pages like history."""
        client = await http()
        await seed(client, "lobby", ["a", "b", "c", "d"])
        body = await (await client.get("/api/rooms/Lobby/messages?limit=2&before=4")).json()
        assert ("lobby", ["b", "c"]) == (body["room"], [m["text"] for m in body["messages"]])
        full = await (await client.get("/api/rooms/lobby/messages")).json()
        assert [1, 2, 3, 4] == [m["id"] for m in full["messages"]]

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("/api/rooms/bad!room/messages", "invalid_room"),
            ("/api/rooms/lobby/messages?limit=abc", "bad_request"),
            ("/api/rooms/lobby/messages?limit=0", "bad_request"),
            ("/api/rooms/lobby/messages?limit=101", "bad_request"),
            ("/api/rooms/lobby/messages?before=-3", "bad_request"),
        ],
    )
    async def test_bad_input(self, http: Callable[..., Any], url: str, code: str) -> None:
        """Bad input is a 400 with the protocol's error object."""
        client = await http()
        resp = await client.get(url)
        body = await resp.json()
        assert (400, code) == (resp.status, body["error"]["code"])
        assert body["error"]["message"]


class TestOperations:
    async def test_healthz(self, http: Callable[..., Any]) -> None:
        """/healthz is 200 while the process serves."""
        client = await http()
        resp = await client.get("/healthz")
        assert (200, {"status": "ok"}) == (resp.status, await resp.json())

    async def test_readyz_memory(self, http: Callable[..., Any]) -> None:
        """A memory node is always ready."""
        client = await http()
        assert 200 == (await client.get("/readyz")).status

    async def test_readyz_redis_down(self, http: Callable[..., Any]) -> None:
        """With an unreachable Redis, /readyz is 503 with a reason, and the node stays up."""
        client = await http(make_settings(redis_url="redis://127.0.0.1:1/0"))
        resp = await client.get("/readyz")
        body = await resp.json()
        assert (503, "unavailable") == (resp.status, body["status"])
        assert "redis" in body["reason"]
        assert 200 == (await client.get("/healthz")).status
        api = await client.get("/api/rooms")
        assert (503, "unavailable") == (api.status, (await api.json())["error"]["code"])

    async def test_readyz_fails_once_the_node_announces_its_stop(
        self, http: Callable[..., Any]
    ) -> None:
        """After announce_stop (SIGTERM with a drain delay) /readyz is 503 and the metric says
        draining, while the node still serves pages, the API and /healthz."""
        client = await http()
        client.app[RUNTIME].announce_stop()
        resp = await client.get("/readyz")
        body = await resp.json()
        served = [(await client.get(p)).status for p in ("/healthz", "/", "/api/rooms")]
        metrics = await (await client.get("/metrics")).text()
        assert (503, "node is shutting down", [200, 200, 200]) == (
            resp.status,
            body["reason"],
            served,
        )
        assert "chat_draining 1.0" in metrics

    async def test_metrics(self, http: Callable[..., Any]) -> None:
        """/metrics is Prometheus text with the documented names."""
        client = await http()
        await seed(client, "lobby", ["x"])
        resp = await client.get("/metrics")
        text = await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        for name in (
            "chat_connections ",
            "chat_rooms ",
            "chat_room_members ",
            'chat_errors_total{code="rate_limited"}',
            "chat_dead_node_sweeps_total",
            "chat_slow_consumer_disconnects_total",
            "chat_backend_up 1.0",
            "chat_asyncio_tasks ",
        ):
            assert name in text, name

    async def test_metrics_token(self, http: Callable[..., Any]) -> None:
        """With CHAT_METRICS_TOKEN, /metrics answers 401 without the bearer token (or with
        a wrong one) and the metrics with it."""
        token = "m" * 24
        client = await http(make_settings(metrics_token=token))
        statuses = []
        for header in (None, "Bearer wrong", f"Basic {token}", f"Bearer {token}x"):
            headers = {"Authorization": header} if header else {}
            resp = await client.get("/metrics", headers=headers)
            statuses.append((resp.status, (await resp.json())["error"]["code"]))
        assert [(401, "unauthorized")] * 4 == statuses
        good = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert (200, True) == (good.status, "chat_connections " in await good.text())

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/no/such/page", 404),
            ("POST", "/rooms/lobby", 405),
            ("GET", "/rooms/Lobby", 301),
            ("GET", "/static/missing.js", 404),
        ],
    )
    async def test_errors_and_redirects_carry_security_headers(
        self, http: Callable[..., Any], method: str, path: str, status: int
    ) -> None:
        """404, 405 and 301 answers carry the CSP and the other hardening headers."""
        client = await http()
        resp = await client.request(method, path, allow_redirects=False)
        assert status == resp.status
        assert {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} <= set(
            resp.headers
        )

    async def test_over_long_polling_post_is_answered(self, http: Callable[..., Any]) -> None:
        """An Engine.IO POST over the packet limit gets 413 at once (not silence)."""
        client = await http(make_settings(max_packet_bytes=30_000))
        opened = await client.get("/socket.io/?EIO=4&transport=polling")
        sid = json.loads((await opened.text())[1:])["sid"]
        url = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        resp = await client.post(url, data="4" + "x" * 40_000, timeout=aiohttp.ClientTimeout(5))
        assert 413 == resp.status

    async def test_unavailable_is_mapped(
        self, http: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A backend outage during an API call is a 503 with code unavailable."""
        client = await http()

        async def down(*_a: Any) -> Any:
            raise BackendUnavailable()

        monkeypatch.setattr(client.app[SERVICE].store, "history", down)
        resp = await client.get("/api/rooms/lobby/messages")
        assert (503, "unavailable") == (resp.status, (await resp.json())["error"]["code"])


class TestIdentityPages:
    SECRET = "s" * 32

    async def test_pages_say_identity_is_off_by_default(self, http: Callable[..., Any]) -> None:
        """Without a secret or key the pages ask for a name, as in protocol version 1."""
        client = await http()
        landing = await (await client.get("/")).text()
        room = await (await client.get("/rooms/lobby")).text()
        assert 'data-identity="off"' in landing and 'id="name"' in landing
        assert 'data-identity="off"' in room and 'data-token-url=""' in room

    async def test_identity_on_pages_never_ask_for_a_name(self, http: Callable[..., Any]) -> None:
        """With identity on the landing page has no name field; both pages name the token URL."""
        url = "https://app.example.com:8443/chat/token"
        client = await http(make_settings(auth_secret=self.SECRET, auth_token_url=url))
        landing = await (await client.get("/")).text()
        room = await (await client.get("/rooms/lobby?name=eve")).text()
        assert 'data-identity="on"' in landing and 'id="name"' not in landing
        assert 'data-identity="on"' in room and f'data-token-url="{url}"' in room

    async def test_csp_allows_only_the_token_urls_origin(self, http: Callable[..., Any]) -> None:
        """The page may fetch its token from the application's origin and nowhere else."""
        client = await http(
            make_settings(auth_secret=self.SECRET, auth_token_url="https://app.example.com/t?x=1")
        )
        csp = (await client.get("/rooms/lobby")).headers["Content-Security-Policy"]
        assert "connect-src 'self' https://app.example.com;" in csp
        plain = await http()
        csp = (await plain.get("/rooms/lobby")).headers["Content-Security-Policy"]
        assert "connect-src 'self';" in csp
