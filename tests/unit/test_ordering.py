"""Per-room feed decisions: duplicates, gaps, joiners admitted in step, resets."""

from __future__ import annotations

from chat_service.domain.ordering import RoomFeed, Verdict


def fed(*ids: int, epoch: str = "e1") -> RoomFeed:
    feed = RoomFeed()
    feed.admit("first", epoch, ids[0] - 1 if ids else 0)
    for msg_id in ids:
        feed.delivered(epoch, msg_id, f"m{msg_id}")
    return feed


class TestJudge:
    def test_next_id_is_delivered(self) -> None:
        """The id after the last is delivered."""
        assert Verdict.DELIVER == fed(1, 2).judge("e1", 3)

    def test_old_ids_are_duplicates(self) -> None:
        """Anything at or below the last id is a duplicate."""
        feed = fed(1, 2, 3)
        assert [Verdict.DUPLICATE] * 2 == [feed.judge("e1", 3), feed.judge("e1", 1)]

    def test_jump_is_a_gap(self) -> None:
        """A skipped id means a gap to fill from history."""
        assert Verdict.GAP == fed(1).judge("e1", 3)

    def test_new_epoch_is_delivered(self) -> None:
        """After a history reset, id 1 of the new epoch is new."""
        assert Verdict.DELIVER == fed(1, 2, 3).judge("e2", 1)

    def test_unknown_start_delivers(self) -> None:
        """A fresh feed accepts whatever comes first."""
        assert Verdict.DELIVER == RoomFeed().judge("e1", 7)


class TestAdmit:
    def test_first_joiner_admitted_at_its_head(self) -> None:
        """A fresh feed takes the joiner's head as its position."""
        feed = RoomFeed()
        admission = feed.admit("s1", "e1", 5)
        assert (True, (), 5) == (admission.now, admission.catch_up, feed.last_id)
        assert Verdict.DUPLICATE == feed.judge("e1", 5)

    def test_joiner_behind_feed_gets_catch_up(self) -> None:
        """A joiner whose history ended before the feed gets the missed messages."""
        feed = fed(1, 2, 3, 4)
        admission = feed.admit("s2", "e1", 2)
        assert (True, ("m3", "m4")) == (admission.now, admission.catch_up)

    def test_joiner_ahead_of_feed_waits(self) -> None:
        """A joiner whose history is newer than the feed waits until the feed catches up."""
        feed = fed(1, 2)
        assert feed.admit("s2", "e1", 4).now is False
        assert [] == feed.delivered("e1", 3, "m3")
        assert ["s2"] == feed.delivered("e1", 4, "m4")
        assert {} == feed.pending

    def test_skipped_to_promotes(self) -> None:
        """Messages lost from history still let waiting joiners in."""
        feed = fed(1)
        feed.admit("s2", "e1", 9)
        assert ["s2"] == feed.skipped_to(9)

    def test_reset_releases_waiting_joiners(self) -> None:
        """A reset admits everyone waiting on the old epoch."""
        feed = fed(1)
        feed.admit("s2", "e1", 9)
        assert ["s2"] == feed.reset("e2")
        assert feed.last_id is None

    def test_admit_in_new_epoch_resets(self) -> None:
        """A join that read a new epoch moves the feed to it."""
        feed = fed(1, 2, 3)
        assert feed.admit("s2", "e2", 1).now is True
        assert ("e2", 1) == (feed.epoch, feed.last_id)

    def test_forget_pending(self) -> None:
        """A joiner that left before admission is forgotten."""
        feed = fed(1)
        feed.admit("s2", "e1", 5)
        feed.forget("s2")
        assert [] == feed.skipped_to(5)

    def test_recent_is_bounded(self) -> None:
        """Only the newest `recent_size` messages are kept for catch-up."""
        feed = RoomFeed(recent_size=3)
        feed.admit("a", "e", 0)
        for i in range(1, 11):
            feed.delivered("e", i, f"m{i}")
        assert [8, 9, 10] == [i for i, _ in feed.recent]
