"""HTTP: the two pages, the JSON API, health, readiness and metrics."""

from __future__ import annotations

import hmac
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from . import __version__
from .appkeys import METRICS, RUNTIME, SERVICE, SETTINGS, TEMPLATES, VERIFIER
from .domain.validation import MAX_NAME, ROOM_RE
from .errors import ChatError
from .identity import Identity, Unauthorized, bearer
from .metrics import CONTENT_TYPE

# connect-src 'self' covers the page's own ws:/wss: origin (CSP Level 3): no other host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{token_origin}; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)


@lru_cache(maxsize=8)
def security_headers_for(token_url: str | None) -> dict[str, str]:
    """The hardening headers; the page may also fetch its token from `token_url`'s origin."""
    origin = ""
    if token_url:
        parsed = urlsplit(token_url)
        origin = f" {parsed.scheme}://{parsed.netloc}"
    return {
        "Content-Security-Policy": CSP.format(token_origin=origin),
        "X-Content-Type-Options": "nosniff",
        # The token travels in the page's fragment, which browsers never send in Referer.
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def web_dir(configured: str | None) -> Path:
    """templates/, static/ and node_modules/ of the browser side.

    CHAT_WEB_DIR wins; then the copy a built package carries (setup.py puts it beside this
    module); then the checkout's web/, for a source tree or an editable install.
    """
    if configured:
        return Path(configured)
    packaged = Path(__file__).resolve().parent / "web"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "web"


def make_templates(root: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(root / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(asset_version=__version__, **context)
    return web.Response(text=html, content_type="text/html", status=status)


def room_suggestion(raw: str) -> str | None:
    """A valid room close to an invalid one ("my room" -> "my-room"), or None."""
    candidate = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-")[:32].lower()
    return candidate if ROOM_RE.fullmatch(candidate) else None


def _room_not_found(request: web.Request, room: str) -> web.Response:
    """A page a person can act on (why, and a link home) with the 404 a crawler needs."""
    return _render(
        request,
        "not_found.html",
        status=404,
        reason=f"There is no room called \u201c{room[:64]}\u201d.",
        suggestion=room_suggestion(room),
    )


def _identity_context(request: web.Request) -> dict[str, Any]:
    """What the pages need to know about identity: on or off, and where tokens come from."""
    settings = request.app[SETTINGS]
    return {"identity": settings.identity_on, "token_url": settings.auth_token_url or ""}


async def landing(request: web.Request) -> web.Response:
    return _render(
        request,
        "index.html",
        name=request.query.get("name", "")[:MAX_NAME],
        room=request.query.get("room", "")[:32],
        max_name=MAX_NAME,
        **_identity_context(request),
    )


async def room_page(request: web.Request) -> web.StreamResponse:
    room = request.match_info["room"]
    if not ROOM_RE.fullmatch(room):
        return _room_not_found(request, room)
    if room != room.lower():
        target = request.rel_url.with_path(f"/rooms/{room.lower()}").with_query(request.query)
        raise web.HTTPMovedPermanently(location=str(target))
    settings = request.app[SETTINGS]
    return _render(
        request,
        "room.html",
        room=room,
        name=request.query.get("name", "")[:64],
        max_text=settings.max_text,
        max_name=MAX_NAME,
        **_identity_context(request),
    )


_STATUS = {
    "unavailable": 503,
    "internal": 500,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
}


def api_error(exc: ChatError) -> web.Response:
    """The error object with its HTTP status, for the user API and the server API alike."""
    status = _STATUS.get(exc.code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else None
    return web.json_response(
        {"error": {"code": exc.code, "message": exc.message}}, status=status, headers=headers
    )


def _viewer(request: web.Request) -> Identity | None:
    """With identity on, the API needs `Authorization: Bearer` with a valid token."""
    verifier = request.app[VERIFIER]
    if verifier is None:
        return None
    try:
        return verifier.verify(bearer(request.headers.get("Authorization")))
    except Unauthorized as exc:
        raise ChatError("unauthorized", str(exc)) from None


def _query_int(request: web.Request, field: str) -> int | None:
    raw = request.query.get(field)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ChatError("bad_request", f"Query parameter '{field}' must be an integer.") from None


async def api_rooms(request: web.Request) -> web.Response:
    try:
        reply = await request.app[SERVICE].list_rooms(None, {}, _viewer(request))
    except ChatError as exc:
        return api_error(exc)
    return web.json_response({"rooms": reply["rooms"]})


async def api_messages(request: web.Request) -> web.Response:
    try:
        viewer = _viewer(request)
        payload: dict[str, Any] = {"room": request.match_info["room"]}
        for field in ("limit", "before"):
            value = _query_int(request, field)
            if value is not None:
                payload[field] = value
        reply = await request.app[SERVICE].history(None, payload, viewer)
    except ChatError as exc:
        request.app[METRICS].errors.labels(exc.code).inc()
        return api_error(exc)
    return web.json_response({"room": reply["room"], "messages": reply["messages"]})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    reason = await request.app[RUNTIME].not_ready_reason()
    if reason is None:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "unavailable", "reason": reason}, status=503)


async def metrics(request: web.Request) -> web.Response:
    """Open unless CHAT_METRICS_TOKEN is set; then only for `Authorization: Bearer TOKEN`."""
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return api_error(ChatError("unauthorized", "/metrics needs its bearer token."))
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """The hardening headers on every answer but Engine.IO's, raised ones (404, 405,
    301) included."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        _harden(request, exc)
        raise
    _harden(request, response)
    return response


def _harden(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/socket.io") or response.prepared:
        return
    headers = security_headers_for(request.app[SETTINGS].auth_token_url)
    for header, value in headers.items():
        response.headers.setdefault(header, value)
    if request.path.startswith("/static/"):
        # ES modules import each other without a version in the URL: revalidate them
        # so a deploy never mixes old and new modules.
        response.headers.setdefault("Cache-Control", "no-cache")


def setup_routes(app: web.Application, root: Path) -> None:
    vendor = root / "node_modules" / "socket.io-client" / "dist"

    async def socketio_client(request: web.Request) -> web.FileResponse:
        name = request.match_info["file"]
        if name not in ("socket.io.min.js", "socket.io.min.js.map"):
            raise web.HTTPNotFound()
        path = vendor / name
        if not path.is_file():
            raise web.HTTPNotFound(
                text="socket.io-client is not installed: run npm ci --prefix web"
            )
        return web.FileResponse(path)

    app.router.add_get("/", landing)
    app.router.add_get("/rooms/{room}", room_page)
    app.router.add_get("/api/rooms", api_rooms)
    app.router.add_get("/api/rooms/{room}/messages", api_messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/static/vendor/{file}", socketio_client)
    app.router.add_static("/static/", root / "static", append_version=False)
