"""The shipped HAProxy config, for real, in front of three real nodes and a real Redis.

`chat_tools.localcluster` starts the topology with deploy/haproxy/haproxy.cfg unchanged;
only the upstream addresses differ from compose. HAProxy names the serving node in the
X-Chat-Node response header, which is how these tests see where each request went.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from yarl import URL

from chat_tools.localcluster import LoadBalancer, LocalCluster, local_cluster
from chat_tools.procs import free_port

pytestmark = pytest.mark.e2e

COOKIE = "CHAT_NODE"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    log_dir: Path = tmp_path_factory.mktemp("lb-cluster")
    with local_cluster(3, log_dir=log_dir) as started:
        yield started


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _trace(seen: list[str]) -> aiohttp.TraceConfig:
    """Records the X-Chat-Node header of every response the session receives."""

    async def on_request_end(
        session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        seen.append(params.response.headers.get("X-Chat-Node", "<none>"))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


async def _pin(cluster: LocalCluster) -> tuple[str, str]:
    """A node the lb picks for a new client, and the sticky cookie naming it."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)) as r,
    ):
        return r.headers["X-Chat-Node"], r.cookies[COOKIE].value


@asynccontextmanager
async def _client(
    url: str,
    transports: list[str] | None,
    seen: list[str] | None = None,
    cookie: str | None = None,
) -> AsyncIterator[socketio.AsyncClient]:
    """A connected client whose HTTP session keeps cookies (also for 127.0.0.1, unlike
    aiohttp's default jar) and traces the serving node; disconnected without waiting for a
    pending long poll."""
    jar = aiohttp.CookieJar(unsafe=True)
    if cookie is not None:
        jar.update_cookies({COOKIE: cookie}, URL(url))
    http = aiohttp.ClientSession(
        cookie_jar=jar, trace_configs=[_trace(seen if seen is not None else [])]
    )
    client = socketio.AsyncClient(http_session=http, reconnection=False)
    try:
        await client.connect(url, transports=transports, wait_timeout=TIMEOUT)
        yield client
    finally:
        if client.connected:
            await asyncio.wait_for(client.eio.disconnect(abort=True), TIMEOUT)
        await http.close()


async def _call(client: socketio.AsyncClient, event: str, payload: dict[str, Any]) -> Any:
    return await client.call(event, payload, timeout=TIMEOUT)


class TestHttp:
    async def test_healthz_through_the_load_balancer(self, cluster: LocalCluster) -> None:
        """GET /healthz via the lb answers 200 from one of the three nodes."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)) as r,
        ):
            actual = (r.status, await r.json(), r.headers.get("X-Chat-Node"))
        assert (200, {"status": "ok"}) == actual[:2]
        assert actual[2] in {"node1", "node2", "node3"}

    async def test_the_cookie_pins_a_client_to_its_node(self, cluster: LocalCluster) -> None:
        """Every request carrying the sticky cookie goes to the node it names."""
        node, cookie = await _pin(cluster)
        seen: list[str] = []
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({COOKIE: cookie}, URL(cluster.lb_url))
        async with aiohttp.ClientSession(cookie_jar=jar, trace_configs=[_trace(seen)]) as http:
            for _ in range(9):
                async with http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)):
                    pass
        assert [node] * 9 == seen


class TestEdgeRules:
    """What a node receives, seen by an echo server standing in for it behind the same config."""

    @pytest.fixture
    async def echo_lb(self, tmp_path: Path) -> AsyncIterator[str]:
        async def echo(request: web.Request) -> web.Response:
            return web.json_response({"headers": dict(request.headers)})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        lb = await asyncio.to_thread(LoadBalancer.start, tmp_path, [("127.0.0.1", port)])
        try:
            yield lb.url
        finally:
            await asyncio.to_thread(lb.stop)
            await runner.cleanup()

    async def test_client_address_replaces_a_spoofed_forwarded_for(self, echo_lb: str) -> None:
        """X-Forwarded-For is the client's address only; Host and the path pass unchanged."""
        headers = {"X-Forwarded-For": "203.0.113.9", "Host": "chat.example:5000"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                echo_lb + "/rooms/lobby", headers=headers, timeout=aiohttp.ClientTimeout(5)
            ) as r,
        ):
            got = (await r.json())["headers"]
        actual = {k: got.get(k) for k in ("X-Forwarded-For", "X-Forwarded-Proto", "Host")}
        expected = {
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Proto": "http",
            "Host": "chat.example:5000",
        }
        assert expected == actual

    async def test_the_sticky_cookie_is_not_passed_to_the_node(self, echo_lb: str) -> None:
        """`indirect`: the lb reads and strips its own cookie; the application's pass."""
        async with aiohttp.ClientSession() as http:
            async with http.get(echo_lb + "/", timeout=aiohttp.ClientTimeout(5)) as r:
                sticky = r.cookies[COOKIE].value
            cookie = f"theme=dark; {COOKIE}={sticky}"
            async with http.get(
                echo_lb + "/", headers={"Cookie": cookie}, timeout=aiohttp.ClientTimeout(5)
            ) as r:
                actual = ((await r.json())["headers"].get("Cookie"), COOKIE in r.cookies)
        assert ("theme=dark", False) == actual

    async def test_metrics_are_not_published(self, echo_lb: str) -> None:
        """/metrics is answered 403 by the balancer itself; nodes are scraped internally."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(echo_lb + "/metrics", timeout=aiohttp.ClientTimeout(5)) as r,
        ):
            actual = (r.status, r.headers.get("X-Chat-Node"))
        assert (403, None) == actual


class TestSocketIo:
    async def test_new_connections_are_spread_over_the_nodes(self, cluster: LocalCluster) -> None:
        """Six WebSockets opened one after another land on all three nodes (leastconn)."""
        seen: list[str] = []
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(6):
                await stack.enter_async_context(_client(cluster.lb_url, ["websocket"], seen))
        assert {"node1", "node2", "node3"} == set(seen)

    async def test_websocket_client_through_the_load_balancer(self, cluster: LocalCluster) -> None:
        """A WebSocket-only client connects through the lb (Upgrade passed) and gets replies."""
        seen: list[str] = []
        async with _client(cluster.lb_url, ["websocket"], seen) as client:
            reply = await _call(client, "list_rooms", {})
            transport = client.transport()
        assert (True, "websocket") == (reply["ok"], transport)
        assert 1 == len(set(seen))

    async def test_polling_session_stays_on_one_node(self, cluster: LocalCluster) -> None:
        """A polling-only client makes 20 calls over ~3 s, all answered, all by one node."""
        seen: list[str] = []
        room = _unique("poll")
        async with _client(cluster.lb_url, ["polling"], seen) as client:
            joined = await _call(client, "join", {"room": room, "name": "poller"})
            replies = [joined]
            for i in range(19):
                event = ("members", "history", "list_rooms")[i % 3]
                replies.append(await _call(client, event, {"room": room}))
                # Pacing, not waiting for an event: the session must span many long polls.
                await asyncio.sleep(0.15)
        assert [True] * 20 == [r["ok"] for r in replies]
        assert len(seen) >= 40
        assert 1 == len(set(seen))

    async def test_polling_upgrades_to_websocket_through_the_lb(
        self, cluster: LocalCluster
    ) -> None:
        """The default client (polling, then upgrade) ends on a WebSocket to the same node."""
        seen: list[str] = []
        async with _client(cluster.lb_url, None, seen) as client:
            async with asyncio.timeout(TIMEOUT):
                # python-socketio announces no upgrade: watch the transport, with a deadline.
                while client.transport() != "websocket":
                    await asyncio.sleep(0.05)
            reply = await _call(client, "list_rooms", {})
        assert True is reply["ok"]
        assert 1 == len(set(seen))

    async def test_default_client_keeps_the_cookie_by_hostname(self, cluster: LocalCluster) -> None:
        """python-socketio's own session keeps the cookie when the lb is named `localhost`."""
        url = cluster.lb_url.replace("127.0.0.1", "localhost")
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["polling"], wait_timeout=TIMEOUT)
        try:
            replies = [await _call(client, "list_rooms", {}) for _ in range(10)]
        finally:
            await asyncio.wait_for(client.eio.disconnect(abort=True), TIMEOUT)
        assert [True] * 10 == [r["ok"] for r in replies]

    async def test_message_crosses_nodes(self, cluster: LocalCluster) -> None:
        """A message sent on one node reaches a polling client the lb pinned to another."""
        room = _unique("cross")
        seen: list[str] = []
        pinned, cookie = await _pin(cluster)
        other = next(n for n in cluster.nodes if n is not cluster.node_named(pinned))
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with (
            _client(other.url, ["websocket"]) as sender,
            _client(cluster.lb_url, ["polling"], seen, cookie=cookie) as receiver,
        ):
            receiver.on("message", received.put_nowait)
            assert True is (await _call(receiver, "join", {"room": room, "name": "bob"}))["ok"]
            assert True is (await _call(sender, "join", {"room": room, "name": "alice"}))["ok"]
            sent = await _call(sender, "send_message", {"room": room, "text": "across nodes"})
            got = await asyncio.wait_for(received.get(), TIMEOUT)
        assert True is sent["ok"]
        assert sent["message"] == got
        assert ("alice", "across nodes") == (got["name"], got["text"])
        assert {pinned} == set(seen)


class TestNodeGoingAway:
    @pytest.fixture
    def small_cluster(self, tmp_path: Path) -> Iterator[LocalCluster]:
        with local_cluster(2, log_dir=tmp_path) as started:
            yield started

    async def test_client_pinned_to_a_stopped_node_lands_on_another(
        self, small_cluster: LocalCluster
    ) -> None:
        """After its node drains (SIGTERM), the same cookie reconnects elsewhere; history kept."""
        room = _unique("drain")
        pinned, cookie = await _pin(small_cluster)
        disconnected = asyncio.Event()
        async with _client(small_cluster.lb_url, ["polling"], cookie=cookie) as client:
            client.on("disconnect", lambda *reason: disconnected.set())
            joining = {"room": room, "name": "ann", "key": "ann-key-0123456789"}
            assert True is (await _call(client, "join", joining))["ok"]
            sent = await _call(client, "send_message", {"room": room, "text": "before"})
            node = small_cluster.node_named(pinned)
            code = await asyncio.to_thread(node.process.stop)
            await asyncio.wait_for(disconnected.wait(), TIMEOUT)
        seen: list[str] = []
        async with _client(small_cluster.lb_url, ["polling"], seen, cookie=cookie) as client:
            rejoined = await _call(client, "join", {**joining, "since": 0})
        assert 0 == code
        assert [sent["message"]] == rejoined["history"]
        assert pinned not in set(seen)
