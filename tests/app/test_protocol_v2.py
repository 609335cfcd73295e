"""Version 2 of the protocol against a real node: users, grace, epoch, client_id, packets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from chat_service.appkeys import RUNTIME
from chat_service.config import Settings, SettingsError
from chat_tools.clients import ChatClient, RawSocket, ServedApp, make_settings

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


@pytest.fixture
async def graced(served: Callable[..., Any]) -> ServedApp:
    """A memory node with a short presence grace."""
    node: ServedApp = await served(make_settings(presence_grace=0.5))
    return node


class TestUsers:
    async def test_tabs_share_a_name(self, graced: ServedApp, clients: Connect) -> None:
        """Two connections with one key hold one name; others see one join and one leave."""
        watcher = await clients(graced.url, "w")
        await join(watcher, "lobby", "w")
        tab1, tab2 = await clients(graced.url, "t1"), await clients(graced.url, "t2")
        first = await join(tab1, "lobby", "Ann", key=KEY_A)
        second = await join(tab2, "lobby", "ann", key=KEY_A)
        assert ("Ann", "Ann", ["Ann", "w"]) == (first["name"], second["name"], second["members"])
        await watcher.wait_for(lambda: len(watcher.of("user_joined")) == 1)
        assert (await tab1.call("leave", {"room": "lobby"}))["ok"]
        assert ["Ann", "w"] == (await watcher.call("members", {"room": "lobby"}))["members"]
        assert (await tab2.call("leave", {"room": "lobby"}))["ok"]
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 1)
        assert (1, [{"room": "lobby", "members": 1}]) == (
            len(watcher.of("user_joined")),
            (await watcher.call("list_rooms"))["rooms"],
        )

    async def test_another_key_gets_name_taken(self, node: ServedApp, clients: Connect) -> None:
        """Another user (another key, or none) asking for a held name is refused."""
        a, b, c = [await clients(node.url, n) for n in "abc"]
        await join(a, "lobby", "Ann", key=KEY_A)
        assert "name_taken" == code(
            await b.call("join", {"room": "lobby", "name": "ANN", "key": KEY_B})
        )
        assert "name_taken" == code(await c.call("join", {"room": "lobby", "name": "ann"}))

    async def test_connections_without_key_are_users_of_their_own(
        self, node: ServedApp, clients: Connect
    ) -> None:
        """Version 1 behaviour: no key, no sharing."""
        a, b = await clients(node.url, "a"), await clients(node.url, "b")
        await join(a, "lobby", "Ann")
        assert "name_taken" == code(await b.call("join", {"room": "lobby", "name": "Ann"}))

    @pytest.mark.parametrize("key", ["short", "x" * 129, "has space in it!!", 12345, ["k"]])
    async def test_bad_key_is_refused(self, node: ServedApp, clients: Connect, key: Any) -> None:
        """A key outside 16-128 of A-Z a-z 0-9 _ - is bad_request and changes nothing."""
        a = await clients(node.url, "a")
        assert "bad_request" == code(
            await a.call("join", {"room": "lobby", "name": "Ann", "key": key})
        )
        assert [] == (await a.call("members", {"room": "lobby"}))["members"]


class TestPresenceGrace:
    async def test_reconnect_within_grace_is_silent(
        self, graced: ServedApp, clients: Connect
    ) -> None:
        """A user whose connection drops and comes back in time is never seen leaving."""
        watcher = await clients(graced.url, "w")
        await join(watcher, "lobby", "w")
        first = await clients(graced.url, "ann")
        await join(first, "lobby", "Ann", key=KEY_A)
        await watcher.wait_for(lambda: len(watcher.of("user_joined")) == 1)
        await first.close()
        again = await clients(graced.url, "ann2")
        reply = await join(again, "lobby", "Ann", key=KEY_A)
        await asyncio.sleep(0.8)  # past the grace
        assert (["Ann", "w"], [], 1) == (
            reply["members"],
            watcher.of("user_left"),
            len(watcher.of("user_joined")),
        )

    async def test_grace_ends_with_user_left(self, graced: ServedApp, clients: Connect) -> None:
        """A user that does not come back leaves after the grace, and its name is free."""
        watcher = await clients(graced.url, "w")
        await join(watcher, "lobby", "w")
        ann = await clients(graced.url, "ann")
        await join(ann, "lobby", "Ann", key=KEY_A)
        await ann.close()
        assert ["Ann", "w"] == (await watcher.call("members", {"room": "lobby"}))["members"]
        await watcher.wait_for(lambda: len(watcher.of("user_left")) == 1, timeout=3)
        other = await clients(graced.url, "other")
        assert "Ann" == (await join(other, "lobby", "Ann", key=KEY_B))["name"]


class TestEpochAndSince:
    async def test_messages_carry_the_epoch(self, node: ServedApp, clients: Connect) -> None:
        """Messages, the send ack and the join reply name the same epoch."""
        ann = await clients(node.url, "ann")
        epoch = (await join(ann, "lobby", "Ann"))["epoch"]
        sent = await ann.call("send_message", {"room": "lobby", "text": "hi"})
        await ann.wait_for(lambda: len(ann.messages()) == 1)
        assert (epoch, epoch) == (sent["message"]["epoch"], ann.messages()[0]["epoch"])
        assert "client_id" not in sent["message"]

    async def test_since_with_epoch(self, node: ServedApp, clients: Connect) -> None:
        """The same epoch resumes after since; another epoch is a reset with full history."""
        ann = await clients(node.url, "ann")
        epoch = (await join(ann, "lobby", "Ann"))["epoch"]
        for i in range(3):
            await ann.call("send_message", {"room": "lobby", "text": f"m{i}"})
        bob, cy = await clients(node.url, "bob"), await clients(node.url, "cy")
        same = await join(bob, "lobby", "Bob", since=1, epoch=epoch)
        other = await join(cy, "lobby", "Cy", since=1, epoch="another")
        assert ([2, 3], False) == ([m["id"] for m in same["history"]], "reset" in same)
        assert ([1, 2, 3], True) == ([m["id"] for m in other["history"]], other["reset"])

    @pytest.mark.parametrize("epoch", [5, "", "e" * 65, None])
    async def test_bad_epoch(self, node: ServedApp, clients: Connect, epoch: Any) -> None:
        """An epoch that is not a 1-64 character string is bad_request (null is absent)."""
        ann = await clients(node.url, "ann")
        reply = await ann.call("join", {"room": "lobby", "name": "Ann", "since": 0, "epoch": epoch})
        assert (epoch is None) == reply["ok"]


class TestClientId:
    async def test_retry_is_shown_once(self, node: ServedApp, clients: Connect) -> None:
        """A repeated client_id answers the first message with duplicate and sends nothing."""
        ann, bob = await clients(node.url, "ann"), await clients(node.url, "bob")
        await join(ann, "lobby", "Ann")
        await join(bob, "lobby", "Bob")
        payload = {"room": "lobby", "text": "hello", "client_id": "c-1"}
        first = await ann.call("send_message", payload)
        again = await ann.call("send_message", payload)
        assert {"ok": True, "message": first["message"], "duplicate": True} == again
        await ann.call("send_message", {"room": "lobby", "text": "next"})
        await bob.wait_for(lambda: len(bob.messages()) == 2)
        assert ([1, 2], "c-1") == (
            [m["id"] for m in bob.messages()],
            bob.messages()[0]["client_id"],
        )

    async def test_retry_from_a_new_connection(self, node: ServedApp, clients: Connect) -> None:
        """A retry after a reconnect (same user: same key) is still a duplicate. Version 3
        matches retries per user, not per sender name as version 2 did (see
        test_protocol_v3's TestRetriesPerUser)."""
        first = await clients(node.url, "a")
        await join(first, "lobby", "Ann", key=KEY_A)
        sent = await first.call("send_message", {"room": "lobby", "text": "x", "client_id": "k"})
        await first.close()
        second = await clients(node.url, "b")
        await join(second, "lobby", "Ann", key=KEY_A)
        again = await second.call("send_message", {"room": "lobby", "text": "x", "client_id": "k"})
        assert (True, sent["message"]) == (again["duplicate"], again["message"])

    @pytest.mark.parametrize("cid", ["", "x" * 65, "a b", "é", 7, True])
    async def test_bad_client_id(self, node: ServedApp, clients: Connect, cid: Any) -> None:
        """A client_id outside 1-64 of A-Z a-z 0-9 _ - is bad_request; nothing is stored."""
        ann = await clients(node.url, "ann")
        await join(ann, "lobby", "Ann")
        reply = await ann.call("send_message", {"room": "lobby", "text": "x", "client_id": cid})
        assert "bad_request" == code(reply)
        assert [] == (await ann.call("history", {"room": "lobby"}))["messages"]


class TestJoinOrdering:
    async def test_nothing_live_before_the_reply(self, node: ServedApp, clients: Connect) -> None:
        """Under a stream of messages, each joiner's first frame is its reply, and live
        messages continue exactly after the reply's last id."""
        sender = await clients(node.url, "sender")
        await join(sender, "lobby", "sender")
        stop = asyncio.Event()

        async def stream() -> None:
            i = 0
            while not stop.is_set():
                await sender.call("send_message", {"room": "lobby", "text": f"m{i}"})
                i += 1

        task = asyncio.create_task(stream())
        try:
            for n in range(8):
                raw = await RawSocket(node.url).open()
                try:
                    await raw.send(
                        '421["join",' + json.dumps({"room": "lobby", "name": f"j{n}"}) + "]"
                    )
                    first = await raw.receive()
                    assert first.startswith("431["), first
                    reply = json.loads(first[3:])[0]
                    last = reply["history"][-1]["id"] if reply["history"] else 0
                    frames = [await raw.receive() for _ in range(3)]
                    live = [json.loads(f[2:])[1] for f in frames if f.startswith('42["message"')]
                    assert [last + 1, last + 2, last + 3][: len(live)] == [m["id"] for m in live]
                    assert live, frames
                finally:
                    await raw.close()
        finally:
            stop.set()
            await task


class TestPackets:
    async def test_large_texts_are_answered(self, served: Callable[..., Any]) -> None:
        """With a text limit of 80,000 a 70,000-character text is stored and a 100,000
        one gets message_too_long; the connection stays open."""
        node = await served(make_settings(max_text=80_000))
        raw = await RawSocket(node.url).open()
        try:
            assert (await raw.call("join", {"room": "lobby", "name": "big"}))["ok"]
            ok = await raw.call("send_message", {"room": "lobby", "text": "é" * 70_000})
            too_long = await raw.call("send_message", {"room": "lobby", "text": "x" * 100_000})
            assert (True, "message_too_long") == (ok["ok"], code(too_long))
            assert not raw.closed
        finally:
            await raw.close()

    async def test_megabyte_packets_are_answered(self, node: ServedApp) -> None:
        """A packet just under 1,000,000 bytes gets an answer, not a closed connection."""
        raw = await RawSocket(node.url).open()
        try:
            reply = await raw.call("members", {"room": "lobby", "pad": "x" * 990_000})
            assert reply["ok"] and not raw.closed
        finally:
            await raw.close()

    def test_unsendable_text_limit_is_refused(self) -> None:
        """12 x CHAT_MAX_TEXT + 1024 above the packet limit: the settings are refused."""
        with pytest.raises(SettingsError, match="CHAT_MAX_TEXT=100000"):
            Settings(max_text=100_000)
        assert 100_000 == Settings(max_text=100_000, max_packet_bytes=1_201_024).max_text


class TestRoomsOwner:
    async def test_joins_then_leaves_unsubscribe(self, node: ServedApp, clients: Connect) -> None:
        """N joins then N leaves, and N joins then N disconnects: nothing stays served."""
        runtime = node.app[RUNTIME]
        people = [await clients(node.url, f"p{i}") for i in range(3)]
        for i, p in enumerate(people):
            await join(p, "lobby", f"p{i}")
        assert {"lobby"} == runtime.bus.rooms
        for p in people:
            await p.call("leave", {"room": "lobby"})
        assert frozenset() == runtime.bus.rooms
        for i, p in enumerate(people):
            await join(p, "lobby", f"p{i}")
        for p in people:
            await p.close()
        for _ in range(100):
            if not runtime.bus.rooms:
                break
            await asyncio.sleep(0.02)
        assert (frozenset(), frozenset()) == (runtime.bus.rooms, runtime.service.rooms.served)
