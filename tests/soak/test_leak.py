"""The leak verdict on a series of samples."""

from __future__ import annotations

from chat_tools.soak.leak import beyond_connections, judge, node_trends


def test_flat_noisy_series_is_no_leak() -> None:
    """Noise around a level is not growth."""
    values = [100.0, 103.0, 99.0, 101.0, 102.0, 98.0, 100.0, 104.0, 99.0, 101.0, 100.0, 102.0]
    assert judge("rss", values, rel=0.10, floor=8.0).leak is False


def test_steady_growth_is_a_leak() -> None:
    """A series that keeps climbing past both thresholds is a leak."""
    values = [100.0 + 5 * i for i in range(12)]
    assert judge("rss", values, rel=0.10, floor=8.0).leak is True


def test_small_absolute_growth_is_tolerated() -> None:
    """A few units on a small count is under the floor, however large relatively."""
    values = [2.0] * 6 + [5.0] * 6
    assert judge("channels", values, rel=0.20, floor=5.0).leak is False


def test_too_few_samples_are_not_judged() -> None:
    """Under nine samples there is no verdict."""
    assert judge("rss", [1.0, 2.0, 3.0], rel=0.1, floor=0.0).leak is None


def _node(
    fds: float, connections: float, redis_sockets: float, tasks: float = 300.0
) -> dict[str, float]:
    return {"rss_mib": 70.0, "fds": fds, "connections": connections,
            "redis_sockets": redis_sockets, "tasks": tasks}  # fmt: skip


def _verdicts(samples: list[dict[str, float]]) -> dict[str, bool | None]:
    return {t.name.split(" ")[1]: t.leak for t in node_trends("node1", samples, redis_pool=64)}


def test_restarted_node_filling_its_pool_and_regaining_people_is_no_leak() -> None:
    """Connections drifting back and the Redis pool filling to its size move fds, not a leak."""
    samples = [_node(20 + 5 * i + 5 * i + 15, 5 * i, 5 * i) for i in range(13)]
    expected = {"rss_mib": False, "redis_sockets": False,
                "fds_beyond_connections_and_redis": False,
                "asyncio_tasks_beyond_connections": False}  # fmt: skip
    assert expected == _verdicts(samples)


def test_fds_that_follow_neither_connections_nor_redis_are_a_leak() -> None:
    """One fd more every sample, with connections and Redis sockets level, is a leak."""
    samples = [_node(100 + 40 + 20 + 3 * i, 100, 40) for i in range(12)]
    assert _verdicts(samples)["fds_beyond_connections_and_redis"] is True


def test_redis_sockets_beyond_the_pool_size_are_a_leak() -> None:
    """Sockets to Redis growing by more than the pool can hold are a leak."""
    samples = [_node(50 + 10 * i, 20, 10 + 10 * i) for i in range(12)]
    assert _verdicts(samples)["redis_sockets"] is True


def test_samples_without_socket_counts_are_left_out() -> None:
    """A sample taken while the node did not answer /metrics is not judged."""
    samples = [{"rss_mib": 70.0, "fds": 50.0, "connections": None, "redis_sockets": 3.0,
                "tasks": None}] * 12  # fmt: skip
    trends = node_trends("node1", samples, redis_pool=64)
    assert [12, 0, 0, 0] == [t.samples for t in trends]


def test_tasks_that_follow_connections_are_no_leak() -> None:
    """Five tasks per connection, people drifting back to a restarted node: no leak."""
    connections = [4, 4, 18, 42, 51, 60, 66, 75, 70, 75, 72, 75]
    samples = [_node(c + 60, c, 50, tasks=10 + 5 * c) for c in connections]
    assert _verdicts(samples)["asyncio_tasks_beyond_connections"] is False


def test_tasks_growing_with_time_are_a_leak() -> None:
    """Tasks left behind accumulate with time whatever the connections do."""
    connections = [50, 52, 49, 51, 53, 50, 48, 52, 51, 50, 49, 52]
    samples = [_node(c + 60, c, 50, tasks=10 + 5 * c + 6 * i) for i, c in enumerate(connections)]
    assert _verdicts(samples)["asyncio_tasks_beyond_connections"] is True


def test_beyond_connections_without_movement_is_the_series_itself() -> None:
    """Connections that never change explain nothing: the values are judged as they are."""
    assert [5.0, 6.0, 7.0] == beyond_connections([5.0, 6.0, 7.0], [3.0, 3.0, 3.0])
