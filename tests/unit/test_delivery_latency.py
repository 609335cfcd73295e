"""Delivery latency: one observation per broadcast, measured from the message's ts."""

from __future__ import annotations

from chat_service.backends.base import Backlog
from chat_service.backends.wire import RoomEvent, message_body, message_json
from chat_service.delivery import Delivery

NOW = 1_700_000_000.0


class Connections:
    """A transport whose broadcasts reach `members` connections."""

    def __init__(self, members: int) -> None:
        self.members = members

    def send(self, sid: str, event: str, payload_json: str) -> bool:
        return True

    def broadcast(
        self, room: str, event: str, payload_json: str, skip_sid: str | None = None
    ) -> int:
        return self.members

    def enter(self, sid: str, room: str) -> None:
        pass

    def leave(self, sid: str, room: str) -> None:
        pass


async def no_backlog(room: str, after: int) -> Backlog:
    return Backlog("e1", [])


def message_event(msg_id: int, ts_ms: int) -> RoomEvent:
    raw = message_json(msg_id, message_body("lobby", "ann", "hi", ts_ms, None), "e1")
    return RoomEvent("message", "e1", msg_id, "", raw)


def delivery(members: int, observed: list[float]) -> Delivery:
    made = Delivery(Connections(members), no_backlog, on_latency=observed.append, clock=lambda: NOW)
    made.open("lobby")
    return made


class TestDeliveryLatency:
    def test_age_at_broadcast(self) -> None:
        """A message appended 30 ms ago is observed once as 0.03 s, whatever the members."""
        observed: list[float] = []
        delivery(members=50, observed=observed).handle(
            "lobby", message_event(1, int(NOW * 1000) - 30)
        )
        assert 1 == len(observed)
        assert abs(0.03 - observed[0]) < 1e-6

    def test_no_receivers(self) -> None:
        """A broadcast that reached nobody on this node is not a delivery."""
        observed: list[float] = []
        delivery(members=0, observed=observed).handle("lobby", message_event(1, int(NOW * 1000)))
        assert [] == observed

    def test_clock_skew_is_zero(self) -> None:
        """A ts ahead of this node's clock (another node's clock) counts as no delay."""
        observed: list[float] = []
        delivery(members=2, observed=observed).handle(
            "lobby", message_event(1, int(NOW * 1000) + 500)
        )
        assert [0.0] == observed

    def test_presence_not_observed(self) -> None:
        """Only chat messages are timed: presence and typing carry no append time."""
        observed: list[float] = []
        made = delivery(members=2, observed=observed)
        made.handle("lobby", RoomEvent("user_joined", "e1", 0, "", '{"room":"lobby","ts":1}'))
        assert [] == observed

    def test_duplicate_not_observed(self) -> None:
        """A message dropped as already delivered is not observed a second time."""
        observed: list[float] = []
        made = delivery(members=2, observed=observed)
        made.handle("lobby", message_event(1, int(NOW * 1000)))
        made.handle("lobby", message_event(1, int(NOW * 1000)))
        assert 1 == len(observed)
