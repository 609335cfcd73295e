"""The restart policy of `chat-tools cluster`."""

from __future__ import annotations

from chat_tools.supervise import Backoff


class TestBackoff:
    def test_doubles_while_the_node_keeps_dying(self) -> None:
        """Each quick death waits twice as long as the one before."""
        backoff = Backoff(initial=0.5, cap=10.0, stable_after=30.0)
        delays = []
        for now in (1.0, 2.0, 3.0, 4.0):
            delays.append(backoff.next_delay(now))
            backoff.started(now)
        assert [0.5, 1.0, 2.0, 4.0] == delays

    def test_never_waits_longer_than_the_cap(self) -> None:
        """However often it dies, a node is retried at least every `cap` seconds."""
        backoff = Backoff(initial=0.5, cap=3.0, stable_after=30.0)
        delays = [backoff.next_delay(float(i)) for i in range(8)]
        assert 3.0 == max(delays)
        assert [3.0, 3.0, 3.0] == delays[-3:]

    def test_a_stable_run_forgets_earlier_deaths(self) -> None:
        """After `stable_after` seconds up, the next death waits `initial` again."""
        backoff = Backoff(initial=0.5, cap=10.0, stable_after=30.0)
        for now in (1.0, 2.0, 3.0):
            backoff.next_delay(now)
            backoff.started(now)
        assert 0.5 == backoff.next_delay(3.0 + 30.0)
