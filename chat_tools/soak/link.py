"""A loopback TCP proxy that makes a link bad on demand: cut (a partition), slow (added
latency and jitter, order kept), stalled for a while, capped in bandwidth, or its
connections dropped. This kernel has no netem; a proxy does the same to the bytes.

The soak puts one between each node and Redis (a partial partition cuts one of them; a
slow Redis delays all of them) and one in front of a share of the people (a lossy,
jittery mobile link). The proxies live in a thread of their own (`ProxyHost`), so they
are up before the cluster starts and keep forwarding while the soak's loop is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

CHUNK = 16384
T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    """What a healthy link is made into; the zero shape forwards as fast as it can."""

    latency: float = 0.0  # seconds added in each direction (half the round trip)
    jitter: float = 0.0  # up to this many seconds more per chunk; order is kept
    bandwidth: int = 0  # bytes per second per connection and direction; 0: no cap


HEALTHY = Shape()


class _Pipe:
    """One direction of one connection: chunks leave in order, each at its due time."""

    def __init__(self, proxy: LinkProxy, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.writer = writer
        self.queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        self.last_due = 0.0
        self.wire_free = 0.0  # when the capped link has sent what it was given

    def push(self, data: bytes) -> None:
        shape, now = self.proxy.shape, time.monotonic()
        sent = now
        if shape.bandwidth:
            sent = self.wire_free = max(now, self.wire_free) + len(data) / shape.bandwidth
        due = sent + shape.latency + self.proxy.rng.uniform(0.0, shape.jitter)
        due = max(due, self.last_due)  # never overtakes the chunk before it
        self.last_due = due
        self.queue.put_nowait((due, data))

    async def drain(self) -> None:
        while (item := await self.queue.get()) is not None:
            due, data = item
            # A stall can be lengthened while we wait: look again after each sleep.
            while (wait := max(due, self.proxy.stalled_until) - time.monotonic()) > 0:  # noqa: ASYNC110  # a deadline, not an event
                await asyncio.sleep(wait)
            self.writer.write(data)
            await self.writer.drain()


class LinkProxy:
    """127.0.0.1:port -> 127.0.0.1:target_port, shaped by `shape`, cut while `cut`.

    A cut swallows bytes without closing anything, as a partition does: connections
    that carried traffic during it stay dead for good (only timeouts notice), new ones
    connect to the proxy and hear nothing until it is lifted.
    """

    def __init__(self, target_port: int, seed: int = 0) -> None:
        self.target_port = target_port
        self.port = 0
        self.shape = HEALTHY
        self.cut = False
        self.stalled_until = 0.0
        self.rng = random.Random(seed)
        self.drops = 0
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.StreamWriter, asyncio.StreamWriter] = {}
        self._dead: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def connections(self) -> int:
        return len(self._open)

    async def start(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stall(self, seconds: float) -> None:
        """Nothing moves for `seconds` (a tunnel, a handover); then it all arrives."""
        self.stalled_until = max(self.stalled_until, time.monotonic() + seconds)

    def drop(self, share: float = 1.0) -> int:
        """Reset a share of the open connections, as a lost mobile link does."""
        dropped = 0
        for client in list(self._open):
            if self.rng.random() < share:
                transport = client.transport
                if isinstance(transport, asyncio.WriteTransport):
                    transport.abort()
                dropped += 1
        self.drops += dropped
        return dropped

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), 5
            )
        except (OSError, TimeoutError):
            writer.close()
            return
        self._open[writer] = up_writer
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._forward(src, _Pipe(self, dst), writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forward(
        self, src: asyncio.StreamReader, pipe: _Pipe, client: asyncio.StreamWriter
    ) -> None:
        sending = asyncio.create_task(pipe.drain())
        try:
            while data := await src.read(CHUNK):
                if self.cut:
                    self._dead.add(client)
                if client in self._dead:
                    continue  # swallowed: the connection is in the partition for good
                pipe.push(data)
            pipe.queue.put_nowait(None)
            await sending
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sending.cancel()
            self._dead.discard(client)
            for writer in (client, self._open.pop(client, None)):
                if writer is not None:
                    writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _returning(fn: Callable[[], T]) -> T:
    return fn()


class ProxyHost:
    """An event loop in a thread of its own that runs proxies; `call` runs a function
    on it from any thread (the soak's loop, a blocking fault, a test)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.proxies: list[LinkProxy] = []

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, target_port: int, seed: int = 0) -> LinkProxy:
        proxy = self._run(LinkProxy(target_port, seed).start())
        self.proxies.append(proxy)
        return proxy

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the proxies' loop from a thread that is not running a loop."""
        return self._run(_returning(fn))

    async def acall(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the proxies' loop from another event loop, without blocking it."""
        future = asyncio.run_coroutine_threadsafe(_returning(fn), self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), 10)

    def stop(self) -> None:
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                self._run(proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
