"""docker-compose.yml: the topology operators run with `docker compose up -d --scale chat=N`."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chat_service.config import Settings, env_name

SCHEMA_PATH = Path(__file__).with_name("compose_spec.json")
TLS_OVERRIDE = Path(__file__).resolve().parents[2] / "deploy" / "compose.tls.yml"
# The schema declares draft 2019-09 (under an http:// URI jsonschema does not recognise).
Validator = jsonschema.Draft201909Validator
EXACT_TAG = re.compile(r"^[a-z0-9][a-z0-9._/-]*:\d+\.\d+\.\d+(-[a-z0-9.]+)?$")


def _duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


def _bytes(text: str) -> int:
    units = {
        "b": 1,
        "k": 1024,
        "kb": 1024,
        "m": 1024**2,
        "mb": 1024**2,
        "g": 1024**3,
        "gb": 1024**3,
    }
    number, unit = re.fullmatch(r"(\d+)\s*([a-z]+)", text.strip().lower()).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


def _published_ports(service: dict[str, Any]) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def _default_services(compose: dict[str, Any]) -> dict[str, Any]:
    """What `docker compose up` starts: services outside any profile (monitoring's are in
    tests/deploy/test_monitoring.py)."""
    return {name: svc for name, svc in compose["services"].items() if not svc.get("profiles")}


class TestSchema:
    def test_compose_file_matches_the_compose_spec_schema(self, compose: dict[str, Any]) -> None:
        """The file validates against the Compose Specification JSON schema."""
        schema = json.loads(SCHEMA_PATH.read_text())
        errors = [e.message for e in Validator(schema).iter_errors(compose)]
        assert [] == errors

    def test_schema_rejects_an_unknown_service_key(self, compose: dict[str, Any]) -> None:
        """The schema check is not vacuous: a misspelt key is an error."""
        schema = json.loads(SCHEMA_PATH.read_text())
        broken = copy.deepcopy(compose)
        broken["services"]["chat"]["depend_on"] = ["redis"]
        assert False is Validator(schema).is_valid(broken)


class TestTlsOverride:
    tls = yaml.safe_load(TLS_OVERRIDE.read_text())

    def test_matches_the_compose_spec_schema(self) -> None:
        """deploy/compose.tls.yml validates against the Compose Specification schema."""
        schema = json.loads(SCHEMA_PATH.read_text())
        assert [] == [e.message for e in Validator(schema).iter_errors(self.tls)]

    def test_publishes_https_where_haproxy_binds_it(self) -> None:
        """The HTTPS container port is CHAT_LB_TLS_BIND's, on the same address setting."""
        lb = self.tls["services"]["lb"]
        assert (["${CHAT_LB_ADDRESS:-127.0.0.1}:${CHAT_LB_HTTPS_PORT:-443}:5443"], ":5443") == (
            lb["ports"],
            lb["environment"]["CHAT_LB_TLS_BIND"],
        )


class TestServices:
    def test_three_services(self, compose: dict[str, Any]) -> None:
        """Redis, the scalable chat service and the load balancer, nothing else."""
        assert {"redis", "chat", "lb"} == set(_default_services(compose))

    def test_every_image_is_pinned_to_an_exact_version(self, compose: dict[str, Any]) -> None:
        """Third-party images carry an exact x.y.z tag, never latest or a moving major."""
        images = {
            name: svc["image"]
            for name, svc in _default_services(compose).items()
            if "image" in svc and "build" not in svc
        }
        assert {"redis", "lb"} == set(images)
        assert {} == {name: image for name, image in images.items() if not EXACT_TAG.match(image)}

    def test_only_the_load_balancer_publishes_a_port(self, compose: dict[str, Any]) -> None:
        """One published port in the whole file: the balancer's, on loopback:5000 unless
        CHAT_LB_ADDRESS / CHAT_LB_PORT say otherwise."""
        published = {
            name: _published_ports(svc)
            for name, svc in _default_services(compose).items()
            if svc.get("ports")
        }
        assert {"lb": ["${CHAT_LB_ADDRESS:-127.0.0.1}:${CHAT_LB_PORT:-5000}:5000"]} == published


class TestChat:
    def test_chat_is_scalable(self, compose: dict[str, Any]) -> None:
        """No container_name, no published port: `--scale chat=N` can start N replicas."""
        chat = compose["services"]["chat"]
        assert (None, None) == (chat.get("container_name"), chat.get("ports"))

    def test_chat_is_built_from_this_repository(self, compose: dict[str, Any]) -> None:
        """The chat image is built from the Dockerfile at the repository root."""
        build = compose["services"]["chat"]["build"]
        context = build if isinstance(build, str) else build.get("context")
        assert "." == context

    def test_chat_waits_for_a_healthy_redis(self, compose: dict[str, Any]) -> None:
        """Nodes start once Redis answers its healthcheck."""
        depends = compose["services"]["chat"]["depends_on"]
        assert {"condition": "service_healthy"} == depends["redis"]

    def test_chat_settings(self, compose: dict[str, Any]) -> None:
        """Redis URL on the compose network; X-Forwarded-For trusted behind the lb."""
        env = compose["services"]["chat"]["environment"]
        actual = {k: env.get(k) for k in ("CHAT_REDIS_URL", "CHAT_TRUST_FORWARDED", "CHAT_PORT")}
        expected = {
            "CHAT_REDIS_URL": "redis://redis:6379/0",
            "CHAT_TRUST_FORWARDED": "true",
            "CHAT_PORT": "5000",
        }
        assert expected == actual

    def test_chat_env_names_are_known_settings(self, compose: dict[str, Any]) -> None:
        """Every CHAT_* variable set for the nodes is one the node reads."""
        known = {env_name(name) for name in Settings.__dataclass_fields__}
        env = compose["services"]["chat"]["environment"]
        assert set() == set(env) - known

    def test_chat_restarts_and_stops_gracefully(self, compose: dict[str, Any]) -> None:
        """Restarted if it dies; SIGTERM via an init, and SIGKILL only after the drain delay
        plus the drain's own deadline (shutdown timeout + 1 s)."""
        chat = compose["services"]["chat"]
        actual = (chat.get("restart"), chat.get("init"), chat.get("stop_signal", "SIGTERM"))
        assert ("unless-stopped", True, "SIGTERM") == actual
        delay = float(chat["environment"]["CHAT_DRAIN_DELAY"])
        needed = delay + Settings.shutdown_timeout + 1.0
        assert _duration_seconds(chat["stop_grace_period"]) > needed

    def test_drain_delay_outlasts_the_balancers_checks(
        self, compose: dict[str, Any], root: Path
    ) -> None:
        """HAProxy marks a stopping node down ((fall + 1) x inter, a check in flight
        included) before the node stops serving."""
        config = (root / "deploy" / "haproxy" / "haproxy.cfg").read_text()
        line = re.search(r"^\s*default-server .*$", config, re.M)
        assert line is not None
        inter = _duration_seconds(re.search(r"inter (\S+)", line.group(0)).group(1))  # type: ignore[union-attr]
        fall = int(re.search(r"fall (\d+)", line.group(0)).group(1))  # type: ignore[union-attr]
        delay = float(compose["services"]["chat"]["environment"]["CHAT_DRAIN_DELAY"])
        assert (fall + 1) * inter < delay


class TestRedis:
    def test_redis_has_a_healthcheck(self, compose: dict[str, Any]) -> None:
        """The healthcheck pings Redis with redis-cli."""
        test = compose["services"]["redis"]["healthcheck"]["test"]
        assert ["CMD", "redis-cli", "ping"] == test

    def test_redis_persists_with_an_append_only_file(self, compose: dict[str, Any]) -> None:
        """appendonly yes, so a Redis restart keeps history and message ids."""
        command = compose["services"]["redis"]["command"]
        assert "yes" == command[command.index("--appendonly") + 1]

    def test_redis_data_is_on_a_named_volume(self, compose: dict[str, Any]) -> None:
        """/data is a named volume declared at the top level, not a container layer."""
        mounts = compose["services"]["redis"]["volumes"]
        named = [m.split(":")[0] for m in mounts if m.split(":")[1] == "/data"]
        assert 1 == len(named)
        assert named[0] in compose["volumes"]


class TestLoadBalancer:
    def test_lb_sets_no_ulimits(self, compose: dict[str, Any]) -> None:
        """No `ulimits`: a daemon that may not raise nofile would refuse the container."""
        assert None is compose["services"]["lb"].get("ulimits")

    def test_lb_mounts_the_deploy_config(self, compose: dict[str, Any], root: Path) -> None:
        """Every config file haproxy is given exists in deploy/haproxy."""
        lb = compose["services"]["lb"]
        host_dir, container_dir = lb["volumes"][0].split(":")[:2]
        files = [
            arg for prev, arg in zip(lb["command"], lb["command"][1:], strict=False) if prev == "-f"
        ]
        local = [root / host_dir / Path(f).relative_to(container_dir) for f in files]
        assert ["haproxy.cfg", "upstreams.compose.cfg"] == [p.name for p in local]
        assert [True, True] == [p.is_file() for p in local]

    def test_lb_targets_the_chat_service_port(self, compose: dict[str, Any], root: Path) -> None:
        """The server-template resolves the `chat` service on the nodes' CHAT_PORT."""
        port = compose["services"]["chat"]["environment"]["CHAT_PORT"]
        upstreams = (root / "deploy" / "haproxy" / "upstreams.compose.cfg").read_text()
        templates = re.findall(r"^\s*server-template\s+\S+\s+\d+\s+(\S+)", upstreams, re.M)
        assert [f"chat:{port}"] == templates

    def test_lb_listens_where_it_is_published(self, compose: dict[str, Any]) -> None:
        """The container port in `ports` is the one haproxy binds (CHAT_LB_BIND)."""
        lb = compose["services"]["lb"]
        container_port = _published_ports(lb)[0].split(":")[-1]
        assert f":{container_port}" == lb["environment"]["CHAT_LB_BIND"]

    def test_lb_restarts(self, compose: dict[str, Any]) -> None:
        """The only entry point comes back on its own if it dies."""
        assert "unless-stopped" == compose["services"]["lb"]["restart"]


@pytest.mark.parametrize("service", ["redis", "chat", "lb"])
def test_no_service_uses_host_networking(compose: dict[str, Any], service: str) -> None:
    """Services share the compose network; none bypasses it (scaling needs its DNS)."""
    assert None is compose["services"][service].get("network_mode")


class TestOperations:
    def test_redis_memory_is_capped_without_eviction(self, compose: dict[str, Any]) -> None:
        """maxmemory is set, and the policy is noeviction: history is never dropped."""
        command = compose["services"]["redis"]["command"]
        policy = command[command.index("--maxmemory-policy") + 1]
        assert ("noeviction", True) == (policy, "--maxmemory" in command)

    def test_redis_container_limit_is_about_twice_maxmemory(self, compose: dict[str, Any]) -> None:
        """The container may use about twice maxmemory (the AOF rewrite's fork)."""
        redis = compose["services"]["redis"]
        command = redis["command"]
        maxmemory = _bytes(command[command.index("--maxmemory") + 1])
        limit = _bytes(redis["deploy"]["resources"]["limits"]["memory"])
        assert 2 * maxmemory == limit

    def test_chat_runs_more_than_one_replica(self, compose: dict[str, Any]) -> None:
        """A replica count of at least two: one node can restart while another serves."""
        assert compose["services"]["chat"]["deploy"]["replicas"] >= 2
