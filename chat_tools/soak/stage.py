"""What the soak's parts share: the cluster, Redis, the people and their world."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from ..localcluster import LocalCluster
from ..procs import RedisServer
from .people import Person, Tab, World


@dataclass
class Stage:
    cluster: LocalCluster
    redis: RedisServer  # its process changes when a fault restarts it
    redis_client: Redis  # the soak's own, straight to Redis (never through a proxy)
    world: World
    people: list[Person] = field(default_factory=list)
    node_redis_ports: list[int] = field(default_factory=list)  # when through proxies

    def redis_port_of(self, index: int) -> int:
        """The port node `index` reaches Redis on: its proxy's, or Redis' own."""
        return self.node_redis_ports[index] if self.node_redis_ports else self.redis.port

    def tabs(self) -> list[Tab]:
        return [tab for person in self.people for tab in person.tabs.values()]

    def ready_tabs(self) -> int:
        return sum(1 for tab in self.tabs() if tab.member.ready)

    def moves(self) -> int:
        return sum(tab.member.moves for tab in self.tabs())

    def reconnects(self) -> int:
        return sum(tab.member.reconnects for tab in self.tabs())
