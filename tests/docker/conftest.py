"""The docker tier's fixtures: a private dockerd for the session, the compose stack for a module."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tools.procs import free_port

from .engine import ROOT, Engine, NetworkState, Project, private_engine, provide_base_images

OVERRIDE = Path(__file__).with_name("compose.test.yml")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """dockerd of its own; afterwards the host's bridges, iptables and ip_forward are as
    they were before it started."""
    before = NetworkState.capture()
    started = time.monotonic()
    with private_engine() as engine:
        how = provide_base_images(engine)
        print(f"\nbase images: {how} ({time.monotonic() - started:.0f}s)")
        yield engine
    after = NetworkState.capture()
    assert (True, False) == (engine.process.poll() is not None, engine.home.exists())
    assert before == after, f"host network state changed:\nbefore {before}\nafter {after}"
    print(
        f"\nhost network state as before: bridges {list(after.bridges)}, "
        f"{len(after.iptables)} iptables lines, ip_forward={after.ip_forward}"
    )


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 as chat.pem (chain, then key) in a folder the
    balancer's unprivileged user can read; returns the certificate alone, for clients."""
    folder = tmp_path_factory.mktemp("tls")
    folder.chmod(0o755)
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem = folder / "chat.pem"
    pem.write_text(cert.read_text() + key.read_text())
    pem.chmod(0o644)
    key.unlink()
    return cert


@pytest.fixture(scope="module")
def stack(engine: Engine, tls: Path) -> Iterator[tuple[Project, str]]:
    """docker-compose.yml + deploy/compose.tls.yml (plain HTTP served too) + the test
    override, built and up; yields it and the balancer's plain URL."""
    port, tls_port = free_port(), free_port()
    env = {
        "CHAT_LB_ADDRESS": "127.0.0.1",
        "CHAT_LB_PORT": str(port),
        "CHAT_LB_TLS_DIR": str(tls.parent),
        "CHAT_LB_HTTPS_PORT": str(tls_port),
        "CHAT_LB_PLAIN_HTTP": "serve",
    }
    files = [ROOT / "docker-compose.yml", ROOT / "deploy" / "compose.tls.yml", OVERRIDE]
    project = Project(engine, f"chattest{port}", files, env)
    started = time.monotonic()
    project("build", timeout=900)
    built = time.monotonic()
    project("up", "--detach", "--wait", timeout=300)
    url = f"http://127.0.0.1:{port}"
    wait_until_served(url + "/healthz", timeout=60)
    print(f"\nimage built in {built - started:.0f}s, stack up in {time.monotonic() - built:.0f}s")
    try:
        yield project, url
    finally:
        project("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)


def wait_until_served(url: str, timeout: float) -> None:
    """Until the balancer answers 200 (its health checks take a node in after 2 passes)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not served within {timeout}s: {last}")
