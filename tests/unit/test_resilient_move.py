"""ResilientClient leaves a connection that answers only `unavailable`, and when not to."""

from __future__ import annotations

import time
from typing import Any

from chat_service.errors import STORE_FULL_MESSAGE
from chat_tools.clients import UNAVAILABLE_MOVE_CAP, ChatClient, ResilientClient

CUT = {"ok": False, "error": {"code": "unavailable", "message": "backend unavailable"}}
FULL = {"ok": False, "error": {"code": "unavailable", "message": STORE_FULL_MESSAGE}}
OK = {"ok": True, "message": {"id": 1}}


def _member(move_after: float) -> tuple[ResilientClient, ChatClient]:
    member = ResilientClient(["http://127.0.0.1:9"], "room", "ann", move_after=move_after)
    connection = ChatClient("ann")
    member._client = connection
    return member, connection


def _answers(member: ResilientClient, connection: ChatClient, reply: Any, times: int) -> bool:
    moved = False
    for _ in range(times):
        moved = member._stuck(connection, reply, dropped=False) or moved
        time.sleep(0.02)
    return moved


class TestMove:
    def test_only_unavailable_for_long_enough_moves(self) -> None:
        """`unavailable` for longer than move_after: move, and wait twice as long next time."""
        member, connection = _member(0.05)
        assert True is _answers(member, connection, CUT, 5)
        assert 0.1 == member.move_after

    def test_no_answer_counts_like_unavailable(self) -> None:
        """Unanswered sends on a live connection count too (a node stuck behind a cut)."""
        member, connection = _member(0.05)
        assert True is _answers(member, connection, None, 5)

    def test_an_ok_resets_the_wait(self) -> None:
        """Any acknowledged send starts the count over and restores the first wait."""
        member, connection = _member(0.05)
        _answers(member, connection, CUT, 5)
        member._stuck(connection, OK, dropped=False)
        assert (0.05, False) == (member.move_after, _answers(member, connection, CUT, 2))

    def test_a_full_redis_never_moves(self) -> None:
        """Every node shares the full Redis: no reason to move."""
        member, connection = _member(0.01)
        assert False is _answers(member, connection, FULL, 5)

    def test_the_wait_is_capped(self) -> None:
        """Redis down everywhere: the wait doubles up to a minute, not beyond."""
        member, connection = _member(40.0)
        member._unavailable_since, member._unavailable_on = time.monotonic() - 41, connection
        assert True is member._stuck(connection, CUT, dropped=False)
        assert UNAVAILABLE_MOVE_CAP == member.move_after
