"""deploy/monitoring: Prometheus configs, alert rules (promtool check and unit tests), the
Grafana dashboard against a running node's /metrics, and the compose `monitoring` profile."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from chat_service.app import create_app
from chat_tools.clients import ChatClient, make_settings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
RULES = PROMETHEUS / "rules" / "chat.rules.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "chat.json"
PROMTOOL = shutil.which("promtool") or "promtool"  # scripts/install-system-deps: prometheus
# Series Prometheus makes itself for every target.
SCRAPE_SERIES = {"up"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    return done.stdout


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels, strings,
    ranges and Grafana variables left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    names = set()
    for found in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = found.group(0)
        if word in PROMQL_WORDS or text[found.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name a running node (the real app factory) serves on /metrics."""
    return asyncio.run(_scrape())


async def _scrape() -> set[str]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(make_settings())))
    await client.start_server()
    try:
        ann = await ChatClient("ann").connect(str(client.make_url("/")).rstrip("/"))
        try:
            await ann.call("join", {"room": "lobby", "name": "ann"})
            await ann.call("send_message", {"room": "lobby", "text": "hi"})
        finally:
            await ann.close()
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


class TestMetricNames:
    def test_extractor(self) -> None:
        """The PromQL reader finds metrics, not functions, labels, ranges or variables."""
        expr = (
            "histogram_quantile(0.99, sum by (le, op) (rate(chat_redis_latency_seconds_bucket"
            '{op="append"}[$__rate_interval]))) > 1e3 and on (instance) up{job="chat"} offset 5m'
        )
        assert {"chat_redis_latency_seconds_bucket", "up"} == metric_names(expr)

    def test_dashboard_reads_what_a_node_exports(self, exported: set[str]) -> None:
        """Every metric a dashboard panel reads exists in a running node's /metrics."""
        wanted = set().union(*(metric_names(e) for e in dashboard_exprs()))
        assert set() == wanted - exported - SCRAPE_SERIES

    def test_dashboard_covers_the_issue(self) -> None:
        """Rooms, connections, deliveries, both latencies, Redis, refusals, limits, moderation."""
        wanted = set().union(*(metric_names(e) for e in dashboard_exprs()))
        expected = {
            "chat_rooms",
            "chat_connections",
            "chat_deliveries_direct_total",
            "chat_deliveries_queued_total",
            "chat_ack_latency_seconds_bucket",
            "chat_delivery_latency_seconds_bucket",
            "chat_redis_latency_seconds_bucket",
            "chat_backend_up",
            "chat_connections_refused_total",
            "chat_errors_total",
            "chat_moderation_actions_total",
        }
        assert set() == expected - wanted
        assert any('code="rate_limited"' in e for e in dashboard_exprs())

    def test_rules_read_what_a_node_exports(self, exported: set[str]) -> None:
        """Every metric an alert reads exists in a running node's /metrics."""
        wanted = set().union(*(metric_names(e) for e in rule_exprs()))
        assert set() == wanted - exported - SCRAPE_SERIES

    def test_dashboard_expressions_parse(self, tmp_path: Path) -> None:
        """Every panel's query is valid PromQL (promtool parses them as recording rules)."""
        rules = [
            {"record": f"dashboard:panel_{i}", "expr": e.replace("$__rate_interval", "5m")}
            for i, e in enumerate(dashboard_exprs())
        ]
        path = tmp_path / "dashboard.rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", str(path))

    def test_dashboard_panels_use_the_datasource_variable(self) -> None:
        """Panels query the dashboard's Prometheus variable, so imports work anywhere."""
        dashboard = json.loads(DASHBOARD.read_text())
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        assert "datasource" in variables
        sources = {
            t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])
        }
        assert {"${datasource}"} == sources


class TestRules:
    def test_check(self) -> None:
        """promtool accepts the rules file."""
        assert "SUCCESS" in promtool("check", "rules", str(RULES))

    def test_unit_tests(self) -> None:
        """The rules' unit tests (chat.rules.test.yml) pass."""
        assert "SUCCESS" in promtool("test", "rules", "chat.rules.test.yml", cwd=RULES.parent)

    def test_every_alert_has_a_test(self) -> None:
        """Each alert is named by at least one unit test case."""
        tests = yaml.safe_load((RULES.parent / "chat.rules.test.yml").read_text())["tests"]
        tested = {case["alertname"] for t in tests for case in t["alert_rule_test"]}
        groups = yaml.safe_load(RULES.read_text())["groups"]
        alerts = {r["alert"] for g in groups for r in g["rules"]}
        # Straight threshold alerts on one gauge or rate; their shape is that of a tested one.
        untested_ok = {
            "ChatUnavailableErrors",
            "ChatAckLatencyHigh",
            "ChatNodeSaturated",
            "ChatSlowConsumers",
            "ChatConnectionsRefused",
            "ChatFileDescriptorsLow",
        }
        assert set() == alerts - tested - untested_ok
        assert untested_ok <= alerts


class TestScrapeConfigs:
    def test_compose_config(self) -> None:
        """The compose profile's config is valid, rule files included."""
        assert "SUCCESS" in promtool("check", "config", "prometheus.yml")

    def test_static_config(self) -> None:
        """The static-targets config is valid (its token file exists only where deployed)."""
        assert "SUCCESS" in promtool("check", "config", "--syntax-only", "prometheus.static.yml")

    def test_kubernetes_config(self, tmp_path: Path) -> None:
        """The Kubernetes config is valid. Debian's promtool is built without Kubernetes
        discovery, so promtool checks the rest with the discovery block swapped for static
        targets, and the block itself is checked here against the manifests."""
        config = yaml.safe_load((PROMETHEUS / "prometheus.kubernetes.yml").read_text())
        job = config["scrape_configs"][0]
        sd = job.pop("kubernetes_sd_configs")
        assert [{"role": "pod", "namespaces": {"names": ["chat"]}}] == sd
        job["static_configs"] = [{"targets": ["127.0.0.1:5000"]}]
        (tmp_path / "rules").mkdir()
        shutil.copy(RULES, tmp_path / "rules")
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        assert "SUCCESS" in promtool(
            "check", "config", "--syntax-only", "prometheus.yml", cwd=tmp_path
        )

    def test_kubernetes_relabeling_matches_the_pods(self) -> None:
        """The kept pods and port are the chat Deployment's label and container port name."""
        deployment = yaml.safe_load(
            (ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml").read_text()
        )
        pod = deployment["spec"]["template"]
        config = yaml.safe_load((PROMETHEUS / "prometheus.kubernetes.yml").read_text())
        keep = {
            r["source_labels"][0]: r["regex"]
            for r in config["scrape_configs"][0]["relabel_configs"]
            if r.get("action") == "keep"
        }
        name = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        assert name == keep["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
        port = pod["spec"]["containers"][0]["ports"][0]["name"]
        assert port == keep["__meta_kubernetes_pod_container_port_name"]

    @pytest.mark.parametrize("name", ["prometheus.static.yml", "prometheus.kubernetes.yml"])
    def test_bearer_token_file(self, name: str) -> None:
        """Outside compose, scrapes send CHAT_METRICS_TOKEN from a file, never inline."""
        job = yaml.safe_load((PROMETHEUS / name).read_text())["scrape_configs"][0]
        assert "Bearer" == job["authorization"]["type"]
        assert job["authorization"]["credentials_file"].startswith("/")
        assert "credentials" not in job["authorization"]

    def test_every_config_loads_the_rules(self) -> None:
        """All three configs load the alert rules and name the job the rules expect."""
        for path in PROMETHEUS.glob("prometheus*.yml"):
            config = yaml.safe_load(path.read_text())
            assert ["rules/chat.rules.yml"] == config["rule_files"], path.name
            assert ["chat"] == [j["job_name"] for j in config["scrape_configs"]], path.name


class TestComposeProfile:
    def services(self) -> dict[str, Any]:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        return {
            n: s for n, s in compose["services"].items() if "monitoring" in s.get("profiles", [])
        }

    def test_profile_services(self) -> None:
        """The profile runs Prometheus and Grafana, pinned, published on loopback only."""
        services = self.services()
        assert {"prometheus", "grafana"} == set(services)
        for svc in services.values():
            assert re.fullmatch(r"[a-z/]+:v?\d+\.\d+\.\d+", svc["image"])
            assert all(str(p).startswith("127.0.0.1:") for p in svc["ports"])

    def test_mounts_exist(self) -> None:
        """Every file the profile mounts is in the repository."""
        for svc in self.services().values():
            for volume in svc["volumes"]:
                source = volume.split(":")[0]
                if source.startswith("./"):
                    assert (ROOT / source).exists(), source

    def test_discovers_the_chat_service(self) -> None:
        """Prometheus asks Docker's DNS for the chat service on the nodes' port."""
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        sd = config["scrape_configs"][0]["dns_sd_configs"][0]
        chat_port = int(compose["services"]["chat"]["environment"]["CHAT_PORT"])
        assert (["chat"], chat_port) == (sd["names"], sd["port"])
