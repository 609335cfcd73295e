"""A small application that embeds the chat with identity on.

It logs a user in (any name: a real application checks a password or an SSO session),
then issues short-lived HS256 tokens signed with the secret it shares with the chat
nodes (CHAT_AUTH_SECRET). Two ways hand the token to the chat page:
- a link to `{chat}/rooms/{room}#token=JWT` (the fragment never reaches a server log);
- `GET /token`, fetched by the chat page with the user's cookie when the node runs with
  CHAT_AUTH_TOKEN_URL pointing here (so the page renews its token before it expires).

    CHAT_AUTH_SECRET=... EXAMPLE_CHAT_URL=http://localhost:5000 python examples/embed_app.py

Then open http://localhost:8080, log in, and follow a room link.
"""

from __future__ import annotations

import html
import os
import secrets
import time

import jwt
from aiohttp import web

SECRET = os.environ.get("CHAT_AUTH_SECRET", "")
CHAT_URL = os.environ.get("EXAMPLE_CHAT_URL", "http://localhost:5000").rstrip("/")
TOKEN_TTL = int(os.environ.get("EXAMPLE_TOKEN_TTL", "600"))
ROOMS = ["lobby", "support"]  # what this application lets its users into
SESSIONS = web.AppKey("sessions", dict)
ICON = '<link rel="icon" href="data:,">'  # no favicon request, no 404 in the console


def issue(sub: str, name: str) -> str:
    """A token for one user: who (sub), shown as (name), where (rooms), until (exp)."""
    claims = {"sub": sub, "name": name, "rooms": ROOMS, "exp": int(time.time()) + TOKEN_TTL}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def user(request: web.Request) -> tuple[str, str] | None:
    sessions: dict[str, tuple[str, str]] = request.app[SESSIONS]
    return sessions.get(request.cookies.get("session", ""))


async def home(request: web.Request) -> web.Response:
    who = user(request)
    if who is None:
        body = (
            '<form method="post" action="/login"><label>Your name '
            '<input name="name" required maxlength="32"></label> <button>Log in</button></form>'
        )
    else:
        links = "".join(f'<li><a href="/chat/{room}">#{room}</a></li>' for room in ROOMS)
        body = f"<p>Logged in as {html.escape(who[1])}.</p><ul>{links}</ul>"
    return web.Response(
        text=f"<!doctype html><title>Example app</title>{ICON}{body}", content_type="text/html"
    )


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()[:32] or "guest"
    session = secrets.token_urlsafe(24)
    request.app[SESSIONS][session] = (f"user-{secrets.token_hex(6)}", name)
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


def make_app() -> web.Application:
    if len(SECRET.encode()) < 32:
        raise SystemExit("set CHAT_AUTH_SECRET (at least 32 bytes), the same as the chat nodes'")
    app = web.Application()
    app[SESSIONS] = {}
    app.router.add_get("/", home)
    app.router.add_post("/login", login)
    app.router.add_get("/chat/{room}", chat)
    app.router.add_get("/token", token)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("EXAMPLE_PORT", "8080")))
