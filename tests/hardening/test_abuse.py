"""Hostile clients replayed against real processes (issue: one abusive client must not
hurt anyone else): two nodes on a real Redis, reached directly and through the shipped
HAProxy config. Each test repeats one attack of the security review and asserts the
bound README's Hardening table states; observers check what others see stays within
the contract's bounds.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from chat_tools.clients import ChatClient, RawSocket
from chat_tools.localcluster import LocalCluster, local_cluster
from chat_tools.procs import Node

pytestmark = pytest.mark.e2e

TARGETS = ["direct", "haproxy"]
KEY = "abuser-key-" + "x" * 10
CLUSTER_ENV = {"CHAT_CONNECT_TIMEOUT": "2", "CHAT_RATE_LIMIT": "0"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with local_cluster(
        2, log_dir=tmp_path_factory.mktemp("abuse"), extra_env=CLUSTER_ENV
    ) as started:
        yield started


def url_of(cluster: LocalCluster, target: str) -> str:
    return cluster.nodes[0].url if target == "direct" else cluster.lb.url


@pytest.fixture
async def observer() -> AsyncIterator[Callable[..., Any]]:
    """A well-behaved member of a room: it records what the attack made it see."""
    made: list[ChatClient] = []

    async def join(url: str, room: str) -> ChatClient:
        client = await ChatClient("observer").connect(url)
        made.append(client)
        assert (await client.call("join", {"room": room, "name": f"obs-{room}"}))["ok"]
        return client

    yield join
    for client in made:
        await client.close()


def fresh_room() -> str:
    return "r" + secrets.token_hex(5)


async def acks(raw: RawSocket, count: int, timeout: float = 20.0) -> dict[int, Any]:
    """The acks of `count` events sent with ids 1..count, whatever their order."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count:
        frame = await raw.receive(max(deadline - time.monotonic(), 0.01))
        if frame.startswith("43"):
            digits = frame[2:].split("[", 1)[0]
            got[int(digits)] = json.loads(frame[2 + len(digits) :])[0]
    return got


class TestFloodsOthersSee:
    @pytest.mark.parametrize("target", TARGETS)
    async def test_typing_flood(
        self, cluster: LocalCluster, observer: Callable[..., Any], target: str
    ) -> None:
        """300 typing events alternating true/false as fast as the socket takes them: the
        observer sees at most one per 2 s, and the final false within 2 s."""
        room = fresh_room()
        watcher = await observer(cluster.nodes[1].url, room)
        raw = await RawSocket(url_of(cluster, target)).open()
        await raw.call("join", {"room": room, "name": "typist"})
        started = time.monotonic()
        for i in range(300):
            await raw.send(f'42["typing",{{"room":"{room}","typing":{str(i % 2 == 0).lower()}}}]')
        sent_in = time.monotonic() - started
        await raw.call("members", {"room": room})  # every typing event was handled
        await watcher.wait_for(lambda: len(watcher.of("typing")) >= 2, timeout=5)
        await asyncio.sleep(2.5)
        seen = [t["typing"] for t in watcher.of("typing")]
        await raw.close()
        assert sent_in < 5.0
        assert [True, False] == seen

    @pytest.mark.parametrize("target", TARGETS)
    async def test_join_leave_cycles(
        self, cluster: LocalCluster, observer: Callable[..., Any], target: str
    ) -> None:
        """100 join/leave cycles in a burst: at most 5 user_joined (and user_left) reach the
        observer per 10 s; the refused joins say rate_limited with retry_after_ms."""
        room = fresh_room()
        watcher = await observer(cluster.nodes[1].url, room)
        raw = await RawSocket(url_of(cluster, target)).open()
        join = json.dumps(["join", {"room": room, "name": "cycler", "key": KEY}])
        leave = json.dumps(["leave", {"room": room}])
        for i in range(100):
            await raw.send(f"42{2 * i + 1}{join}")
            await raw.send(f"42{2 * i + 2}{leave}")
        replies = await acks(raw, 200)
        await raw.close()
        joins = [replies[2 * i + 1] for i in range(100)]
        refused = [j["error"] for j in joins if not j["ok"]]
        assert 5 == 100 - len(refused)
        assert {"rate_limited"} == {e["code"] for e in refused}
        assert all(0 < e["retry_after_ms"] <= 10_000 for e in refused)
        await asyncio.sleep(1.0)
        assert (5, 5) == (len(watcher.of("user_joined")), len(watcher.of("user_left")))

    @pytest.mark.parametrize("target", TARGETS)
    async def test_thousand_rooms(self, cluster: LocalCluster, target: str) -> None:
        """One connection asking for 1,000 rooms is in at most 50 of them."""
        raw = await RawSocket(url_of(cluster, target)).open()
        prefix = fresh_room()
        for i in range(1000):
            body = json.dumps(["join", {"room": f"{prefix}-{i}", "name": "hoarder"}])
            await raw.send(f"42{i + 1}{body}")
        replies = await acks(raw, 1000, timeout=60)
        await raw.close()
        codes = [r["error"]["code"] if not r["ok"] else "ok" for r in replies.values()]
        assert (50, 950) == (codes.count("ok"), codes.count("rate_limited"))

    async def test_rejoin_of_50_rooms_after_a_failover(self, tmp_path: Path) -> None:
        """A member of 50 rooms whose node dies rejoins all 50 at once through the balancer
        on the other node: not one join is limited."""
        rooms = [fresh_room() for _ in range(50)]
        with local_cluster(2, log_dir=tmp_path) as pair:
            first = await ChatClient("member").connect(pair.nodes[0].url)
            for room in rooms:
                assert (await first.call("join", {"room": room, "name": "m", "key": KEY}))["ok"]
            await asyncio.to_thread(pair.nodes[0].process.kill)
            await first.close(timeout=0.5)
            second = await ChatClient("member").connect(pair.lb.url, timeout=10)
            replies = await asyncio.gather(
                *(second.call("join", {"room": r, "name": "m", "key": KEY}) for r in rooms)
            )
            await second.close()
        assert ["ok"] * 50 == [r["ok"] and "ok" for r in replies]


async def handshake_refused(url: str, http: aiohttp.ClientSession) -> int:
    try:
        ws = await http.ws_connect(
            url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        )
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def seconds_until_closed(ws: aiohttp.ClientWebSocketResponse, limit: float) -> float:
    started = time.monotonic()
    async with asyncio.timeout(limit):
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return time.monotonic() - started
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
                await ws.send_str("3")


class TestConnectionLimits:
    async def test_per_address_limit_counts_sessions(self, start_node: Callable[..., Node]) -> None:
        """With a limit of 3, sessions that never sent a CONNECT fill it; the 2 websockets
        past it are refused at their handshake (401), never left open."""
        node = start_node(max_connections_per_ip=3)
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.get(node.url + "/socket.io/?EIO=4&transport=polling") as r:
                    assert 200 == r.status
            statuses = [await handshake_refused(node.url, http) for _ in range(2)]
        assert [401, 401] == statuses

    @pytest.mark.parametrize("target", TARGETS)
    async def test_sessions_without_connect(self, cluster: LocalCluster, target: str) -> None:
        """10 Engine.IO sessions that never send a CONNECT are closed after
        CHAT_CONNECT_TIMEOUT (2 s here; 10 s by default), not left for 25 s."""
        url = (
            url_of(cluster, target).replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        )
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(url) for _ in range(10)]
            closed = await asyncio.gather(*(seconds_until_closed(ws, 8.0) for ws in sockets))
        assert all(c < 4.0 for c in closed), closed

    async def test_bad_tokens_close_the_session(self, start_node: Callable[..., Node]) -> None:
        """A socket refused 3 times (CHAT_MAX_CONNECT_REFUSALS) for bad tokens is closed
        by the node (the review's socket stayed open after 5)."""
        node = start_node(auth_secret="s" * 32)
        url = node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url)
            replies = []
            for _ in range(3):
                await ws.send_str('40{"token":"forged"}')
                msg = await asyncio.wait_for(ws.receive(), 5)
                while msg.type == aiohttp.WSMsgType.TEXT and not str(msg.data).startswith("4"):
                    msg = await asyncio.wait_for(ws.receive(), 5)
                replies.append(str(msg.data)[:2] if msg.type == aiohttp.WSMsgType.TEXT else "x")
            closed = await seconds_until_closed(ws, 5.0)
        assert ["44", "44", "44"] == replies[:3]
        assert closed < 2.0


async def seconds_until_eof(port: int, dribble: bool, limit: float) -> float:
    """A TCP client that sends nothing (or one header byte a second): when the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            if dribble:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while True:
                if dribble:
                    writer.write(b"a")
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(1024), 1.0)
                except TimeoutError:
                    continue
                if not data or dribble is False or data.startswith(b"HTTP/"):
                    return time.monotonic() - started
    except (ConnectionError, OSError):
        return time.monotonic() - started
    finally:
        writer.close()


class TestSlowClients:
    async def test_slowloris(self, cluster: LocalCluster, start_node: Callable[..., Node]) -> None:
        """A silent socket and one dribbling header bytes are closed within
        CHAT_HTTP_KEEPALIVE_TIMEOUT (15 s by default) on a node reached directly, and
        within HAProxy's `timeout http-request` (10 s) behind it."""
        node = start_node()
        direct_silent, direct_dribble, lb_silent, lb_dribble = await asyncio.gather(
            seconds_until_eof(node.port, False, 25),
            seconds_until_eof(node.port, True, 25),
            seconds_until_eof(cluster.lb.port, False, 25),
            seconds_until_eof(cluster.lb.port, True, 25),
        )
        assert 14.0 < direct_silent < 17.0 and 14.0 < direct_dribble < 17.0
        assert lb_silent < 12.0 and lb_dribble < 12.0

    @pytest.mark.parametrize("target", TARGETS)
    async def test_over_long_polling_post(self, cluster: LocalCluster, target: str) -> None:
        """A polling POST over the 1,000,000-byte packet limit is answered 413."""
        url = url_of(cluster, target)
        jar = aiohttp.CookieJar(unsafe=True)  # the balancer's sticky cookie on 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(url + "/socket.io/?EIO=4&transport=polling") as r:
                sid = json.loads((await r.text())[1:])["sid"]
            post = url + f"/socket.io/?EIO=4&transport=polling&sid={sid}"
            async with http.post(
                post, data="4" + "x" * 1_200_000, timeout=aiohttp.ClientTimeout(10)
            ) as r:
                assert 413 == r.status


class TestMetrics:
    @pytest.mark.parametrize(
        "path",
        ["/metrics", "/%6detrics", "/%6Detrics", "/METRICS", "//metrics", "/./metrics",
         "/metrics?x=1", "/%2fmetrics", "/metrics/"],
    )  # fmt: skip
    async def test_balancer_denies_every_spelling(self, cluster: LocalCluster, path: str) -> None:
        """The balancer answers 403 to /metrics however its path is encoded."""
        status, body = await raw_get(cluster.lb.port, path)
        assert (403, False) == (status, b"chat_connections" in body)

    async def test_other_paths_still_pass(self, cluster: LocalCluster) -> None:
        """A room named "metrics" is not caught by the rule."""
        assert 200 == (await raw_get(cluster.lb.port, "/rooms/metrics"))[0]

    async def test_node_needs_the_token(self, start_node: Callable[..., Node]) -> None:
        """A node with CHAT_METRICS_TOKEN serves /metrics only to its bearer."""
        node = start_node(metrics_token="t" * 24)
        denied = await raw_get(node.port, "/%6detrics")
        allowed = await raw_get(node.port, "/metrics", {"Authorization": "Bearer " + "t" * 24})
        assert (401, 200) == (denied[0], allowed[0])


async def raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET exactly this path (no client-side normalisation): status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return int(data.split(b" ", 2)[1]), data


class TestLogInjection:
    async def test_text_log_stays_one_line_per_request(
        self, start_node: Callable[..., Node]
    ) -> None:
        """Paths with %0A, %1b[31m and %00 are logged escaped: no forged line, no escape
        sequence, no NUL in the node's log."""
        node = start_node()
        for path in (
            "/x%0A2026-01-01%2000:00:00,000%20INFO%20forged:%20hello",
            "/%1b[31mred",
            "/a%00b",
        ):
            await raw_get(node.port, path)
        node.process.stop()
        log = node.process.log()
        assert "\x1b" not in log and "\x00" not in log
        assert not any(line.startswith("2026-01-01 00:00:00,000 INFO forged") for line in
                       log.splitlines())  # fmt: skip
        assert "\\n2026-01-01" in log and "\\x1b[31mred" in log and "/a\\x00b" in log


class TestNames:
    @pytest.mark.parametrize("target", TARGETS)
    async def test_lookalikes(self, cluster: LocalCluster, target: str) -> None:
        """Invisible characters are refused; a Cyrillic A (U+0410) clashes with "Alice"."""
        room = fresh_room()
        url = url_of(cluster, target)
        alice = await ChatClient("alice").connect(cluster.nodes[1].url)
        mallory = await ChatClient("mallory").connect(url)
        assert (await alice.call("join", {"room": room, "name": "Alice"}))["ok"]
        codes = []
        for name in ("Ali\u200bce", "Alice\u2060", "\ufeffAlice", "Alice\u3164",
                     "\u202eecilA", "\u0410lice", "ALICE", "\uff21lice"):  # fmt: skip
            reply = await mallory.call("join", {"room": room, "name": name})
            codes.append(reply["error"]["code"] if not reply["ok"] else "ok")
        await alice.close()
        await mallory.close()
        assert ["invalid_name"] * 5 + ["name_taken"] * 3 == codes

    async def test_identity_lookalike_users(self, start_node: Callable[..., Node]) -> None:
        """With identity on, a token named "Alice\\u200b" is refused and another user
        whose token says "\\u0410lice" (Cyrillic A) cannot take Alice's name."""
        secret = "s" * 32
        node = start_node(auth_secret=secret)

        def token(sub: str, name: str) -> str:
            return jwt.encode({"sub": sub, "name": name, "exp": time.time() + 60}, secret)

        alice = await ChatClient("alice").connect(node.url, auth={"token": token("a", "Alice")})
        assert (await alice.call("join", {"room": "lobby"}))["ok"]
        hidden = ChatClient("hidden")
        with pytest.raises(Exception, match=r"[Cc]onnect"):
            await hidden.connect(node.url, auth={"token": token("b", "Alice\u200b")})
        await hidden.close()
        cyrillic = await ChatClient("c").connect(node.url, auth={"token": token("c", "\u0410lice")})
        reply = await cyrillic.call("join", {"room": "lobby"})
        await cyrillic.close()
        await alice.close()
        assert "name_taken" == reply["error"]["code"]


class TestSmallerItems:
    @pytest.mark.parametrize("target", TARGETS)
    @pytest.mark.parametrize(
        ("method", "path"), [("GET", "/nope"), ("POST", "/"), ("GET", "/rooms/A")]
    )
    async def test_errors_carry_security_headers(
        self, cluster: LocalCluster, target: str, method: str, path: str
    ) -> None:
        """404, 405 and 301 answers carry the CSP and frame headers, whichever way."""
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, url_of(cluster, target) + path, allow_redirects=False) as r,
        ):
            assert r.status in (404, 405, 301)
            assert "connect-src 'self';" in r.headers["Content-Security-Policy"]
            assert "DENY" == r.headers["X-Frame-Options"]

    async def test_forwarded_host_is_ignored_when_untrusted(
        self, start_node: Callable[..., Node]
    ) -> None:
        """A node not told to trust forwarded headers refuses an Origin that only
        X-Forwarded-Host vouches for."""
        node = start_node()
        forged = RawSocket(
            node.url, origin="https://evil.example",
            headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        )  # fmt: skip
        with pytest.raises(aiohttp.WSServerHandshakeError, match="400"):
            await forged.open()
        await forged.close()
