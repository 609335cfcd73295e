"""Settings: parsed once from CHAT_* variables and --flags, validated, then frozen."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlparse

from .identity import MAX_LEEWAY, AuthConfigError, TokenVerifier, make_verifier
from .redis_urls import RedisUrlError, parse_target

MIN_API_KEY = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a value the node cannot start with; the text names it."""


@dataclass(frozen=True)
class RateLimit:
    """`count` messages per `seconds` per connection."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Settings:
    """Every knob of a node. Field names map to CHAT_<NAME> and --<name-with-dashes>."""

    host: str = "0.0.0.0"
    port: int = 5000
    redis_url: str | None = None
    redis_prefix: str = "chat:"
    redis_min_replicas: int = 0
    redis_tls_ca_file: str | None = None
    redis_tls_verify: bool = True
    redis_sentinel_password: str | None = None
    history_size: int = 100
    max_text: int = 2000
    rate_limit: RateLimit | None = field(default_factory=lambda: RateLimit(20, 10.0))
    allowed_origins: tuple[str, ...] | Literal["*"] | None = None
    node_timeout: float = 15.0
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    max_connections_per_ip: int = 0
    trust_forwarded: bool = False
    max_queue_bytes: int = 1_048_576
    max_packet_bytes: int = 1_000_000
    typing_interval: float = 1.0
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    shutdown_timeout: float = 8.0
    web_dir: str | None = None
    presence_grace: float = 5.0
    access_log: bool = True
    auth_secret: str | None = field(default=None, repr=False)
    auth_public_key: str | None = None
    auth_audience: str | None = None
    auth_issuer: str | None = None
    auth_leeway: float = 10.0
    auth_token_url: str | None = None
    ws_compression: bool = False
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            self.verifier()
        except AuthConfigError as exc:
            raise SettingsError(str(exc)) from None
        if self.auth_token_url and not self.identity_on:
            raise SettingsError(
                "CHAT_AUTH_TOKEN_URL needs identity on: set CHAT_AUTH_SECRET or "
                "CHAT_AUTH_PUBLIC_KEY too"
            )
        if self.api_key is not None and len(self.api_key) < MIN_API_KEY:
            raise SettingsError(
                f"CHAT_API_KEY must be at least {MIN_API_KEY} characters, got "
                f"{len(self.api_key)}: use a long random secret (e.g. openssl rand -hex 32)"
            )
        needed = packet_bytes_for_text(self.max_text)
        if needed > self.max_packet_bytes:
            raise SettingsError(
                f"CHAT_MAX_TEXT={self.max_text} needs packets of up to {needed} bytes but "
                f"CHAT_MAX_PACKET_BYTES is {self.max_packet_bytes}: raise it or lower the limit"
            )

    def verifier(self) -> TokenVerifier | None:
        """The token verifier when identity is on (a secret or a public key is set)."""
        return make_verifier(
            self.auth_secret,
            self.auth_public_key,
            audience=self.auth_audience,
            issuer=self.auth_issuer,
            leeway=self.auth_leeway,
        )

    @property
    def identity_on(self) -> bool:
        return bool(self.auth_secret or self.auth_public_key)

    @property
    def linger_interval(self) -> float:
        """How often users whose presence grace ended are looked for."""
        return min(max(self.presence_grace / 10.0, 0.05), 0.5)

    @property
    def heartbeat_interval(self) -> float:
        """Five beats per timeout: a node survives a few lost beats."""
        return max(self.node_timeout / 5.0, 0.05)

    @property
    def alive_ttl(self) -> float:
        """How long one heartbeat keeps a node alive.

        With sweeps every `heartbeat_interval`, a dead node's members are removed
        between 0.6 and 1.0 x `node_timeout` after its last heartbeat.
        """
        return self.node_timeout * 0.8


def packet_bytes_for_text(max_text: int) -> int:
    """The largest packet a `send_message` of an allowed text can need: 12 bytes per code
    point (the longest JSON escape of one, a surrogate pair) plus room for the rest."""
    return 12 * max_text + 1024


ENV_HELP: dict[str, str] = {
    "host": "address to listen on",
    "port": "TCP port to listen on",
    "redis_url": "Redis URL for the cluster; unset means one node, everything in memory",
    "redis_prefix": "prefix of every Redis key and channel",
    "redis_min_replicas": "replicas that must hold a message (WAIT) before it is acknowledged",
    "redis_tls_ca_file": "CA bundle that signed the Redis servers' TLS certificates",
    "redis_tls_verify": "verify the Redis servers' TLS certificates and host names",
    "redis_sentinel_password": "password of the Sentinel processes themselves (not of Redis)",
    "history_size": "messages kept per room",
    "max_text": "longest message text, in characters",
    "rate_limit": "COUNT/SECONDS messages per connection; 0 turns it off",
    "allowed_origins": "comma-separated browser origins allowed to connect, or *",
    "node_timeout": "seconds after which a silent node's members are removed",
    "log_level": "logging level",
    "log_format": "text or json",
    "max_connections_per_ip": "open connections allowed per client IP; 0 turns it off",
    "trust_forwarded": "take the client IP from X-Forwarded-For (only behind a trusted proxy)",
    "max_queue_bytes": "bytes queued for one slow client before it is disconnected",
    "max_packet_bytes": "largest Engine.IO packet accepted from a client",
    "typing_interval": "seconds between typing broadcasts per connection and room",
    "ping_interval": "seconds between Engine.IO pings (a stalled client is noticed "
    "within ping_interval + ping_timeout)",
    "ping_timeout": "seconds an Engine.IO ping waits for its answer",
    "shutdown_timeout": "seconds a draining node waits for clients before exiting",
    "web_dir": "folder with templates/, static/ and node_modules/ of the browser side",
    "presence_grace": "seconds a disconnected user stays listed before user_left; 0 turns it off",
    "access_log": "one line per HTTP request (probes and Engine.IO polls at DEBUG)",
    "auth_secret": "turns identity on: HS256 secret that signs tokens (at least 32 bytes)",
    "auth_public_key": "turns identity on: PEM file with the RS256 or ES256 public key",
    "auth_audience": "with identity on: the `aud` every token must carry",
    "auth_issuer": "with identity on: the `iss` every token must carry",
    "auth_leeway": "with identity on: seconds of clock skew allowed on `exp` (at most 30)",
    "auth_token_url": "with identity on: URL of the embedding application that the page "
    'fetches (with its cookies) for a fresh token, as JSON {"token": JWT}',
    "ws_compression": "on: accept websocket permessage-deflate (zlib state per connection); "
    "off declines it",
    "api_key": "turns the server API on: the bearer key the embedding application's backend "
    "sends (at least 32 characters)",
}

# How a default reads where it is not simply its value (`--help`, the README's table).
_DEFAULT_TEXT: dict[str, str] = {
    "rate_limit": "20/10",
    "allowed_origins": "same origin",
    "web_dir": "the package's copy",
    "ws_compression": "off",
}


def default_text(name: str) -> str:
    """A setting's default, written the way its variable would be set."""
    if name in _DEFAULT_TEXT:
        return _DEFAULT_TEXT[name]
    value = Settings.__dataclass_fields__[name].default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def env_name(name: str) -> str:
    """CHAT_ variable for a settings field."""
    return "CHAT_" + name.upper()


def flag_name(name: str) -> str:
    """Command-line flag for a settings field."""
    return "--" + name.replace("_", "-")


def _int(name: str, raw: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{env_name(name)} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise SettingsError(f"{env_name(name)} must be at least {minimum}{upper}, got {value}")
    return value


def _float(name: str, raw: str, *, minimum: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{env_name(name)} must be a number, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{env_name(name)} must be a finite number >= {minimum}, got {raw!r}")
    return value


def _bounded_float(name: str, raw: str, minimum: float, maximum: float) -> float:
    value = _float(name, raw, minimum=minimum)
    if value > maximum:
        raise SettingsError(f"{env_name(name)} must be at most {maximum:g}, got {raw!r}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{env_name(name)} must be true or false, got {raw!r}")


def parse_rate_limit(raw: str) -> RateLimit | None:
    """'20/10' -> 20 per 10 s; '0' -> off."""
    text = raw.strip()
    if text == "0":
        return None
    count_text, sep, seconds_text = text.partition("/")
    if not sep:
        raise SettingsError(f"CHAT_RATE_LIMIT must be COUNT/SECONDS or 0, got {raw!r}")
    count = _int("rate_limit", count_text, minimum=1)
    seconds = _float("rate_limit", seconds_text, minimum=0.001)
    return RateLimit(count, seconds)


def parse_origins(raw: str) -> tuple[str, ...] | Literal["*"] | None:
    """'*' opens to all; a comma list allows those; empty means same origin only."""
    text = raw.strip()
    if not text:
        return None
    if text == "*":
        return "*"
    origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingsError(
                f"CHAT_ALLOWED_ORIGINS entries must look like https://host[:port], got {origin!r}"
            )
    return origins


def parse_redis_url(raw: str) -> str | None:
    """One Redis, Sentinel or Cluster (see redis_urls); the error never echoes a password."""
    text = raw.strip()
    if not text:
        return None
    try:
        parse_target(text)
    except RedisUrlError as exc:
        raise SettingsError(f"CHAT_REDIS_URL is not usable: {exc}") from None
    return text


def _parse_field(name: str, raw: str) -> Any:
    parsers: dict[str, Any] = {
        "host": lambda r: r.strip() or "0.0.0.0",
        "port": lambda r: _int(name, r, minimum=0, maximum=65535),
        "redis_url": parse_redis_url,
        "redis_prefix": _parse_prefix,
        "redis_min_replicas": lambda r: _int(name, r, minimum=0, maximum=16),
        "redis_tls_ca_file": lambda r: r.strip() or None,
        "redis_tls_verify": lambda r: _bool(name, r),
        "redis_sentinel_password": lambda r: r or None,
        "history_size": lambda r: _int(name, r, minimum=1, maximum=100_000),
        "max_text": lambda r: _int(name, r, minimum=1, maximum=1_000_000),
        "rate_limit": parse_rate_limit,
        "allowed_origins": parse_origins,
        "node_timeout": lambda r: _float(name, r, minimum=0.2),
        "log_level": _parse_level,
        "log_format": _parse_format,
        "max_connections_per_ip": lambda r: _int(name, r, minimum=0),
        "trust_forwarded": lambda r: _bool(name, r),
        "max_queue_bytes": lambda r: _int(name, r, minimum=1024),
        "max_packet_bytes": lambda r: _int(name, r, minimum=1024, maximum=100_000_000),
        "typing_interval": lambda r: _float(name, r, minimum=0.0),
        "ping_interval": lambda r: _float(name, r, minimum=1.0),
        "ping_timeout": lambda r: _float(name, r, minimum=1.0),
        "shutdown_timeout": lambda r: _float(name, r, minimum=0.0),
        "web_dir": lambda r: r.strip() or None,
        "presence_grace": lambda r: _float(name, r, minimum=0.0),
        "access_log": lambda r: _bool(name, r),
        "auth_secret": lambda r: r or None,
        "auth_public_key": lambda r: r.strip() or None,
        "auth_audience": lambda r: r.strip() or None,
        "auth_issuer": lambda r: r.strip() or None,
        "auth_leeway": lambda r: _bounded_float(name, r, 0.0, MAX_LEEWAY),
        "auth_token_url": _parse_token_url,
        "ws_compression": lambda r: _bool(name, r),
        "api_key": lambda r: r or None,
    }
    return parsers[name](raw)


def _parse_prefix(raw: str) -> str:
    """Braces would become the Cluster hash tag instead of the room: refused."""
    if "{" in raw or "}" in raw:
        raise SettingsError(f"CHAT_REDIS_PREFIX must not contain braces, got {raw!r}")
    return raw


def _parse_token_url(raw: str) -> str | None:
    """An absolute http(s) URL: the page fetches it and the CSP allows its origin."""
    url = raw.strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"CHAT_AUTH_TOKEN_URL must be an absolute http(s) URL, got {raw!r}")
    return url


def _parse_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"CHAT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


def _parse_format(raw: str) -> str:
    fmt = raw.strip().lower()
    if fmt not in ("text", "json"):
        raise SettingsError(f"CHAT_LOG_FORMAT must be text or json, got {raw!r}")
    return fmt


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting; values stay strings so env and flags share one parser."""
    for f in fields(Settings):
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            default=None,
            metavar=env_name(f.name),
            help=f"{ENV_HELP[f.name]} (env {env_name(f.name)}; default: {default_text(f.name)})",
        )


def load_settings(
    env: Mapping[str, str] | None = None, argv_values: Mapping[str, str | None] | None = None
) -> Settings:
    """Environment first, flags override; every value validated with a one-line error."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = None
        if argv_values is not None and argv_values.get(f.name) is not None:
            raw = argv_values[f.name]
        elif env_name(f.name) in env:
            raw = env[env_name(f.name)]
        if raw is not None:
            values[f.name] = _parse_field(f.name, raw)
    return Settings(**values)


COMMANDS = """commands:
  run        a chat node, with the options above (the default when no command is given)
  cluster    Redis, N nodes and HAProxy on this machine (chat-service cluster --help)
  bench      the load generator (chat-service bench --help)

Every option can also be set by the environment variable shown; a flag wins."""


def node_parser() -> argparse.ArgumentParser:
    """`chat-service [run] [options]`: every setting with its variable and default."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="chat-service",
        usage="chat-service [run|cluster|bench] [options]",
        description="A real-time multi-room chat node (aiohttp + python-socketio, Redis).",
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chat-service {__version__}")
    add_setting_flags(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """Settings for the node from flags and the environment."""
    ns = node_parser().parse_args(argv)
    return load_settings(argv_values=vars(ns))
