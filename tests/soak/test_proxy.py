"""The black-hole proxy: forwards, then swallows without closing, then forwards again."""

from __future__ import annotations

import asyncio
import contextlib

from chat_tools.soak.proxy import BlackHoleProxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_hole_swallows_old_connections_and_lets_new_ones_through() -> None:
    """A connection caught in the hole stays silent and open; a later one works."""
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = await BlackHoleProxy(server.sockets[0].getsockname()[1]).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"one")
        assert b"one" == await asyncio.wait_for(reader.read(3), 5)
        proxy.hole(True)
        writer.write(b"two")
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(3), 0.5)
            answered = True
        except TimeoutError:
            answered = False
        assert (False, False) == (answered, reader.at_eof())
        proxy.hole(False)
        fresh_reader, fresh_writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        fresh_writer.write(b"three")
        assert b"three" == await asyncio.wait_for(fresh_reader.read(5), 5)
        writer.close()
        fresh_writer.close()
    finally:
        await proxy.stop()
        server.close()
