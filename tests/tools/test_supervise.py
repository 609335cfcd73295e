"""The restart policy of `chat-tools cluster`."""

from __future__ import annotations

from chat_service.domain.backoff import Backoff
from chat_tools.supervise import RestartPolicy


class TestRestartPolicy:
    def test_doubles_while_the_node_keeps_dying(self) -> None:
        """Each quick death waits twice as long as the one before."""
        policy = RestartPolicy()
        delays = []
        for now in (1.0, 2.0, 3.0, 4.0):
            delays.append(policy.next_delay(now))
            policy.started(now)
        assert [0.5, 1.0, 2.0, 4.0] == delays

    def test_never_waits_longer_than_the_cap(self) -> None:
        """However often it dies, a node is retried at least every `cap` seconds."""
        policy = RestartPolicy(Backoff(base=0.5, cap=3.0, jitter=0.0))
        delays = [policy.next_delay(float(i)) for i in range(8)]
        assert 3.0 == max(delays)
        assert [3.0, 3.0, 3.0] == delays[-3:]

    def test_a_stable_run_forgets_earlier_deaths(self) -> None:
        """After `stable_after` seconds up, the next death waits the base delay again."""
        policy = RestartPolicy()
        for now in (1.0, 2.0, 3.0):
            policy.next_delay(now)
            policy.started(now)
        assert 0.5 == policy.next_delay(3.0 + 30.0)

    def test_defaults_are_the_clusters(self) -> None:
        """0.5 s first, at most 10 s, no jitter, forgiven after 30 s up."""
        policy = RestartPolicy()
        assert (0.5, 10.0, 0.0, 30.0) == (
            policy.backoff.base,
            policy.backoff.cap,
            policy.backoff.jitter,
            policy.stable_after,
        )
