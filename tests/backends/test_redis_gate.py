"""The Redis call gate: a busy node queues its calls; only a failing Redis is `unavailable`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_service.backends.redis import RedisStore
from chat_service.backends.redis_clients import make_client
from chat_service.backends.redis_gate import RETRY_AFTER, CallGate
from chat_service.errors import BackendUnavailable, RateLimited
from chat_tools.procs import RedisServer


async def _hold(gate: CallGate, release: asyncio.Event) -> None:
    async with gate:
        await release.wait()


class TestCallGate:
    async def test_a_full_gate_queues_in_order(self) -> None:
        """Calls past the limit wait their turn and then run, first come first served."""
        gate = CallGate(in_flight=1, queue_timeout=5)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, release))
        await asyncio.sleep(0)
        order: list[int] = []

        async def call(n: int) -> None:
            async with gate:
                order.append(n)

        waiting = [asyncio.create_task(call(n)) for n in range(5)]
        await asyncio.sleep(0.05)
        assert ([], 5) == (order, gate.waiting)
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, *waiting), 2)
        assert [0, 1, 2, 3, 4] == order

    async def test_too_long_a_wait_sheds_with_retry_after(self) -> None:
        """Past the queue timeout, with Redis answering: rate_limited with retry_after_ms."""
        gate = CallGate(in_flight=1, queue_timeout=0.05)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, release))
        await asyncio.sleep(0)
        with pytest.raises(RateLimited) as caught:
            async with gate:
                pass
        release.set()
        await asyncio.wait_for(holder, 2)
        expected = {"code": "rate_limited", "retry_after_ms": round(RETRY_AFTER * 1000)}
        error = caught.value.to_ack()["error"]
        assert expected == {k: error[k] for k in expected}
        assert 1 == gate.shed

    async def test_a_failing_redis_is_unavailable_at_once(self) -> None:
        """With Redis failing, a call that would queue is answered `unavailable` at once."""
        gate = CallGate(in_flight=1, queue_timeout=5)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, release))
        await asyncio.sleep(0)
        gate.failed()
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            async with gate:
                pass
        assert time.monotonic() - started < 0.5
        gate.succeeded()
        release.set()
        await asyncio.wait_for(holder, 2)
        async with gate:
            assert False is gate.failing


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RedisStore]:
    server = RedisServer.start(tmp_path)
    made = RedisStore(make_client(server.url), node_id="busy")
    try:
        yield made
    finally:
        await made.close()
        server.stop()


@pytest.mark.redis
class TestSaturatedNode:
    async def test_a_node_too_busy_to_read_replies_is_never_unavailable(
        self, store: RedisStore
    ) -> None:
        """2,000 calls at once while the event loop is blocked 100 ms at a time for 3 s
        (longer than the pool's 2 s wait): every call is answered, none `unavailable`."""
        stop = time.monotonic() + 3.0

        async def hog() -> None:
            while time.monotonic() < stop:
                time.sleep(0.1)  # noqa: ASYNC251  # on purpose: a saturated loop reads replies late
                await asyncio.sleep(0)

        hogging = asyncio.create_task(hog())
        results = await asyncio.wait_for(
            asyncio.gather(
                *(store.members(f"room-{n % 50}") for n in range(2000)), return_exceptions=True
            ),
            60,
        )
        await hogging
        failures = [r for r in results if isinstance(r, Exception)]
        assert [] == failures
