"""The shaping proxy: latency and jitter in order, a bandwidth cap, stalls, cuts, drops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from chat_tools.soak.link import LinkProxy, ProxyHost, Shape


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[LinkProxy]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    link = await LinkProxy(server.sockets[0].getsockname()[1], seed=3).start()
    yield link
    await link.stop()
    server.close()


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    started = time.monotonic()
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5)
    return time.monotonic() - started


async def test_latency_and_jitter_keep_the_order(proxy: LinkProxy) -> None:
    """100 ms each way plus jitter: a round trip of 200-300 ms, bytes in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.shape = Shape(latency=0.1, jitter=0.05)
    took = await _round_trip(reader, writer)
    assert 0.2 <= took < 0.6
    for i in range(50):
        writer.write(f"{i:02d}".encode())
        await asyncio.sleep(0.001)
    echoed = await asyncio.wait_for(reader.readexactly(100), 5)
    assert "".join(f"{i:02d}" for i in range(50)) == echoed.decode()
    writer.close()


async def test_bandwidth_cap(proxy: LinkProxy) -> None:
    """64 KiB through a 128 KiB/s cap each way takes about a second."""
    proxy.shape = Shape(bandwidth=128 * 1024)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    started = time.monotonic()
    writer.write(b"x" * 65536)
    await asyncio.wait_for(reader.readexactly(65536), 10)
    assert 0.4 <= time.monotonic() - started < 3
    writer.close()


async def test_a_stall_holds_everything_then_delivers(proxy: LinkProxy) -> None:
    """Nothing moves during a stall; all of it arrives after."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.stall(0.5)
    assert 0.5 <= await _round_trip(reader, writer) < 2
    writer.close()


async def test_a_cut_swallows_and_a_drop_resets(proxy: LinkProxy) -> None:
    """A cut connection hears nothing and stays open; a dropped one is reset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await _round_trip(reader, writer)
    proxy.cut = True
    writer.write(b"lost")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    assert False is reader.at_eof()
    proxy.cut = False
    fresh_reader, fresh_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await _round_trip(fresh_reader, fresh_writer)
    assert 2 == proxy.drop(1.0)
    assert b"" == await asyncio.wait_for(fresh_reader.read(10), 5)
    writer.close()
    fresh_writer.close()


async def test_a_host_runs_proxies_in_a_thread_of_their_own() -> None:
    """Proxies on the host's loop forward while this loop only awaits."""
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    host = ProxyHost()
    try:
        link = await asyncio.to_thread(host.add, server.sockets[0].getsockname()[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        await _round_trip(reader, writer)
        assert 1 == await host.acall(lambda: link.connections)
        writer.close()
    finally:
        await asyncio.to_thread(host.stop)
        server.close()
