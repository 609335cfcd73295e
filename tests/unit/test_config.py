"""Settings from the environment and flags, with one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chat_service.app import create_app
from chat_service.config import (
    RateLimit,
    Settings,
    SettingsError,
    describe,
    load_settings,
    parse_args,
)


class TestDescriptions:
    def test_every_setting_is_described_on_its_field(self) -> None:
        """Each field carries its help text and its parser; nothing is described apart."""
        undescribed = [
            f.name
            for f in fields(Settings)
            if "setting" not in f.metadata or not (describe(f.name).help and describe(f.name).parse)
        ]
        assert [] == undescribed

    def test_loading_uses_the_fields_parser(self) -> None:
        """The value of CHAT_X is what field x's own parser makes of the text."""
        env = {"CHAT_RATE_LIMIT": "3/2", "CHAT_PORT": " 81 ", "CHAT_ACCESS_LOG": "off"}
        loaded = load_settings(env=env)
        assert [describe(n).parse(n, env[f"CHAT_{n.upper()}"]) for n in ("rate_limit", "port",
                "access_log")] == [loaded.rate_limit, loaded.port, loaded.access_log]  # fmt: skip


class TestLoad:
    def test_defaults(self) -> None:
        """Defaults are the contract's."""
        s = load_settings(env={})
        assert ("0.0.0.0", 5000, None, 100, 2000) == (
            s.host,
            s.port,
            s.redis_url,
            s.history_size,
            s.max_text,
        )
        assert RateLimit(20, 10.0) == s.rate_limit
        assert (None, 15.0, "INFO", "chat:") == (
            s.allowed_origins,
            s.node_timeout,
            s.log_level,
            s.redis_prefix,
        )

    def test_environment(self) -> None:
        """Every CHAT_* variable is read."""
        env = {
            "CHAT_PORT": "6001",
            "CHAT_REDIS_URL": "redis://r:6379/1",
            "CHAT_HISTORY_SIZE": "5",
            "CHAT_MAX_TEXT": "10",
            "CHAT_RATE_LIMIT": "0",
            "CHAT_ALLOWED_ORIGINS": "https://a.b, http://c:8080/",
            "CHAT_NODE_TIMEOUT": "2.5",
            "CHAT_LOG_LEVEL": "debug",
            "CHAT_HOST": "127.0.0.1",
        }
        s = load_settings(env=env)
        assert (6001, "redis://r:6379/1", 5, 10, None) == (
            s.port,
            s.redis_url,
            s.history_size,
            s.max_text,
            s.rate_limit,
        )
        assert (("https://a.b", "http://c:8080"), 2.5, "DEBUG", "127.0.0.1") == (
            s.allowed_origins,
            s.node_timeout,
            s.log_level,
            s.host,
        )

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({}, False),
            ({"CHAT_WS_COMPRESSION": "on"}, True),
            ({"CHAT_WS_COMPRESSION": "off"}, False),
        ],
    )
    def test_ws_compression(self, env: dict[str, str], expected: bool) -> None:
        """permessage-deflate is declined unless CHAT_WS_COMPRESSION=on."""
        assert expected == load_settings(env=env).ws_compression

    def test_flags_override_environment(self) -> None:
        """--port beats CHAT_PORT."""
        assert 7000 == load_settings(env={"CHAT_PORT": "1"}, argv_values={"port": "7000"}).port

    def test_parse_args_flags(self) -> None:
        """Flags are named after the variables."""
        s = parse_args(
            [
                "--port",
                "5001",
                "--redis-url",
                "redis://x",
                "--rate-limit",
                "5/1",
                "--allowed-origins",
                "*",
            ]
        )
        assert (5001, "redis://x", RateLimit(5, 1.0), "*") == (
            s.port,
            s.redis_url,
            s.rate_limit,
            s.allowed_origins,
        )

    @pytest.mark.parametrize(
        ("env", "fragment"),
        [
            ({"CHAT_PORT": "abc"}, "CHAT_PORT must be a whole number"),
            ({"CHAT_PORT": "70000"}, "CHAT_PORT must be at least 0 and at most 65535"),
            ({"CHAT_HISTORY_SIZE": "0"}, "CHAT_HISTORY_SIZE must be at least 1"),
            ({"CHAT_RATE_LIMIT": "20"}, "CHAT_RATE_LIMIT must be COUNT/SECONDS or 0"),
            ({"CHAT_RATE_LIMIT": "x/10"}, "CHAT_RATE_LIMIT must be a whole number"),
            ({"CHAT_REDIS_URL": "http://x"}, "CHAT_REDIS_URL is not usable"),
            ({"CHAT_REDIS_URL": "redis+sentinel://h:26379"}, "name the Sentinel master"),
            ({"CHAT_REDIS_PREFIX": "app{x}:"}, "CHAT_REDIS_PREFIX must not contain braces"),
            ({"CHAT_REDIS_MIN_REPLICAS": "-1"}, "CHAT_REDIS_MIN_REPLICAS must be at least 0"),
            ({"CHAT_REDIS_TLS_VERIFY": "perhaps"}, "CHAT_REDIS_TLS_VERIFY must be true or false"),
            ({"CHAT_ALLOWED_ORIGINS": "example.com"}, "CHAT_ALLOWED_ORIGINS entries"),
            ({"CHAT_NODE_TIMEOUT": "nan"}, "CHAT_NODE_TIMEOUT must be a finite number"),
            ({"CHAT_LOG_LEVEL": "LOUD"}, "CHAT_LOG_LEVEL must be one of"),
            ({"CHAT_LOG_FORMAT": "xml"}, "CHAT_LOG_FORMAT must be text or json"),
            ({"CHAT_TRUST_FORWARDED": "maybe"}, "CHAT_TRUST_FORWARDED must be true or false"),
            ({"CHAT_WS_COMPRESSION": "gzip"}, "CHAT_WS_COMPRESSION must be true or false"),
            ({"CHAT_JOIN_LIMIT": "5"}, "CHAT_JOIN_LIMIT must be COUNT/SECONDS or 0"),
            ({"CHAT_MAX_ROOMS_PER_CONNECTION": "0"}, "CHAT_MAX_ROOMS_PER_CONNECTION must be at"),
            ({"CHAT_METRICS_TOKEN": "short"}, "CHAT_METRICS_TOKEN must be at least 16"),
            ({"CHAT_CONNECT_TIMEOUT": "0"}, "CHAT_CONNECT_TIMEOUT must be a finite number"),
        ],
    )
    def test_bad_values(self, env: dict[str, str], fragment: str) -> None:
        """Bad values raise a sentence naming the variable."""
        with pytest.raises(SettingsError) as info:
            load_settings(env=env)
        assert fragment in str(info.value)

    def test_limits(self) -> None:
        """The v3 bounds default to the contract's and are read from the environment."""
        default = load_settings(env={})
        assert (2.0, RateLimit(5, 10.0), RateLimit(100, 10.0), 50, None) == (
            default.typing_interval,
            default.join_limit,
            default.connection_join_limit,
            default.max_rooms_per_connection,
            default.metrics_token,
        )
        s = load_settings(
            env={
                "CHAT_JOIN_LIMIT": "0",
                "CHAT_CONNECTION_JOIN_LIMIT": "10/1",
                "CHAT_MAX_ROOMS_PER_CONNECTION": "7",
                "CHAT_CONNECT_TIMEOUT": "3",
                "CHAT_MAX_CONNECT_REFUSALS": "2",
                "CHAT_HTTP_KEEPALIVE_TIMEOUT": "4",
                "CHAT_METRICS_TOKEN": "t" * 16,
            }
        )
        assert (None, RateLimit(10, 1.0), 7, 3.0, 2, 4.0, "t" * 16) == (
            s.join_limit,
            s.connection_join_limit,
            s.max_rooms_per_connection,
            s.connect_timeout,
            s.max_connect_refusals,
            s.http_keepalive_timeout,
            s.metrics_token,
        )

    def test_repr_hides_secrets(self) -> None:
        """repr(Settings) names no password, secret or token, but says which are set."""
        s = load_settings(
            env={
                "CHAT_REDIS_URL": "redis+sentinel://app:hunter2pass@h1:26379,h2:26379/m/0",
                "CHAT_REDIS_SENTINEL_PASSWORD": "sentinelpass",
                "CHAT_AUTH_SECRET": "x" * 40,
                "CHAT_METRICS_TOKEN": "metricstoken1234",
            }
        )
        text = repr(s)
        for secret in ("hunter2pass", "sentinelpass", "x" * 40, "metricstoken1234"):
            assert secret not in text
        assert "redis+sentinel://app:***@h1:26379,h2:26379/m/0" in text
        assert "metrics_token=<hidden>" in text and "auth_public_key=None" in text

    @pytest.mark.parametrize(
        ("env", "expected"),
        [({}, 0.0), ({"CHAT_DRAIN_DELAY": "5"}, 5.0), ({"CHAT_DRAIN_DELAY": "0.5"}, 0.5)],
    )
    def test_drain_delay(self, env: dict[str, str], expected: float) -> None:
        """CHAT_DRAIN_DELAY: seconds, off (0) unless set."""
        assert expected == load_settings(env=env).drain_delay

    @pytest.mark.parametrize(
        ("raw", "fragment"),
        [
            ("-1", "CHAT_DRAIN_DELAY must be a finite number >= 0"),
            ("soon", "CHAT_DRAIN_DELAY must be a number"),
            ("600", "CHAT_DRAIN_DELAY must be at most 120"),
        ],
    )
    def test_bad_drain_delay(self, raw: str, fragment: str) -> None:
        """A negative, unreadable or minutes-long delay is refused with a sentence."""
        with pytest.raises(SettingsError) as info:
            load_settings(env={"CHAT_DRAIN_DELAY": raw})
        assert fragment in str(info.value)

    def test_empty_redis_url_means_memory(self) -> None:
        """An empty CHAT_REDIS_URL is the same as unset."""
        assert load_settings(env={"CHAT_REDIS_URL": ""}).redis_url is None

    def test_timing_derivation(self) -> None:
        """Heartbeats and the alive TTL keep dead-node cleanup within the timeout."""
        s = Settings(node_timeout=15.0)
        assert s.alive_ttl + s.heartbeat_interval <= s.node_timeout


class TestCli:
    def test_bad_value_exits_2_with_one_line(self) -> None:
        """The real CLI refuses CHAT_PORT=abc with one line on stderr."""
        proc = subprocess.run(
            [sys.executable, "-m", "chat_service"],
            env={"CHAT_PORT": "abc", "PATH": ""},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert 2 == proc.returncode
        assert [
            "chat-service: CHAT_PORT must be a whole number, got 'abc'"
        ] == proc.stderr.splitlines()

    def test_help_lists_every_setting(self) -> None:
        """--help names each flag."""
        proc = subprocess.run(
            [sys.executable, "-m", "chat_service", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        for flag in (
            "--host",
            "--port",
            "--redis-url",
            "--history-size",
            "--max-text",
            "--rate-limit",
            "--allowed-origins",
            "--node-timeout",
            "--log-level",
        ):
            assert flag in proc.stdout


class TestPing:
    def test_defaults_notice_a_stall_within_ten_seconds(self) -> None:
        """Ping every 5 s, 5 s for the answer: a silent peer is dropped within 10 s."""
        s = load_settings(env={})
        assert (5.0, 5.0) == (s.ping_interval, s.ping_timeout)
        assert 10.0 >= s.ping_interval + s.ping_timeout

    def test_environment(self) -> None:
        """CHAT_PING_INTERVAL and CHAT_PING_TIMEOUT are read."""
        s = load_settings(env={"CHAT_PING_INTERVAL": "2.5", "CHAT_PING_TIMEOUT": "4"})
        assert (2.5, 4.0) == (s.ping_interval, s.ping_timeout)

    @pytest.mark.parametrize(
        ("env", "fragment"),
        [
            ({"CHAT_PING_INTERVAL": "0.5"}, "CHAT_PING_INTERVAL must be a finite number >= 1.0"),
            ({"CHAT_PING_TIMEOUT": "inf"}, "CHAT_PING_TIMEOUT must be a finite number >= 1.0"),
            ({"CHAT_PING_TIMEOUT": "soon"}, "CHAT_PING_TIMEOUT must be a number"),
        ],
    )
    def test_bad_values(self, env: dict[str, str], fragment: str) -> None:
        """Values under a second, infinite or not numbers are refused with the name."""
        with pytest.raises(SettingsError) as info:
            load_settings(env=env)
        assert fragment in str(info.value)

    async def test_handshake_announces_the_settings(self) -> None:
        """The Engine.IO handshake tells clients the node's ping interval and timeout."""
        app = create_app(Settings(ping_interval=2.0, ping_timeout=3.0))
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            body = await resp.text()
        handshake = json.loads(body[1:])  # "0" is the Engine.IO open packet
        assert (2000, 3000) == (handshake["pingInterval"], handshake["pingTimeout"])
