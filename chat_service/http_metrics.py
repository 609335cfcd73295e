"""Time every HTTP request by its route pattern, so the label set stays bounded."""

from __future__ import annotations

from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler

from .appkeys import METRICS

# Engine.IO's endpoint (python-engineio's default path): a long poll is held open up to the
# ping interval and a websocket lives as long as its connection, so their duration says
# nothing about how fast the node answers. They are not timed.
SOCKETIO_PREFIX = "/socket.io"
UNMATCHED = "unmatched"


def route_label(request: web.Request) -> str | None:
    """The matched route's pattern (`/rooms/{room}`, never the path a client made up),
    `unmatched` for a 404 or 405, or None for Engine.IO requests."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED
    canonical = resource.canonical
    if canonical.startswith(SOCKETIO_PREFIX):
        return None
    return canonical


@web.middleware
async def time_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_label(request)
    if route is None:
        return await handler(request)
    start = perf_counter()
    try:
        return await handler(request)
    finally:
        request.app[METRICS].http_duration.labels(route).observe(perf_counter() - start)
