"""`chat-tools cluster`: the compose topology on one machine, without Docker.

Redis, N nodes and the real load balancer (HAProxy) with the very same `deploy/haproxy/`
config that compose mounts; only the upstream addresses differ: the compose upstreams
file's `server-template` line becomes one `server 127.0.0.1:PORT` line per node. Every
process is started by `chat_tools.procs` and stopped by PID on exit, Ctrl-C or SIGTERM.

`main` supervises: a node that dies is restarted on its port with capped backoff
(`supervise.RestartPolicy`) while HAProxy sends its clients to the others; Redis or HAProxy
dying stops the cluster. A clean stop leaves no process and no temporary folder behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .procs import (
    LoopbackService,
    ManagedProcess,
    Node,
    RedisServer,
    free_port,
    spawn,
    wait_for_http,
)
from .supervise import RestartPolicy

# A built package carries the config beside this module (setup.py); a checkout has deploy/.
_PACKAGED = Path(__file__).resolve().parent / "deploy" / "haproxy"
_CHECKOUT = Path(__file__).resolve().parent.parent / "deploy" / "haproxy"
DEPLOY_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
LB_CONFIG = "haproxy.cfg"
COMPOSE_UPSTREAMS = "upstreams.compose.cfg"
# What the nodes get in compose too: only the load balancer reaches them.
NODE_ENV: Mapping[str, str] = {"CHAT_TRUST_FORWARDED": "true"}


def render_upstreams(template: str, addresses: Sequence[tuple[str, int]]) -> str:
    """The compose upstreams file, its `server-template` line replaced by one server per address.

    Servers are named node1..nodeN in the order given; HAProxy reports the name in the
    X-Chat-Node response header.
    """
    if not addresses:
        raise ValueError("at least one upstream address is needed")
    lines: list[str] = []
    replaced = 0
    for line in template.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("server-template "):
            indent = line[: len(line) - len(stripped)]
            lines.extend(
                f"{indent}server node{i} {host}:{port}"
                for i, (host, port) in enumerate(addresses, start=1)
            )
            replaced += 1
        else:
            lines.append(line)
    if replaced != 1:
        raise ValueError(f"expected one server-template line in the template, found {replaced}")
    return "\n".join(lines) + "\n"


def find_haproxy() -> str:
    """Path of the haproxy binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
    return found


def _wait_listening(process: ManagedProcess, port: int, timeout: float) -> None:
    """Until the port accepts connections; fail at once, with its log, if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{process.name} not listening on {port} after {timeout}s:\n"
                    f"{process.log()[-3000:]}"
                ) from None
            time.sleep(0.05)


@dataclass
class LoadBalancer(LoopbackService):
    """HAProxy in the foreground with deploy/haproxy/haproxy.cfg and generated upstreams."""

    workdir: Path

    @classmethod
    def start(
        cls,
        log_dir: Path,
        upstreams: Sequence[tuple[str, int]],
        port: int | None = None,
        config_dir: Path = DEPLOY_DIR,
        timeout: float = 10.0,
    ) -> LoadBalancer:
        port = port or free_port()
        workdir = Path(tempfile.mkdtemp(prefix="chat-lb-"))
        template = (config_dir / COMPOSE_UPSTREAMS).read_text()
        upstreams_file = workdir / "upstreams.local.cfg"
        upstreams_file.write_text(render_upstreams(template, upstreams))
        argv = [
            find_haproxy(), "-db",
            "-f", str(config_dir / LB_CONFIG),
            "-f", str(upstreams_file),
        ]  # fmt: skip
        env = dict(os.environ)
        env["CHAT_LB_BIND"] = f"127.0.0.1:{port}"
        process = spawn(f"haproxy-{port}", argv, log_dir, env)
        try:
            _wait_listening(process, port, timeout)
        except BaseException:
            process.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return cls(port, process, workdir)

    def wait_serving(self, path: str = "/healthz", timeout: float = 15.0) -> None:
        """Until GET path through the balancer answers 200; fail at once if HAProxy exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.alive():
                raise RuntimeError(f"{self.process.name} exited:\n{self.process.log()[-3000:]}")
            try:
                wait_for_http(self.url + path, timeout=1.0)
                return
            except TimeoutError as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{exc}\n{self.process.log()[-3000:]}") from None

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class LocalCluster:
    """What `local_cluster` started; `redis` is None when an existing Redis was given."""

    redis_url: str
    redis: RedisServer | None
    nodes: list[Node]
    lb: LoadBalancer
    log_dir: Path

    @property
    def lb_url(self) -> str:
        return self.lb.url

    def node_named(self, name: str) -> Node:
        """The node behind an X-Chat-Node header value (node1..nodeN)."""
        prefix = "node"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            index = int(name[len(prefix) :]) - 1
            if 0 <= index < len(self.nodes):
                return self.nodes[index]
        raise KeyError(name)

    def processes(self) -> list[ManagedProcess]:
        started = [self.redis.process] if self.redis is not None else []
        return [*started, *(node.process for node in self.nodes), self.lb.process]


@contextlib.contextmanager
def local_cluster(
    nodes: int = 3,
    lb_port: int | None = None,
    log_dir: Path | None = None,
    redis_url: str | None = None,
    *,
    extra_env: Mapping[str, str] | None = None,
    config_dir: Path = DEPLOY_DIR,
    node_redis_urls: Sequence[str] | None = None,
) -> Iterator[LocalCluster]:
    """Redis (unless redis_url is given), N nodes and the load balancer; all stopped at exit.

    `node_redis_urls` gives each node a Redis URL of its own (the soak puts a proxy
    between each node and the one Redis, to cut or slow a single node's link)."""
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    if node_redis_urls is not None and len(node_redis_urls) != nodes:
        raise ValueError("node_redis_urls needs one URL per node")
    own_log_dir = log_dir is None
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="chat-cluster-"))
    node_env = {**NODE_ENV, **(extra_env or {})}
    redis: RedisServer | None = None
    started: list[Node] = []
    lb: LoadBalancer | None = None
    try:
        if redis_url is None:
            redis = RedisServer.start(log_dir)
            redis_url = redis.url
        urls = list(node_redis_urls or [redis_url] * nodes)
        for url in urls:
            started.append(Node.start(log_dir, url, extra_env=node_env, wait=False))
        for node in started:
            node.wait_ready()
        lb = LoadBalancer.start(
            log_dir, [("127.0.0.1", n.port) for n in started], port=lb_port, config_dir=config_dir
        )
        lb.wait_serving("/healthz")
        yield LocalCluster(redis_url, redis, started, lb, log_dir)
    finally:
        # The load balancer first, so no client is sent to a node that is going away.
        if lb is not None:
            lb.stop()
        for node in started:
            node.process.stop()
        if redis is not None:
            redis.stop()
        if own_log_dir:
            shutil.rmtree(log_dir, ignore_errors=True)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chat-tools cluster",
        description="Run Redis, N chat nodes and HAProxy (deploy/haproxy) on this machine.",
    )
    parser.add_argument("--nodes", type=int, default=3, help="chat nodes to start (default 3)")
    parser.add_argument(
        "--port", type=int, default=5000, help="port of the load balancer (default 5000)"
    )
    parser.add_argument(
        "--redis-url", default=None, help="use this Redis instead of starting a private one"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="where process logs go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the context manager stops every child by PID."""
    raise KeyboardInterrupt


@dataclass
class _Watched:
    """A node of the cluster, its restart policy and, while it is down, when to restart it."""

    name: str
    node: Node
    restarts: RestartPolicy
    restart_at: float | None = None


def _supervise(cluster: LocalCluster, poll: float = 0.2) -> int:
    """Restart dead nodes until Ctrl-C/SIGTERM (raised as KeyboardInterrupt); 1 when Redis
    or the load balancer dies, since nothing is served without them."""
    now = time.monotonic()
    watched = [
        _Watched(f"node{i}", node, RestartPolicy(started_at=now))
        for i, node in enumerate(cluster.nodes, start=1)
    ]
    essential = [cluster.lb.process]
    if cluster.redis is not None:
        essential.append(cluster.redis.process)
    while True:
        for process in essential:
            if not process.alive():
                print(
                    f"{process.name} exited with {process.proc.returncode}; stopping the cluster"
                    f" (log: {process.log_path})",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        now = time.monotonic()
        for entry in watched:
            process = entry.node.process
            if entry.restart_at is None and not process.alive():
                delay = entry.restarts.next_delay(now)
                entry.restart_at = now + delay
                print(
                    f"{entry.name} (pid {process.pid}) exited with {process.proc.returncode};"
                    f" restarting in {delay:.1f} s (log: {process.log_path})",
                    file=sys.stderr,
                    flush=True,
                )
            elif entry.restart_at is not None and now >= entry.restart_at:
                entry.node.respawn()
                entry.restarts.started(now)
                entry.restart_at = None
                print(f"{entry.name} restarted as pid {entry.node.process.pid}", flush=True)
        time.sleep(poll)


def main(argv: Sequence[str] | None = None) -> int:
    """`chat-tools cluster [--nodes N] [--port P] [--redis-url URL] [--log-dir DIR]`."""
    args = _parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.log_dir is not None:
        return _run(args, args.log_dir)
    log_dir = Path(tempfile.mkdtemp(prefix="chat-cluster-"))
    code = _run(args, log_dir)
    if code in (0, 130):  # stopped on purpose: leave nothing behind
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        print(f"chat-tools cluster: logs kept in {log_dir}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace, log_dir: Path) -> int:
    """Start, supervise, stop; the exit code."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with local_cluster(args.nodes, args.port, log_dir, args.redis_url) as cluster:
            print(f"load balancer: {cluster.lb_url}  (HAProxy, {DEPLOY_DIR / LB_CONFIG})")
            for i, node in enumerate(cluster.nodes, start=1):
                print(f"node{i}: {node.url}  pid {node.process.pid}")
            print(f"redis: {cluster.redis_url}")
            print(f"logs: {cluster.log_dir}")
            print("Ctrl-C stops everything.", flush=True)
            try:
                code = _supervise(cluster)
            except KeyboardInterrupt:
                code = 0
            # Teardown must finish: a second Ctrl-C now would leave processes behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return code
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"chat-tools cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        # getsignal gives None for a handler not installed from Python: leave that one be.
        for signum, handler in ((signal.SIGINT, previous_int), (signal.SIGTERM, previous_term)):
            if handler is not None:
                signal.signal(signum, handler)
