"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait for them, re-cancelling any that swallowed it."""
    for _ in range(50):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    logger.error("background tasks did not stop: %s", [t.get_name() for t in tasks if not t.done()])
