"""`docker compose up` for real: the project's image, Redis and HAProxy behind one port.

Every request goes to the balancer on 127.0.0.1; the nodes and Redis are reachable only
on the test's own compose network. The tests run in file order on one stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from chat_tools.clients import ChatClient, ResilientClient

from .conftest import wait_until_served
from .engine import Project

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

Stack = tuple[Project, str]
STALL_LIMIT = 1.0


def _room() -> str:
    return "dk-" + secrets.token_hex(4)


async def _get(url: str) -> tuple[int, CIMultiDict[str], str]:
    """One request on a new connection and without cookies: the balancer picks a node."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp,
    ):
        return resp.status, CIMultiDict(resp.headers), await resp.text()


def _connections(project: Project, container: str) -> int:
    """chat_connections of one replica, read from inside its container (the balancer
    refuses /metrics from outside)."""
    script = (
        "import urllib.request as u;"
        "print(u.urlopen('http://127.0.0.1:5000/metrics', timeout=5).read().decode())"
    )
    text = project.engine.run("exec", container, "python", "-c", script, timeout=30).stdout
    found = re.search(r"^chat_connections (\S+)$", text, re.M)
    assert found, text[-500:]
    return int(float(found.group(1)))


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout}s")
        await asyncio.sleep(0.2)


class TestThroughTheBalancer:
    async def test_healthz(self, stack: Stack) -> None:
        """/healthz answers 200 through HAProxy, from a named node."""
        _project, url = stack
        status, headers, body = await _get(url + "/healthz")
        assert (200, True) == (status, headers.get("X-Chat-Node", "").startswith("chat"))
        assert '"ok"' in body

    def test_published_on_loopback_only_and_redis_memory_capped(self, stack: Stack) -> None:
        """The balancer's port is bound to CHAT_LB_ADDRESS (127.0.0.1) and nothing else is
        published; Redis' container limit is 1 GiB, twice its maxmemory."""
        project, url = stack
        published = {
            service: project("port", service, "5000" if service != "redis" else "6379",
                             check=False, timeout=30).stdout.strip()
            for service in ("lb", "redis")
        }  # fmt: skip
        redis = project.containers("redis")[0]
        memory = project.engine.run(
            "inspect", "--format", "{{.HostConfig.Memory}}", redis, timeout=30
        ).stdout.strip()
        # `port` answers ":0" for a port that is not published.
        assert ({"lb": url.removeprefix("http://"), "redis": ":0"}, str(1024**3)) == (
            published,
            memory,
        )

    async def test_tls_with_a_self_signed_certificate(self, stack: Stack, tls: Path) -> None:
        """deploy/compose.tls.yml: HTTPS on its own published port, with HSTS."""
        project, _url = stack
        address = project("port", "lb", "5443", timeout=30).stdout.strip()
        context = ssl.create_default_context(cafile=str(tls))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"https://{address}/healthz", ssl=context) as resp,
        ):
            status, hsts = resp.status, resp.headers.get("Strict-Transport-Security")
        assert (200, "max-age=31536000", project.env["CHAT_LB_HTTPS_PORT"]) == (
            status,
            hsts,
            address.rsplit(":", 1)[1],
        )

    async def test_the_page_and_its_scripts(self, stack: Stack) -> None:
        """A room page and every script it loads (and the modules they import) answer 200."""
        _project, url = stack
        status, _headers, page = await _get(url + "/rooms/lobby")
        assert 200 == status
        pending = [src.split("?")[0] for src in re.findall(r'<script[^>]*src="([^"]+)"', page)]
        fetched: dict[str, int] = {}
        while pending:
            path = pending.pop()
            if path in fetched:
                continue
            status, headers, body = await _get(url + path)
            fetched[path] = status
            assert "javascript" in headers.get("Content-Type", ""), path
            base = path.rsplit("/", 1)[0]
            pending += [f"{base}/{m}" for m in re.findall(r'from "\./([\w.-]+\.js)"', body)]
        assert {"/static/vendor/socket.io.min.js", "/static/js/chat.js"} <= set(fetched)
        assert {} == {path: code for path, code in fetched.items() if code != 200}

    async def test_two_clients_on_two_replicas_chat(self, stack: Stack) -> None:
        """Two clients land on the two replicas (one connection each) and hear each other
        through Redis."""
        project, url = stack
        room = _room()
        ann, bob = ChatClient("ann"), ChatClient("bob")
        try:
            await ann.connect(url)
            await bob.connect(url)
            replicas = project.containers("chat")
            per_replica = sorted([_connections(project, c) for c in replicas])
            assert [1, 1] == per_replica
            assert True is (await ann.call("join", {"room": room, "name": "ann"}))["ok"]
            assert True is (await bob.call("join", {"room": room, "name": "bob"}))["ok"]
            reply = await ann.call("send_message", {"room": room, "text": "hello bob"})
            await bob.wait_for(lambda: bool(bob.messages(room)), timeout=10)
            assert ("hello bob", reply["message"]["id"]) == (
                bob.messages(room)[0]["text"],
                bob.messages(room)[0]["id"],
            )
        finally:
            await ann.close()
            await bob.close()

    async def test_scale_to_three_serves_the_third(self, stack: Stack) -> None:
        """`--scale chat=3`: HAProxy finds the new replica through DNS and sends it traffic."""
        project, url = stack
        project("up", "--detach", "--wait", "--no-recreate", "--scale", "chat=3", timeout=300)
        assert 3 == len(project.containers("chat"))
        seen: set[str] = set()

        async def three_served() -> bool:
            _status, headers, _body = await _get(url + "/healthz")
            seen.add(headers.get("X-Chat-Node", ""))
            return 3 == len(seen - {""})

        started = time.monotonic()
        await _eventually(three_served, 30, "the third replica serving")
        print(f"\nthird replica served {time.monotonic() - started:.1f}s after `up --wait`")


@dataclass
class Traffic:
    """Steady load while a replica stops: HTTP requests and acknowledged messages."""

    url: str
    senders: list[ResilientClient]
    http_seconds: list[float] = field(default_factory=list)
    http_failures: list[str] = field(default_factory=list)
    send_seconds: list[float] = field(default_factory=list)
    running: bool = True

    async def http_loop(self) -> None:
        while self.running:
            started = time.monotonic()
            try:
                status, _headers, _body = await _get(self.url + "/healthz")
                if status != 200:
                    self.http_failures.append(str(status))
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.http_failures.append(repr(exc))
            self.http_seconds.append(time.monotonic() - started)
            await asyncio.sleep(0.02)

    async def send_loop(self, sender: ResilientClient) -> None:
        n = 0
        while self.running:
            n += 1
            started = time.monotonic()
            await sender.send(f"{sender.name} {n}", deadline=30)
            self.send_seconds.append(time.monotonic() - started)
            await asyncio.sleep(0.25)


class TestReplicaStop:
    async def test_a_stopped_replica_stalls_nothing_and_loses_nothing(self, stack: Stack) -> None:
        """`docker stop` of a busy replica under traffic: no request waits more than 1 s,
        every acknowledged message reaches a watcher, the node exits 0 in its grace."""
        project, url = stack
        room = _room()
        senders = [ResilientClient([url], room, f"s{i}") for i in range(4)]
        watcher = ResilientClient([url], room, "watcher")
        for member in [*senders, watcher]:
            await member.start()
        traffic = Traffic(url, senders)
        loops = [asyncio.create_task(traffic.http_loop()) for _ in range(3)]
        loops += [asyncio.create_task(traffic.send_loop(s)) for s in senders]
        try:
            await asyncio.sleep(2)
            # Off the event loop: the traffic's timings must not include this test's own waits.
            counts = await asyncio.to_thread(
                lambda: {c: _connections(project, c) for c in project.containers("chat")}
            )
            busiest = max(counts, key=lambda c: counts[c])
            started = time.monotonic()
            await asyncio.to_thread(project.engine.run, "stop", "--time", "20", busiest)
            stop_seconds = time.monotonic() - started
            await asyncio.sleep(3)
        finally:
            traffic.running = False
            await asyncio.wait_for(asyncio.gather(*loops), 60)
        acked = sorted(i for s in senders for i in s.acked)

        async def all_shown() -> bool:
            return set(acked) <= set(watcher.ids())

        with contextlib.suppress(TimeoutError):
            await _eventually(all_shown, 20, "every acked message shown")
        lost = sorted(set(acked) - set(watcher.ids()))
        for member in [*senders, watcher]:
            await member.stop()
        state = project.engine.run(
            "inspect", "--format", "{{.State.ExitCode}}", busiest, timeout=30
        ).stdout.strip()
        longest = max(traffic.http_seconds)
        print(
            f"\nreplica stop: took {stop_seconds:.1f}s, exit code {state}; "
            f"{len(traffic.http_seconds)} requests, longest stall {longest:.3f}s, "
            f"failed {len(traffic.http_failures)}; {len(acked)} messages acked, "
            f"lost {len(lost)}, longest send {max(traffic.send_seconds):.3f}s"
        )
        assert ([], [], "0") == (lost, traffic.http_failures, state)
        assert longest < STALL_LIMIT
        assert stop_seconds < 5 + 10  # CHAT_DRAIN_DELAY + the drain's deadline


class TestRedisRestart:
    async def test_history_survives_a_redis_restart(self, stack: Stack) -> None:
        """Redis restarted on its volume (append-only file): a new member sees the history."""
        project, url = stack
        room = _room()
        ann = ChatClient("ann")
        try:
            await ann.connect(url)
            assert True is (await ann.call("join", {"room": room, "name": "ann"}))["ok"]
            sent = [
                (await ann.call("send_message", {"room": room, "text": f"m{i}"}))["message"]["id"]
                for i in range(3)
            ]
        finally:
            await ann.close()
        project("restart", "redis", timeout=120)
        await asyncio.to_thread(wait_until_served, url + "/readyz", 60)
        bob = ChatClient("bob")
        reply: dict[str, Any] = {}

        async def joined() -> bool:
            nonlocal reply
            await bob.close()
            try:
                await bob.connect(url)
                reply = await bob.call("join", {"room": room, "name": "bob"})
            except Exception:
                return False
            return bool(reply.get("ok"))

        try:
            await _eventually(joined, 30, "a join after the restart")
        finally:
            await bob.close()
        assert sent == [m["id"] for m in reply["history"]]


class TestDown:
    def test_down_removes_containers_volumes_and_networks(self, stack: Stack) -> None:
        """`down -v` leaves no container, volume or network of the project behind."""
        project, _url = stack
        project("down", "--volumes", "--timeout", "20", timeout=120)
        label = f"label=com.docker.compose.project={project.name}"
        left = [
            project.engine.run(*command, "--quiet", "--filter", label, timeout=30).stdout.split()
            for command in (("ps", "--all"), ("volume", "ls"), ("network", "ls"))
        ]
        assert [[], [], []] == left
