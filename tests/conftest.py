"""Fixtures shared by every tier: settings, served apps, clients, private redis-server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from chat_service.app import create_app
from chat_service.config import Settings
from chat_tools.clients import ChatClient, ServedApp, make_settings
from chat_tools.procs import Node, RedisServer
from chat_tools.redis_topologies import ClusterTopology, SentinelTopology

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI a missing tool fails the run: nothing may skip silently."""
    if os.environ.get("CI"):
        tools = ("redis-server", "haproxy", "node", "/usr/bin/chromium")
        missing = [t for t in tools if shutil.which(t) is None]
        if missing:
            raise pytest.UsageError(f"CI needs {missing} installed")


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    return make_settings


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Any]]:
    """Start apps built by the real factory on free ports; stopped at the end."""
    apps: list[ServedApp] = []

    async def start(settings: Settings | None = None, **create_kwargs: Any) -> ServedApp:
        app = create_app(settings or make_settings(), **create_kwargs)
        served_app = await ServedApp(app).start()
        apps.append(served_app)
        return served_app

    yield start
    for served_app in reversed(apps):
        await served_app.stop()


@pytest.fixture
async def node(served: Callable[..., Any]) -> ServedApp:
    """One memory-backed node."""
    result: ServedApp = await served()
    return result


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    """Connected ChatClients, closed at the end."""
    made: list[ChatClient] = []

    async def connect(url: str, name: str = "client", **kwargs: Any) -> ChatClient:
        client = ChatClient(name)
        made.append(client)
        return await client.connect(url, **kwargs)

    yield connect
    for client in made:
        await client.close()


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def fake_redis_factory(fake_server: fakeredis.FakeServer) -> Callable[[], Any]:
    """New client connections to one shared fake Redis: one per simulated node."""

    def make() -> Any:
        return fakeredis.FakeAsyncRedis(server=fake_server, decode_responses=True)

    return make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private real redis-server for the session."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis-logs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterTopology]:
    """A private 3-master + 3-replica Redis Cluster for the session."""
    topology = ClusterTopology.start(tmp_path_factory.mktemp("cluster-logs"))
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    """A private master + replica watched by three sentinels, for the session."""
    topology = SentinelTopology.start(tmp_path_factory.mktemp("sentinel-logs"))
    yield topology
    topology.stop()


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[Node]:
    """One chat-service node process of this test's own: in memory, default settings."""
    started = Node.start(tmp_path)
    try:
        yield started
    finally:
        started.process.stop()
