"""The server API: the embedding application's backend acts on the chat over HTTP.

Off unless CHAT_API_KEY is set; every route then needs `Authorization: Bearer <key>`,
compared in constant time. Errors are the protocol's error object with its status:
401 `unauthorized`, 404 `not_found`, 400 for bad input, 503 `unavailable`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .appkeys import METRICS, MODERATION, SERVICE, SETTINGS
from .domain import moderation as mod
from .domain import validation as v
from .errors import ChatError
from .identity import bearer
from .routes import api_error

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[Any]]


def _check_key(request: web.Request) -> None:
    key = request.app[SETTINGS].api_key
    given = bearer(request.headers.get("Authorization")) or ""
    # compare_digest on bytes: constant time whatever the given key holds.
    if key is None or not hmac.compare_digest(given.encode(), key.encode()):
        raise ChatError("unauthorized", "The server API needs its key as a Bearer token.")


def _guarded(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Key check first; every ChatError becomes its error object; nothing else leaks."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            _check_key(request)
            reply = await handler(request)
        except ChatError as exc:
            request.app[METRICS].errors.labels(exc.code).inc()
            return api_error(exc)
        except Exception:
            logger.exception("server API %s %s failed", request.method, request.path)
            request.app[METRICS].errors.labels("internal").inc()
            return api_error(ChatError("internal", "Something went wrong on the server."))
        return reply if isinstance(reply, web.Response) else web.json_response(reply)

    return guarded


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise ChatError("bad_request", "The body must be a JSON object.") from None
    except web.HTTPRequestEntityTooLarge:
        raise ChatError("bad_request", "The body is too large.") from None
    return v.require_object(payload)


def _room(request: web.Request) -> str:
    return v.room_name(request.match_info["room"])


async def post_message(request: web.Request) -> web.Response:
    """201 with the stored system message; 200 with `duplicate` for a `client_id` repeat."""
    room, data = _room(request), await _body(request)
    reply = await request.app[SERVICE].changes.post_system(room, data)
    body: dict[str, Any] = {"message": reply["message"]}
    if reply.get("duplicate"):
        body["duplicate"] = True
        return web.json_response(body, status=200)
    return web.json_response(body, status=201)


async def delete_message(request: web.Request) -> dict[str, Any]:
    room, raw = _room(request), request.match_info["id"]
    # Only plain decimal digits are an id: "1e3", " 7" or "+7" are bad_request.
    msg_id: Any = int(raw) if raw.isascii() and raw.isdigit() else raw
    reply = await request.app[SERVICE].changes.delete_as_api(room, msg_id)
    return {"message": reply["message"]}


async def members(request: web.Request) -> dict[str, Any]:
    reply = await request.app[MODERATION].members(_room(request))
    return {"room": reply["room"], "members": reply["members"]}


async def kick(request: web.Request) -> dict[str, Any]:
    room, data = _room(request), await _body(request)
    moderation = request.app[MODERATION]
    target = mod.target(data, identity_on=moderation.identity_on)
    reason = mod.reason(data.get("reason"))
    await moderation.remove(room, mod.API_BY, target, reason, banned=False)
    return {"ok": True}


async def ban(request: web.Request) -> dict[str, Any]:
    room, data = _room(request), await _body(request)
    moderation = request.app[MODERATION]
    target = mod.target(data, identity_on=moderation.identity_on)
    length = mod.seconds(data.get("seconds"))
    reason = mod.reason(data.get("reason"))
    until = await moderation.remove(room, mod.API_BY, target, reason, banned=True, length=length)
    return {"until": until}


async def bans(request: web.Request) -> dict[str, Any]:
    room = _room(request)
    return {"room": room, "bans": await request.app[MODERATION].list_bans(room)}


async def unban(request: web.Request) -> dict[str, Any]:
    room = _room(request)
    moderation = request.app[MODERATION]
    query = {field: request.query[field] for field in ("name", "sub") if field in request.query}
    target = mod.target(query, identity_on=moderation.identity_on)
    await moderation.lift(room, mod.API_BY, target)
    return {"ok": True}


async def disconnect(request: web.Request) -> dict[str, Any]:
    closed = await request.app[MODERATION].disconnect(request.match_info["sub"])
    return {"disconnected": closed}


def setup_api(app: web.Application) -> None:
    """The server API's routes. `POST .../messages` shares its path with the user API's
    `GET` (routes.py): aiohttp picks the route by method."""
    app.router.add_post("/api/rooms/{room}/messages", _guarded(post_message))
    app.router.add_delete("/api/rooms/{room}/messages/{id}", _guarded(delete_message))
    app.router.add_get("/api/rooms/{room}/members", _guarded(members))
    app.router.add_post("/api/rooms/{room}/kick", _guarded(kick))
    app.router.add_post("/api/rooms/{room}/bans", _guarded(ban))
    app.router.add_get("/api/rooms/{room}/bans", _guarded(bans))
    app.router.add_delete("/api/rooms/{room}/bans", _guarded(unban))
    app.router.add_post("/api/users/{sub}/disconnect", _guarded(disconnect))
