"""The node's background loops back off with the one `Backoff`, and never die."""

from __future__ import annotations

import asyncio

import pytest

from chat_service.app import create_app
from chat_service.appkeys import RUNTIME
from chat_service.config import Settings
from chat_service.errors import BackendUnavailable


async def test_failures_in_a_row_double_the_wait_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each failure in a row doubles the 1 s cadence up to 5 s; a success restores it,
    and an unexpected error is retried like an outage."""
    runtime = create_app(Settings(host="127.0.0.1", port=0))[RUNTIME]
    outcomes: list[Exception | None] = [
        BackendUnavailable(), BackendUnavailable(), BackendUnavailable(), None,
        RuntimeError("bug"), None,
    ]  # fmt: skip
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def step() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not outcomes:
            runtime._stopping = True
        await real_sleep(0)

    monkeypatch.setattr("chat_service.node.asyncio.sleep", sleep)
    await asyncio.wait_for(runtime._loop("probe", 1.0, step), timeout=5)
    assert [2.0, 4.0, 5.0, 1.0, 2.0, 1.0] == waits
