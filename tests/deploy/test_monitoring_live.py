"""A real Prometheus (Debian's, from scripts/install-system-deps) scrapes a real node with
the shipped static config and rules, and runs every dashboard query. All on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from chat_tools.clients import ChatClient, ServedApp
from chat_tools.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "monitoring" / "prometheus"
DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana" / "dashboards" / "chat.json"


@pytest.fixture
def prometheus(tmp_path: Path, node: ServedApp) -> Iterator[str]:
    """Prometheus on a free port scraping `node` every second, with the alert rules; the
    static config as shipped but for the target and the token file (this node has none)."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.static.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    job = config["scrape_configs"][0]
    job.pop("authorization")
    job["static_configs"] = [{"targets": [f"127.0.0.1:{node.port}"]}]
    shutil.copytree(PROMETHEUS_DIR / "rules", tmp_path / "rules")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
async def api(prometheus: str) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:

        async def get(path: str, **params: str) -> Any:
            async with session.get(prometheus + path, params=params) as resp:
                body = await resp.json()
                assert "success" == body["status"], body
                return body["data"]

        yield get


async def eventually(check: Any, timeout: float = 30.0) -> Any:
    """Retry an async check until it returns something truthy (Prometheus starts, scrapes
    and evaluates on its own schedule)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
        except (aiohttp.ClientError, AssertionError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("Prometheus did not get there in time")
        await asyncio.sleep(0.5)


async def traffic(node: ServedApp) -> None:
    ann = await ChatClient("ann").connect(node.url)
    bob = await ChatClient("bob").connect(node.url)
    try:
        await ann.call("join", {"room": "lobby", "name": "ann"})
        await bob.call("join", {"room": "lobby", "name": "bob"})
        await ann.call("send_message", {"room": "lobby", "text": "hi"})
        await bob.wait_for(lambda: bool(bob.messages("lobby")), timeout=5.0)
    finally:
        await ann.close()
        await bob.close()


class TestLivePrometheus:
    async def test_scrape_rules_and_dashboard(self, node: ServedApp, api: Any) -> None:
        """The node is scraped, the rules load and evaluate, every panel's query runs."""
        await traffic(node)

        async def scraped() -> Any:
            found = await api("/api/v1/query", query='chat_build_info{job="chat"}')
            return found["result"]

        build = await eventually(scraped)
        assert "1" == build[0]["value"][1]
        up = await api("/api/v1/query", query='up{job="chat"}')
        assert ["1"] == [r["value"][1] for r in up["result"]]

        async def evaluated() -> Any:
            groups = (await api("/api/v1/rules"))["groups"]
            rules = [r for g in groups for r in g["rules"]]
            # A rule never evaluated shows the zero time, 0001-01-01T00:00:00Z.
            done = rules and all(r["lastEvaluation"] > "2000" for r in rules)
            return rules if done else None

        rules = await eventually(evaluated)
        assert [] == [r["name"] for r in rules if r["health"] != "ok"]
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        assert [] == firing

        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        for expr in exprs:
            await api("/api/v1/query", query=expr.replace("$__rate_interval", "1m"))
        sent = await api("/api/v1/query", query='chat_delivery_latency_seconds_count{job="chat"}')
        assert ["1"] == [r["value"][1] for r in sent["result"]]
