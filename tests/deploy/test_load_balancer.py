"""The shipped HAProxy config, for real, in front of three real nodes and a real Redis.

`chat_service.localcluster` starts the topology with deploy/haproxy/haproxy.cfg unchanged;
only the upstream addresses differ from compose. HAProxy names the serving node in the
X-Chat-Node response header, which is how these tests see where each request went.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from yarl import URL

from chat_service.localcluster import LocalCluster, local_cluster

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


async def _cookie_for(cluster: LocalCluster, node: str) -> str:
    """The sticky cookie value HAProxy hands out for the named node."""
    async with aiohttp.ClientSession() as http:
        for _ in range(30):
            async with http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)) as r:
                if r.headers.get("X-Chat-Node") == node:
                    return r.cookies[COOKIE].value
    raise AssertionError(f"the load balancer never chose {node}")


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
    http = aiohttp.ClientSession(cookie_jar=jar, trace_configs=[_trace(seen if seen is not None else [])])
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
        async with aiohttp.ClientSession() as http:
            async with http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)) as r:
                actual = (r.status, await r.json(), r.headers.get("X-Chat-Node"))
        assert (200, {"status": "ok"}) == actual[:2]
        assert actual[2] in {"node1", "node2", "node3"}

    async def test_new_clients_are_spread_over_the_nodes(self, cluster: LocalCluster) -> None:
        """Cookie-less requests reach every node (new replicas get traffic)."""
        seen: list[str] = []
        async with aiohttp.ClientSession(trace_configs=[_trace(seen)]) as http:
            for _ in range(6):
                async with http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)):
                    pass
        assert {"node1", "node2", "node3"} == set(seen)

    async def test_the_cookie_pins_a_client_to_its_node(self, cluster: LocalCluster) -> None:
        """Every request carrying the sticky cookie goes to the node it names."""
        cookie = await _cookie_for(cluster, "node3")
        seen: list[str] = []
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({COOKIE: cookie}, URL(cluster.lb_url))
        async with aiohttp.ClientSession(cookie_jar=jar, trace_configs=[_trace(seen)]) as http:
            for _ in range(9):
                async with http.get(cluster.lb_url + "/healthz", timeout=aiohttp.ClientTimeout(5)):
                    pass
        assert ["node3"] * 9 == seen

    async def test_the_node_sees_the_client_address_forwarded(self, cluster: LocalCluster) -> None:
        """A client-supplied X-Forwarded-For is replaced, not appended to, by the lb."""
        seen: list[str] = []
        async with aiohttp.ClientSession(trace_configs=[_trace(seen)]) as http:
            headers = {"X-Forwarded-For": "203.0.113.9"}
            async with http.get(
                cluster.lb_url + "/healthz", headers=headers, timeout=aiohttp.ClientTimeout(5)
            ) as r:
                assert 200 == r.status
        node = cluster.node_named(seen[0])
        log = node.process.log()
        assert "203.0.113.9" not in log


class TestSocketIo:
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
                while client.transport() != "websocket":
                    await asyncio.sleep(0.05)
            reply = await _call(client, "list_rooms", {})
        assert True is reply["ok"]
        assert 1 == len(set(seen))

    async def test_default_client_keeps_the_cookie_by_hostname(
        self, cluster: LocalCluster
    ) -> None:
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
        """A message sent on node1 reaches a polling client the lb pinned to node2."""
        room = _unique("cross")
        seen: list[str] = []
        cookie = await _cookie_for(cluster, "node2")
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with (
            _client(cluster.nodes[0].url, ["websocket"]) as sender,
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
        assert {"node2"} == set(seen)
