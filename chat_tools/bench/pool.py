"""Load-generator processes driven over pipes, so the generator is not the bottleneck.

The parent speaks to each worker in rounds: it waits until every worker has sent a
message of one kind (`gather`), then answers all of them (`broadcast`). While it waits
it prints the workers' progress once a second. Workers are spawned, not forked, so a
parent with threads or a running event loop is safe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Sequence
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Generic, TypeVar

PlanT = TypeVar("PlanT")
Progress = tuple[int, int, int]  # sent, delivered, errors


class BenchFailure(RuntimeError):
    """A generator process failed; the message says which and why."""


class Link:
    """The worker's end of its pipe, awaitable from the worker's event loop."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def send(self, kind: str, payload: Any = None) -> None:
        self._conn.send((kind, payload))

    async def recv(self, kind: str) -> Any:
        # A thread, not loop.add_reader: uvloop would make the pipe non-blocking, and a
        # large result then fails to send with EAGAIN.
        got, payload = await asyncio.to_thread(self._conn.recv)
        if got != kind:
            raise BenchFailure(f"expected {kind!r} from the parent, got {got!r}")
        return payload


def run_worker(
    body: Callable[[Any, Link], Coroutine[Any, Any, None]], plan: Any, conn: Connection
) -> None:
    """A worker process's entry point: run `body` on the fastest loop at hand."""
    link = Link(conn)
    try:
        try:
            import uvloop  # optional dependency (the `fast` extra)

            factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
        except ImportError:
            factory = None
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(body(plan, link))
    except BaseException:
        link.send("error", traceback.format_exc())
        raise
    finally:
        conn.close()


class Pool(Generic[PlanT]):
    """One spawned process per plan, each running `body(plan, link)`."""

    def __init__(
        self,
        body: Callable[[PlanT, Link], Coroutine[Any, Any, None]],
        plans: Sequence[PlanT],
        on_progress: Callable[[float, Progress], None] | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for index, plan in enumerate(plans):
            parent, child = context.Pipe()
            proc = context.Process(
                target=run_worker, args=(body, plan, child), name=f"bench-{index}", daemon=True
            )
            self._conns.append(parent)
            self._procs.append(proc)
        self._progress: list[Progress] = [(0, 0, 0)] * len(plans)
        self._on_progress = on_progress
        self._started = time.monotonic()
        self._last_report = self._started

    def __enter__(self) -> Pool[PlanT]:
        for proc in self._procs:
            proc.start()
        self._started = self._last_report = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self._conns:
            conn.close()

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs if proc.pid is not None]

    def broadcast(self, kind: str, payload: Any = None) -> None:
        for conn in self._conns:
            conn.send((kind, payload))

    def gather(self, kind: str, timeout: float) -> list[Any]:
        """Each worker's next `kind` payload, in worker order; progress in between."""
        deadline = time.monotonic() + timeout
        replies: dict[int, Any] = {}
        index_of = {id(conn): index for index, conn in enumerate(self._conns)}
        while len(replies) < len(self._conns):
            waiting = [conn for i, conn in enumerate(self._conns) if i not in replies]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchFailure(f"generator processes did not report {kind!r} in {timeout}s")
            for conn in wait(waiting, timeout=min(remaining, 0.25)):
                assert isinstance(conn, Connection)
                index = index_of[id(conn)]
                try:
                    got, payload = conn.recv()
                except EOFError:
                    raise BenchFailure(f"generator process {index} exited") from None
                if got == "progress":
                    self._progress[index] = payload
                elif got == "error":
                    raise BenchFailure(f"generator process {index} failed:\n{payload}")
                elif got == kind:
                    replies[index] = payload
                else:
                    raise BenchFailure(f"expected {kind!r} from process {index}, got {got!r}")
            self._report()
        return [replies[index] for index in range(len(self._conns))]

    def _report(self) -> None:
        now = time.monotonic()
        if self._on_progress is None or now - self._last_report < 1.0:
            return
        self._last_report = now
        totals = tuple(sum(column) for column in zip(*self._progress, strict=True))
        self._on_progress(now - self._started, (totals[0], totals[1], totals[2]))


def print_progress(elapsed: float, progress: Progress) -> None:
    """The once-a-second status line on stderr."""
    sent, delivered, errors = progress
    print(
        f"[{elapsed:6.1f}s] sent {sent} delivered {delivered} errors {errors}",
        file=sys.stderr,
        flush=True,
    )
