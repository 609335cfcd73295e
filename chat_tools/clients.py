"""Clients for tests and tools: a python-socketio recorder, a raw Engine.IO socket, a
member that survives node deaths, and an in-process served app.

Lives outside `chat_service` so a node imports none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from chat_service.config import Settings
from chat_service.domain.backoff import Backoff
from chat_service.errors import STORE_FULL_MESSAGE

from .procs import free_port


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: loopback, everything else the defaults unless overridden."""
    return dataclasses.replace(Settings(host="127.0.0.1", port=0), **overrides)


class ServedApp:
    """An aiohttp app served on a free loopback port inside the test's event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ServedApp:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()


class MessageVersions:
    """The newest version of each message seen, as a client must keep them (protocol
    version 3): per `(epoch, id)`, the copy with the highest `v` wins, whatever order
    `message`, `message_updated`, acks and join replies arrive in."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, int], dict[str, Any]] = {}

    def apply(self, message: Any) -> None:
        if not isinstance(message, dict) or "id" not in message or "epoch" not in message:
            return
        key = (str(message["epoch"]), int(message["id"]))
        known = self.by_key.get(key)
        if known is None or int(message.get("v", 0)) > int(known.get("v", 0)):
            self.by_key[key] = message

    def apply_join(self, reply: Any) -> None:
        """A join reply's history and `updated` (the changes missed while away)."""
        if isinstance(reply, dict) and reply.get("ok"):
            for message in [*reply.get("history", []), *reply.get("updated", [])]:
                self.apply(message)

    def current(self, room: str | None = None) -> list[dict[str, Any]]:
        """Messages in their newest known state, in id order."""
        kept = [m for m in self.by_key.values() if room is None or m.get("room") == room]
        return sorted(kept, key=lambda m: (str(m["epoch"]), int(m["id"])))


class ChatClient:
    """A python-socketio client that records every server event for assertions, and
    keeps the newest version of every message it saw (`versions`)."""

    def __init__(self, name: str = "client", **client_kwargs: Any) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False, **client_kwargs)
        self.events: list[tuple[str, Any]] = []
        self.versions = MessageVersions()
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else list(args)
        self.events.append((event, data))
        if event in ("message", "message_updated"):
            self.versions.apply(data)
        self._changed.set()

    async def connect(
        self,
        url: str,
        transports: Sequence[str] = ("websocket",),
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> ChatClient:
        await self.sio.connect(url, transports=list(transports), wait_timeout=timeout, **kwargs)
        return self

    async def call(self, event: str, payload: Any = None, timeout: float = 5.0) -> Any:
        """Emit with an acknowledgement and return the reply.

        `None` sends no argument; a tuple is sent as several arguments (python-socketio's rule).
        """
        return await self.sio.call(event, payload, timeout=timeout)

    async def change(self, event: str, payload: dict[str, Any], timeout: float = 5.0) -> Any:
        """An event answered with a message (send, edit, delete, react): the reply, with
        its message kept in `versions`."""
        reply = await self.call(event, payload, timeout)
        if isinstance(reply, dict) and reply.get("ok"):
            self.versions.apply(reply.get("message"))
        return reply

    async def edit(self, room: str, msg_id: int, text: str, **extra: Any) -> Any:
        return await self.change(
            "edit_message", {"room": room, "id": msg_id, "text": text, **extra}
        )

    async def delete(self, room: str, msg_id: int, **extra: Any) -> Any:
        return await self.change("delete_message", {"room": room, "id": msg_id, **extra})

    async def react(self, room: str, msg_id: int, emoji: str, on: bool = True, **extra: Any) -> Any:
        payload = {"room": room, "id": msg_id, "emoji": emoji, "on": on, **extra}
        return await self.change("react", payload)

    async def mark_read(self, room: str, msg_id: int) -> Any:
        return await self.call("mark_read", {"room": room, "id": msg_id})

    async def join(self, room: str, name: str, **extra: Any) -> Any:
        """join, keeping the reply's history and `updated` in `versions`."""
        reply = await self.call("join", {"room": room, "name": name, **extra})
        self.versions.apply_join(reply)
        return reply

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    def messages(self, room: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.of("message") if room is None or m.get("room") == room]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checked after every event."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: condition not met; events: {self.events[-10:]}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    async def close(self, timeout: float = 2.0) -> None:
        # A graceful close waits for the server's close frame: a frozen server never sends
        # it, so the wait is bounded and the session below is closed regardless.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), timeout)
        # A connect that failed leaves Engine.IO's HTTP session open ("Unclosed client session");
        # closing it also aborts a WebSocket that the graceful close gave up on.
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed:
            with contextlib.suppress(Exception):
                await http.close()


class RawSocket:
    """A hand-driven Engine.IO v4 websocket: sends any frame, reads (or refuses to read).

    For hostile-input and slow-consumer tests, where a well-behaved client library
    would not send what an attacker sends.
    """

    def __init__(
        self,
        url: str,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        read_buffer: int | None = None,
        compress: int = 0,
    ) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.headers = dict(headers or {})
        if origin:
            self.headers["Origin"] = origin
        self.read_buffer = read_buffer
        self.compress = compress
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0

    async def open(self, timeout: float = 5.0) -> RawSocket:
        """Handshake: Engine.IO OPEN, then a Socket.IO CONNECT to '/'."""
        connector = aiohttp.TCPConnector(force_close=True)
        self.session = aiohttp.ClientSession(connector=connector)
        self.ws = await self.session.ws_connect(
            self.url,
            headers=self.headers,
            timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
            max_msg_size=0,
            compress=self.compress,
        )
        if self.read_buffer is not None:
            sock = self.ws.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.read_buffer)
        first = await self.receive(timeout)
        assert first.startswith("0"), first
        await self.ws.send_str("40")
        connected = await self.receive(timeout)
        assert connected.startswith("40"), connected
        return self

    async def send(self, frame: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def receive(self, timeout: float = 5.0) -> str:
        """The next text frame, answering pings on the way."""
        assert self.ws is not None
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"websocket closed: {msg.type} {msg.data!r}")
            if msg.data == "2":
                await self.ws.send_str("3")
                continue
            return str(msg.data)

    async def call(self, event: str, payload: Any, timeout: float = 5.0) -> Any:
        """Emit with an ack id and wait for that ack (other frames are skipped)."""
        self._next_id += 1
        ack_id = self._next_id
        body = json.dumps([event, payload])
        await self.send(f"42{ack_id}{body}")
        return await self.wait_ack(ack_id, timeout)

    async def wait_ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        prefix = f"43{ack_id}"
        while True:
            frame = await self.receive(max(deadline - time.monotonic(), 0.01))
            if frame.startswith(prefix) and frame[len(prefix)] == "[":
                return json.loads(frame[len(prefix) :])[0]

    @property
    def closed(self) -> bool:
        return self.ws is None or self.ws.closed

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.ws is not None:
                await asyncio.wait_for(self.ws.close(), 2)
        if self.session is not None:
            await self.session.close()


async def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET without blocking the event loop: (status, body)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(url) as resp,
    ):
        return resp.status, await resp.text()


# web/static/js/chat.js: CONNECT_TIMEOUT_MS, socket.io-client's `timeout` for one attempt.
CONNECT_TIMEOUT = 8.0
# A connection answered only `unavailable` this long moves to another node (the balancer
# stopped sending people to a node cut off from Redis); each move that did not help
# doubles the wait, up to the cap (Redis down everywhere: keep trying, slowly).
UNAVAILABLE_MOVE_AFTER = 10.0
UNAVAILABLE_MOVE_CAP = 60.0
UNAVAILABLE_RETRY = 0.5  # seconds between sends answered `unavailable`


def _set_event(event: asyncio.Event, *_args: Any) -> None:
    event.set()


def _unavailable(reply: Any) -> bool:
    return bool(reply) and reply.get("error", {}).get("code") == "unavailable"


def _node_cut_off(reply: Any) -> bool:
    """`unavailable` that another node might not answer: not a full Redis (shared by all)."""
    return _unavailable(reply) and reply["error"].get("message") != STORE_FULL_MESSAGE


class ResilientClient:
    """A chat member that survives node deaths the way the browser page does.

    It stays in one room under one `key` (so its name is its own across connections);
    when its connection drops it connects to the next URL and rejoins with `since` and
    `epoch` of the last message it saw. Sends carry a `client_id` and are retried with it
    until acknowledged, so a retry is never shown twice. Every message it is shown, live
    or recovered, lands in `received`, so a test can count losses and duplicates.

    Reconnect attempts wait a jittered, capped exponential `backoff`, so the clients of
    a dead node do not all come back in the same instant. `since` is the last message an
    earlier tab showed (a reload resumes after it); `observer` sees every message shown,
    `reset`s and presence events, for tools that keep their own record.

    A connection that hears nothing (not even a ping) for pingInterval + pingTimeout is
    dropped by python-engineio itself, as by the browser's client. A connection attempt
    gives up after `connect_timeout` seconds, the page's `timeout`: python-engineio's
    WebSocket handshake has no deadline of its own, so an attempt that the balancer sends
    to a frozen node (still passing its last health check) would wait until it resumes.

    A connection that has answered nothing but `unavailable` for `move_after` seconds
    (a node cut off from Redis, which the balancer no longer routes to) is left for
    another one, with backoff; each move that did not help doubles the wait, up to a
    minute (Redis down everywhere). A full Redis (`STORE_FULL_MESSAGE`) is no reason to
    move: it is every node's.
    """

    def __init__(
        self,
        urls: Sequence[str],
        room: str,
        name: str,
        key: str | None = None,
        *,
        backoff: Backoff | None = None,
        since: dict[str, Any] | None = None,
        observer: Callable[[str, Any], None] | None = None,
        drop_after: int = 0,
        connect_timeout: float = CONNECT_TIMEOUT,
        move_after: float = UNAVAILABLE_MOVE_AFTER,
    ) -> None:
        self.urls = list(urls)
        self.room = room
        self.name = name
        self.key = key or secrets.token_urlsafe(24)
        self.received: list[dict[str, Any]] = []
        self.versions = MessageVersions()  # every message in its newest state
        self.acked: list[int] = []
        self.failed_sends = 0
        self.retries = 0
        self.duplicate_acks = 0
        self.resets = 0
        self.reconnects = 0
        self.rejoin_seconds: list[float] = []
        self._sent = 0
        self._tab_id = secrets.token_hex(6)
        self._turn = 0
        self._client: ChatClient | None = None
        self._live: ChatClient | None = None  # the connection being made or in use
        self._ready = asyncio.Event()
        self._dropped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._held: list[dict[str, Any]] | None = None
        self.backoff = backoff or Backoff()
        self._since = since
        self._observer = observer
        self.drop_after = drop_after  # unanswered sends in a row before reconnecting; 0: never
        self.last_ack: dict[str, Any] | None = None
        self.connect_timeout = connect_timeout
        self.connect_timeouts = 0  # attempts abandoned after `connect_timeout`
        self.moves = 0  # connections left for answering only `unavailable`
        self._move_base = self.move_after = move_after
        self._unavailable_since: float | None = None
        self._unavailable_on: ChatClient | None = None  # the connection of that streak

    @property
    def _last(self) -> dict[str, Any] | None:
        return self.received[-1] if self.received else self._since

    @property
    def last_message(self) -> dict[str, Any] | None:
        """The last message this member showed, or the one it resumed after."""
        return self._last

    @property
    def last_id(self) -> int:
        return int(self._last["id"]) if self._last else 0

    @property
    def epoch(self) -> str | None:
        return str(self._last["epoch"]) if self._last else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _show(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        self.versions.apply(message)
        if self._observer is not None:
            self._observer("message", message)

    def _presence(self, event: str, data: Any, client: ChatClient | None = None) -> None:
        if client is not None and client is not self._live:
            return
        if self._observer is not None:
            self._observer(event, data)

    def ids(self) -> list[int]:
        return [int(m["id"]) for m in self.received]

    async def start(self) -> ResilientClient:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 20)
        return self

    async def _on_update(self, client: ChatClient, data: Any) -> None:
        if client is self._live and isinstance(data, dict) and data.get("room") == self.room:
            self.versions.apply(data)

    async def _on_message(self, client: ChatClient, data: Any) -> None:
        if client is not self._live:
            return  # a connection given up on, delivering late (a node that resumed)
        if isinstance(data, dict) and data.get("room") == self.room:
            if self._held is not None:
                self._held.append(data)  # a live event that overtook the join's ack
            else:
                self._show(data)

    async def _connect_and_join(self) -> ChatClient:
        deadline = time.monotonic() + 30
        attempt = 0
        while True:
            if attempt or self.reconnects:  # the first connection of all is not a reconnect
                await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1
            url = self.urls[self._turn % len(self.urls)]
            self._turn += 1
            client = self._live = ChatClient(self.name)
            # Only the connection in use is listened to, as a page listens to its one socket.
            client.sio.on("message", functools.partial(self._on_message, client))
            client.sio.on("message_updated", functools.partial(self._on_update, client))
            for event in ("user_joined", "user_left"):
                client.sio.on(event, functools.partial(self._presence, event, client=client))
            self._held = []
            try:
                try:
                    await asyncio.wait_for(client.connect(url, timeout=3), self.connect_timeout)
                except TimeoutError:
                    self.connect_timeouts += 1
                    raise
                payload: dict[str, Any] = {"room": self.room, "name": self.name, "key": self.key}
                if self._last is not None:
                    payload["since"] = self.last_id
                    payload["epoch"] = self.epoch
                reply = await client.call("join", payload, timeout=5)
                if reply.get("ok") and reply.get("reset"):
                    self.resets += 1  # the history we knew is gone: start over in the new one
                    self.received.clear()
                    self._since = None
                    self._presence("reset", reply)
                if reply.get("ok"):
                    self.versions.apply_join(reply)  # changes missed while away
                    # History first, then live events that arrived before the ack: the
                    # server admits the joiner before it sends the join's reply.
                    for message in [*reply["history"], *self._held]:
                        if message["id"] > self.last_id:
                            self._show(message)
                    self._held = None
                    return client
            except Exception:  # a node that is down or draining: try the next one
                reply = None
            await client.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} could not rejoin: {reply}")

    async def _run(self) -> None:
        while not self._stopping:
            dropped_at = time.monotonic()
            try:
                self._client = await self._connect_and_join()
            except TimeoutError:
                if self._ready.is_set() or not self.reconnects:
                    raise  # the first join failed: start() reports it
                continue  # the service is still away: keep trying, as the page does
            if self.reconnects:
                self.rejoin_seconds.append(time.monotonic() - dropped_at)
            dropped = self._dropped = asyncio.Event()
            self._client.sio.on("disconnect", functools.partial(_set_event, dropped))
            self._ready.set()
            if self._client.sio.connected:
                await dropped.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._client.close(), 3)
            if not self._stopping:
                self.reconnects += 1
                self._ready.clear()

    @staticmethod
    async def _call_unless_dropped(
        client: ChatClient, dropped: asyncio.Event, payload: dict[str, Any]
    ) -> Any:
        """The ack, or None as soon as the connection drops (as the page's outbox does:
        an ack that can no longer come is not waited for)."""
        call = asyncio.ensure_future(client.call("send_message", payload, timeout=3))
        drop = asyncio.ensure_future(dropped.wait())
        try:
            await asyncio.wait({call, drop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drop.cancel()
        if not call.done():
            call.cancel()
            return None
        return None if call.exception() else call.result()

    def next_client_id(self) -> str:
        """Unique per tab and message, as the page's are (random): a reloaded tab of the
        same person counting from 1 again must not be taken for a retry of the old one's."""
        self._sent += 1
        return f"{self._tab_id}-{self._sent}"

    async def send(self, text: str, deadline: float = 40.0) -> int | None:
        """Send with a client_id, retrying with it until acknowledged or `deadline`
        seconds pass; returns the acknowledged id, or None."""
        client_id = self.next_client_id()
        payload = {"room": self.room, "text": text, "client_id": client_id}
        give_up = time.monotonic() + deadline
        unanswered = 0
        while time.monotonic() < give_up:
            try:
                await asyncio.wait_for(self._ready.wait(), max(give_up - time.monotonic(), 0.01))
            except TimeoutError:
                break
            client, dropped = self._client, self._dropped
            assert client is not None
            reply = await self._call_unless_dropped(client, dropped, payload)
            if reply is None and not dropped.is_set():
                unanswered += 1  # no ack in time on a connection that looks alive
                if self.drop_after and unanswered % self.drop_after == 0:
                    await self.drop()
            if self._stuck(client, reply, dropped.is_set()):
                self.moves += 1
                await self.drop()
            if reply and reply.get("ok"):
                if reply.get("duplicate"):
                    self.duplicate_acks += 1
                msg_id = int(reply["message"]["id"])
                self.acked.append(msg_id)
                self.last_ack = reply["message"]
                return msg_id
            self.retries += 1
            await asyncio.sleep(UNAVAILABLE_RETRY if _unavailable(reply) else 0.1)
        self.failed_sends += 1
        return None

    def _stuck(self, client: ChatClient, reply: Any, dropped: bool) -> bool:
        """True when `client` has answered nothing but `unavailable` (or nothing at all,
        while connected) for `move_after` seconds: time to reconnect, with backoff, most
        likely to another node."""
        if reply and reply.get("ok"):
            self._unavailable_since = None
            self.move_after = self._move_base
            return False
        failed = _node_cut_off(reply) or (reply is None and not dropped)
        if not failed or client is not self._client:
            return False
        now = time.monotonic()
        if self._unavailable_since is None or self._unavailable_on is not client:
            self._unavailable_since, self._unavailable_on = now, client
            return False
        if now - self._unavailable_since < self.move_after:
            return False
        self._unavailable_since = None  # counted afresh on the next connection
        self.move_after = min(self.move_after * 2, UNAVAILABLE_MOVE_CAP)
        return True

    async def drop(self) -> None:
        """Give up on this connection (it answers nothing) and reconnect, as a person
        reloading a stuck page would."""
        self._ready.clear()
        self._dropped.set()

    async def call(self, event: str, payload: Any, timeout: float = 3.0) -> Any:
        """An acknowledged event on the current connection; raises if there is none."""
        client = self._client
        if client is None or not self._ready.is_set():
            raise ConnectionError("not connected")
        return await client.call(event, payload, timeout=timeout)

    async def wait_for_ids(self, expected: list[int], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while sorted(set(self.ids())) != expected or not self._ready.is_set():
            if time.monotonic() > deadline:
                missing = sorted(set(expected) - set(self.ids()))
                raise TimeoutError(f"{self.name} is missing {missing[:20]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Close the tab: nothing that arrives from now on is shown, so `last_message`
        is final (a reload resumes after it), and every connection is closed, including
        one still being made."""
        self._stopping = True
        live, self._live = self._live, None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for client in {id(c): c for c in (self._client, live) if c is not None}.values():
            await client.close()
