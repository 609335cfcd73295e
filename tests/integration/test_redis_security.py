"""TLS and ACL users against a real redis-server: the settings reach the wire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chat_service.backends import open_backend
from chat_service.backends.base import Backend
from chat_service.errors import BackendUnavailable
from chat_tools.clients import make_settings
from chat_tools.procs import free_port, spawn, wait_for_port
from chat_tools.redis_topologies import (
    SENTINEL_PASSWORD,
    ClusterTopology,
    SentinelTopology,
    Tls,
    make_certs,
)

pytestmark = pytest.mark.redis


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path

    @property
    def tls(self) -> Tls:
        return Tls(self.ca, self.cert, self.key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    tls, other = make_certs(tmp_path_factory.mktemp("tls"))
    return Certs(tls.ca, tls.cert, tls.key, other)


def _redis(log_dir: Path, port: int, *extra: str) -> Any:
    argv = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra]
    process = spawn(f"redis-sec-{port}", argv, log_dir)
    wait_for_port(port)
    return process


@pytest.fixture(scope="module")
def tls_port(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server speaking TLS only."""
    port = free_port()
    process = _redis(
        tmp_path_factory.mktemp("tls-logs"),
        port,
        "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(certs.cert), "--tls-key-file", str(certs.key),
        "--tls-ca-cert-file", str(certs.ca), "--tls-auth-clients", "no",
    )  # fmt: skip
    yield port
    process.stop()


@pytest.fixture(scope="module")
def acl_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server whose default user is off; `chat` may touch chat:* keys and channels."""
    port = free_port()
    process = _redis(
        tmp_path_factory.mktemp("acl-logs"),
        port,
        "--port", str(port),
        "--user", "default", "off",
        "--user", "chat", "on", ">s3cret", "~chat:*", "&chat:*", "+@all", "-@dangerous",
    )  # fmt: skip
    yield port
    process.stop()


@pytest.fixture
async def backends() -> AsyncIterator[Any]:
    opened: list[Backend] = []

    def build(**settings: Any) -> Backend:
        backend = open_backend(make_settings(**settings), "n1")
        opened.append(backend)
        return backend

    yield build
    for backend in opened:
        await backend.store.close()


async def chat_works(backend: Backend) -> int:
    """Join, send, read back: the id of the message read back."""
    await backend.store.join("lobby", "u1", "Ann", "s1", None, None, 1, 50)
    await backend.store.append_message("lobby", "Ann", "hi", 2, "c1")
    return int((await backend.store.history("lobby", None, 5))[-1]["id"])


class TestTls:
    async def test_verified_with_the_ca_file(
        self, tls_port: int, certs: Certs, backends: Any
    ) -> None:
        """rediss:// with CHAT_REDIS_TLS_CA_FILE: certificate and host name verified."""
        url = f"rediss://127.0.0.1:{tls_port}/0"
        backend = backends(redis_url=url, redis_tls_ca_file=str(certs.ca))
        assert 1 == await chat_works(backend)

    async def test_wrong_ca_is_refused(self, tls_port: int, certs: Certs, backends: Any) -> None:
        """A server certificate not signed by the given CA: no connection."""
        url = f"rediss://127.0.0.1:{tls_port}/1"
        backend = backends(redis_url=url, redis_tls_ca_file=str(certs.other_ca))
        with pytest.raises(BackendUnavailable):
            await backend.store.ping()

    async def test_verification_off(self, tls_port: int, backends: Any) -> None:
        """CHAT_REDIS_TLS_VERIFY=false: encrypted without checking the certificate."""
        url = f"rediss://127.0.0.1:{tls_port}/2"
        backend = backends(redis_url=url, redis_tls_verify=False)
        assert 1 == await chat_works(backend)


class TestAcl:
    async def test_acl_user_with_least_privilege(self, acl_port: int, backends: Any) -> None:
        """A user limited to chat:* keys and channels, without dangerous commands, is
        enough for everything the store does, node sweeps included."""
        backend = backends(redis_url=f"redis://chat:s3cret@127.0.0.1:{acl_port}/0")
        assert 1 == await chat_works(backend)
        assert (False, 0, [("lobby", 1)]) == (
            await backend.store.heartbeat(),
            await backend.store.reap_dead_nodes(),
            await backend.store.rooms(),
        )

    async def test_wrong_password_is_unavailable(self, acl_port: int, backends: Any) -> None:
        """Bad credentials surface as `unavailable`, never as a crash."""
        backend = backends(redis_url=f"redis://chat:wrong@127.0.0.1:{acl_port}/0")
        with pytest.raises(BackendUnavailable):
            await backend.store.ping()


class TestTlsTopologies:
    """rediss+sentinel:// and rediss+cluster:// against TLS-only servers: the chat works
    through redis-py's Sentinel and Cluster clients with the CA file and the ACL user."""

    async def test_sentinel_over_tls(self, certs: Certs, backends: Any, tmp_path: Path) -> None:
        """Sentinels (with their own password), master and replica all speak TLS only."""
        topology = await asyncio.to_thread(SentinelTopology.start, tmp_path, certs.tls)
        try:
            settings = {
                "redis_url": topology.url,
                "redis_sentinel_password": SENTINEL_PASSWORD,
                "redis_prefix": f"tls-{uuid.uuid4().hex[:8]}:",
            }
            assert 1 == await chat_works(backends(redis_tls_ca_file=str(certs.ca), **settings))
            refused = backends(redis_tls_ca_file=str(certs.other_ca), **settings)
            with pytest.raises(BackendUnavailable):
                await refused.store.ping()
        finally:
            await asyncio.to_thread(topology.stop)

    async def test_cluster_over_tls(self, certs: Certs, backends: Any, tmp_path: Path) -> None:
        """Three masters speaking TLS only, cluster bus included."""
        topology = await asyncio.to_thread(ClusterTopology.start, tmp_path, False, certs.tls)
        try:
            backend = backends(
                redis_url=topology.url,
                redis_tls_ca_file=str(certs.ca),
                redis_prefix=f"tls-{uuid.uuid4().hex[:8]}:",
            )
            assert 1 == await chat_works(backend)
            assert topology.url.startswith("rediss+cluster://")
        finally:
            await asyncio.to_thread(topology.stop)
