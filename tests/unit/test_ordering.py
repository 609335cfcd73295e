"""The room state machine, case by case: duplicates, gaps, joiners, updates, resets."""

from __future__ import annotations

import orjson

from chat_service.domain.joiners import (
    Action,
    Broadcast,
    Enter,
    Fetch,
    Send,
    Stage,
    message_version,
    versions_shown,
)
from chat_service.domain.ordering import RoomFeed
from chat_service.domain.window import RecentWindow


def raw(msg_id: int, v: int = 0, epoch: str = "e1") -> str:
    return orjson.dumps({"id": msg_id, "v": v, "text": f"t{msg_id}", "epoch": epoch}).decode()


def fed(upto: int, recent_size: int = 256, epoch: str = "e1") -> RoomFeed:
    """A feed that has delivered 1..upto to one live member, "m"."""
    feed = RoomFeed(window=RecentWindow(size=recent_size))
    feed.hold("m")
    feed.replied("m", epoch, 0, {})
    for msg_id in range(1, upto + 1):
        feed.message(epoch, msg_id, raw(msg_id, epoch=epoch))
    return feed


def sent_ids(actions: list[Action], sid: str, event: str = "message") -> list[int]:
    return [
        orjson.loads(a.payload)["id"]
        for a in actions
        if isinstance(a, Send) and a.sid == sid and a.event == event
    ]


class TestFeed:
    def test_next_id_is_broadcast(self) -> None:
        """The id after the last goes to every live member."""
        assert [Broadcast("message", raw(3))] == fed(2).message("e1", 3, raw(3))

    def test_old_ids_are_duplicates(self) -> None:
        """Anything at or below the last id is dropped and counted."""
        feed = fed(3)
        assert ([], [], 2) == (
            feed.message("e1", 3, raw(3)),
            feed.message("e1", 1, raw(1)),
            feed.counters.duplicates_dropped,
        )

    def test_jump_reads_history_and_queues_what_follows(self) -> None:
        """A skipped id is read from history; later events wait behind the read."""
        feed = fed(1)
        fetch = feed.message("e1", 3, raw(3))
        assert [] == feed.message("e1", 4, raw(4))
        assert isinstance(fetch[0], Fetch) and 1 == fetch[0].after
        actions = feed.fetched(fetch[0].token, "e1", [(2, raw(2)), (3, raw(3))], [])
        broadcast = [orjson.loads(a.payload)["id"] for a in actions if isinstance(a, Broadcast)]
        assert ([2, 3, 4], 2) == (broadcast, feed.counters.gaps_filled)

    def test_failed_read_is_tried_again(self) -> None:
        """A failed refill asks for the same read with one more attempt."""
        feed = fed(1)
        (fetch,) = feed.message("e1", 3, raw(3))
        assert isinstance(fetch, Fetch)
        assert [Fetch(fetch.token, 1, 1)] == feed.fetch_failed(fetch.token)

    def test_unknown_epoch_reads_history_and_resets(self) -> None:
        """An event of another epoch makes the feed read the room and start over there."""
        feed = fed(3)
        (fetch,) = feed.message("e2", 2, raw(2, epoch="e2"))
        assert isinstance(fetch, Fetch)
        (again,) = feed.fetched(fetch.token, "e2", [(1, raw(1, epoch="e2"))], [])
        assert isinstance(again, Fetch) and 0 == again.after
        actions = feed.fetched(
            again.token, "e2", [(1, raw(1, epoch="e2")), (2, raw(2, epoch="e2"))], []
        )
        broadcast = [orjson.loads(a.payload)["id"] for a in actions if isinstance(a, Broadcast)]
        assert ([1, 2], "e2", ["e1"]) == (broadcast, feed.epoch, list(feed.past))

    def test_late_event_of_a_past_epoch_is_dropped(self) -> None:
        """Once the room moved on, its old epoch's events are duplicates."""
        feed = fed(1)
        (fetch,) = feed.message("e2", 1, raw(1, epoch="e2"))
        assert isinstance(fetch, Fetch)
        (again,) = feed.fetched(fetch.token, "e2", [(1, raw(1, epoch="e2"))], [])
        assert isinstance(again, Fetch)
        feed.fetched(again.token, "e2", [(1, raw(1, epoch="e2"))], [])
        assert [] == feed.message("e1", 2, raw(2))

    def test_recent_is_bounded(self) -> None:
        """Only the newest `size` messages are kept for catch-up."""
        feed = fed(10, recent_size=3)
        assert ([8, 9, 10], 7) == ([i for i, _ in feed.window.messages], feed.window.start)

    def test_versions_are_bounded(self) -> None:
        """Past `version_limit` ids, the oldest half of the remembered versions goes."""
        window = RecentWindow(size=2, version_limit=4)
        for msg_id in range(1, 6):
            window.add(msg_id, raw(msg_id, 1), 1)
        assert ([3, 4, 5], 0, 1) == (sorted(window.versions), window.version(1), window.version(5))

    def test_change_reaches_a_window_with_a_hole(self) -> None:
        """A change of a kept message replaces its copy even where ids are not consecutive."""
        window = RecentWindow(size=3)
        for msg_id in (1, 5, 6):
            window.add(msg_id, raw(msg_id), 0)
        window.change(5, raw(5, 2), 2)
        assert ([(5, raw(5, 2)), (6, raw(6))], 2) == (window.after(1), window.version(5))


class TestJoiners:
    def test_nothing_reaches_a_held_joiner(self) -> None:
        """During the join, presence is kept for it and messages are not sent."""
        feed = fed(2)
        feed.hold("j")
        actions = feed.relay("user_joined", '{"n":1}', None) + feed.message("e1", 3, raw(3))
        assert [] == [a for a in actions if isinstance(a, Send)]
        assert Stage.HELD == feed.joiners["j"].stage

    def test_reply_sends_kept_events_then_the_gap_then_enters(self) -> None:
        """Presence kept during the join, then messages after its head, then live."""
        feed = fed(2)
        feed.hold("j")
        feed.relay("user_joined", '{"n":1}', None)
        feed.message("e1", 3, raw(3))
        actions = feed.replied("j", "e1", 2, {})
        assert [Send("j", "user_joined", '{"n":1}'), Send("j", "message", raw(3)), Enter("j")] == (
            actions
        )

    def test_joiner_ahead_of_feed_waits(self) -> None:
        """A joiner whose history is newer than the feed enters when the feed gets there."""
        feed = fed(2)
        feed.hold("j")
        assert [] == feed.replied("j", "e1", 4, {})
        assert Enter("j") not in feed.message("e1", 3, raw(3))
        assert Enter("j") in feed.message("e1", 4, raw(4))
        assert {"m", "j"} == feed.live

    def test_presence_reaches_a_waiting_joiner(self) -> None:
        """Replied but not live yet: presence is sent to it directly."""
        feed = fed(2)
        feed.hold("j")
        feed.replied("j", "e1", 4, {})
        assert Send("j", "typing", "{}") in feed.relay("typing", "{}", None)

    def test_issue_19_live_message_during_catch_up(self) -> None:
        """Feed at 399, head 10, message 400 during the history read: the joiner gets 11-400."""
        feed = fed(399)
        feed.hold("j")
        (fetch,) = feed.replied("j", "e1", 10, {})
        assert isinstance(fetch, Fetch) and (10, Stage.CATCHING_UP) == (
            fetch.after,
            feed.joiners["j"].stage,
        )
        during = feed.message("e1", 400, raw(400))
        history = [(i, raw(i)) for i in range(11, 401)]
        after = feed.fetched(fetch.token, "e1", history, [])
        assert [] == sent_ids(during, "j")
        assert list(range(11, 401)) == sent_ids(after, "j")
        assert Enter("j") == after[-1]

    def test_failed_catch_up_is_retried_not_skipped(self) -> None:
        """A catch-up read that fails is asked for again; the joiner stays out meanwhile."""
        feed = fed(300)
        feed.hold("j")
        (fetch,) = feed.replied("j", "e1", 10, {})
        assert isinstance(fetch, Fetch)
        assert [Fetch(fetch.token, 10, 1)] == feed.fetch_failed(fetch.token)
        assert "j" not in feed.live

    def test_history_that_lost_messages_is_skipped(self) -> None:
        """Messages history no longer keeps are counted and skipped, the rest sent."""
        feed = fed(300)
        feed.hold("j")
        (fetch,) = feed.replied("j", "e1", 10, {})
        assert isinstance(fetch, Fetch)
        actions = feed.fetched(fetch.token, "e1", [(i, raw(i)) for i in range(21, 301)], [])
        assert list(range(21, 301)) == sent_ids(actions, "j")
        assert 10 == feed.counters.lost_to_history  # 11..20

    def test_left_joiner_is_forgotten(self) -> None:
        """A joiner that leaves mid-read gets nothing when the read returns."""
        feed = fed(300)
        feed.hold("j")
        (fetch,) = feed.replied("j", "e1", 10, {})
        assert isinstance(fetch, Fetch)
        feed.left("j")
        assert [] == feed.fetched(fetch.token, "e1", [(i, raw(i)) for i in range(11, 301)], [])

    def test_joiner_of_an_old_epoch_gets_the_new_one_from_the_start(self) -> None:
        """A reply that read an epoch the room left: rebased to the current epoch's start."""
        feed = fed(1)
        (fetch,) = feed.message("e2", 1, raw(1, epoch="e2"))
        assert isinstance(fetch, Fetch)
        (again,) = feed.fetched(fetch.token, "e2", [(1, raw(1, epoch="e2"))], [])
        assert isinstance(again, Fetch)
        feed.fetched(again.token, "e2", [(1, raw(1, epoch="e2"))], [])
        feed.hold("j")
        actions = feed.replied("j", "e1", 5, {})
        assert [Send("j", "message", raw(1, epoch="e2")), Enter("j")] == actions


class TestUpdates:
    def test_update_is_broadcast_once(self) -> None:
        """A new version goes to every live member; a repeat of it is dropped."""
        feed = fed(3)
        assert [Broadcast("message_updated", raw(2, 1))] == feed.update("e1", 2, raw(2, 1))
        assert [] == feed.update("e1", 2, raw(2, 1))

    def test_update_of_an_unseen_message_reads_history(self) -> None:
        """An update of an id the feed never got means the message was missed."""
        (fetch,) = fed(3).update("e1", 5, raw(5, 1))
        assert isinstance(fetch, Fetch)

    def test_joiner_gets_no_version_its_reply_showed(self) -> None:
        """Updates up to the shown version are skipped for the joiner, later ones sent."""
        feed = fed(3)
        feed.hold("j")
        feed.update("e1", 2, raw(2, 1))
        feed.update("e1", 2, raw(2, 2))
        actions = feed.replied("j", "e1", 3, {2: 1})
        assert [Send("j", "message_updated", raw(2, 2)), Enter("j")] == actions

    def test_catch_up_sends_the_current_version(self) -> None:
        """A message edited before the joiner got it arrives at its newest version."""
        feed = fed(3)
        feed.update("e1", 3, raw(3, 1))
        feed.hold("j")
        assert [Send("j", "message", raw(3, 1)), Enter("j")] == feed.replied("j", "e1", 2, {})

    def test_member_holding_a_newer_version_is_skipped(self) -> None:
        """A joiner shown v2 does not get the feed's late v1 and v2, but does get v3."""
        feed = fed(3)
        feed.hold("j")
        feed.replied("j", "e1", 3, {1: 2})
        late = feed.update("e1", 1, raw(1, 1))
        assert [Send("m", "message_updated", raw(1, 1))] == late
        feed.update("e1", 1, raw(1, 2))
        assert [Broadcast("message_updated", raw(1, 3))] == feed.update("e1", 1, raw(1, 3))

    def test_refill_recovers_changes_missed_in_an_outage(self) -> None:
        """After an outage, Backlog.changed brings versions the feed never delivered."""
        feed = fed(3)
        (fetch,) = feed.refill()
        assert isinstance(fetch, Fetch)
        actions = feed.fetched(fetch.token, "e1", [], [(2, 4, raw(2, 4))])
        assert [Broadcast("message_updated", raw(2, 4))] == actions


class TestHelpers:
    def test_version_is_read_from_the_second_field(self) -> None:
        """`v` comes from the prefix, 0 for a version 2 message, parsed otherwise."""
        assert (7, 0, 3) == (
            message_version(raw(1, 7)),
            message_version('{"id":1,"room":"r"}'),
            message_version('{"v":3,"id":1}'),
        )

    def test_versions_shown_takes_the_highest(self) -> None:
        """history and updated together: one version per id, the highest."""
        assert {1: 2, 2: 0} == versions_shown([{"id": 1, "v": 1}, {"id": 2}], [{"id": 1, "v": 2}])
