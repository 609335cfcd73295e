"""deploy/haproxy: one config for compose and the local runner, checked by HAProxy itself."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from chat_tools.localcluster import (
    COMPOSE_UPSTREAMS,
    DEPLOY_DIR,
    LB_CONFIG,
    find_haproxy,
    render_upstreams,
)

CONFIG = DEPLOY_DIR / LB_CONFIG
TEMPLATE = (DEPLOY_DIR / COMPOSE_UPSTREAMS).read_text()


def _haproxy_check(*files: Path) -> subprocess.CompletedProcess[str]:
    argv = [find_haproxy(), "-c"]
    for f in files:
        argv += ["-f", str(f)]
    env = {**os.environ, "CHAT_LB_BIND": "127.0.0.1:5000"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=env)


def _directives(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


class TestRenderUpstreams:
    def test_one_server_line_per_address(self) -> None:
        """The server-template line becomes node1..nodeN, everything else is kept."""
        rendered = render_upstreams(TEMPLATE, [("127.0.0.1", 7001), ("127.0.0.1", 7002)])
        expected = [
            "backend chat from chat_upstream",
            "server node1 127.0.0.1:7001",
            "server node2 127.0.0.1:7002",
        ]
        assert expected == _directives(rendered)

    def test_template_without_server_template_is_refused(self) -> None:
        """A template the runner cannot fill is an error, not a backend without servers."""
        with pytest.raises(ValueError, match="server-template"):
            render_upstreams("backend chat\n", [("127.0.0.1", 7001)])

    def test_no_addresses_is_refused(self) -> None:
        """A backend with no server would answer 503 to everything."""
        with pytest.raises(ValueError, match="at least one"):
            render_upstreams(TEMPLATE, [])


class TestHaproxyAcceptsTheConfig:
    def test_compose_config_is_valid(self) -> None:
        """haproxy -c passes for haproxy.cfg + upstreams.compose.cfg (as compose runs it)."""
        result = _haproxy_check(CONFIG, DEPLOY_DIR / COMPOSE_UPSTREAMS)
        assert (0, "") == (result.returncode, _alerts(result))

    def test_static_upstreams_example_is_valid(self) -> None:
        """haproxy -c passes for haproxy.cfg + the several-machines example."""
        result = _haproxy_check(CONFIG, DEPLOY_DIR / "upstreams.static.cfg")
        assert (0, "") == (result.returncode, _alerts(result))

    def test_local_config_is_valid(self, tmp_path: Path) -> None:
        """haproxy -c passes for haproxy.cfg + the runner's rendered upstreams."""
        upstreams = tmp_path / "upstreams.local.cfg"
        upstreams.write_text(render_upstreams(TEMPLATE, [("127.0.0.1", 7001)]))
        result = _haproxy_check(CONFIG, upstreams)
        assert (0, "") == (result.returncode, _alerts(result))


def _alerts(result: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(
        ln for ln in result.stderr.splitlines() if "[ALERT]" in ln or "[WARNING]" in ln
    )


class TestWhatTheConfigPromises:
    """The behaviours deploy/README.md explains, pinned so an edit cannot drop one silently."""

    text = CONFIG.read_text()

    @pytest.mark.parametrize(
        "directive",
        [
            r"cookie CHAT_NODE insert indirect nocache dynamic",
            r"balance leastconn",
            r"option httpchk GET /readyz",
            r"timeout tunnel 1h",
            r"timeout server 60s",
            r"timeout client 60s",
            r"http-request set-header X-Forwarded-For %\[src\]",
            r"option redispatch",
            r"hold valid 2s",
        ],
    )
    def test_directive_present(self, directive: str) -> None:
        """Stickiness, WebSocket-friendly timeouts, readiness checks, DNS re-resolution."""
        assert 1 == len(re.findall(rf"^\s*{directive}", self.text, re.M))

    def test_upstreams_file_holds_only_addresses(self) -> None:
        """The compose upstreams file has the backend line and the servers, nothing else."""
        kinds = [d.split()[0] for d in _directives(TEMPLATE)]
        assert ["backend", "server-template"] == kinds
