"""CHAT_REDIS_URL forms: one Redis, Sentinel or Cluster, parsed into one plain record.

| form | example |
| --- | --- |
| one Redis | `redis://[user:password@]host:6379/0`, `rediss://...` (TLS), `unix:///path` |
| Sentinel | `redis+sentinel://[user:password@]h1:26379,h2:26379/mymaster/0` |
| Cluster | `redis+cluster://[user:password@]h1:7000,h2:7001,h3:7002` |

`rediss+sentinel://` and `rediss+cluster://` speak TLS to every Redis (and sentinel).
`user:password` is for the Redis servers (an ACL user); the sentinels' own password is a
setting of its own (CHAT_REDIS_SENTINEL_PASSWORD), since sentinels often have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

Kind = Literal["single", "sentinel", "cluster"]
SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("single", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
DEFAULT_PORTS: dict[Kind, int] = {"single": 6379, "sentinel": 26379, "cluster": 6379}


class RedisUrlError(ValueError):
    """The URL is not one of the documented forms; the text says why."""


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is and how to log in, whatever the form."""

    kind: Kind
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    db: int = 0
    service: str | None = None  # the Sentinel master name
    # The URL it was parsed from (one Redis's client is built from it); may hold a password.
    url: str = field(default="", repr=False, compare=False)

    def describe(self) -> str:
        """For logs: the form and the hosts (a unix socket's path), never the password."""
        if not self.hosts:
            return f"redis at {urlsplit(self.url).path}"
        where = ",".join(f"{host}:{port}" for host, port in self.hosts)
        label = {"single": "redis", "sentinel": "redis sentinel", "cluster": "redis cluster"}
        return f"{label[self.kind]} at {where}" + (f" ({self.service})" if self.service else "")


def _hosts(netloc: str, kind: Kind) -> tuple[tuple[str, int], ...]:
    hosts: list[tuple[str, int]] = []
    for part in netloc.split(","):
        host, sep, port_text = part.strip().rpartition(":")
        if not sep:
            host, port_text = port_text, str(DEFAULT_PORTS[kind])
        host = host.strip("[]")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RedisUrlError(f"bad host:port {part!r}")
        hosts.append((host, int(port_text)))
    return tuple(hosts)


def parse_target(url: str) -> RedisTarget:
    """Split a CHAT_REDIS_URL into its parts, or say which part is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise RedisUrlError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    kind, tls = SCHEMES[scheme]
    if scheme == "unix":
        return RedisTarget(kind, tls, (), db=0, url=url)
    # Several hosts are not a valid netloc for urlsplit: split the credentials off first.
    userinfo, at, hostpart = rest.partition("/")[0].rpartition("@")
    if not at:
        userinfo, hostpart = "", rest.partition("/")[0]
    path = "/" + rest.partition("/")[2] if "/" in rest else ""
    user, colon, password = userinfo.partition(":")
    if not colon:  # `redis://secret@host`: a password alone, as redis-py reads it
        user, password = "", user
    hosts = _hosts(hostpart, kind)
    if kind == "single" and len(hosts) != 1:
        raise RedisUrlError("one host only; use redis+sentinel:// or redis+cluster:// for more")
    parts = [p for p in urlsplit(path).path.split("/") if p]
    service = None
    if kind == "sentinel":
        if not parts:
            raise RedisUrlError("name the Sentinel master: redis+sentinel://hosts/mymaster/0")
        service, parts = parts[0], parts[1:]
    db = 0
    if parts:
        if len(parts) > 1 or not parts[0].isdigit():
            raise RedisUrlError(f"bad database number {'/'.join(parts)!r}")
        db = int(parts[0])
    if kind == "cluster" and db:
        raise RedisUrlError("Redis Cluster has database 0 only")
    return RedisTarget(
        kind,
        tls,
        hosts,
        username=unquote(user) or None,
        password=unquote(password) or None,
        db=db,
        service=service,
        url=url,
    )
