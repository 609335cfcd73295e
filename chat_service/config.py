"""Settings: parsed once from CHAT_* variables and --flags, validated, then frozen.

Each setting is described once, on its field: the help text, the parser of its text
(from the environment or a flag) and, where it reads differently from the value, its
default as an operator would write it (`setting(...)` metadata). The variable, the
flag, `--help`, the parsing and the validation are all read from that one description.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

from . import config_values as values
from .config_values import Parser, RateLimit, SettingsError, env_name, flag_name, redact_url
from .identity import MAX_LEEWAY, AuthConfigError, TokenVerifier, make_verifier
from .redis_urls import RedisTarget, RedisUrlError, parse_target

# Names other modules import from here.
__all__ = [
    "RateLimit",
    "Settings",
    "SettingsError",
    "default_text",
    "describe",
    "env_name",
    "flag_name",
    "load_settings",
    "parse_args",
]

MIN_API_KEY = 32
# A stop that waits longer than this is a mistake (minutes, not seconds): no balancer
# needs it, and every orchestrator's grace period would have to exceed it.
MAX_DRAIN_DELAY = 120.0


@dataclass(frozen=True)
class Describe:
    """One setting: what it does, how its text is parsed, how its default reads."""

    help: str
    parse: Parser
    shown_default: str | None = None  # None: the default value itself, written plainly


def setting(help: str, parse: Parser, shown_default: str | None = None) -> dict[str, Describe]:
    """A settings field's metadata: its one description."""
    return {"setting": Describe(help, parse, shown_default)}


def describe(name: str) -> Describe:
    """The description of the settings field `name`."""
    found: Describe = Settings.__dataclass_fields__[name].metadata["setting"]
    return found


# --- the settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every knob of a node. Field names map to CHAT_<NAME> and --<name-with-dashes>;
    each field's metadata is its one description (see `setting`)."""

    host: str = field(default="0.0.0.0", metadata=setting("address to listen on", values.host))
    port: int = field(
        default=5000, metadata=setting("TCP port to listen on", values.whole(0, 65535))
    )
    # May carry a password: shown redacted by __repr__; parsed once, into `redis_target`.
    redis_url: str | None = field(
        default=None,
        metadata=setting(
            "Redis URL for the cluster; unset means one node, everything in memory",
            values.text_or_unset,
        ),
    )
    redis_prefix: str = field(
        default="chat:",
        metadata=setting("prefix of every Redis key and channel", values.redis_prefix),
    )
    redis_min_replicas: int = field(
        default=0,
        metadata=setting(
            "replicas that must hold a message (WAIT) before it is acknowledged",
            values.whole(0, 16),
        ),
    )
    redis_tls_ca_file: str | None = field(
        default=None,
        metadata=setting(
            "CA bundle that signed the Redis servers' TLS certificates", values.text_or_unset
        ),
    )
    redis_tls_verify: bool = field(
        default=True,
        metadata=setting(
            "verify the Redis servers' TLS certificates and host names", values.yes_no
        ),
    )
    redis_sentinel_password: str | None = field(
        default=None,
        repr=False,
        metadata=setting(
            "password of the Sentinel processes themselves (not of Redis)", values.secret_or_unset
        ),
    )
    history_size: int = field(
        default=100, metadata=setting("messages kept per room", values.whole(1, 100_000))
    )
    max_text: int = field(
        default=2000,
        metadata=setting("longest message text, in characters", values.whole(1, 1_000_000)),
    )
    rate_limit: RateLimit | None = field(
        default_factory=lambda: RateLimit(20, 10.0),
        metadata=setting(
            "COUNT/SECONDS messages per connection; 0 turns it off",
            values.parse_rate_limit,
            "20/10",
        ),
    )
    allowed_origins: tuple[str, ...] | Literal["*"] | None = field(
        default=None,
        metadata=setting(
            "comma-separated browser origins allowed to connect, or *",
            values.parse_origins,
            "same origin",
        ),
    )
    node_timeout: float = field(
        default=15.0,
        metadata=setting(
            "seconds after which a silent node's members are removed", values.number(0.2)
        ),
    )
    log_level: str = field(default="INFO", metadata=setting("logging level", values.log_level))
    log_format: Literal["text", "json"] = field(
        default="text", metadata=setting("text or json", values.log_format)
    )
    max_connections_per_ip: int = field(
        default=0,
        metadata=setting(
            "open Engine.IO sessions allowed per client IP (counted before any Socket.IO "
            "CONNECT); 0 turns it off",
            values.whole(0),
        ),
    )
    trust_forwarded: bool = field(
        default=False,
        metadata=setting(
            "take the client IP from X-Forwarded-For (only behind a trusted proxy)", values.yes_no
        ),
    )
    max_queue_bytes: int = field(
        default=1_048_576,
        metadata=setting(
            "bytes queued for one slow client before it is disconnected", values.whole(1024)
        ),
    )
    max_packet_bytes: int = field(
        default=1_000_000,
        metadata=setting(
            "largest Engine.IO packet accepted from a client", values.whole(1024, 100_000_000)
        ),
    )
    typing_interval: float = field(
        default=2.0,
        metadata=setting(
            "seconds between typing events others see, per user and room (a change in "
            "between is delayed, so the latest state shows within it); 0 turns it off",
            values.number(0.0),
        ),
    )
    join_limit: RateLimit | None = field(
        default_factory=lambda: RateLimit(5, 10.0),
        metadata=setting(
            "COUNT/SECONDS joins per user and room (re-joins of a room the connection is in "
            "are free); 0 turns it off",
            values.parse_rate_limit,
            "5/10",
        ),
    )
    connection_join_limit: RateLimit | None = field(
        default_factory=lambda: RateLimit(100, 10.0),
        metadata=setting(
            "COUNT/SECONDS joins per connection; 0 turns it off", values.parse_rate_limit, "100/10"
        ),
    )
    max_rooms_per_connection: int = field(
        default=50, metadata=setting("rooms one connection may be in at once", values.whole(1))
    )
    connect_timeout: float = field(
        default=10.0,
        metadata=setting(
            "seconds an Engine.IO session may stay open without a Socket.IO CONNECT before "
            "it is closed",
            values.number(0.5),
        ),
    )
    max_connect_refusals: int = field(
        default=3,
        metadata=setting(
            "refused Socket.IO CONNECTs (bad token) after which the Engine.IO session is closed",
            values.whole(1),
        ),
    )
    http_keepalive_timeout: float = field(
        default=15.0,
        metadata=setting(
            "seconds an HTTP connection may wait for a complete request line and headers (a "
            "new one, or one idle after a response) before it is closed",
            values.number(0.5),
        ),
    )
    metrics_token: str | None = field(
        default=None,
        repr=False,
        metadata=setting(
            "bearer token /metrics requires (Authorization: Bearer ...); unset: /metrics is "
            "open, for nodes reached only from the internal network",
            values.metrics_token,
        ),
    )
    ping_interval: float = field(
        default=5.0,
        metadata=setting(
            "seconds between Engine.IO pings (a stalled client is noticed within "
            "ping_interval + ping_timeout)",
            values.number(1.0),
        ),
    )
    ping_timeout: float = field(
        default=5.0,
        metadata=setting("seconds an Engine.IO ping waits for its answer", values.number(1.0)),
    )
    shutdown_timeout: float = field(
        default=8.0,
        metadata=setting(
            "seconds a draining node waits for clients before exiting", values.number(0.0)
        ),
    )
    drain_delay: float = field(
        default=0.0,
        metadata=setting(
            "seconds a stopping node keeps serving with /readyz failing, so load balancers "
            "take it out before it drains (a second signal skips the wait)",
            values.number(0.0, MAX_DRAIN_DELAY),
        ),
    )
    web_dir: str | None = field(
        default=None,
        metadata=setting(
            "folder with templates/, static/ and node_modules/ of the browser side",
            values.text_or_unset,
            "the package's copy",
        ),
    )
    presence_grace: float = field(
        default=5.0,
        metadata=setting(
            "seconds a disconnected user stays listed before user_left; 0 turns it off",
            values.number(0.0),
        ),
    )
    access_log: bool = field(
        default=True,
        metadata=setting(
            "one line per HTTP request (probes and Engine.IO polls at DEBUG)", values.yes_no
        ),
    )
    auth_secret: str | None = field(
        default=None,
        repr=False,
        metadata=setting(
            "turns identity on: HS256 secret that signs tokens (at least 32 bytes)",
            values.secret_or_unset,
        ),
    )
    auth_public_key: str | None = field(
        default=None,
        metadata=setting(
            "turns identity on: PEM file with the RS256 or ES256 public key", values.text_or_unset
        ),
    )
    auth_audience: str | None = field(
        default=None,
        metadata=setting(
            "with identity on: the `aud` every token must carry", values.text_or_unset
        ),
    )
    auth_issuer: str | None = field(
        default=None,
        metadata=setting(
            "with identity on: the `iss` every token must carry", values.text_or_unset
        ),
    )
    auth_leeway: float = field(
        default=10.0,
        metadata=setting(
            "with identity on: seconds of clock skew allowed on `exp` (at most 30)",
            values.number(0.0, MAX_LEEWAY),
        ),
    )
    auth_token_url: str | None = field(
        default=None,
        metadata=setting(
            "with identity on: URL of the embedding application that the page fetches (with "
            'its cookies) for a fresh token, as JSON {"token": JWT}',
            values.token_url,
        ),
    )
    ws_compression: bool = field(
        default=False,
        metadata=setting(
            "on: accept websocket permessage-deflate (zlib state per connection); off declines it",
            values.yes_no,
            "off",
        ),
    )
    api_key: str | None = field(
        default=None,
        repr=False,
        metadata=setting(
            "turns the server API on: the bearer key the embedding application's backend "
            "sends (at least 32 characters)",
            values.secret_or_unset,
        ),
    )

    def __post_init__(self) -> None:
        # Both are built here, once: a bad URL or key stops the node before it starts.
        _ = self.redis_target
        try:
            _ = self.verifier
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

    def __repr__(self) -> str:
        """Every field but the secrets (repr=False), and the Redis URL without its password."""
        shown = []
        for f in fields(self):
            if not f.repr:
                value = getattr(self, f.name)
                shown.append(f"{f.name}={'<hidden>' if value else 'None'}")
            elif f.name == "redis_url" and self.redis_url:
                shown.append(f"redis_url={redact_url(self.redis_url)!r}")
            else:
                shown.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"Settings({', '.join(shown)})"

    @cached_property
    def redis_target(self) -> RedisTarget | None:
        """CHAT_REDIS_URL parsed, once: the backend builds its client from this."""
        if self.redis_url is None:
            return None
        try:
            return parse_target(self.redis_url)
        except RedisUrlError as exc:  # the text never echoes a password
            raise SettingsError(f"CHAT_REDIS_URL is not usable: {exc}") from None

    @cached_property
    def verifier(self) -> TokenVerifier | None:
        """The token verifier when identity is on (a secret or a public key is set), built
        once (the public key file is read here) and shared by the socket and HTTP sides."""
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


def default_text(name: str) -> str:
    """A setting's default, written the way its variable would be set."""
    shown = describe(name).shown_default
    if shown is not None:
        return shown
    value = Settings.__dataclass_fields__[name].default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting; values stay strings so env and flags share one parser."""
    for f in fields(Settings):
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            default=None,
            metavar=env_name(f.name),
            help=f"{describe(f.name).help} (env {env_name(f.name)}; "
            f"default: {default_text(f.name)})",
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
            values[f.name] = describe(f.name).parse(f.name, raw)
    return Settings(**values)


COMMANDS = """commands:
  run        a chat node, with the options above (the default when no command is given)

Every option can also be set by the environment variable shown; a flag wins.
The tooling is a command of its own: chat-tools bench|cluster|soak (chat-tools --help)."""


def node_parser() -> argparse.ArgumentParser:
    """`chat-service [run] [options]`: every setting with its variable and default."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="chat-service",
        usage="chat-service [run] [options]",
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
