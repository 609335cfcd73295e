"""A loopback TCP proxy that can black-hole its traffic without closing anything.

A stalled network path (a dead Wi-Fi, a NAT that forgot the mapping, a silently
dropped route) neither delivers nor resets: bytes go in and nothing comes out. Closing
a socket would be a different, easier failure, so this proxy keeps every connection
open and simply stops forwarding, in one direction or both, until it is told to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 65_536


@dataclass
class _Link:
    """One proxied connection: the client side and the upstream side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    upstream_stalled: bool = False  # client -> server bytes are dropped
    downstream_stalled: bool = False  # server -> client bytes are dropped


class BlackholeProxy:
    """Forwards 127.0.0.1:<port> to `target_port` until told to black-hole traffic."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.links: list[_Link] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.stall_new = False  # connections opened while this is set start stalled
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> BlackholeProxy:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stall(self, *, upstream: bool = True, downstream: bool = True) -> None:
        """Open connections stop forwarding the given directions; new ones forward nothing."""
        for link in self.links:
            link.upstream_stalled = link.upstream_stalled or upstream
            link.downstream_stalled = link.downstream_stalled or downstream
        self.stall_new = True

    def resume_new(self) -> None:
        """Connections opened from now on forward again; stalled ones stay stalled.

        As after a real outage, a connection that lost packets is not revived: the client
        must notice it is dead and open a new one.
        """
        self.stall_new = False

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for link in self.links:
            for task in link.tasks:
                task.cancel()
            for writer in (link.client, link.upstream):
                writer.close()
        for link in self.links:
            for task in link.tasks:
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
        if self.server is not None:
            await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        link = _Link(writer, up_writer, upstream_stalled=self.stall_new)
        link.downstream_stalled = self.stall_new
        self.links.append(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, link, upstream=False)),
        ]

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                stalled = link.upstream_stalled if upstream else link.downstream_stalled
                if stalled:
                    continue  # swallowed: neither delivered nor refused
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # A stalled direction keeps its peer open: the far side must find out alone.
            stalled = link.upstream_stalled if upstream else link.downstream_stalled
            if not stalled:
                writer.close()
