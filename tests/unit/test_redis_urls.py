"""CHAT_REDIS_URL forms and the redis-py clients they make."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from chat_service.backends import open_backend
from chat_service.backends.redis_bus import describe_url
from chat_service.backends.redis_clients import ClientOptions, is_cluster, make_client, tls_kwargs
from chat_service.config import Settings, SettingsError, load_settings
from chat_service.redis_urls import RedisTarget, RedisUrlError, parse_target


class TestParse:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (
                "redis://127.0.0.1:6379/2",
                RedisTarget("single", False, (("127.0.0.1", 6379),), db=2),
            ),
            (
                "rediss://chat:s%40cret@redis.example:6380",
                RedisTarget(
                    "single", True, (("redis.example", 6380),), username="chat", password="s@cret"
                ),
            ),
            ("redis://:pw@h", RedisTarget("single", False, (("h", 6379),), password="pw")),
            (
                "redis+sentinel://h1:26379,h2:26380,h3/mymaster/1",
                RedisTarget(
                    "sentinel",
                    False,
                    (("h1", 26379), ("h2", 26380), ("h3", 26379)),
                    db=1,
                    service="mymaster",
                ),
            ),
            (
                "rediss+sentinel://app:pw@h1:26379/main",
                RedisTarget(
                    "sentinel",
                    True,
                    (("h1", 26379),),
                    username="app",
                    password="pw",
                    service="main",
                ),
            ),
            (
                "redis+cluster://h1:7000,h2:7001,h3:7002",
                RedisTarget("cluster", False, (("h1", 7000), ("h2", 7001), ("h3", 7002))),
            ),
            ("unix:///run/redis.sock", RedisTarget("single", False, ())),
        ],
    )
    def test_forms(self, url: str, expected: RedisTarget) -> None:
        """Each documented form splits into hosts, credentials, database and master name."""
        assert expected == parse_target(url)

    @pytest.mark.parametrize(
        ("url", "fragment"),
        [
            ("http://h", "unknown scheme"),
            ("redis://h1,h2", "one host only"),
            ("redis+sentinel://h1,h2", "name the Sentinel master"),
            ("redis+cluster://h1:7000/3", "database 0 only"),
            ("redis://h:port", "bad host:port"),
            ("redis://h:6379/x", "bad database number"),
        ],
    )
    def test_bad_forms(self, url: str, fragment: str) -> None:
        """A wrong URL names the part that is wrong."""
        with pytest.raises(RedisUrlError, match=fragment):
            parse_target(url)

    def test_settings_error_hides_the_password(self) -> None:
        """A rejected URL is not echoed back: it may carry a password."""
        with pytest.raises(SettingsError) as caught:
            load_settings({"CHAT_REDIS_URL": "redis://u:hunter2@h1,h2"})
        assert "hunter2" not in str(caught.value)

    def test_description_has_no_password(self) -> None:
        """Logs say which form and hosts, never the credentials."""
        assert "redis sentinel at a:1,b:2 (m)" == describe_url("redis+sentinel://u:pw@a:1,b:2/m")
        assert "redis cluster at a:7000" == describe_url("redis+cluster://u:pw@a:7000")


class TestClients:
    def test_each_form_gets_its_client(self) -> None:
        """One server and Sentinel give a Redis client, Cluster a RedisCluster."""
        single = make_client("redis://127.0.0.1:1/0")
        sentinel = make_client("redis+sentinel://127.0.0.1:1/mymaster/0")
        cluster = make_client("redis+cluster://127.0.0.1:1,127.0.0.1:2")
        assert (True, True, True) == (
            isinstance(single, Redis) and not is_cluster(single),
            isinstance(sentinel, Redis) and not is_cluster(sentinel),
            isinstance(cluster, RedisCluster) and is_cluster(cluster),
        )

    def test_sentinel_password_is_the_sentinels_own(self) -> None:
        """The URL's credentials go to Redis; the sentinel password to the sentinels."""
        client = make_client(
            "redis+sentinel://app:apw@127.0.0.1:1/mymaster/0",
            ClientOptions(sentinel_password="spw"),
        )
        pool = client.connection_pool
        manager = pool.sentinel_manager  # type: ignore[attr-defined]
        assert ("app", "apw", "spw") == (
            pool.connection_kwargs["username"],
            pool.connection_kwargs["password"],
            manager.sentinels[0].connection_pool.connection_kwargs["password"],
        )

    def test_tls_settings(self) -> None:
        """Verification is on unless turned off; the CA file is passed through."""
        assert {
            "ssl_ca_certs": "/ca.pem",
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
        } == tls_kwargs(ClientOptions(tls_ca_file="/ca.pem"))
        assert ("none", False) == tuple(
            tls_kwargs(ClientOptions(tls_verify=False))[k]
            for k in ("ssl_cert_reqs", "ssl_check_hostname")
        )

    def test_tls_reaches_every_connection_of_sentinel_and_cluster(self) -> None:
        """rediss+sentinel / rediss+cluster: TLS to the servers, and to the sentinels."""
        options = ClientOptions(tls_ca_file="/ca.pem")
        cluster = make_client("rediss+cluster://u:p@127.0.0.1:7000", options)
        sentinel = make_client("rediss+sentinel://u:p@127.0.0.1:1/m/0", options)
        (seed,) = cluster.nodes_manager.startup_nodes.values()  # type: ignore[union-attr]
        pool = sentinel.connection_pool
        sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
        assert [
            ("SSLConnection", "/ca.pem"),
            ("SentinelManagedSSLConnection", "/ca.pem"),
            ("SSLConnection", "/ca.pem"),
        ] == [
            (seed.connection_class.__name__, seed.connection_kwargs["ssl_ca_certs"]),
            (pool.connection_class.__name__, pool.connection_kwargs["ssl_ca_certs"]),
            (
                sentinels[0].connection_pool.connection_class.__name__,
                sentinels[0].connection_pool.connection_kwargs["ssl_ca_certs"],
            ),
        ]


class TestParsedOnce:
    def test_settings_carry_the_parsed_target(self) -> None:
        """Settings hold CHAT_REDIS_URL parsed; none without a URL."""
        url = "redis+sentinel://u:pw@a:1,b:2/m/3"
        assert (parse_target(url), None) == (
            load_settings({"CHAT_REDIS_URL": url}).redis_target,
            load_settings({}).redis_target,
        )

    def test_a_bad_url_is_refused_however_settings_are_made(self) -> None:
        """Settings(redis_url=...) directly, as tests and embedders do, is checked too."""
        with pytest.raises(SettingsError, match="CHAT_REDIS_URL is not usable: one host only"):
            Settings(redis_url="redis://h1,h2")

    def test_the_backend_uses_the_settings_target(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Opening the Redis backend parses no URL again: the client and the log line come
        from `Settings.redis_target`."""
        settings = load_settings({"CHAT_REDIS_URL": "redis://u:pw@127.0.0.1:1/4"})

        def parse_again(url: str) -> RedisTarget:
            raise AssertionError(f"parsed again: {url}")

        monkeypatch.setattr("chat_service.backends.redis_clients.parse_target", parse_again)
        monkeypatch.setattr("chat_service.backends.redis_bus.parse_target", parse_again)
        backend = open_backend(settings, "n1")
        kwargs = backend.store.client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert ("redis", 4, "pw") == (backend.name, kwargs["db"], kwargs["password"])

    def test_unix_socket_description(self) -> None:
        """A unix socket is described by its path."""
        assert "redis at /run/redis.sock" == parse_target("unix:///run/redis.sock").describe()
