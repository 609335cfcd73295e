"""Every library internal chat_service/transport/ hooks still exists with the shape it expects.

An upgrade of python-socketio, python-engineio, aiohttp or bidict that moves one of
these fails here, loudly, instead of silently switching a fast path off.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import socketio
from aiohttp import http_websocket, web
from engineio import async_socket
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp

from chat_service import transport
from chat_service.appkeys import RUNTIME
from chat_tools.bench.eio import SocketIOClient
from chat_tools.clients import ChatClient, ServedApp, make_settings


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


class TestHookedNames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            (
                "_handle_event_internal",
                ["self", "server", "sid", "eio_sid", "data", "namespace", "id"],
            ),
            ("_handle_eio_message", ["self", "eio_sid", "data"]),
            ("_handle_event", ["self", "eio_sid", "namespace", "id", "data"]),
            ("_handle_eio_connect", ["self", "eio_sid", "environ"]),
            ("_handle_eio_disconnect", ["self", "eio_sid", "reason"]),
            ("_handle_ack", ["self", "eio_sid", "namespace", "id", "data"]),
            ("_handle_connect", ["self", "eio_sid", "namespace", "data"]),
            ("_send_packet", ["self", "eio_sid", "pkt"]),
        ],
    )
    def test_server_methods(self, name: str, expected: list[str]) -> None:
        """python-socketio's AsyncServer methods that ChatServer overrides or calls."""
        assert expected == params(getattr(socketio.AsyncServer, name))

    def test_server_attributes(self) -> None:
        """Attributes ChatServer reads on itself."""
        server = transport.make_server(
            max_queue_bytes=1024, cors=None, max_packet_bytes=1024, json=None
        ).sio
        assert {"connect", "disconnect"} <= set(server.reserved_events)
        assert isinstance(server._binary_packet, dict)
        assert server.reason.CLIENT_DISCONNECT and server.eio.reason.SERVER_DISCONNECT
        assert isinstance(server.eio.sockets, dict)

    def test_engineio_refuses_a_false_connect(self) -> None:
        """SessionGuard refuses a handshake by returning False from the Engine.IO connect
        event: python-engineio then forgets the socket and answers 401; the guard finds a
        session's Socket.IO connection by `sid_from_eio_sid`."""
        import engineio

        source = inspect.getsource(engineio.AsyncServer._handle_connect)
        assert "ret is not None and ret is not True" in source
        assert "del self.sockets[sid]" in source and "self._unauthorized(" in source
        assert ["self", "eio_sid", "namespace"] == params(socketio.AsyncManager.sid_from_eio_sid)

    def test_aiohttp_keepalive_bounds_a_request_in_waiting(self) -> None:
        """runner.http_limits relies on aiohttp arming `keepalive_timeout` when a connection
        opens, and closing it then if no complete request arrived (silent and dribbling
        clients alike); engineio's POST body limit on `max_http_buffer_size`."""
        from aiohttp import web_protocol

        opened = inspect.getsource(web_protocol.RequestHandler.connection_made)
        assert "self._keepalive_handle = loop.call_at(" in opened
        fired = inspect.getsource(web_protocol.RequestHandler._process_keepalive)
        assert "self._waiter and not self._waiter.done()" in fired and "force_close()" in fired
        assert "keepalive_timeout" in params(web_protocol.RequestHandler.__init__)
        post = inspect.getsource(async_socket.AsyncSocket.handle_post_request)
        assert "self.server.max_http_buffer_size" in post

    def test_engineio_socket(self) -> None:
        """AsyncSocket methods FastSocket overrides or calls, and its queue."""
        assert ["self", "ws"] == params(async_socket.AsyncSocket._websocket_handler)
        assert ["self"] == params(async_socket.AsyncSocket.poll)
        assert ["self", "pkt"] == params(async_socket.AsyncSocket.send)
        assert "self.queue.put(pkt)" in inspect.getsource(async_socket.AsyncSocket.send)
        assert ["self", "wait", "abort", "reason"] == params(async_socket.AsyncSocket.close)
        assert "self._sock" in inspect.getsource(eio_aiohttp.WebSocket)
        # FastSocket.schedule_ping replaces a task per ping with a timer: the stock one
        # still only re-arms after an answered ping, and the ping still sets last_ping.
        assert ["self"] == params(async_socket.AsyncSocket.schedule_ping)
        scheduled = inspect.getsource(async_socket.AsyncSocket.schedule_ping)
        assert "if self.last_ping:" in scheduled and "self._send_ping" in scheduled
        pinged = inspect.getsource(async_socket.AsyncSocket._send_ping)
        assert "self.server.ping_interval" in pinged and "self.last_ping = time.time()" in pinged

    def test_engineio_websocket_driver(self) -> None:
        """The aiohttp driver PlainWebSocket replaces: its constructor, the response it
        builds in `__call__`, and the `_async['websocket']` entry the socket picks it by."""
        assert ["self", "handler", "server"] == params(eio_aiohttp.WebSocket.__init__)
        source = inspect.getsource(eio_aiohttp.WebSocket.__call__)
        assert "WebSocketResponse(" in source
        assert "max_msg_size=self.server.max_http_buffer_size" in source
        assert "self._sock.prepare(request)" in source and "self.handler(self)" in source
        assert eio_aiohttp.WebSocket is eio_aiohttp._async["websocket"]
        assert "self.server._async['websocket']" in inspect.getsource(async_socket)
        assert "compress" in params(web.WebSocketResponse.__init__)

    def test_compression_choice_stays_per_server(self) -> None:
        """Declining swaps the driver on a copy: the module's own dict is untouched."""
        plain = transport.make_server(
            max_queue_bytes=1024, cors=None, max_packet_bytes=1024, json=None
        ).sio
        deflating = transport.make_server(
            max_queue_bytes=1024, cors=None, max_packet_bytes=1024, json=None, ws_compression=True
        ).sio
        assert (transport.PlainWebSocket, eio_aiohttp.WebSocket, eio_aiohttp.WebSocket) == (
            plain.eio._async["websocket"],
            deflating.eio._async["websocket"],
            eio_aiohttp._async["websocket"],
        )

    def test_aiohttp_writer(self) -> None:
        """The websocket response keeps its writer, and the writer its transport."""
        assert "self._writer" in inspect.getsource(__import__("aiohttp").web_ws)
        assert "self.transport" in inspect.getsource(http_websocket.WebSocketWriter)

    def test_queue_items(self) -> None:
        """asyncio.Queue keeps its items in `_queue` (read to size a slow backlog)."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        queue.put_nowait(1)
        assert [1] == list(queue._queue)  # type: ignore[attr-defined]

    def test_packet_cache(self) -> None:
        """Engine.IO packets cache their encoding (shared by every recipient)."""
        pkt = transport.event_packet("message", "{}")
        assert pkt.encode_cache == pkt.encode()
        assert isinstance(eio_packet.Packet(eio_packet.NOOP), eio_packet.Packet)


class TestFastPathIsOn:
    async def test_broadcasts_take_the_fast_path(
        self, served: Callable[..., Any], clients: Callable[..., Any]
    ) -> None:
        """On a real node, broadcasts write frames directly and no fallback ever runs."""
        transport.FALLBACKS.clear()
        node: ServedApp = await served(make_settings())
        members: list[ChatClient] = [await clients(node.url, f"m{i}") for i in range(3)]
        for i, member in enumerate(members):
            assert (await member.call("join", {"room": "lobby", "name": f"m{i}"}))["ok"]
        for i in range(5):
            await members[0].call("send_message", {"room": "lobby", "text": f"t{i}"})
        for member in members:
            await member.wait_for(lambda m=member: len(m.messages()) == 5)
        manager = node.app[RUNTIME].transport.manager
        assert ({}, True) == (dict(transport.FALLBACKS), manager.direct_writes > 0)


class TestCompression:
    @pytest.mark.parametrize(("accept", "expected"), [(False, False), (True, True)])
    async def test_deflate_offered_like_a_browser(
        self, served: Callable[..., Any], accept: bool, expected: bool
    ) -> None:
        """A browser-like offer is declined by default and accepted with the setting on;
        either way a message sent round-trips (compressed acks inflate)."""
        transport.FALLBACKS.clear()
        node: ServedApp = await served(make_settings(ws_compression=accept))
        got: list[Any] = []
        client = SocketIOClient(node.url, lambda event, payload: got.append((event, payload)))
        await client.connect(5.0)
        try:
            join = await client.call("join", {"room": "lobby", "name": "ann"}, 5.0)
            sent = await client.call("send_message", {"room": "lobby", "text": "hi"}, 5.0)
            async with asyncio.timeout(5.0):
                while not any(event == "message" for event, _ in got):
                    await asyncio.sleep(0.01)
        finally:
            client.close()
        assert (expected, True, True) == (client.compressed, join["ok"], sent["ok"])
        assert {} == dict(transport.FALLBACKS)
