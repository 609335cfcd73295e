"""Samples of processes: sockets to a port, read from /proc."""

from __future__ import annotations

import os
import socket

from chat_tools.soak.probe import peer_sockets, sockets_to

TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1
   1: 0100007F:C350 0100007F:18EB 01 00000000:00000000 00:00000000 00000000  1000        0 222 1
   2: 0100007F:C351 0100007F:18EB 01 00000000:00000000 00:00000000 00000000  1000        0 333 1
   3: 0100007F:1F90 0100007F:C352 01 00000000:00000000 00:00000000 00000000  1000        0 444 1
"""


def test_counts_only_the_processes_sockets_to_the_port() -> None:
    """Sockets to port 6379 (0x18EB) that the process holds; not its listener, not others'."""
    assert 1 == peer_sockets(TABLE, {111, 222, 444}, 6379)


def test_counts_own_connections_to_a_listener() -> None:
    """This process's two connections to a local listener are found through /proc."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with (
            socket.create_connection(("127.0.0.1", port)),
            socket.create_connection(("127.0.0.1", port)),
        ):
            assert 2.0 == sockets_to(os.getpid(), port)


def test_gone_process_has_no_count() -> None:
    """A pid that does not exist gives None, not zero."""
    assert sockets_to(2**22 + 12345, 6379) is None
