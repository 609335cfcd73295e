"""The shipped HAProxy config terminating TLS, for real, with a certificate made by the test.

HAProxy runs deploy/haproxy/haproxy.cfg unchanged in front of one real node; only the
CHAT_LB_* variables differ between the cases.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from chat_tools.localcluster import COMPOSE_UPSTREAMS, DEPLOY_DIR, LB_CONFIG, find_haproxy
from chat_tools.localcluster import render_upstreams as render
from chat_tools.procs import ManagedProcess, Node, free_port, spawn, wait_for_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (HAProxy's PEM: chain then key), and a
    client context that trusts exactly it."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem = folder / "lb.pem"
    pem.write_text(cert.read_text() + key.read_text())
    return pem, ssl.create_default_context(cafile=str(cert))


Start = Callable[[str], tuple[str, str]]


@pytest.fixture
def balancer(
    node_process: Node, certificate: tuple[Path, ssl.SSLContext], tmp_path: Path
) -> Iterator[Start]:
    """start(mode) runs HAProxy with the certificate and CHAT_LB_PLAIN_HTTP=mode; returns
    the plain and the TLS base URL."""
    started: list[ManagedProcess] = []

    def start(mode: str) -> tuple[str, str]:
        plain, tls = free_port(), free_port()
        upstreams = tmp_path / "upstreams.cfg"
        template = (DEPLOY_DIR / COMPOSE_UPSTREAMS).read_text()
        upstreams.write_text(render(template, [("127.0.0.1", node_process.port)]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_LB_")}
        env |= {
            "CHAT_LB_BIND": f"127.0.0.1:{plain}",
            "CHAT_LB_TLS_BIND": f"127.0.0.1:{tls}",
            "CHAT_LB_TLS_CERT": str(certificate[0]),
            "CHAT_LB_HTTPS_PORT": str(tls),
            "CHAT_LB_PLAIN_HTTP": mode,
        }
        argv = [find_haproxy(), "-db", "-f", str(DEPLOY_DIR / LB_CONFIG), "-f", str(upstreams)]
        process = spawn(f"haproxy-tls-{mode}", argv, tmp_path, env)
        started.append(process)
        wait_for_port(plain)
        wait_for_port(tls)
        return f"http://127.0.0.1:{plain}", f"https://127.0.0.1:{tls}"

    yield start
    for process in started:
        process.stop()


async def _get(url: str, context: ssl.SSLContext) -> tuple[int, dict[str, str], str]:
    """One request, redirects not followed; retried while HAProxy's first check is pending."""
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(
                url, ssl=context, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                if resp.status != 503:
                    return resp.status, dict(resp.headers), await resp.text()
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} stayed 503")


class TestTls:
    async def test_tls_serves_the_node_with_hsts(
        self, balancer: Start, certificate: tuple[Path, ssl.SSLContext]
    ) -> None:
        """HTTPS with the given certificate reaches the node; HSTS is sent over TLS."""
        _plain, tls = balancer("redirect")
        status, headers, body = await _get(tls + "/healthz", certificate[1])
        assert (200, '{"status": "ok"}') == (status, body)
        assert "max-age=31536000" == headers.get("Strict-Transport-Security")

    async def test_websocket_over_tls(
        self, balancer: Start, certificate: tuple[Path, ssl.SSLContext]
    ) -> None:
        """A Socket.IO WebSocket opens through the TLS listener (Engine.IO's open packet)."""
        _plain, tls = balancer("redirect")
        await _get(tls + "/healthz", certificate[1])  # the node is in the pool
        url = tls.replace("https", "wss") + "/socket.io/?EIO=4&transport=websocket"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, ssl=certificate[1], timeout=aiohttp.ClientWSTimeout(5)) as ws,
        ):
            first = await ws.receive_str(timeout=5)
        assert first.startswith('0{"sid"')

    async def test_plain_http_is_redirected(
        self, balancer: Start, certificate: tuple[Path, ssl.SSLContext]
    ) -> None:
        """CHAT_LB_PLAIN_HTTP=redirect (the default): 308 to the same path and query on
        the HTTPS port."""
        plain, tls = balancer("redirect")
        status, headers, _body = await _get(plain + "/rooms/lobby?x=1", certificate[1])
        assert (308, tls + "/rooms/lobby?x=1") == (status, headers.get("Location"))

    async def test_plain_http_is_refused(
        self, balancer: Start, certificate: tuple[Path, ssl.SSLContext]
    ) -> None:
        """CHAT_LB_PLAIN_HTTP=refuse: 403 on plain HTTP, while TLS serves."""
        plain, tls = balancer("refuse")
        refused, _h, _b = await _get(plain + "/healthz", certificate[1])
        served, _h, _b = await _get(tls + "/healthz", certificate[1])
        assert (403, 200) == (refused, served)

    async def test_plain_http_can_be_served_too(
        self, balancer: Start, certificate: tuple[Path, ssl.SSLContext]
    ) -> None:
        """CHAT_LB_PLAIN_HTTP=serve: both listeners serve (TLS terminated elsewhere too)."""
        plain, tls = balancer("serve")
        plain_status, headers, _b = await _get(plain + "/healthz", certificate[1])
        tls_status, _h, _b = await _get(tls + "/healthz", certificate[1])
        assert (200, 200, None) == (
            plain_status,
            tls_status,
            headers.get("Strict-Transport-Security"),
        )

    def test_an_unknown_mode_is_refused_by_haproxy(
        self, certificate: tuple[Path, ssl.SSLContext], tmp_path: Path
    ) -> None:
        """A misspelt CHAT_LB_PLAIN_HTTP stops HAProxy with a message naming the variable."""
        upstreams = tmp_path / "upstreams.cfg"
        template = (DEPLOY_DIR / COMPOSE_UPSTREAMS).read_text()
        upstreams.write_text(render(template, [("127.0.0.1", 1)]))
        env = {
            **os.environ,
            "CHAT_LB_BIND": "127.0.0.1:1",
            "CHAT_LB_TLS_CERT": str(certificate[0]),
            "CHAT_LB_PLAIN_HTTP": "redirct",
        }
        argv = [find_haproxy(), "-c", "-f", str(DEPLOY_DIR / LB_CONFIG), "-f", str(upstreams)]
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, env=env, timeout=30
        )
        assert (True, True) == (
            result.returncode != 0,
            "CHAT_LB_PLAIN_HTTP must be redirect, refuse or serve" in result.stderr,
        )
