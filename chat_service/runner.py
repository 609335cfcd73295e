"""Run one node until SIGTERM/SIGINT, then leave the balancers (CHAT_DRAIN_DELAY), drain
and exit 0 within the deadline."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from aiohttp import web

from .app import create_app
from .appkeys import RUNTIME
from .config import Settings
from .logs import AccessLog, setup_logging, tag_node

logger = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (by a signal when not given)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    tag_node(app[RUNTIME].node_id)
    # By the time aiohttp waits for handlers the drain has closed every client; what is
    # left are requests in flight and transports whose peer is slow to hang up.
    handler_grace = min(1.0, settings.shutdown_timeout)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=handler_grace, **http_limits(settings)
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    host, port = bound_address(runner, settings)
    logger.info("listening on http://%s:%s", host, port, extra={"host": host, "port": port})
    await stop.wait()
    await leave_balancers(app, settings, stop)
    logger.info("stopping: no new connections, draining")
    try:
        await asyncio.wait_for(runner.cleanup(), settings.shutdown_timeout + 1.0)
    except TimeoutError:
        logger.warning("drain did not finish in time; exiting anyway")
    logger.info("stopped")


def http_limits(settings: Settings) -> dict[str, Any]:
    """What aiohttp's request handler is given against slow and oversized clients.

    aiohttp arms `keepalive_timeout` when a connection opens and again after each
    response, and closes the connection if no complete request line and headers arrived
    by then: one bound for a silent socket, a client dribbling its headers, and an idle
    keep-alive connection (its default, 3630 s, assumes a proxy in front). A request in
    progress (a long poll, a websocket) is not affected. Lines and header fields keep
    aiohttp's 8190-byte caps (an over-long one is answered 400).
    """
    return {
        "keepalive_timeout": settings.http_keepalive_timeout,
        "max_line_size": 8190,
        "max_field_size": 8190,
        "access_log_class": AccessLog,
        "access_log": logging.getLogger("aiohttp.access") if settings.access_log else None,
    }


async def leave_balancers(app: web.Application, settings: Settings, stop: asyncio.Event) -> None:
    """Fail /readyz and keep serving for CHAT_DRAIN_DELAY: a balancer that checks every
    second sees the node go and stops sending it anything before it drains, instead of
    finding a closed port. A second signal ends the wait at once."""
    delay = settings.drain_delay
    if delay <= 0:
        return
    app[RUNTIME].announce_stop()
    logger.info("stopping: /readyz fails now; serving %.1fs more before draining", delay)
    stop.clear()
    try:
        await asyncio.wait_for(stop.wait(), delay)
        logger.info("second stop signal: draining now")
    except TimeoutError:
        pass


def bound_address(runner: web.AppRunner, settings: Settings) -> tuple[str, int]:
    """Where the node really listens: with CHAT_PORT=0 the kernel picked the port."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return settings.host, int(address[1])
    return settings.host, settings.port


def run_node(settings: Settings) -> int:
    setup_logging(settings.log_level, settings.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        print(
            f"chat-service: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0
