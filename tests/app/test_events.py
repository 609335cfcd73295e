"""Every client event of the contract against a real node (memory backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_tools.clients import ChatClient, ServedApp, make_settings

Connect = Callable[..., Any]


def error(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
    return str(reply["error"]["code"])


async def joined(connect: Connect, url: str, room: str, name: str) -> ChatClient:
    client: ChatClient = await connect(url, name)
    reply = await client.call("join", {"room": room, "name": name})
    assert reply["ok"] is True, reply
    return client


class TestJoin:
    async def test_reply_shape(self, node: ServedApp, clients: Connect) -> None:
        """join answers with room (lower case), name, sorted members, history and (version
        3) updated, last_read and reads."""
        ann = await joined(clients, node.url, "lobby", "ann")
        bob = await clients(node.url, "bob")
        reply = await bob.call("join", {"room": "LOBBY", "name": "  Bob "})
        assert {
            "ok": True,
            "room": "lobby",
            "name": "Bob",
            "epoch": reply["epoch"],
            "members": ["Bob", "ann"],
            "history": [],
            "updated": [],
            "last_read": 0,
            "reads": {},
        } == reply
        assert isinstance(reply["epoch"], str) and reply["epoch"]
        await ann.wait_for(lambda: len(ann.of("user_joined")) == 1)
        assert "Bob" == ann.of("user_joined")[0]["name"]
        assert [] == bob.of("user_joined")

    async def test_rejoin_is_idempotent(self, node: ServedApp, clients: Connect) -> None:
        """Joining again gives the same reply and no second user_joined."""
        watcher = await joined(clients, node.url, "lobby", "w")
        ann = await clients(node.url, "ann")
        first = await ann.call("join", {"room": "lobby", "name": "ann"})
        second = await ann.call("join", {"room": "lobby", "name": "ann"})
        await ann.call("send_message", {"room": "lobby", "text": "x"})
        await watcher.wait_for(lambda: len(watcher.messages()) == 1)
        assert first == second
        assert 1 == len(watcher.of("user_joined"))

    async def test_name_taken(self, node: ServedApp, clients: Connect) -> None:
        """Names are unique per room, case-insensitively."""
        await joined(clients, node.url, "lobby", "Ann")
        other = await clients(node.url)
        assert "name_taken" == error(await other.call("join", {"room": "lobby", "name": "ANN"}))
        assert {"ok": True, "room": "lobby", "members": ["Ann"]} == await other.call(
            "members", {"room": "lobby"}
        )

    async def test_many_rooms_one_connection(self, node: ServedApp, clients: Connect) -> None:
        """One connection may be in several rooms with a name per room."""
        c = await clients(node.url)
        assert "x" == (await c.call("join", {"room": "a", "name": "x"}))["name"]
        assert "y" == (await c.call("join", {"room": "b", "name": "y"}))["name"]
        await c.call("send_message", {"room": "b", "text": "hi"})
        await c.wait_for(lambda: len(c.messages()) == 1)
        assert ("b", "y") == (c.messages()[0]["room"], c.messages()[0]["name"])

    async def test_since_recovers_missed(self, node: ServedApp, clients: Connect) -> None:
        """join with since returns exactly the messages after it."""
        ann = await joined(clients, node.url, "lobby", "ann")
        for i in range(5):
            await ann.call("send_message", {"room": "lobby", "text": f"m{i}"})
        late = await clients(node.url)
        reply = await late.call("join", {"room": "lobby", "name": "late", "since": 3})
        assert [4, 5] == [m["id"] for m in reply["history"]]

    @pytest.mark.parametrize(
        ("payload", "code"),
        [
            ({"room": "bad room", "name": "x"}, "invalid_room"),
            ({"room": "r", "name": ""}, "invalid_name"),
            ({"room": "r", "name": "a\x00"}, "invalid_name"),
            ({"room": "r"}, "bad_request"),
            ({"name": "x"}, "bad_request"),
            ({"room": "r", "name": "x", "since": -1}, "bad_request"),
            ({"room": "r", "name": "x", "since": "1"}, "bad_request"),
            (["r", "x"], "bad_request"),
            ("r", "bad_request"),
        ],
    )
    async def test_bad_joins_change_nothing(
        self, node: ServedApp, clients: Connect, payload: Any, code: str
    ) -> None:
        """A bad join is refused with its code and leaves no member behind."""
        c = await clients(node.url)
        assert code == error(await c.call("join", payload))
        assert {"ok": True, "rooms": []} == await c.call("list_rooms", {})


class TestSend:
    async def test_everyone_gets_it_in_order(self, node: ServedApp, clients: Connect) -> None:
        """The sender's ack carries the message; every member, sender included, receives it."""
        ann = await joined(clients, node.url, "lobby", "ann")
        bob = await joined(clients, node.url, "lobby", "bob")
        replies = [
            await ann.call("send_message", {"room": "lobby", "text": f" m{i} "}) for i in range(3)
        ]
        assert [1, 2, 3] == [r["message"]["id"] for r in replies]
        assert "m0" == replies[0]["message"]["text"]
        for c in (ann, bob):
            await c.wait_for(lambda c=c: len(c.messages()) == 3)
            assert [r["message"] for r in replies] == c.messages()

    async def test_not_in_room(self, node: ServedApp, clients: Connect) -> None:
        """Sending to a room not joined is not_in_room and stores nothing."""
        c = await clients(node.url)
        assert "not_in_room" == error(await c.call("send_message", {"room": "x", "text": "hi"}))
        assert [] == (await c.call("history", {"room": "x"}))["messages"]

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("   ", "invalid_text"),
            ("a\x07", "invalid_text"),
            ("x" * 2001, "message_too_long"),
            (5, "bad_request"),
            (None, "bad_request"),
        ],
    )
    async def test_bad_text(self, node: ServedApp, clients: Connect, text: Any, code: str) -> None:
        """Bad text is refused; nothing is stored or broadcast."""
        c = await joined(clients, node.url, "lobby", "ann")
        assert code == error(await c.call("send_message", {"room": "lobby", "text": text}))
        assert ([], []) == ((await c.call("history", {"room": "lobby"}))["messages"], c.messages())

    async def test_exact_limit_passes(self, node: ServedApp, clients: Connect) -> None:
        """2000 characters after trimming are accepted."""
        c = await joined(clients, node.url, "lobby", "ann")
        reply = await c.call("send_message", {"room": "lobby", "text": "é" * 2000 + "  "})
        assert 2000 == len(reply["message"]["text"])

    async def test_rate_limited(
        self, served: Callable[..., Any], clients: Connect, settings_factory: Callable[..., Any]
    ) -> None:
        """Past the allowance the connection gets rate_limited and nothing is stored."""
        from chat_service.config import RateLimit

        node = await served(settings_factory(rate_limit=RateLimit(3, 60.0)))
        c = await joined(clients, node.url, "lobby", "ann")
        codes = []
        for i in range(5):
            reply = await c.call("send_message", {"room": "lobby", "text": str(i)})
            codes.append("ok" if reply["ok"] else reply["error"]["code"])
        assert ["ok", "ok", "ok", "rate_limited", "rate_limited"] == codes
        assert 3 == len((await c.call("history", {"room": "lobby"}))["messages"])
        other = await joined(clients, node.url, "lobby", "bob")
        assert (await other.call("send_message", {"room": "lobby", "text": "mine"}))["ok"]

    async def test_invalid_messages_cost_no_allowance(
        self, served: Callable[..., Any], clients: Connect, settings_factory: Callable[..., Any]
    ) -> None:
        """Refused messages do not use up the rate limit."""
        from chat_service.config import RateLimit

        node = await served(settings_factory(rate_limit=RateLimit(1, 60.0)))
        c = await joined(clients, node.url, "lobby", "ann")
        await c.call("send_message", {"room": "lobby", "text": " "})
        assert (await c.call("send_message", {"room": "lobby", "text": "ok"}))["ok"]


class TestLeaveAndDisconnect:
    async def test_leave(self, node: ServedApp, clients: Connect) -> None:
        """leave answers, others see user_left, and the leaver stops receiving."""
        ann = await joined(clients, node.url, "lobby", "ann")
        bob = await joined(clients, node.url, "lobby", "bob")
        assert {"ok": True, "room": "lobby"} == await bob.call("leave", {"room": "Lobby"})
        await ann.wait_for(lambda: len(ann.of("user_left")) == 1)
        assert "bob" == ann.of("user_left")[0]["name"]
        await ann.call("send_message", {"room": "lobby", "text": "after"})
        await ann.wait_for(lambda: len(ann.messages()) == 1)
        assert ([], []) == (bob.messages(), bob.of("user_left"))
        assert "not_in_room" == error(await bob.call("leave", {"room": "lobby"}))

    async def test_disconnect_leaves_every_room(
        self, served: Callable[..., Any], clients: Connect
    ) -> None:
        """A closed connection leaves all its rooms after the grace; its names are free."""
        node = await served(make_settings(presence_grace=0.3))
        ann = await joined(clients, node.url, "a", "ann")
        await ann.call("join", {"room": "b", "name": "ann"})
        watcher = await joined(clients, node.url, "a", "w")
        await ann.close()
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 1)
        assert {"ok": True, "rooms": [{"room": "a", "members": 1}]} == await watcher.call(
            "list_rooms", {}
        )
        again = await clients(node.url)
        assert (await again.call("join", {"room": "b", "name": "ann"}))["ok"]


class TestTyping:
    async def test_typing_reaches_others(self, node: ServedApp, clients: Connect) -> None:
        """typing goes to every member but the typist."""
        ann = await joined(clients, node.url, "lobby", "ann")
        bob = await joined(clients, node.url, "lobby", "bob")
        assert {"ok": True} == await ann.call("typing", {"room": "lobby", "typing": True})
        await bob.wait_for(lambda: len(bob.of("typing")) == 1)
        assert {"room": "lobby", "name": "ann", "typing": True} == bob.of("typing")[0]
        assert [] == ann.of("typing")

    async def test_typing_errors(self, node: ServedApp, clients: Connect) -> None:
        """typing needs membership and a boolean."""
        c = await clients(node.url)
        assert "not_in_room" == error(await c.call("typing", {"room": "x", "typing": True}))
        assert "bad_request" == error(await c.call("typing", {"room": "x", "typing": "yes"}))


class TestReadEvents:
    async def test_history_members_rooms(self, node: ServedApp, clients: Connect) -> None:
        """history, members and list_rooms need no membership."""
        ann = await joined(clients, node.url, "lobby", "ann")
        await joined(clients, node.url, "lobby", "bob")
        await joined(clients, node.url, "other", "cid")
        for i in range(4):
            await ann.call("send_message", {"room": "lobby", "text": f"m{i}"})
        outsider = await clients(node.url)
        page = await outsider.call("history", {"room": "lobby", "before": 4, "limit": 2})
        assert ["m1", "m2"] == [m["text"] for m in page["messages"]]
        assert {"ok": True, "room": "lobby", "members": ["ann", "bob"]} == await outsider.call(
            "members", {"room": "LOBBY"}
        )
        assert {
            "ok": True,
            "rooms": [{"room": "lobby", "members": 2}, {"room": "other", "members": 1}],
        } == await outsider.call("list_rooms", {})

    async def test_list_rooms_without_payload(self, node: ServedApp, clients: Connect) -> None:
        """list_rooms also answers when sent with no payload at all."""
        c = await clients(node.url)
        assert {"ok": True, "rooms": []} == await c.call("list_rooms")

    @pytest.mark.parametrize(
        ("event", "payload", "code"),
        [
            ("history", {"room": "r", "limit": 0}, "bad_request"),
            ("history", {"room": "r", "limit": 101}, "bad_request"),
            ("history", {"room": "r", "before": "x"}, "bad_request"),
            ("history", {"room": "%%"}, "invalid_room"),
            ("members", {}, "bad_request"),
            ("members", {"room": "a b"}, "invalid_room"),
            ("list_rooms", [], "bad_request"),
            ("leave", {"room": "a"}, "not_in_room"),
            ("leave", 7, "bad_request"),
            ("no_such_event", {}, "bad_request"),
            ("join", ({"room": "r", "name": "x"}, {"extra": 1}), "bad_request"),
        ],
    )
    async def test_errors(
        self, node: ServedApp, clients: Connect, event: str, payload: Any, code: str
    ) -> None:
        """Each malformed request gets its protocol code."""
        c = await clients(node.url)
        assert code == error(await c.call(event, payload))


class TestInternal:
    async def test_internal_errors_hide_details(
        self, node: ServedApp, clients: Connect, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An unexpected exception becomes `internal` with no trace to the client."""
        from chat_service.appkeys import SERVICE

        service = node.app[SERVICE]

        async def boom(*_args: Any) -> list[str]:
            raise RuntimeError("secret detail /etc/passwd")

        monkeypatch.setattr(service.store, "members", boom)
        c = await clients(node.url)
        reply = await c.call("members", {"room": "x"})
        assert "internal" == error(reply)
        assert "secret" not in str(reply)
        assert (await c.call("list_rooms", {}))["ok"]  # the node keeps serving


class TestPolling:
    async def test_polling_transport(self, node: ServedApp, clients: Connect) -> None:
        """The long-polling transport works end to end."""
        c = await clients(node.url, transports=["polling"])
        reply = await c.call("join", {"room": "lobby", "name": "poller"})
        await c.call("send_message", {"room": "lobby", "text": "via polling"})
        await c.wait_for(lambda: len(c.messages()) == 1)
        assert (True, "via polling") == (reply["ok"], c.messages()[0]["text"])


class TestReservedEvents:
    @pytest.mark.parametrize("event", ["connect", "disconnect"])
    async def test_client_cannot_trigger_lifecycle_handlers(
        self, node: ServedApp, clients: Connect, event: str
    ) -> None:
        """A client emitting 'connect'/'disconnect' gets bad_request and keeps its rooms."""
        c = await joined(clients, node.url, "lobby", "ann")
        assert "bad_request" == error(await c.call(event, {"HTTP_X_FORWARDED_FOR": "1.2.3.4"}))
        reply = await c.call("send_message", {"room": "lobby", "text": "still joined"})
        assert reply["ok"] is True
        assert ["ann"] == (await c.call("members", {"room": "lobby"}))["members"]


class TestFastPath:
    async def test_deflate_clients_and_direct_writes(self, node: ServedApp) -> None:
        """Clients that negotiated permessage-deflate read the directly written frames."""
        from chat_tools.clients import RawSocket, http_get

        deflate = await RawSocket(node.url, compress=15).open()
        plain = await RawSocket(node.url).open()
        await deflate.call("join", {"room": "lobby", "name": "zip"})
        await plain.call("join", {"room": "lobby", "name": "raw"})
        for i in range(5):
            await plain.call("send_message", {"room": "lobby", "text": f"m{i} é"})
        seen = []
        while len(seen) < 5:
            frame = await deflate.receive()
            if frame.startswith('42["message",'):
                seen.append(frame)
        assert [f'42["message",{{"id":{i + 1},' for i in range(5)] == [f[:21] for f in seen]
        _, metrics = await http_get(node.url + "/metrics")
        line = [x for x in metrics.splitlines() if x.startswith("chat_deliveries_direct_total ")]
        direct = float(line[0].split()[1])
        assert direct > 0
        await deflate.close()
        await plain.close()
