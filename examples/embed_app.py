"""A small application that embeds the chat with identity on.

It logs a user in (any name: a real application checks a password or an SSO session),
then issues short-lived HS256 tokens signed with the secret it shares with the chat
nodes (CHAT_AUTH_SECRET). Two ways hand the token to the chat page:
- a link to `{chat}/rooms/{room}#token=JWT` (the fragment never reaches a server log);
- `GET /token`, fetched by the chat page with the user's cookie when the node runs with
  CHAT_AUTH_TOKEN_URL pointing here (so the page renews its token before it expires).

It also moderates through the chat's server API (CHAT_API_KEY, the same as the nodes'):
the moderator account (name EXAMPLE_MODERATOR, password EXAMPLE_MODERATOR_PASSWORD; no
moderator without a password) gets the `moderator` role in its tokens, so it can kick and
ban from the chat page, and an admin page here (`/admin`) that lists a room's members
and bans, bans and unbans, all server side.

    CHAT_AUTH_SECRET=... CHAT_API_KEY=... EXAMPLE_MODERATOR_PASSWORD=... \
    EXAMPLE_CHAT_URL=http://localhost:5000 python examples/embed_app.py

Then open http://localhost:8080, log in, and follow a room link.
"""

from __future__ import annotations

import html
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
from aiohttp import ClientSession, ClientTimeout, web

SECRET = os.environ.get("CHAT_AUTH_SECRET", "")
CHAT_URL = os.environ.get("EXAMPLE_CHAT_URL", "http://localhost:5000").rstrip("/")
TOKEN_TTL = int(os.environ.get("EXAMPLE_TOKEN_TTL", "600"))
ROOMS = ["lobby", "support"]  # what this application lets its users into
API_KEY = os.environ.get("CHAT_API_KEY", "")
MODERATOR = os.environ.get("EXAMPLE_MODERATOR", "moderator")
MODERATOR_PASSWORD = os.environ.get("EXAMPLE_MODERATOR_PASSWORD", "")
SESSIONS = web.AppKey("sessions", dict)
HTTP = web.AppKey("http", ClientSession)
ICON = '<link rel="icon" href="data:,">'  # no favicon request, no 404 in the console


def issue(sub: str, name: str) -> str:
    """A token for one user: who (sub), shown as (name), where (rooms), until (exp); the
    moderator's carries the role that lets it kick and ban."""
    claims = {"sub": sub, "name": name, "rooms": ROOMS, "exp": int(time.time()) + TOKEN_TTL}
    if sub == "moderator":
        claims["roles"] = ["moderator"]
    return jwt.encode(claims, SECRET, algorithm="HS256")


def user(request: web.Request) -> tuple[str, str] | None:
    sessions: dict[str, tuple[str, str]] = request.app[SESSIONS]
    return sessions.get(request.cookies.get("session", ""))


def page(body: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><title>Example app</title>{ICON}{body}", content_type="text/html"
    )


async def home(request: web.Request) -> web.Response:
    who = user(request)
    if who is None:
        body = (
            '<form method="post" action="/login"><label>Your name '
            '<input name="name" required maxlength="32"></label> '
            '<label>Password (moderator only) <input name="password" type="password"></label> '
            "<button>Log in</button></form>"
        )
    else:
        links = "".join(f'<li><a href="/chat/{room}">#{room}</a></li>' for room in ROOMS)
        admin = '<p><a href="/admin">Moderate</a></p>' if who[0] == "moderator" else ""
        body = f"<p>Logged in as {html.escape(who[1])}.</p><ul>{links}</ul>{admin}"
    return page(body)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()[:32] or "guest"
    password = str(form.get("password", ""))
    sub = f"user-{secrets.token_hex(6)}"
    if MODERATOR_PASSWORD and name == MODERATOR:
        if not secrets.compare_digest(password.encode(), MODERATOR_PASSWORD.encode()):
            raise web.HTTPSeeOther("/")
        sub = "moderator"
    session = secrets.token_urlsafe(24)
    request.app[SESSIONS][session] = (sub, name)
    response = web.HTTPSeeOther("/")
    response.set_cookie("session", session, httponly=True, samesite="Lax")
    raise response


async def chat(request: web.Request) -> web.Response:
    who = user(request)
    if who is None:
        raise web.HTTPSeeOther("/")
    room = request.match_info["room"]
    if room not in ROOMS:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"{CHAT_URL}/rooms/{room}#token={issue(*who)}")


async def token(request: web.Request) -> web.Response:
    """A fresh token for the logged-in user; CORS lets the chat page read it."""
    headers = {
        "Access-Control-Allow-Origin": CHAT_URL,
        "Access-Control-Allow-Credentials": "true",
        "Cache-Control": "no-store",
    }
    who = user(request)
    if who is None:
        return web.json_response({"error": "not logged in"}, status=401, headers=headers)
    return web.json_response({"token": issue(*who)}, headers=headers)


# The admin page: everything below goes through the chat's server API, server side.


async def chat_api(
    request: web.Request,
    method: str,
    path: str,
    body: dict[str, object] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One server-API call; the key never leaves this backend."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    http = request.app[HTTP]
    async with http.request(
        method, CHAT_URL + path, headers=headers, json=body, params=params
    ) as response:
        answer: dict[str, Any] = await response.json()
        return answer


def moderator(request: web.Request) -> None:
    who = user(request)
    if who is None or who[0] != "moderator":
        raise web.HTTPSeeOther("/")


def button(action: str, room: str, label: str, **fields: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="/admin/{action}" style="display:inline">'
        f'<input type="hidden" name="room" value="{room}">{hidden}<button>{label}</button></form>'
    )


def unban_target(ban: dict[str, Any]) -> dict[str, str]:
    return {"sub": ban["sub"]} if ban.get("sub") else {"name": ban["name"]}


async def admin(request: web.Request) -> web.Response:
    """A room's members (kick, ban for an hour) and bans in force (unban), and a ban form."""
    moderator(request)
    room = request.query.get("room", ROOMS[0])
    if room not in ROOMS:
        raise web.HTTPNotFound()
    members = await chat_api(request, "GET", f"/api/rooms/{room}/members")
    bans = await chat_api(request, "GET", f"/api/rooms/{room}/bans")
    if "error" in members or "error" in bans:
        return page(f"<p>The chat's server API answered: {html.escape(str(members))}</p>")
    rooms = " ".join(f'<a href="/admin?room={r}">#{r}</a>' for r in ROOMS)
    people = "".join(
        f"<li>{html.escape(name)} {button('kick', room, 'Kick', name=name)} "
        f"{button('ban', room, 'Ban 1 h', name=name, seconds='3600')}</li>"
        for name in members["members"]
    )
    banned = "".join(
        f"<li>{html.escape(ban['name'] or ban.get('sub') or '?')} until "
        f"{'unban' if ban['until'] is None else time.ctime(ban['until'] / 1000)} by "
        f"{html.escape(ban['by'])}: {html.escape(ban.get('reason', ''))} "
        f"{button('unban', room, 'Unban', **unban_target(ban))}</li>"
        for ban in bans["bans"]
    )
    form = (
        f'<form method="post" action="/admin/ban"><input type="hidden" name="room" value="{room}">'
        '<input name="name" placeholder="name" required> <input name="seconds" type="number" '
        'min="1" placeholder="seconds (empty: until unban)"> <input name="reason" '
        'maxlength="200" placeholder="reason"> <button>Ban</button></form>'
    )
    return page(
        f"<p>{rooms}</p><h1>#{room}</h1><h2>Members</h2><ul>{people}</ul>"
        f'<h2>Bans</h2><ul>{banned}</ul>{form}<p><a href="/">Back</a></p>'
    )


async def act(request: web.Request) -> web.Response:
    """Kick, ban or unban, then back to the admin page of that room."""
    moderator(request)
    form = await request.post()
    room = str(form.get("room", ""))
    if room not in ROOMS:
        raise web.HTTPNotFound()
    fields = {k: str(v) for k, v in form.items() if k in ("name", "sub", "reason") and v}
    action = request.match_info["action"]
    if action == "unban":
        await chat_api(request, "DELETE", f"/api/rooms/{room}/bans", params=fields)
    else:
        body: dict[str, object] = dict(fields)
        if action == "ban" and str(form.get("seconds", "")).isdigit():
            body["seconds"] = int(str(form["seconds"]))
        path = f"/api/rooms/{room}/{'bans' if action == 'ban' else 'kick'}"
        await chat_api(request, "POST", path, body)
    raise web.HTTPSeeOther(f"/admin?room={room}")


async def http_client(app: web.Application) -> AsyncIterator[None]:
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        app[HTTP] = session
        yield


def make_app() -> web.Application:
    if len(SECRET.encode()) < 32:
        raise SystemExit("set CHAT_AUTH_SECRET (at least 32 bytes), the same as the chat nodes'")
    app = web.Application()
    app[SESSIONS] = {}
    app.router.add_get("/", home)
    app.router.add_post("/login", login)
    app.router.add_get("/chat/{room}", chat)
    app.router.add_get("/token", token)
    app.router.add_get("/admin", admin)
    app.router.add_post("/admin/{action:kick|ban|unban}", act)
    app.cleanup_ctx.append(http_client)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("EXAMPLE_PORT", "8080")))
