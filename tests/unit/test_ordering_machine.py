"""The room state machine under any interleaving: joiners get the room exactly once, in order."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chat_service.domain.joiners import Action, Broadcast, Enter, Fetch, Send, Stage
from chat_service.domain.ordering import RoomFeed

Event = tuple[str, str, int, str, str]  # kind, epoch, seq, skip, payload


@dataclass
class Store:
    """The room as Redis keeps it: its newest `keep` messages (0: all), at their versions."""

    epoch: str = "e0"
    versions: dict[int, int] = field(default_factory=dict)
    resets: int = 0
    keep: int = 0

    @property
    def head(self) -> int:
        return len(self.versions)

    @property
    def kept_from(self) -> int:
        return 1 if not self.keep else max(1, self.head - self.keep + 1)

    def raw(self, msg_id: int) -> str:
        fields = {"id": msg_id, "v": self.versions[msg_id], "text": f"t{msg_id}"}
        return orjson.dumps({**fields, "epoch": self.epoch}).decode()

    def backlog(self, after: int) -> tuple[str, list[tuple[int, str]], list[tuple[int, int, str]]]:
        ids = [i for i in sorted(self.versions) if i >= self.kept_from]
        messages = [(i, self.raw(i)) for i in ids if i > after]
        changed = [(i, self.versions[i], self.raw(i)) for i in ids if self.versions[i] > 0]
        return self.epoch, messages, changed


@dataclass
class Client:
    """One connection as the machine's actions reach it."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    read: tuple[str, int, dict[int, int]] | None = None  # epoch, head, versions shown
    at_read: dict[int, int] = field(default_factory=dict)  # every version when it read
    replied: bool = False
    left: bool = False
    presence_after: int = 0  # presence events published before its reply may be missed


class RoomMachine(RuleBasedStateMachine):
    """A model room: a store, an ordered channel that can drop events, joins, reads."""

    def __init__(self) -> None:
        super().__init__()
        self.store = Store()
        self.feed = RoomFeed()
        self.channel: deque[Event] = deque()
        self.clients: dict[str, Client] = {}
        self.room: set[str] = set()
        self.fetches: dict[int, Fetch] = {}
        self.reads: dict[int, tuple[str, list[tuple[int, str]], list[tuple[int, int, str]]]] = {}
        self.presence: list[tuple[int, str, bool]] = []  # (number, skip, lost)
        self.resubscribed_due = False

    # carrying out actions, as Delivery and the transport would ---------------------------
    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                for sid in self.room:
                    if sid != action.skip:
                        self.deliver(sid, action.event, action.payload)
            elif isinstance(action, Send):
                self.deliver(action.sid, action.event, action.payload)
            elif isinstance(action, Enter):
                client = self.clients[action.sid]
                assert client.replied and not client.left, "entered before its reply"
                self.room.add(action.sid)
            else:
                self.fetches[action.token] = action
                self.reads.pop(action.token, None)

    def deliver(self, sid: str, event: str, payload: str) -> None:
        client = self.clients[sid]
        assert client.replied, f"{event} reached {sid} before its join reply"
        assert not client.left, f"{event} reached {sid} after it left"
        client.events.append((event, orjson.loads(payload)))

    def publish(self, kind: str, seq: int, payload: str, skip: str = "") -> None:
        self.channel.append((kind, self.store.epoch, seq, skip, payload))

    # the store ---------------------------------------------------------------------------
    @initialize(count=st.integers(0, 6), recent=st.integers(1, 4), keep=st.sampled_from([0, 0, 3]))
    def history_before_anyone(self, count: int, recent: int, keep: int) -> None:
        self.feed.window.size = recent
        self.store.keep = keep
        for msg_id in range(1, count + 1):
            self.store.versions[msg_id] = 0

    @rule(count=st.integers(1, 6))
    def send(self, count: int) -> None:
        for _ in range(count):
            msg_id = self.store.head + 1
            self.store.versions[msg_id] = 0
            self.publish("message", msg_id, self.store.raw(msg_id))

    @precondition(lambda self: self.store.head > 0)
    @rule(data=st.data())
    def edit(self, data: st.DataObject) -> None:
        msg_id = data.draw(st.integers(self.store.kept_from, self.store.head))
        self.store.versions[msg_id] += 1
        self.publish("message_updated", msg_id, self.store.raw(msg_id))

    @rule(skip_joiner=st.booleans())
    def presence(self, skip_joiner: bool) -> None:
        number = len(self.presence)
        skip = next(iter(self.clients), "") if skip_joiner else ""
        self.presence.append((number, skip, False))
        self.publish("user_joined", 0, orjson.dumps({"n": number}).decode(), skip)

    @precondition(lambda self: self.store.resets < 2)
    @rule()
    def reset(self) -> None:
        """Redis lost its data: a new epoch, ids from 1 again."""
        self.store.resets += 1
        self.store = Store(f"e{self.store.resets}", {}, self.store.resets, self.store.keep)

    # the subscription --------------------------------------------------------------------
    @precondition(lambda self: self.channel)
    @rule(count=st.integers(1, 8))
    def receive(self, count: int) -> None:
        for _ in range(min(count, len(self.channel))):
            kind, epoch, seq, skip, payload = self.channel.popleft()
            if kind == "message":
                self.apply(self.feed.message(epoch, seq, payload))
            elif kind == "message_updated":
                self.apply(self.feed.update(epoch, seq, payload))
            else:
                self.apply(self.feed.relay(kind, payload, skip or None))

    @rule()
    def outage(self) -> None:
        """The subscription dropped: what was in flight is lost; resubscribed, refill."""
        for kind, _epoch, _seq, _skip, payload in self.channel:
            if kind == "user_joined":
                number = orjson.loads(payload)["n"]
                self.presence[number] = (*self.presence[number][:2], True)
        self.channel.clear()
        self.apply(self.feed.refill())

    @precondition(lambda self: self.channel)
    @rule()
    def blink(self) -> None:
        """One event is lost; the node hears of the resubscription later (or never)."""
        kind, _epoch, _seq, _skip, payload = self.channel.popleft()
        if kind == "user_joined":
            number = orjson.loads(payload)["n"]
            self.presence[number] = (*self.presence[number][:2], True)
        self.resubscribed_due = True

    @precondition(lambda self: self.resubscribed_due)
    @rule()
    def resubscribed(self) -> None:
        self.resubscribed_due = False
        self.apply(self.feed.refill())

    # joiners -----------------------------------------------------------------------------
    @rule()
    def join(self) -> None:
        sid = f"s{len(self.clients)}"
        self.clients[sid] = Client()
        self.feed.hold(sid)

    def _unread(self) -> list[str]:
        return [s for s, c in self.clients.items() if c.read is None and not c.left]

    def _unreplied(self) -> list[str]:
        return [s for s, c in self.clients.items() if c.read and not c.replied and not c.left]

    @precondition(lambda self: self._unread())
    @rule(data=st.data(), window=st.integers(0, 8))
    def read(self, data: st.DataObject, window: int) -> None:
        """The join's atomic read: history (its newest `window` messages shown), head."""
        sid = data.draw(st.sampled_from(self._unread()))
        head = self.store.head
        oldest = max(self.store.kept_from, head - window + 1)
        shown = {i: self.store.versions[i] for i in range(oldest, head + 1)}
        self.clients[sid].read = (self.store.epoch, head, shown)
        self.clients[sid].at_read = dict(self.store.versions)

    @precondition(lambda self: self._unreplied())
    @rule(data=st.data())
    def reply(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(self._unreplied()))
        self._reply(sid)

    def _reply(self, sid: str) -> None:
        client = self.clients[sid]
        assert client.read is not None
        client.replied, client.presence_after = True, len(self.presence)
        epoch, head, shown = client.read
        self.apply(self.feed.replied(sid, epoch, head, shown))

    @precondition(lambda self: self._unreplied())
    @rule(data=st.data(), count=st.integers(1, 6), edit=st.booleans(), reads=st.booleans())
    def busy_reply(self, data: st.DataObject, count: int, edit: bool, reads: bool) -> None:
        """The room runs ahead while a reply is on its way (the issue's case)."""
        sid = data.draw(st.sampled_from(self._unreplied()))
        while reads and self.fetches:  # the feed up to date first, or not
            token = min(self.fetches)
            self.reads.setdefault(token, self.store.backlog(self.fetches[token].after))
            self.history_arrives_token(token)
        self.send(count)
        if edit:
            self.edit(data)
        self.receive(len(self.channel))
        self._reply(sid)

    @precondition(lambda self: any(not c.left for c in self.clients.values()))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from([s for s, c in self.clients.items() if not c.left]))
        self.clients[sid].left = True
        self.room.discard(sid)
        self.feed.left(sid)

    # history reads -----------------------------------------------------------------------
    @precondition(lambda self: self.fetches)
    @rule(data=st.data())
    def read_history(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(sorted(self.fetches)))
        self.reads.setdefault(token, self.store.backlog(self.fetches[token].after))

    @precondition(lambda self: self.reads)
    @rule(data=st.data())
    def history_arrives(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(sorted(self.reads)))
        epoch, messages, changed = self.reads.pop(token)
        del self.fetches[token]
        self.apply(self.feed.fetched(token, epoch, messages, changed))

    @precondition(lambda self: self.fetches)
    @rule(data=st.data())
    def history_fails(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(sorted(self.fetches)))
        self.reads.pop(token, None)
        del self.fetches[token]
        self.apply(self.feed.fetch_failed(token))

    # what must hold ----------------------------------------------------------------------
    @invariant()
    def held_joiners_get_nothing(self) -> None:
        """A joiner in flight is never live (the deliver check covers sends)."""
        held = {s for s, j in self.feed.joiners.items() if j.stage is Stage.HELD}
        assert not held & self.room

    def settle(self) -> None:
        """Everything in flight arrives, every join is answered, every read completes."""
        for _ in range(200):
            for sid in self._unread():
                self.clients[sid].read = (self.store.epoch, self.store.head, {})
                self.clients[sid].at_read = dict(self.store.versions)
            for sid in self._unreplied():
                self._reply(sid)
            if self.channel:
                self.receive(len(self.channel))
            elif self.fetches:
                token = min(self.fetches)
                self.reads.setdefault(token, self.store.backlog(self.fetches[token].after))
                self.history_arrives_token(token)
            elif self.resubscribed_due:
                self.resubscribed()
            else:
                return
        raise AssertionError("the room never settled")

    def history_arrives_token(self, token: int) -> None:
        epoch, messages, changed = self.reads.pop(token)
        del self.fetches[token]
        self.apply(self.feed.fetched(token, epoch, messages, changed))

    def teardown(self) -> None:
        self.settle()
        for sid, client in self.clients.items():
            if not client.left:
                self.check(sid, client)

    def check(self, sid: str, client: Client) -> None:
        assert sid in self.room, f"{sid} never went live"
        assert client.read is not None
        read_epoch, head, shown = client.read
        at_read = client.at_read
        seen: dict[tuple[str, int], list[int]] = {}
        order: list[tuple[str, int]] = []
        for event, data in client.events:
            if event == "message":
                key = (data["epoch"], data["id"])
                assert key not in seen, f"{sid} got message {key} twice"
                seen[key] = [data["v"]]
                order.append(key)
            elif event == "message_updated":
                key = (data["epoch"], data["id"])
                if key not in seen:  # only of one it had, or one history lost meanwhile
                    assert (data["epoch"] == read_epoch and data["id"] <= head) or (
                        self.store.keep and data["id"] < self.store.kept_from
                    ), f"{sid} got an update of {key} before the message"
                    seen[key] = [shown.get(data["id"], -1)]
                history = seen[key]
                assert data["v"] > history[-1], f"{sid}: {key} went from v{history} to {data['v']}"
                history.append(data["v"])
        epochs = [e for e, _ in order]
        segments = [e for i, e in enumerate(epochs) if i == 0 or epochs[i - 1] != e]
        assert len(segments) == len(set(segments)), f"{sid}: epochs interleaved {segments}"
        for epoch in segments:  # in order, from after its head; gapless unless trimmed
            ids = [i for e, i in order if e == epoch]
            start = head + 1 if epoch == read_epoch else 1
            assert ids == sorted(set(ids)) and ids[0] >= start, f"{sid}: {epoch} ids {ids}"
            if not self.store.keep:
                assert list(range(start, start + len(ids))) == ids, f"{sid}: {epoch} ids {ids}"
        final = self.store.epoch
        start = head + 1 if final == read_epoch else 1
        got = [i for e, i in order if e == final]
        missed = set(range(start, self.store.head + 1)) - set(got)
        assert all(i < self.store.kept_from for i in missed), f"{sid} missed {sorted(missed)}"
        for msg_id, v in self.store.versions.items():
            if msg_id < self.store.kept_from:
                continue  # gone from history: nobody can change it any more
            if (final, msg_id) in seen:
                assert v == seen[(final, msg_id)][-1], f"{sid}: {msg_id} stale"
            elif final == read_epoch and msg_id in shown:
                assert v == shown[msg_id], f"{sid}: shown {msg_id} never brought up to date"
            elif final == read_epoch and msg_id <= head:
                assert v == at_read.get(msg_id, 0), f"{sid}: change of {msg_id} missed"
        heard = [d["n"] for e, d in client.events if e == "user_joined"]
        assert len(heard) == len(set(heard)), f"{sid} got a presence event twice"
        due = [n for n, skip, lost in self.presence[client.presence_after :] if not lost]
        assert set(due) - {n for n, skip, _ in self.presence if skip == sid} <= set(heard)


RoomMachine.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRoomMachine = RoomMachine.TestCase
