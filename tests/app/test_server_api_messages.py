"""The server API's message routes: system posts, retries, deletions, bad input, audit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import test_moderation_events as events
import test_server_api
from test_moderation_events import member, token
from test_server_api import call

from chat_tools.clients import ServedApp

Connect = Callable[..., Any]
# The user API (GET .../messages) takes a user's token: identity is on in these nodes.
READER = {"Authorization": f"Bearer {token('u-reader', 'Reader')}"}
pair = events.pair  # node A and node B: one memory node, or two sharing a fake Redis
http = test_server_api.http  # an aiohttp session; `call` sends the API key unless told


class TestPost:
    async def test_system_message_reaches_every_node(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """A post is stored with `system: true`, answered 201 and delivered like any message."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        body = {"name": "Notices", "text": "The meeting starts in 5 minutes", "client_id": "n-1"}
        status, reply = await call(http, "POST", b.url + "/api/rooms/Lobby/messages", body)
        message = reply["message"]
        assert (201, True, "Notices", "lobby", 0) == (
            status,
            message["system"],
            message["name"],
            message["room"],
            message["v"],
        )
        await ann.wait_for(lambda: bool(ann.of("message")))
        assert [message] == ann.of("message")

    async def test_repeat_answers_the_first(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """A repeated client_id is 200 with the first message and `duplicate`; nothing sent."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        body = {"name": "Notices", "text": "once", "client_id": "n-1"}
        first = await call(http, "POST", a.url + "/api/rooms/lobby/messages", body)
        again = await call(http, "POST", b.url + "/api/rooms/lobby/messages", body | {"text": "x"})
        assert (201, 200) == (first[0], again[0])
        assert {"message": first[1]["message"], "duplicate": True} == again[1]
        await ann.wait_for(lambda: bool(ann.of("message")))
        assert [first[1]["message"]] == ann.of("message")

    async def test_name_is_not_reserved(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """The API may post under a member's name; the member keeps it."""
        a, _ = pair
        await member(clients, a.url, token("u-ann", "Ann"))
        status, reply = await call(
            http, "POST", a.url + "/api/rooms/lobby/messages", {"name": "Ann", "text": "hi"}
        )
        assert (201, "Ann") == (status, reply["message"]["name"])
        members = await call(http, "GET", a.url + "/api/rooms/lobby/members")
        assert (200, ["Ann"]) == (members[0], members[1]["members"])

    async def test_reply_to(
        self, pair: tuple[ServedApp, ServedApp], http: aiohttp.ClientSession
    ) -> None:
        """`reply_to` names a kept message; an unknown one is 404 not_found."""
        a, b = pair
        url = "/api/rooms/lobby/messages"
        _, first = await call(http, "POST", a.url + url, {"name": "N", "text": "q"})
        status, answer = await call(
            http,
            "POST",
            b.url + url,
            {"name": "N", "text": "a", "reply_to": first["message"]["id"]},
        )
        assert (201, first["message"]["id"]) == (status, answer["message"]["reply_to"])
        status, refused = await call(
            http, "POST", b.url + url, {"name": "N", "text": "a", "reply_to": 99}
        )
        assert (404, "not_found") == (status, refused["error"]["code"])


class TestDelete:
    async def test_tombstone_reaches_every_node(
        self, pair: tuple[ServedApp, ServedApp], clients: Connect, http: aiohttp.ClientSession
    ) -> None:
        """The API deletes anyone's message: the tombstone is answered and sent as an update."""
        a, b = pair
        ann = await member(clients, a.url, token("u-ann", "Ann"))
        sent = await ann.call("send_message", {"room": "lobby", "text": "oops"})
        msg_id = sent["message"]["id"]
        status, reply = await call(http, "DELETE", b.url + f"/api/rooms/lobby/messages/{msg_id}")
        tomb = reply["message"]
        assert (200, True, "", 1) == (status, tomb["deleted"], tomb["text"], tomb["v"])
        await ann.wait_for(lambda: bool(ann.of("message_updated")))
        assert [tomb] == ann.of("message_updated")
        again = await call(http, "DELETE", a.url + f"/api/rooms/lobby/messages/{msg_id}")
        assert (200, {"message": tomb}) == again

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/api/rooms/lobby/messages/99", (404, "not_found")),
            ("/api/rooms/lobby/messages/1e3", (400, "bad_request")),
            ("/api/rooms/lobby/messages/-1", (400, "bad_request")),
            ("/api/rooms/lobby/messages/%D9%A1", (400, "bad_request")),
            ("/api/rooms/no%20room/messages/1", (400, "invalid_room")),
        ],
    )
    async def test_bad_ids(
        self,
        pair: tuple[ServedApp, ServedApp],
        http: aiohttp.ClientSession,
        path: str,
        expected: tuple[int, str],
    ) -> None:
        """Only a decimal id of a kept message is deleted; anything else changes nothing."""
        a, _ = pair
        await call(http, "POST", a.url + "/api/rooms/lobby/messages", {"name": "N", "text": "t"})
        status, reply = await call(http, "DELETE", a.url + path)
        assert expected == (status, reply["error"]["code"])
        _, kept = await call(http, "GET", a.url + "/api/rooms/lobby/messages", headers=READER)
        assert ["t"] == [m["text"] for m in kept["messages"]]


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"text": "t"}, "bad_request"),
            ({"name": "N"}, "bad_request"),
            ({"name": "N", "text": "  "}, "invalid_text"),
            ({"name": "N", "text": "x" * 2001}, "message_too_long"),
            ({"name": "N\u200b", "text": "t"}, "invalid_name"),
            ({"name": "N", "text": "t", "client_id": "no spaces"}, "bad_request"),
            ([1], "bad_request"),
        ],
    )
    async def test_codes(
        self,
        pair: tuple[ServedApp, ServedApp],
        http: aiohttp.ClientSession,
        body: Any,
        expected: str,
    ) -> None:
        """Bad posts answer 400 with their code and store nothing."""
        a, _ = pair
        status, reply = await call(http, "POST", a.url + "/api/rooms/lobby/messages", body)
        assert (400, expected) == (status, reply["error"]["code"])
        _, kept = await call(http, "GET", a.url + "/api/rooms/lobby/messages", headers=READER)
        assert [] == kept["messages"]

    async def test_needs_the_key(
        self, pair: tuple[ServedApp, ServedApp], http: aiohttp.ClientSession
    ) -> None:
        """Without the key both routes are 401; the user API's GET stays open."""
        a, _ = pair
        post = await call(
            http, "POST", a.url + "/api/rooms/lobby/messages", {"name": "N", "text": "t"}, {}
        )
        delete = await call(http, "DELETE", a.url + "/api/rooms/lobby/messages/1", headers={})
        assert (401, 401) == (post[0], delete[0])


class TestAudit:
    async def test_writes_are_audited(
        self,
        pair: tuple[ServedApp, ServedApp],
        http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A post and a deletion are one audit line each, without the message text."""
        a, _ = pair
        caplog.set_level(logging.INFO, logger="chat_service.audit")
        _, posted = await call(
            http, "POST", a.url + "/api/rooms/lobby/messages", {"name": "N", "text": "secret"}
        )
        await call(http, "DELETE", a.url + f"/api/rooms/lobby/messages/{posted['message']['id']}")
        lines = [r for r in caplog.records if r.name == "chat_service.audit"]
        assert ["post_message", "delete_message"] == [getattr(r, "audit", None) for r in lines]
        assert all("secret" not in r.getMessage() for r in lines)
