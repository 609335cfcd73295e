"""Fixtures of the browser tier: headless Debian Chromium and a Redis + two-node cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import async_playwright

from chat_tools.procs import Node, RedisServer, cluster

from .blackhole import BlackholeProxy
from .support import CHROMIUM, CHROMIUM_ARGS, Pages


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, list[Node]]]:
    """One private Redis and two nodes sharing it, for the whole browser tier."""
    with cluster(2, tmp_path_factory.mktemp("browser-pair")) as running:
        yield running


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    """A fresh headless Chromium (never downloaded: Debian's binary) for one test."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield Pages(browser)
        finally:
            await browser.close()


@pytest.fixture
def node(node_process: Node) -> Node:
    """A node process of the test's own (the in-process `node` of other tiers will not do:
    the page needs a real port, and the landing page must list only this test's rooms)."""
    return node_process


@pytest.fixture
async def proxy(node: Node) -> AsyncIterator[BlackholeProxy]:
    """A black-hole-able TCP path from the browser to the node."""
    started = await BlackholeProxy(node.port).start()
    try:
        yield started
    finally:
        await started.close()
