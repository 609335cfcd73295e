"""redis-py clients for the three CHAT_REDIS_URL forms: one Redis, Sentinel, Cluster.

Failover is the clients' job, not ours: a Sentinel-managed pool asks the sentinels
where the master is whenever a connection fails, and RedisCluster follows MOVED/ASK
replies and refreshes its slot map after a failover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from ..redis_urls import RedisTarget, parse_target
from .redis_gate import IN_FLIGHT

RedisClient = Redis | RedisCluster


@dataclass(frozen=True)
class ClientOptions:
    """How to reach Redis beyond the URL: TLS trust, the sentinels' password, timeouts."""

    tls_ca_file: str | None = None
    tls_verify: bool = True
    sentinel_password: str | None = None
    timeout: float = 2.0
    # The store's calls wait their turn in its CallGate (IN_FLIGHT at once), never here:
    # the headroom is for the bus's subscriber connections.
    max_connections: int = IN_FLIGHT + 16


def tls_kwargs(options: ClientOptions) -> dict[str, Any]:
    """redis-py's SSL arguments: verify the certificate and host name unless told not to."""
    return {
        "ssl_ca_certs": options.tls_ca_file,
        "ssl_cert_reqs": "required" if options.tls_verify else "none",
        "ssl_check_hostname": options.tls_verify,
    }


def _common(options: ClientOptions) -> dict[str, Any]:
    """Fail fast and notice half-open connections, whatever the form."""
    return {
        "decode_responses": True,
        "socket_timeout": options.timeout,
        "socket_connect_timeout": options.timeout,
        "socket_keepalive": True,
        "health_check_interval": 5,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
    }


def _single(url: str, target: RedisTarget, options: ClientOptions) -> Redis:
    """The pool blocks (up to `timeout`) when all its connections are busy, instead of
    redis-py's default of failing past 100 commands in flight."""
    extra = tls_kwargs(options) if target.tls else {}
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=options.max_connections,
        timeout=options.timeout,
        **_common(options),
        **extra,
    )
    return Redis(connection_pool=pool)


def _sentinel(target: RedisTarget, options: ClientOptions) -> Redis:
    tls = {"ssl": True, **tls_kwargs(options)} if target.tls else {}
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": options.timeout,
        "socket_connect_timeout": options.timeout,
        "password": options.sentinel_password,
        **tls,
    }
    sentinel = Sentinel(
        list(target.hosts),
        sentinel_kwargs=sentinel_kwargs,
        username=target.username,
        password=target.password,
        db=target.db,
        max_connections=options.max_connections,
        **_common(options),
        **tls,
    )
    assert target.service is not None  # parse_target insists on it
    client: Redis = sentinel.master_for(target.service, redis_class=Redis)
    return client


def _cluster(target: RedisTarget, options: ClientOptions) -> RedisCluster:
    extra = {"ssl": True, **tls_kwargs(options)} if target.tls else {}
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
        username=target.username,
        password=target.password,
        max_connections=options.max_connections,
        **_common(options),
        **extra,
    )


def make_client(target: RedisTarget | str, options: ClientOptions | None = None) -> RedisClient:
    """The client for a CHAT_REDIS_URL of any form: already parsed (`Settings.redis_target`)
    or, for tools and tests, the URL itself."""
    options = options or ClientOptions()
    if isinstance(target, str):
        target = parse_target(target)
    if target.kind == "sentinel":
        return _sentinel(target, options)
    if target.kind == "cluster":
        return _cluster(target, options)
    return _single(target.url, target, options)


def is_cluster(client: RedisClient) -> bool:
    """Cluster clients route by slot and carry room events on sharded pub/sub."""
    return isinstance(client, RedisCluster)
