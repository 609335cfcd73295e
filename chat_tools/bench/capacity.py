"""The capacity model: how many nodes and Redis shards a load needs, from measured
coefficients (docs/capacity.md). Pure arithmetic; `redisprobe` and the fanout/connect
scenarios measure the coefficients on the operator's own hardware."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

GIB_KIB = 1024 * 1024


@dataclass(frozen=True)
class Coefficients:
    """What one message, one delivery and one connection cost, measured."""

    redis_us_per_message: float  # Redis CPU per appended message, one node subscribed
    redis_us_per_subscriber: float  # more per further node subscribed to the room
    node_us_per_delivery: float  # node CPU per delivered message, all included
    node_kib_per_connection: float  # node RSS per idle joined connection


@dataclass(frozen=True)
class Load:
    people: int
    rooms: int
    messages_per_person_per_min: float = 1.0
    connections_per_person: float = 1.0  # tabs and devices


@dataclass(frozen=True)
class Hardware:
    node_cores: float = 2.0
    node_gib: float = 4.0
    headroom: float = 0.5  # the share of a core / of memory to plan for; the rest absorbs bursts
    min_nodes: int = 2  # one node down must not take the service down


def nodes_per_room(nodes: int, room_size: float) -> float:
    """Expected number of nodes holding members of a room whose members landed on
    `nodes` nodes at random (a load balancer without room affinity): each such node
    receives every message of the room from Redis."""
    if nodes <= 1 or room_size <= 1:
        return 1.0
    # Floating point can land a hair under 1 for a room of barely more than one member.
    return max(1.0, float(nodes * (1.0 - (1.0 - 1.0 / nodes) ** room_size)))


def shard_messages_per_s(c: Coefficients, subscribed_nodes: float, headroom: float = 1.0) -> float:
    """Messages per second one Redis shard (one core) sustains at `headroom` of its core."""
    us = c.redis_us_per_message + c.redis_us_per_subscriber * max(subscribed_nodes - 1.0, 0.0)
    return headroom * 1e6 / us


def plan(c: Coefficients, load: Load, hw: Hardware) -> dict[str, Any]:
    """Nodes and shards for `load`: each sized so that no node core, node memory or shard
    core runs above `hw.headroom` at the average rate."""
    if load.people < 1 or load.rooms < 1:
        raise ValueError("people and rooms must be positive")
    if not 0 < hw.headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    room_size = load.people / load.rooms
    messages = load.people * load.messages_per_person_per_min / 60.0
    deliveries = messages * room_size
    connections = load.people * load.connections_per_person
    node_cores = deliveries * c.node_us_per_delivery / 1e6
    by_cpu = math.ceil(node_cores / (hw.node_cores * hw.headroom))
    memory_gib = connections * c.node_kib_per_connection / GIB_KIB
    by_memory = math.ceil(memory_gib / (hw.node_gib * hw.headroom))
    nodes = max(by_cpu, by_memory, hw.min_nodes)
    subscribed = nodes_per_room(nodes, room_size)
    per_shard = shard_messages_per_s(c, subscribed, hw.headroom)
    shards = max(math.ceil(messages / per_shard), 1)
    return {
        "load": asdict(load),
        "hardware": asdict(hw),
        "coefficients": asdict(c),
        "room_size": round(room_size, 1),
        "messages_per_s": round(messages, 1),
        "deliveries_per_s": round(deliveries, 1),
        "connections": round(connections),
        "node_cpu_cores": round(node_cores, 2),
        "node_memory_gib": round(memory_gib, 2),
        "nodes_by_cpu": by_cpu,
        "nodes_by_memory": by_memory,
        "nodes": nodes,
        "nodes_per_room": round(subscribed, 2),
        "shard_messages_per_s": round(per_shard),
        "shard_messages_per_s_ceiling": round(shard_messages_per_s(c, subscribed)),
        "redis_shards": shards,
    }
