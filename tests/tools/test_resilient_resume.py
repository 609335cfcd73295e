"""ResilientClient's resume point, which a reloaded tab carries over."""

from __future__ import annotations

from chat_tools.clients import ResilientClient


def test_since_is_the_resume_point_until_a_message_is_shown() -> None:
    """A tab opened after an earlier one resumes after the earlier one's last message."""
    last = {"room": "r", "id": 41, "epoch": "e1", "text": "x"}
    member = ResilientClient(["http://127.0.0.1:1"], "r", "n", since=last)
    assert (last, 41, "e1") == (member.last_message, member.last_id, member.epoch)


def test_shown_message_overrides_since() -> None:
    """Once the tab shows a message, that message is where a later reload resumes."""
    member = ResilientClient(["http://127.0.0.1:1"], "r", "n", since={"id": 3, "epoch": "e"})
    member._show({"room": "r", "id": 9, "epoch": "e", "text": "y"})
    assert (9, "e") == (member.last_id, member.epoch)


def test_client_ids_differ_between_tabs_of_one_person() -> None:
    """A reloaded tab (same key) never reuses an earlier tab's client_id: the server
    would answer its new message with the old one."""
    first = ResilientClient(["http://127.0.0.1:1"], "r", "n", key="k" * 24)
    second = ResilientClient(["http://127.0.0.1:1"], "r", "n", key="k" * 24)
    ids = [first.next_client_id(), first.next_client_id(), second.next_client_id()]
    assert 3 == len(set(ids))
