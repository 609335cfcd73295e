"""Version 3 against real nodes: edits, deletions, replies, reactions and read positions,
on one memory node and across two nodes sharing one (fake) Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from chat_service.appkeys import RUNTIME, SERVICE
from chat_service.config import RateLimit
from chat_service.domain.ratelimit import TokenBucket
from chat_service.errors import ChatError
from chat_service.identity import Identity
from chat_tools.clients import ChatClient, ServedApp, http_get, make_settings

Connect = Callable[..., Any]
KEY_A = "a" * 16
KEY_B = "b" * 16


async def join(client: ChatClient, room: str, name: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("join", {"room": room, "name": name, **extra})
    assert reply["ok"], reply
    return reply


def code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])


async def say(client: ChatClient, text: str, **extra: Any) -> dict[str, Any]:
    reply = await client.call("send_message", {"room": "lobby", "text": text, **extra})
    assert reply["ok"], reply
    message: dict[str, Any] = reply["message"]
    return message


@pytest.fixture(params=["memory", "two-nodes"])
async def nodes(
    request: pytest.FixtureRequest, served: Callable[..., Any], fake_redis_factory: Any
) -> tuple[ServedApp, ServedApp]:
    """Two URLs: one memory node twice, or two nodes sharing one fake Redis."""
    if request.param == "memory":
        node: ServedApp = await served(make_settings(presence_grace=0))
        return node, node
    settings = make_settings(redis_url="redis://fake", presence_grace=0)
    a = await served(settings, redis=fake_redis_factory())
    b = await served(settings, redis=fake_redis_factory())
    return a, b


@pytest.fixture
async def pair(nodes: tuple[ServedApp, ServedApp], clients: Connect) -> tuple[ChatClient, ...]:
    """Ann on the first node and Bob on the second, both in `lobby` with keys."""
    ann = await clients(nodes[0].url, "ann")
    bob = await clients(nodes[1].url, "bob")
    await join(ann, "lobby", "Ann", key=KEY_A)
    await join(bob, "lobby", "Bob", key=KEY_B)
    return ann, bob


def client_bucket(nodes: tuple[ServedApp, ServedApp], client: ChatClient) -> TokenBucket:
    """The server's message allowance of one client's connection."""
    sid = client.sio.get_sid("/")
    for node in nodes:
        conn = node.app[SERVICE].connections.get(sid or "")
        if conn is not None and conn.bucket is not None:
            return conn.bucket
    raise AssertionError(f"no rate-limited connection {sid}")


def updated(client: ChatClient) -> list[dict[str, Any]]:
    return list(client.of("message_updated"))


class TestEdit:
    async def test_everyone_sees_the_edit(self, pair: tuple[ChatClient, ...]) -> None:
        """An edit answers the new message and reaches every member, the editor included."""
        ann, bob = pair
        sent = await say(ann, "helo")
        reply = await ann.call(
            "edit_message", {"room": "lobby", "id": sent["id"], "text": " hello "}
        )
        message = reply["message"]
        assert ("hello", 1, True) == (
            message["text"],
            message["v"],
            message["edited"] >= sent["ts"],
        )
        for client in (ann, bob):
            await client.wait_for(lambda c=client: len(updated(c)) == 1)
            assert [message] == updated(client)
        history = await bob.call("history", {"room": "lobby"})
        assert [message] == history["messages"]

    async def test_rules(self, pair: tuple[ChatClient, ...], clients: Connect) -> None:
        """Another user's message is forbidden; bad text, unknown ids, stale epochs and
        non-members are refused; a same-text edit changes nothing and sends nothing."""
        ann, bob = pair
        sent = await say(ann, "mine")
        base = {"room": "lobby", "id": sent["id"]}
        assert "forbidden" == code(await bob.call("edit_message", {**base, "text": "x"}))
        assert "invalid_text" == code(await ann.call("edit_message", {**base, "text": "  "}))
        assert "message_too_long" == code(
            await ann.call("edit_message", {**base, "text": "x" * 2001})
        )
        assert "bad_request" == code(await ann.call("edit_message", {**base}))
        assert "bad_request" == code(
            await ann.call("edit_message", {**base, "id": "1", "text": "x"})
        )
        assert "not_found" == code(await ann.call("edit_message", {**base, "id": 9, "text": "x"}))
        assert "not_found" == code(
            await ann.call("edit_message", {**base, "text": "x", "epoch": "stale"})
        )
        outsider = await clients(ann.sio.connection_url, "out")
        assert "not_in_room" == code(await outsider.call("edit_message", {**base, "text": "x"}))
        same = await ann.call("edit_message", {**base, "text": "mine", "epoch": sent["epoch"]})
        assert (True, sent) == (same["ok"], same["message"])
        await asyncio.sleep(0.2)
        assert ([], [sent]) == (
            updated(bob),
            (await bob.call("history", {"room": "lobby"}))["messages"],
        )

    async def test_same_user_other_connection_may_edit(
        self, nodes: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """The message belongs to the key: another tab of that user may edit it."""
        tab1, tab2 = await clients(nodes[0].url, "t1"), await clients(nodes[1].url, "t2")
        await join(tab1, "lobby", "Ann", key=KEY_A)
        await join(tab2, "lobby", "Ann", key=KEY_A)
        sent = await say(tab1, "x")
        reply = await tab2.call("edit_message", {"room": "lobby", "id": sent["id"], "text": "y"})
        assert "y" == reply["message"]["text"]

    async def test_keyless_connections_edit_only_their_own(
        self, nodes: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """Without a key, the message belongs to the connection that sent it."""
        first = await clients(nodes[0].url, "a")
        await join(first, "lobby", "Ann")
        sent = await say(first, "x")
        await first.close()
        again = await clients(nodes[0].url, "b")
        await join(again, "lobby", "Ann")
        reply = await again.call("edit_message", {"room": "lobby", "id": sent["id"], "text": "y"})
        assert "forbidden" == code(reply)

    async def test_edits_share_the_rate_limit(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """Edits that change the text take from the message allowance; same-text ones do not."""
        node = await served(make_settings(rate_limit=RateLimit(3, 60)))
        ann = await clients(node.url, "ann")
        await join(ann, "lobby", "Ann")
        sent = await say(ann, "a")
        base = {"room": "lobby", "id": sent["id"]}
        for _ in range(5):
            assert (await ann.call("edit_message", {**base, "text": "a"}))["ok"]
        assert (await ann.call("edit_message", {**base, "text": "b"}))["ok"]
        assert (await ann.call("react", {**base, "emoji": "👍", "on": True}))["ok"]
        limited = await ann.call("edit_message", {**base, "text": "c"})
        assert "rate_limited" == code(limited)
        assert 0 < limited["error"]["retry_after_ms"] <= 20_000  # one token: 60 s / 3
        read = await ann.call("mark_read", {"room": "lobby", "id": 1})
        assert 0 < read["error"]["retry_after_ms"] <= 20_000


class TestDelete:
    async def test_tombstone_reaches_everyone(self, pair: tuple[ChatClient, ...]) -> None:
        """A deletion answers the tombstone, sends it to all, and history shows it."""
        ann, bob = pair
        sent = await say(ann, "oops", client_id="c-1")
        reply = await ann.call("delete_message", {"room": "lobby", "id": sent["id"]})
        tombstone = {key: sent[key] for key in ("id", "room", "name", "ts", "epoch")} | {
            "v": 1,
            "text": "",
            "deleted": True,
        }
        assert tombstone == reply["message"]
        await bob.wait_for(lambda: len(updated(bob)) == 1)
        assert ([tombstone], [tombstone]) == (
            updated(bob),
            (await bob.call("history", {"room": "lobby"}))["messages"],
        )
        again = await ann.call("delete_message", {"room": "lobby", "id": sent["id"]})
        retry = await ann.call(
            "send_message", {"room": "lobby", "text": "oops", "client_id": "c-1"}
        )
        assert (tombstone, tombstone, True) == (
            again["message"],
            retry["message"],
            retry["duplicate"],
        )
        assert "not_found" == code(
            await ann.call("edit_message", {"room": "lobby", "id": sent["id"], "text": "x"})
        )

    async def test_only_the_user_or_a_moderator(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...]
    ) -> None:
        """Another user's deletion is forbidden unless its token makes it a moderator."""
        ann, bob = pair
        sent = await say(ann, "x")
        assert "forbidden" == code(
            await bob.call("delete_message", {"room": "lobby", "id": sent["id"]})
        )
        service = nodes[1].app[RUNTIME].service
        conn = service.connections[bob.sio.get_sid()]
        # As a token with the moderator role would make it (identity is off in this node).
        conn.identity = Identity("mod", "Bob", None, time.time() + 60, frozenset({"moderator"}))
        reply = await bob.call("delete_message", {"room": "lobby", "id": sent["id"]})
        assert reply["message"]["deleted"]


class TestReplies:
    async def test_reply_to(self, pair: tuple[ChatClient, ...]) -> None:
        """reply_to names a kept live message; unknown or deleted ones are not_found."""
        ann, bob = pair
        first = await say(ann, "question")
        answer = await say(bob, "answer", reply_to=first["id"])
        assert first["id"] == answer["reply_to"]
        await bob.wait_for(lambda: len(bob.messages()) == 2)
        assert answer == bob.messages()[1]
        for bad, expected in ((99, "not_found"), (0, "bad_request"), ("1", "bad_request")):
            reply = await bob.call("send_message", {"room": "lobby", "text": "x", "reply_to": bad})
            assert expected == code(reply)
        await ann.call("delete_message", {"room": "lobby", "id": first["id"]})
        reply = await bob.call(
            "send_message", {"room": "lobby", "text": "x", "reply_to": first["id"]}
        )
        assert "not_found" == code(reply)
        assert 2 == len((await bob.call("history", {"room": "lobby"}))["messages"])


class TestReactions:
    async def test_react_and_unreact(self, pair: tuple[ChatClient, ...]) -> None:
        """Reactions count users with names; a repeat changes nothing and sends nothing."""
        ann, bob = pair
        sent = await say(ann, "hi")
        base = {"room": "lobby", "id": sent["id"], "emoji": "👍🏽"}
        await ann.call("react", {**base, "on": True})
        both = (await bob.call("react", {**base, "on": True}))["message"]
        again = (await bob.call("react", {**base, "on": True}))["message"]
        assert ({"👍🏽": {"count": 2, "names": ["Ann", "Bob"]}}, 2, 2) == (
            both["reactions"],
            both["v"],
            again["v"],
        )
        off = (await ann.call("react", {**base, "on": False}))["message"]
        assert {"👍🏽": {"count": 1, "names": ["Bob"]}} == off["reactions"]
        await ann.wait_for(lambda: len(updated(ann)) == 3)
        await asyncio.sleep(0.2)
        assert [1, 2, 3] == [m["v"] for m in updated(ann)]

    @pytest.mark.parametrize("emoji", ["", "a b", "x" * 17, "\n", 5, None, "\ud800"])
    async def test_bad_emoji(self, pair: tuple[ChatClient, ...], emoji: Any) -> None:
        """Empty, spaced, over-long, control or non-string emoji are bad_request."""
        ann, _ = pair
        sent = await say(ann, "hi")
        reply = await ann.call(
            "react", {"room": "lobby", "id": sent["id"], "emoji": emoji, "on": True}
        )
        assert "bad_request" == code(reply)

    async def test_twenty_one_is_too_many(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """A 21st distinct reaction is bad_request."""
        node = await served(make_settings(rate_limit=None))
        ann = await clients(node.url, "ann")
        await join(ann, "lobby", "Ann")
        sent = await say(ann, "hi")
        for i in range(20):
            reply = await ann.call(
                "react", {"room": "lobby", "id": sent["id"], "emoji": chr(0x1F600 + i), "on": True}
            )
            assert reply["ok"]
        reply = await ann.call(
            "react", {"room": "lobby", "id": sent["id"], "emoji": "🚀", "on": True}
        )
        assert "bad_request" == code(reply)


class TestReads:
    async def test_positions_and_coalesced_events(self, pair: tuple[ChatClient, ...]) -> None:
        """mark_read only moves forward; others get at most one `read` a second, ending
        on the latest position."""
        ann, bob = pair
        for i in range(5):
            await say(ann, f"m{i}")
        replies = [await bob.call("mark_read", {"room": "lobby", "id": n}) for n in (1, 2, 4, 3)]
        assert [1, 2, 4, 4] == [r["last_read"] for r in replies]
        assert "bad_request" == code(await bob.call("mark_read", {"room": "lobby", "id": 6}))
        assert "bad_request" == code(await bob.call("mark_read", {"room": "lobby", "id": -1}))
        await ann.wait_for(lambda: len(ann.of("read")) == 2, timeout=3)
        await asyncio.sleep(0.3)
        assert [
            {"room": "lobby", "name": "Bob", "last_read": 1},
            {"room": "lobby", "name": "Bob", "last_read": 4},
        ] == ann.of("read")
        await bob.wait_for(lambda: len(bob.of("read")) == 2)

    async def test_a_stored_position_is_answered_when_its_event_fails(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """mark_read answers the position it stored even if the `read` event could not
        be published (not `unavailable`, which would say nothing was stored)."""
        node = await served(make_settings())
        ann = await clients(node.url, "ann")
        await join(ann, "lobby", "Ann", key=KEY_A)
        await say(ann, "m0")

        async def down(room: str, user: str, name: str) -> None:
            raise ChatError("unavailable", "The chat backend is unavailable.")

        node.app[SERVICE].store.publish_read = down  # type: ignore[method-assign]
        assert {"ok": True, "room": "lobby", "last_read": 1} == await ann.mark_read("lobby", 1)

    async def test_join_answers_reads(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...], clients: Connect
    ) -> None:
        """join answers the user's own last_read (any device) and the members' positions."""
        ann, bob = pair
        for i in range(3):
            await say(ann, f"m{i}")
        await bob.call("mark_read", {"room": "lobby", "id": 2})
        await ann.call("mark_read", {"room": "lobby", "id": 3})
        tab = await clients(nodes[0].url, "bob-tab")
        reply = await join(tab, "lobby", "Bob", key=KEY_B)
        assert (2, {"Ann": 3, "Bob": 2}) == (reply["last_read"], reply["reads"])
        stranger = await clients(nodes[1].url, "cy")
        assert (0, {"Ann": 3, "Bob": 2}) == (
            (r := await join(stranger, "lobby", "Cy"))["last_read"],
            r["reads"],
        )


class TestRecovery:
    async def test_rejoin_with_since_gets_the_changes(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...], clients: Connect
    ) -> None:
        """A member that was away rejoins with since: `updated` holds the current state of
        every changed message it already had, oldest first; new ones come in history."""
        ann, bob = pair
        first, second, third = [await say(ann, f"m{i}") for i in range(3)]
        await bob.close()
        await ann.call("edit_message", {"room": "lobby", "id": first["id"], "text": "m0!"})
        await ann.call("delete_message", {"room": "lobby", "id": third["id"]})
        newer = await say(ann, "m3")
        back = await clients(nodes[1].url, "bob2")
        reply = await join(back, "lobby", "Bob", key=KEY_B, since=third["id"], epoch=first["epoch"])
        assert ([newer["id"]], [(first["id"], "m0!"), (third["id"], "")]) == (
            [m["id"] for m in reply["history"]],
            [(m["id"], m["text"]) for m in reply["updated"]],
        )
        plain = await join(await clients(nodes[0].url, "cy"), "lobby", "Cy")
        assert ([], 4) == (plain["updated"], len(plain["history"]))
        assert second["id"] not in [m["id"] for m in reply["updated"]]

    async def test_http_history_shows_current_state(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...]
    ) -> None:
        """GET /api/rooms/{room}/messages returns messages as they are now."""
        ann, _ = pair
        sent = await say(ann, "x")
        edited = await ann.call("edit_message", {"room": "lobby", "id": sent["id"], "text": "y"})
        status, body = await http_get(f"{nodes[1].url}/api/rooms/lobby/messages")
        assert (200, [edited["message"]]) == (status, json.loads(body)["messages"])


class TestRetriesPerUser:
    async def test_a_repeat_is_answered_before_the_rate_limit(
        self, nodes: tuple[ServedApp, ServedApp], clients: Connect
    ) -> None:
        """A client_id repeat from a connection out of allowance answers the first message
        in its current state (from either node); a new message is still rate_limited."""
        ann = await clients(nodes[0].url, "ann")
        await join(ann, "lobby", "Ann", key=KEY_A)
        await say(ann, "x", client_id="c-1")
        assert (await ann.call("edit_message", {"room": "lobby", "id": 1, "text": "y"}))["ok"]
        tab = await clients(nodes[1].url, "ann-tab")
        await join(tab, "lobby", "Ann", key=KEY_A)
        for client in (ann, tab):
            bucket = client_bucket(nodes, client)
            while bucket.try_take(time.monotonic()):
                pass  # out of allowance
            repeat = await client.call(
                "send_message", {"room": "lobby", "text": "x", "client_id": "c-1"}
            )
            assert (True, 1, "y") == (
                repeat.get("duplicate"),
                repeat["message"]["v"],
                repeat["message"]["text"],
            ), repeat
            fresh = await client.call(
                "send_message", {"room": "lobby", "text": "z", "client_id": "c-2"}
            )
            assert "rate_limited" == code(fresh)

    async def test_a_new_holder_of_the_name_is_another_user(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """Version 3 matches client_id retries per user: after Ann (key A) leaves, Ann
        with key B reusing a client_id sends a new message."""
        node = await served(make_settings(presence_grace=0))
        first = await clients(node.url, "a")
        await join(first, "lobby", "Ann", key=KEY_A)
        sent = await say(first, "x", client_id="c-1")
        await first.call("leave", {"room": "lobby"})
        other = await clients(node.url, "b")
        await join(other, "lobby", "Ann", key=KEY_B)
        reply = await other.call("send_message", {"room": "lobby", "text": "x", "client_id": "c-1"})
        assert (False, sent["id"] + 1) == ("duplicate" in reply, reply["message"]["id"])


class TestServerApiUseCases:
    async def test_post_and_delete_as_the_api(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...]
    ) -> None:
        """The API posts system messages (retries per API name, reply_to checked) and
        deletes any message as a moderator; members see both."""
        ann, bob = pair
        changes = nodes[0].app[RUNTIME].service.changes
        sent = await say(ann, "hello")
        body = {"name": "Bot", "text": "welcome", "client_id": "b-1", "reply_to": sent["id"]}
        posted = await changes.post_system("Lobby", body)
        again = await changes.post_system("lobby", {**body, "name": "BOT"})
        assert (True, sent["id"], True) == (
            posted["message"]["system"],
            posted["message"]["reply_to"],
            again["duplicate"],
        )
        with pytest.raises(ChatError, match="not_found"):
            await changes.post_system("lobby", {**body, "client_id": None, "reply_to": 99})
        gone = await changes.delete_as_api("lobby", sent["id"])
        assert gone["message"]["deleted"]
        await bob.wait_for(lambda: len(bob.messages()) == 2 and len(updated(bob)) == 1)
        with pytest.raises(ChatError, match="not_found"):
            await changes.delete_as_api("lobby", 99)


class TestClientVersions:
    async def test_the_test_client_keeps_the_newest_version(
        self, nodes: tuple[ServedApp, ServedApp], pair: tuple[ChatClient, ...], clients: Connect
    ) -> None:
        """ChatClient keeps the highest v per (epoch, id) from events, acks and joins."""
        ann, bob = pair
        sent = (await ann.change("send_message", {"room": "lobby", "text": "a"}))["message"]
        await ann.edit("lobby", sent["id"], "b")
        await bob.react("lobby", sent["id"], "👍")
        await ann.wait_for(lambda: len(updated(ann)) == 2)
        assert [("b", 2)] == [(m["text"], m["v"]) for m in ann.versions.current("lobby")]
        late = await clients(nodes[1].url, "late")
        await late.join("lobby", "Late", since=sent["id"], epoch=sent["epoch"])
        assert [2] == [m["v"] for m in late.versions.current("lobby")]
        assert {"ok": True, "room": "lobby", "last_read": 1} == await bob.mark_read("lobby", 1)
        gone = await ann.delete("lobby", sent["id"])
        assert gone["message"] == ann.versions.current()[0]
