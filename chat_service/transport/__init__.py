"""The only package that knows python-socketio, python-engineio and aiohttp internals.

Modules: `frames` (packets and websocket frames, encoded once; the per-turn write
batch), `fastpath` (the socket, manager and websocket driver hooks), `guard` (limits on
Engine.IO sessions), `server` (the hardened AsyncServer, `Transport` and
`make_server`). Everything else talks to `Transport` (send to a connection, broadcast
to a room, enter and leave rooms, close a connection) and to `after_ack` (run code
once an event's acknowledgement is queued).
`tests/unit/test_transport_canary.py` checks every private name hooked here, so an
upgrade that moves one fails loudly instead of silently switching a fast path off; a
fallback that does happen is counted in `/metrics`.

Why the hooks:
- python-socketio's stock `AsyncManager.emit` creates one asyncio task per recipient,
  which is most of a broadcast's cost. Here a broadcast builds one Engine.IO packet (its
  encoding is cached on the packet) and puts it straight on each socket's send queue,
  or writes its pre-built websocket frame to an idle socket's transport.
- Direct writes are batched per event-loop turn: the frames one socket gets in a turn
  (a burst of messages read from Redis at once, typically after a pause) go out in one
  write, one send() instead of one each, so a node catches up faster after a stall.
- The same queues are watched for slow consumers: a client whose unsent backlog passes
  `max_queue_bytes` is disconnected instead of growing the node without bound.
- A join admits the joiner to live delivery only after its reply is queued (protocol:
  no live event before the join reply), which needs the ack's send as a hook point.
- Malformed, binary and reserved-name packets get `bad_request` instead of a traceback.
- Engine.IO sessions are limited before any Socket.IO CONNECT (`guard`): per client
  address, a deadline for the CONNECT, and a cap on refused CONNECTs.
- permessage-deflate: aiohttp accepts it whenever a client offers it (every browser
  does), and python-engineio gives no switch; each compressing connection then keeps
  zlib state (~100 KB) and compresses every packet. `PlainWebSocket` declines it unless
  the node is configured to accept it (CHAT_WS_COMPRESSION=on).
"""

from .fastpath import FALLBACKS, FastManager, FastSocket, PlainWebSocket
from .frames import WriteBatch, event_packet, sio_room, websocket_frame
from .guard import SessionGuard, SessionLimits
from .server import ChatServer, Transport, after_ack, make_server

__all__ = [
    "FALLBACKS",
    "ChatServer",
    "FastManager",
    "FastSocket",
    "PlainWebSocket",
    "SessionGuard",
    "SessionLimits",
    "Transport",
    "WriteBatch",
    "after_ack",
    "event_packet",
    "make_server",
    "sio_room",
    "websocket_frame",
]
