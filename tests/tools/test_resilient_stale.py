"""ResilientClient listens only to the connection in use."""

from __future__ import annotations

from typing import Any

from chat_tools.clients import ChatClient, ResilientClient


def _member(seen: list[tuple[str, Any]]) -> ResilientClient:
    return ResilientClient(
        ["http://127.0.0.1:1"], "r", "n", observer=lambda event, data: seen.append((event, data))
    )


async def test_message_from_a_connection_given_up_on_is_not_shown() -> None:
    """A node that resumes after its connection was abandoned delivers late: ignored."""
    seen: list[tuple[str, Any]] = []
    member = _member(seen)
    old, new = ChatClient("old"), ChatClient("new")
    member._live = new
    message = {"room": "r", "id": 7, "epoch": "e", "text": "t"}
    await member._on_message(old, message)
    await member._on_message(new, message)
    assert ([message], [("message", message)]) == (member.received, seen)


def test_presence_from_a_connection_given_up_on_is_not_shown() -> None:
    """user_left / user_joined of an abandoned connection reach no one."""
    seen: list[tuple[str, Any]] = []
    member = _member(seen)
    old, new = ChatClient("old"), ChatClient("new")
    member._live = new
    member._presence("user_left", {"name": "x"}, client=old)
    member._presence("user_joined", {"name": "y"}, client=new)
    assert [("user_joined", {"name": "y"})] == seen


async def test_nothing_is_shown_once_the_tab_is_stopping() -> None:
    """A message that arrives while the tab closes is not shown, so a reload that
    resumes after `last_message` shows it exactly once."""
    seen: list[tuple[str, Any]] = []
    member = _member(seen)
    live = ChatClient("live")
    member._live = live
    await member.stop()
    await member._on_message(live, {"room": "r", "id": 8, "epoch": "e", "text": "late"})
    assert ([], None) == (seen, member.last_message)
