"""Losses, duplicates and order breaks, by (epoch, id)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _reference(ledger: Ledger, final_epochs: dict[str, str]) -> tuple[int, int, int, int]:
    """The whole-run rescan the incremental check replaced: (shown, lost, dups, breaks)."""
    shown = lost = dups = breaks = 0
    for view in ledger.views:
        seen: set[tuple[str, int]] = set()
        texts: set[str] = set()
        last: dict[str, int] = {}
        ids: dict[str, set[int]] = {}
        for epoch, msg_id, text in view.shown:
            shown += 1
            if (epoch, msg_id) in seen or text in texts:
                dups += 1
                continue
            seen.add((epoch, msg_id))
            texts.add(text)
            breaks += msg_id <= last.get(epoch, 0)
            last[epoch] = max(last.get(epoch, 0), msg_id)
            ids.setdefault(epoch, set()).add(msg_id)
        for epoch, got in ids.items():
            acked = sorted(i for e, i in ledger.acked[view.room] if e == epoch)
            low, top = min(got), max(got)
            if view.open and epoch == final_epochs.get(view.room) and acked:
                top = max(top, acked[-1])
            lost += sum(1 for i in acked if low <= i <= top and i not in got)
    return shown, lost, dups, breaks


steps = st.lists(
    st.one_of(
        st.tuples(st.just("ack"), st.sampled_from("rs"), st.sampled_from("ab"), st.integers(1, 12)),
        st.tuples(st.just("show"), st.integers(0, 3), st.sampled_from("ab"), st.integers(1, 12)),
        st.tuples(st.just("check"), st.just(0), st.just(""), st.just(0)),
        st.tuples(st.just("close"), st.integers(0, 3), st.just(""), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_incremental_checks_agree_with_a_full_rescan(ops: list[tuple[str, Any, str, int]]) -> None:
    """Acks, showings, closes and checks in any interleaving: each check says what a
    rescan of everything so far says."""
    ledger = Ledger()
    views = [ledger.view(room) for room in "rrss"]
    for kind, who, epoch, msg_id in ops:
        if kind == "ack":
            ledger.ack(who, {"epoch": epoch, "id": msg_id})
        elif kind == "show":
            views[who].shown.append((epoch, msg_id, f"{epoch}/{msg_id}"))
        elif kind == "close":
            views[who].open = False
        else:
            got = ledger.check()
            assert _reference(ledger, {}) == (got.shown, got.lost, got.duplicates, got.order_breaks)
    final = dict(ledger.latest_epoch)
    got = ledger.check(final)
    assert _reference(ledger, final) == (got.shown, got.lost, got.duplicates, got.order_breaks)
