"""Start real redis-server, node and other loopback processes on free ports; stop them by PID.

Used by the test tiers, the benchmark and `chat-tools cluster`, so every process is
started the same way. Lives outside `chat_service` so a node imports none of it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on the port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def wait_for_http(url: str, timeout: float = 15.0, status: int = 200) -> None:
    """Block until GET url answers with the given status."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                if resp.status == status:
                    return
                last = resp.status
        except urllib.error.HTTPError as exc:
            last = exc.code
            if exc.code == status:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s (last: {last!r})")


@dataclass
class ManagedProcess:
    """A child process with its log file, stopped by PID."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crashed machine looks like to the cluster."""
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 12.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return int(self.proc.returncode)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def spawn(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start a child with its output in `log_dir/name.log` and no standard input."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    log.close()
    return ManagedProcess(name, proc, log_path)


@dataclass
class RedisServer:
    """A private redis-server on a free port: nothing shared with other tests."""

    port: int
    process: ManagedProcess
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    persistent: bool = False

    @classmethod
    def start(
        cls,
        log_dir: Path,
        port: int | None = None,
        name: str = "redis",
        persistent: bool = False,
        workdir: Path | None = None,
    ) -> RedisServer:
        """Start redis-server; `persistent` fsyncs every write to an append-only file."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        workdir = workdir or Path(tempfile.mkdtemp(prefix="chat-redis-"))
        aof = ["--appendonly", "yes", "--appendfsync", "always"]
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += aof if persistent else ["--appendonly", "no"]
        argv += ["--dir", str(workdir), "--protected-mode", "no"]
        process = spawn(f"{name}-{port}", argv, log_dir)
        wait_for_port(port)
        return cls(port, process, workdir, persistent)

    def restart(self, downtime: float = 0.0) -> None:
        """Kill the server and start it again on the same port.

        A persistent server comes back with its data; otherwise it comes back empty.
        """
        self.process.kill()
        time.sleep(downtime)
        fresh = RedisServer.start(
            self.process.log_path.parent,
            port=self.port,
            name="redis-again",
            persistent=self.persistent,
            workdir=self.workdir if self.persistent else None,
        )
        self.process = fresh.process

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class LoopbackService:
    """A process serving HTTP on a 127.0.0.1 port (nodes, the Node peer, HAProxy)."""

    port: int
    process: ManagedProcess

    ready_path = "/healthz"  # what answers 200 once the process can serve

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        try:
            wait_for_http(self.url + self.ready_path, timeout=timeout)
        except TimeoutError:
            log = self.process.log()[-3000:]
            raise TimeoutError(f"{self.process.name} at {self.url} not ready:\n{log}") from None


@dataclass
class Node(LoopbackService):
    """One chat-service node process."""

    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable  # the interpreter that runs the node (bench: 3.11 vs 3.12)
    ready_path = "/readyz"

    @classmethod
    def start(
        cls,
        log_dir: Path,
        redis_url: str | None = None,
        port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        python: str | None = None,
    ) -> Node:
        port = port or free_port()
        python = python or sys.executable
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        env.update({"CHAT_HOST": "127.0.0.1", "CHAT_PORT": str(port), "PYTHONUNBUFFERED": "1"})
        if redis_url:
            env["CHAT_REDIS_URL"] = redis_url
        env.update(extra_env or {})
        process = spawn(f"node-{port}", [python, "-m", "chat_service"], log_dir, env)
        node = cls(port, process, env, python)
        if wait:
            node.wait_ready()
        return node

    def restart(self) -> None:
        """Start a fresh process on the same port with the same settings."""
        self.process.stop()
        self.respawn()
        self.wait_ready()

    def respawn(self) -> None:
        """A fresh process on the same port with the same settings, once this one is gone;
        does not wait for it to be ready."""
        log_dir = self.process.log_path.parent
        self.process = spawn(
            f"node-{self.port}-again", [self.python, "-m", "chat_service"], log_dir, self.env
        )


@contextlib.contextmanager
def cluster(
    nodes: int,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    persistent_redis: bool = False,
    python: str | None = None,
) -> Iterator[tuple[RedisServer, list[Node]]]:
    """A private Redis and N nodes (run by `python`, default this one), all stopped at exit."""
    redis = RedisServer.start(log_dir, persistent=persistent_redis)
    started: list[Node] = []
    try:
        for _ in range(nodes):
            started.append(
                Node.start(log_dir, redis.url, extra_env=extra_env, wait=False, python=python)
            )
        for node in started:
            node.wait_ready()
        yield redis, started
    finally:
        for node in started:
            node.process.stop()
        redis.stop()


def node_rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
