"""Losses, duplicates and order breaks, by (epoch, id)."""

from __future__ import annotations

from chat_tools.soak.ledger import Ledger


def acked(ledger: Ledger, room: str, epoch: str, ids: range) -> None:
    for i in ids:
        ledger.ack(room, {"epoch": epoch, "id": i})


def show(ledger: Ledger, room: str, items: list[tuple[str, int]]) -> None:
    view = ledger.view(room)
    view.shown.extend((e, i, f"{e}/{i}") for e, i in items)


def test_complete_view_is_clean() -> None:
    """Every acknowledged message shown once, in order: nothing to report."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 6))
    show(ledger, "r", [("a", i) for i in range(1, 6)])
    verdict = ledger.check({"r": "a"})
    assert (5, 0, 0, 0) == (verdict.shown, verdict.lost, verdict.duplicates, verdict.order_breaks)


def test_gap_and_missing_tail_are_losses() -> None:
    """A hole in the middle and an open view short of the last acknowledged id both count."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 7))
    show(ledger, "r", [("a", 1), ("a", 2), ("a", 4)])
    assert 3 == ledger.check({"r": "a"}).lost  # 3 in the gap, 5 and 6 in the tail


def test_closed_view_owes_no_tail() -> None:
    """A person who left the room is not expected to see what came after."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 7))
    show(ledger, "r", [("a", 1), ("a", 2)])
    ledger.views[0].open = False
    assert 0 == ledger.check({"r": "a"}).lost


def test_duplicates_by_id_and_by_text() -> None:
    """The same (epoch, id) twice, or one sender's text under two ids, is a duplicate."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 4))
    view = ledger.view("r")
    view.shown.extend([("a", 1, "x"), ("a", 1, "x"), ("a", 2, "y"), ("a", 3, "y")])
    assert 2 == ledger.check().duplicates


def test_order_break_within_an_epoch() -> None:
    """An older id after a newer one is an order break."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 4))
    show(ledger, "r", [("a", 1), ("a", 3), ("a", 2)])
    assert 1 == ledger.check().order_breaks


def test_new_epoch_restarts_ids() -> None:
    """After an empty Redis the ids start at 1 again: not an order break, not a duplicate."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 4))
    acked(ledger, "r", "b", range(1, 3))
    show(ledger, "r", [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)])
    verdict = ledger.check({"r": "b"})
    assert (0, 0, 0) == (verdict.lost, verdict.duplicates, verdict.order_breaks)


def test_duplicate_example_names_the_text_and_its_first_showing() -> None:
    """A text shown under two ids says which id showed it first."""
    ledger = Ledger()
    acked(ledger, "r", "a", range(1, 2))
    view = ledger.view("r")
    view.shown.extend([("a", 1, "p/1"), ("a", 2, "p/1")])
    verdict = ledger.check({"r": "a"})
    assert ["duplicate r a:2 'p/1' (first shown as a:1)"] == verdict.examples
