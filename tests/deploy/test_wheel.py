"""The built wheel is self-contained: installed in a fresh virtualenv, `chat-service` and
`chat-tools cluster` work from a folder that has no checkout in it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chat_tools.procs import ManagedProcess, free_port, spawn, wait_for_http

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    "chat_service/web/templates/room.html",
    "chat_service/web/static/css/app.css",
    "chat_service/web/static/js/chat.js",
    "chat_service/web/node_modules/socket.io-client/dist/socket.io.min.js",
    "chat_tools/deploy/haproxy/haproxy.cfg",
    "chat_tools/deploy/haproxy/upstreams.compose.cfg",
]
PAGES = ["/", "/rooms/lobby", "/static/vendor/socket.io.min.js", "/static/css/app.css"]


@dataclass
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # an empty folder, far from the checkout

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}:/usr/sbin"
        return env | extra

    def start(
        self, name: str, args: list[str], command: str = "chat-service", **env: str
    ) -> ManagedProcess:
        argv = [str(self.venv / "bin" / command), *args]
        return spawn(name, argv, self.elsewhere / "logs", self.env(**env), cwd=self.elsewhere)


def _pip(python: Path | str, *args: str) -> None:
    # Without PYTHONPATH: the in-tree build leaves chat_service.egg-info in the checkout,
    # and a PYTHONPATH holding the checkout would make pip skip the wheel as installed.
    subprocess.run(
        [str(python), "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`pip wheel .`, then a fresh venv with the runtime lock and that wheel, nothing else."""
    base = tmp_path_factory.mktemp("wheel")
    _pip(sys.executable, "wheel", "--no-deps", "-w", str(base / "dist"), str(ROOT))
    (wheel,) = (base / "dist").glob("chat_service-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    _pip(
        venv / "bin/python",
        "install",
        "--require-hashes",
        "-r",
        str(ROOT / "requirements/runtime.txt"),
    )
    _pip(venv / "bin/python", "install", "--no-deps", str(wheel))
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return Installed(wheel, venv, elsewhere)


@pytest.fixture
def stopped() -> Iterator[list[ManagedProcess]]:
    processes: list[ManagedProcess] = []
    yield processes
    for process in processes:
        process.stop()


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


def test_wheel_carries_pages_client_and_haproxy_config(installed: Installed) -> None:
    """Templates, static files, socket.io.min.js and the HAProxy config are in the wheel."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert [] == [name for name in SHIPPED if name not in names]


def test_node_serves_every_page_from_an_empty_folder(
    installed: Installed, stopped: list[ManagedProcess]
) -> None:
    """`chat-service` run outside the checkout serves the pages, the client and the CSS."""
    port = free_port()
    stopped.append(installed.start("node", [], CHAT_HOST="127.0.0.1", CHAT_PORT=str(port)))
    wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=20)
    assert [200] * len(PAGES) == [_status(f"http://127.0.0.1:{port}{p}") for p in PAGES]
    assert 0 == stopped.pop().stop()


def test_chat_web_dir_still_overrides(installed: Installed, stopped: list[ManagedProcess]) -> None:
    """CHAT_WEB_DIR points the installed node at other templates."""
    web = installed.elsewhere / "custom-web"
    (web / "static").mkdir(parents=True)
    (web / "templates").mkdir()
    (web / "templates/index.html").write_text("custom landing page")
    port = free_port()
    stopped.append(
        installed.start(
            "custom", [], CHAT_PORT=str(port), CHAT_HOST="127.0.0.1", CHAT_WEB_DIR=str(web)
        )
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=20)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert b"custom landing page" == resp.read()


def test_cluster_runs_from_an_empty_folder(
    installed: Installed, stopped: list[ManagedProcess]
) -> None:
    """`chat-tools cluster --nodes 3` starts Redis, nodes and HAProxy, and stops on Ctrl-C."""
    port = free_port()
    cluster = installed.start(
        "cluster", ["cluster", "--nodes", "3", "--port", str(port)], command="chat-tools"
    )
    stopped.append(cluster)
    wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
    assert [200] * len(PAGES) == [_status(f"http://127.0.0.1:{port}{p}") for p in PAGES]
    assert "site-packages/chat_tools/deploy/haproxy/haproxy.cfg" in cluster.log()
    cluster.signal(signal.SIGINT)
    assert 0 == cluster.proc.wait(timeout=30)
