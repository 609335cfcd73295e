"""The Lua scripts and the Python encoders write the same bytes (wire.py's contract)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from chat_service.backends import wire
from chat_service.backends.keys import ROOM_KEY_KINDS, Keys
from chat_service.backends.redis import SCRIPTS, RedisStore, load_script
from chat_service.backends.redis_clients import make_client
from chat_service.domain.validation import name_key
from chat_tools.procs import RedisServer

NAMES = ["Ann", 'Zoë "q" \\ / 😀', "tab\tname", "<b>x</b>", "\u2028"]


@pytest.fixture(params=["fakeredis", "redis"])
async def store(
    request: pytest.FixtureRequest, fake_redis_factory: Callable[[], Any]
) -> AsyncIterator[RedisStore]:
    if request.param == "fakeredis":
        client = fake_redis_factory()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = make_client(server.url)
    made = RedisStore(client, node_id="n1", prefix=f"w{secrets.token_hex(3)}:")
    yield made
    await made.close()


async def listen(store: RedisStore, room: str) -> tuple[Any, list[str]]:
    pubsub = store.client.pubsub()
    await pubsub.subscribe(store.keys.channel(room))
    await pubsub.get_message(timeout=1)
    return pubsub, []


async def drain(pubsub: Any, count: int) -> list[str]:
    got: list[str] = []
    for _ in range(count * 10):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            got.append(message["data"])
        if len(got) == count:
            break
    await pubsub.aclose()
    return got


class TestScripts:
    def test_every_script_loads(self) -> None:
        """Each script exists and seating scripts carry the shared presence rules."""
        for name in SCRIPTS:
            source = load_script(name)
            assert ("local function unseat" in source) == (
                name in ("join", "leave", "expire", "restore", "reap")
            )

    def test_room_keys_share_one_slot(self) -> None:
        """Every key and the channel of a room hash to one Cluster slot (the `{room}` tag)."""
        keys = Keys("p:")
        for room in ("lobby", "a", "Z-9_x" * 6):
            names = [keys.room_key(room, kind) for kind in ROOM_KEY_KINDS]
            names += [keys.conns(room, "host-1-abc"), *keys.presence_keys(room)]
            assert {key_slot(keys.meta(room).encode())} == {key_slot(n.encode()) for n in names}
        assert key_slot(keys.meta("lobby").encode()) != key_slot(keys.meta("den").encode())

    def test_sharded_scripts_use_spublish(self) -> None:
        """On Cluster every script publishes with SPUBLISH; elsewhere with PUBLISH."""
        for name in SCRIPTS:
            assert ("local PUBLISH = 'SPUBLISH'" in load_script(name, sharded=True)) and (
                "local PUBLISH = 'PUBLISH'" in load_script(name)
            )
            assert "call('PUBLISH'" not in load_script(name)  # no publish bypasses the switch


class TestMessages:
    @pytest.mark.parametrize("name", NAMES)
    async def test_append_matches_the_encoder(self, store: RedisStore, name: str) -> None:
        """Stored, published and returned message bytes equal wire.message_json's."""
        pubsub, _ = await listen(store, "lobby")
        text = 'he said "hi" \\ \n\t 😀 </script>'
        appended = await store.append_message("lobby", name, text, 1234, "cid-1")
        message = appended.message
        body = wire.message_body("lobby", name, text, 1234, "cid-1")
        expected = wire.message_json(1, body, message["epoch"])
        raw = (await store.backlog("lobby", 0)).messages[0][1]
        (published,) = await drain(pubsub, 1)
        event = wire.RoomEvent.decode(published)
        assert (expected, expected) == (raw, event.payload)
        assert ("message", message["epoch"], 1, "") == (
            event.kind,
            event.epoch,
            event.seq,
            event.skip_sid,
        )
        assert wire.parse_message(expected) == message
        assert 1 == wire.message_id(raw)


class TestPresence:
    @pytest.mark.parametrize("name", NAMES)
    async def test_presence_payloads_match(self, store: RedisStore, name: str) -> None:
        """user_joined / user_left from Lua equal wire.presence_payload's bytes."""
        pubsub, _ = await listen(store, "lobby")
        await store.join("lobby", "u1", name, "s1", None, None, 1000, 50)
        record = await store.client.hget(store.keys.names("lobby"), name_key(name))
        await store.leave("lobby", "s1", 2000, grace=False)
        joined, left = (wire.RoomEvent.decode(e) for e in await drain(pubsub, 2))
        assert wire.name_record("u1", name) == record
        assert wire.presence_payload("lobby", name, 1000) == joined.payload
        assert wire.presence_payload("lobby", name, 2000) == left.payload
        assert ("user_joined", "s1", "user_left", "s1") == (
            joined.kind,
            joined.skip_sid,
            left.kind,
            left.skip_sid,
        )

    async def test_join_reply_names_every_member(self, store: RedisStore) -> None:
        """join.lua returns the stored name records; the node reads back each name exactly."""
        for i, name in enumerate(NAMES):
            result = await store.join("lobby", f"u{i}", name, f"s{i}", None, None, 1000, 50)
        assert sorted(NAMES) == sorted(result.members) == sorted(await store.members("lobby"))

    @given(st.lists(st.text(min_size=1, max_size=20), max_size=30))
    def test_record_names_reads_what_name_record_wrote(self, names: list[str]) -> None:
        """record_names decodes a batch of records to their names, in order."""
        records = [wire.name_record(f"user\t{i}", n) for i, n in enumerate(names)]
        assert names == wire.record_names(records)

    async def test_seat_records(self, store: RedisStore) -> None:
        """A node's connections in a room map sid -> user; lingering is per room and indexed."""
        await store.join("lobby", "u1", "Ann", "s1", None, None, 1000, 50)
        seats = await store.client.hgetall(store.keys.conns("lobby", "n1"))
        node_rooms = await store.client.smembers(store.keys.node_rooms("n1"))
        await store.leave("lobby", "s1", 2000, grace=True)
        lingering = await store.client.zrange(
            store.keys.room_lingering("lobby"), 0, -1, withscores=True
        )
        index = await store.client.zrange(store.keys.lingering, 0, -1, withscores=True)
        assert ({"s1": "u1"}, {"lobby"}, [("u1", 7000.0)], [("lobby", 7000.0)]) == (
            seats,
            node_rooms,
            lingering,
            index,
        )
        assert set() == await store.client.smembers(store.keys.node_rooms("n1"))


class TestChanges:
    @pytest.mark.parametrize("name", NAMES)
    async def test_change_script_matches_the_renderer(self, store: RedisStore, name: str) -> None:
        """Every version change.lua stores and publishes equals wire.render_message's bytes,
        with names of every kind in reactions, texts with escapes, reply_to and system."""
        pubsub, _ = await listen(store, "lobby")
        await store.append_message("lobby", "Ann", "first", 1, None, user="u0")
        await store.append_message(
            "lobby", name, "x", 2, "cid-1", user="u1", reply_to=1, system=True
        )
        await store.edit_message("lobby", 2, None, "u1", 'he said "hi" \\ \n\t\r 😀 \u2028', 3)
        for i, who in enumerate([name, "Bob", 'a"b', "a#b", "Émile", "zed"]):
            await store.react("lobby", 2, None, f"r{i}", who, "👍🏽", True)
        await store.react("lobby", 2, None, "r9", name, "🎉", True)
        await store.react("lobby", 2, None, "r1", "Bob", "👍🏽", False)
        await store.delete_message("lobby", 2, None, "u1", moderator=False)
        published = [wire.RoomEvent.decode(e) for e in await drain(pubsub, 12)]
        updates = [e for e in published if e.kind == "message_updated"]
        assert 10 == len(updates)
        for event in updates:
            message = wire.parse_message(event.payload)
            assert (wire.render_message(message), 2, message["v"]) == (
                event.payload,
                event.seq,
                wire.message_version(event.payload),
            )
        reacted = wire.parse_message(updates[8].payload)
        assert {
            "👍🏽": {"count": 5, "names": sorted([name, 'a"b', "a#b", "Émile", "zed"])},
            "🎉": {"count": 1, "names": [name]},
        } == reacted["reactions"]
        raw = (await store.backlog("lobby", 0)).messages[1][1]
        assert updates[-1].payload == raw

    async def test_read_payload_matches(self, store: RedisStore) -> None:
        """`read` from read.lua equals wire.read_payload's bytes."""
        pubsub, _ = await listen(store, "lobby")
        await store.append_message("lobby", "Ann", "hi", 1, None, user="u0")
        name = 'Zoë "q" \\ 😀'
        await store.mark_read("lobby", "u1", name, 1, publish=True)
        (published,) = (await drain(pubsub, 2))[1:]
        event = wire.RoomEvent.decode(published)
        assert ("read", 0, wire.read_payload("lobby", name, 1)) == (
            event.kind,
            event.seq,
            event.payload,
        )

    def test_new_message_json_is_canonical(self) -> None:
        """A new message's stored form is what the renderer writes for it."""
        body = wire.message_body("r", 'N "x"', "t\n", 5, "c", 3, True)
        raw = wire.message_json(7, body, "ep")
        assert raw == wire.render_message(wire.parse_message(raw))
        assert (7, 0) == (wire.message_id(raw), wire.message_version(raw))

    def test_version_2_messages_read_as_v0(self) -> None:
        """A stored message without `v` gains `"v":0` right after its id."""
        old = '{"id":12,"room":"r","name":"n","text":"t","ts":1,"epoch":"e"}'
        assert ('{"id":12,"v":0,"room":"r"', 0) == (
            wire.current(old)[:25],
            wire.message_version(old),
        )


class TestRendering:
    @given(
        name=st.text(min_size=1, max_size=8),
        text=st.text(min_size=1, max_size=20),
        client_id=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)),
        reply_to=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
        system=st.booleans(),
    )
    def test_new_messages_render_as_stored(
        self, name: str, text: str, client_id: str | None, reply_to: int | None, system: bool
    ) -> None:
        """For any fields, the stored form of a new message is the renderer's output."""
        body = wire.message_body("room", name, text, 1, client_id, reply_to, system)
        raw = wire.message_json(3, body, "epoch")
        assert raw == wire.render_message(wire.parse_message(raw))
