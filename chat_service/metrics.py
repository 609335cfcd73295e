"""Prometheus metrics of one node, in a registry of its own (tests run many nodes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .errors import ERROR_CODES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A `_created` sample per counter and histogram doubles the page for a value no dashboard
# uses (Prometheus takes resets from the counter itself). Process-wide, like the setting.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client


class _LiveCollector(Collector):
    """Reads gauges and counters that live on other objects at scrape time."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        values = self._read()
        gauges = {
            "chat_connections": "Open Socket.IO connections on this node",
            "chat_rooms": "Rooms with members connected to this node",
            "chat_room_members": "Room memberships held by connections on this node",
            "chat_backend_up": "1 when the backend (Redis and its subscription) is reachable",
            "chat_asyncio_tasks": "Asyncio tasks alive in the event loop (a leak shows here)",
        }
        counters = {
            "chat_slow_consumer_disconnects": "Clients closed for a send backlog over the limit",
            "chat_feed_duplicates_dropped": "Room events dropped as already delivered",
            "chat_feed_gap_messages": "Messages delivered from history to fill a gap in a feed",
            "chat_deliveries_direct": "Broadcast packets written straight to an idle websocket",
            "chat_deliveries_queued": "Broadcast packets queued on a busy or polling socket",
            "chat_deliveries_coalesced": "Direct frames that shared a socket write with an earlier"
            " one of the same loop turn",
            "chat_transport_fallbacks": "Times a library internal was missing and a slow path ran",
        }
        for name, doc in gauges.items():
            yield GaugeMetricFamily(name, doc, value=values.get(name, 0.0))
        for name, doc in counters.items():
            yield CounterMetricFamily(name, doc, value=values.get(name, 0.0))


class Metrics:
    """Every metric a node exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...
        ProcessCollector(registry=r)
        self.events = Counter("chat_events", "Client events handled", ["event"], registry=r)
        self.errors = Counter("chat_errors", "Error acknowledgements sent", ["code"], registry=r)
        self.messages = Counter("chat_messages", "Chat messages accepted by this node", registry=r)
        self.connects = Counter("chat_connects", "Connections accepted", registry=r)
        self.refused = Counter(
            "chat_connections_refused", "Connections refused", ["reason"], registry=r
        )
        self.redis_latency = Histogram(
            "chat_redis_latency_seconds",
            "Latency of Redis calls",
            ["op"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 3.0),
            registry=r,
        )
        self.sweeps = Counter("chat_dead_node_sweeps", "Sweeps for dead nodes run", registry=r)
        self.reaped = Counter(
            "chat_reaped_members", "Members of dead nodes removed by this node", registry=r
        )
        self.moderation_actions = Counter(
            "chat_moderation_actions",
            "Moderation actions and server-API writes",
            ["action"],
            registry=r,
        )
        self.draining = Gauge("chat_draining", "1 while the node shuts down", registry=r)
        for code in ERROR_CODES:
            self.errors.labels(code)

    def observe_redis(self, op: str, seconds: float) -> None:
        self.redis_latency.labels(op).observe(seconds)

    def add_live(self, read: Callable[[], dict[str, float]]) -> None:
        self.registry.register(_LiveCollector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
