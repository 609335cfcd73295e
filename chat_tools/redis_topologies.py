"""Real Redis topologies on free 127.0.0.1 ports: a 3+3 Cluster and Sentinel with 1+1+3.

The tests and `chat-tools bench redis-ha` start them, kill their masters and bring
the killed processes back as replicas, as an operator or a supervisor would. Failover is
tuned fast (1 s to notice a dead master) so a test sees it in a few seconds.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from chat_tools.procs import ManagedProcess, free_port, spawn, wait_for_port

SENTINEL_PASSWORD = "sentinel-secret"
MASTER_NAME = "mymaster"
# The chat nodes log in as an ACL user without dangerous commands (no INFO, KEYS, CONFIG,
# CLUSTER SETSLOT...); any key prefix, since tests use their own. The default user stays
# open for the tests' own admin calls and for replication.
CHAT_USER, CHAT_PASSWORD = "chat", "chat-secret"
ACL = ["--user", CHAT_USER, "on", f">{CHAT_PASSWORD}", "~*", "&*", "+@all", "-@dangerous"]


@dataclass(frozen=True)
class Tls:
    """A CA and a certificate for 127.0.0.1 it signed: what a TLS-only server needs."""

    ca: Path
    cert: Path
    key: Path

    def files(self) -> list[str]:
        return [
            "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
            "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no",
            "--tls-replication", "yes",
        ]  # fmt: skip


# Ports that speak TLS only, so that the admin clients below follow.
_TLS: dict[int, Tls] = {}


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certs(folder: Path) -> tuple[Tls, Path]:
    """A CA with a server certificate for 127.0.0.1, and an unrelated CA's certificate."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is needed to make test certificates")
    for ca in ("ca", "other"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
            "-keyout", str(folder / f"{ca}.key"), "-out", str(folder / f"{ca}.pem"),
        )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(folder / "server.key"), "-out", str(folder / "server.csr"),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(folder / "server.csr"), "-CA", str(folder / "ca.pem"),
        "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(folder / "san.ext"), "-out", str(folder / "server.pem"),
    )  # fmt: skip
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    return tls, folder / "other.pem"


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return binary


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a blocking check (these helpers run outside the event loop, or in a thread)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError, LookupError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _command(client: redis.Redis, *args: Any) -> Any:
    """One raw command; redis-py leaves `execute_command` untyped."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]  # untyped upstream


def _admin(port: int, password: str | None = None) -> redis.Redis:
    tls = _TLS.get(port)
    extra: dict[str, object] = {}
    if tls is not None:
        extra = {"ssl": True, "ssl_ca_certs": str(tls.ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        decode_responses=True,
        socket_timeout=2,
        **extra,  # type: ignore[arg-type]
    )


def _in_sync(port: int) -> bool:
    info = _admin(port).info("replication")
    return bool(info["role"] == "slave" and info.get("master_link_status") == "up")


def wait_in_sync(port: int, timeout: float = 30.0) -> None:
    """Block until the replica on `port` follows its master with the link up, and its
    master counts it as online (what WAIT counts)."""
    _until(lambda: _in_sync(port), timeout, f"the replica on {port} to sync")
    info = _admin(port).info("replication")
    master = int(info["master_port"])

    def online() -> bool:
        replicas = _admin(master).info("replication")
        return any(
            isinstance(v, dict) and v.get("port") == port and v.get("state") == "online"
            for k, v in replicas.items()
            if k.startswith("slave")
        )

    _until(online, timeout, f"the master to count the replica on {port}")


@dataclass
class RedisInstance:
    """One redis-server (or sentinel) process and the arguments to start it again."""

    port: int
    argv: list[str]
    log_dir: Path
    process: ManagedProcess

    @classmethod
    def start(cls, port: int, argv: list[str], log_dir: Path, name: str) -> RedisInstance:
        process = spawn(f"{name}-{port}", argv, log_dir)
        wait_for_port(port)
        return cls(port, argv, log_dir, process)

    def kill(self) -> None:
        self.process.kill()

    def start_again(self, argv: list[str] | None = None) -> None:
        self.argv = argv or self.argv
        self.process = spawn(f"again-{self.port}", self.argv, self.log_dir)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process.alive():
            self.process.stop()


def server_argv(port: int, workdir: Path, *extra: str, tls: Tls | None = None) -> list[str]:
    """A redis-server on `port`, plaintext or (with `tls`) TLS only."""
    workdir.mkdir(parents=True, exist_ok=True)
    listen = ["--port", str(port)]
    if tls is not None:
        _TLS[port] = tls
        listen = ["--port", "0", "--tls-port", str(port), *tls.files()]
    return [
        _binary(),
        *listen,
        "--bind", "127.0.0.1",
        "--protected-mode", "no",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0",
        *ACL,
        *extra,
    ]  # fmt: skip


@dataclass
class ClusterTopology:
    """Three masters and three replicas, one slot range per master."""

    nodes: list[RedisInstance]
    workdir: Path
    tls: Tls | None = None

    @property
    def url(self) -> str:
        ports = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])
        scheme = "rediss+cluster" if self.tls else "redis+cluster"
        return f"{scheme}://{CHAT_USER}:{CHAT_PASSWORD}@{ports}"

    @classmethod
    def start(cls, log_dir: Path, replicas: bool = True, tls: Tls | None = None) -> ClusterTopology:
        """3 masters (and 3 replicas); with `tls`, clients, replication and the cluster
        bus all speak TLS only."""
        workdir = Path(tempfile.mkdtemp(prefix="chat-cluster-"))
        nodes = []
        for _ in range(6 if replicas else 3):
            port, bus = free_port(), free_port()
            argv = server_argv(
                port,
                workdir / str(port),
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "1000",
                "--cluster-port", str(bus),
                "--cluster-replica-validity-factor", "0",
                *(["--tls-cluster", "yes"] if tls else []),
                tls=tls,
            )  # fmt: skip
            nodes.append(RedisInstance.start(port, argv, log_dir, "cluster"))
        topology = cls(nodes, workdir, tls)
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        create = ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"]
        if tls:
            create += ["--tls", "--cacert", str(tls.ca)]
        if replicas:
            create += ["--cluster-replicas", "1"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        topology.wait_healthy()
        return topology

    def _state_ok(self, node: RedisInstance) -> bool:
        info = _command(_admin(node.port), "CLUSTER", "INFO")
        text = info if isinstance(info, str) else str(info)
        return "cluster_state:ok" in text

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every live node sees the cluster as ok and every replica is in sync."""

        def check() -> bool:
            live = [n for n in self.nodes if n.process.alive()]
            if not all(self._state_ok(n) for n in live):
                return False
            for node in live:
                info = _admin(node.port).info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
            return True

        _until(check, timeout, "the cluster to be healthy")

    def master_port_of(self, key: str) -> int:
        """The port of the master that owns `key`'s slot now."""
        live = next(n for n in self.nodes if n.process.alive())
        slot = int(_command(_admin(live.port), "CLUSTER", "KEYSLOT", key))
        for line in str(_command(_admin(live.port), "CLUSTER", "NODES")).splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(parts[1].split("@")[0].rsplit(":", 1)[1])
        raise LookupError(f"no master serves slot {slot}")

    def node(self, port: int) -> RedisInstance:
        return next(n for n in self.nodes if n.port == port)

    def kill_master_of(self, key: str) -> RedisInstance:
        victim = self.node(self.master_port_of(key))
        victim.kill()
        return victim

    def wait_failover(self, key: str, old_port: int, timeout: float = 15.0) -> int:
        """Wait until a replica took over `key`'s slot; returns its port."""
        _until(lambda: self.master_port_of(key) != old_port, timeout, "a replica to take over")
        return self.master_port_of(key)

    def rejoin(self, node: RedisInstance) -> None:
        """Start a killed node again: its nodes.conf makes it a replica of the new master."""
        node.start_again()
        _until(lambda: _in_sync(node.port), 30, "the old master to follow the new one")
        self.wait_healthy()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class SentinelTopology:
    """One master, one replica, three sentinels (quorum 2) with a password of their own."""

    servers: list[RedisInstance]
    sentinels: list[RedisInstance]
    workdir: Path
    tls: Tls | None = None

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        return f"{scheme}://{CHAT_USER}:{CHAT_PASSWORD}@{hosts}/{MASTER_NAME}/0"

    @classmethod
    def start(cls, log_dir: Path, tls: Tls | None = None) -> SentinelTopology:
        """With `tls`, the servers, the sentinels and replication speak TLS only."""
        workdir = Path(tempfile.mkdtemp(prefix="chat-sentinel-"))
        master_port, replica_port = free_port(), free_port()
        master = RedisInstance.start(
            master_port, server_argv(master_port, workdir / "master", tls=tls), log_dir, "master"
        )
        replica_argv = server_argv(
            replica_port, workdir / "replica", "--replicaof", "127.0.0.1", str(master_port), tls=tls
        )
        replica = RedisInstance.start(replica_port, replica_argv, log_dir, "replica")
        sentinels = []
        for i in range(3):
            port = free_port()
            conf = workdir / f"sentinel-{i}.conf"
            listen = f"port {port}\n"
            if tls is not None:
                _TLS[port] = tls
                files = tls.files()
                pairs = zip(files[::2], files[1::2], strict=True)
                listen = f"port 0\ntls-port {port}\n" + "".join(
                    f"{flag[2:]} {value}\n" for flag, value in pairs
                )
            conf.write_text(
                f"{listen}bind 127.0.0.1\nprotected-mode no\ndir {workdir}\n"
                f"requirepass {SENTINEL_PASSWORD}\nsentinel sentinel-pass {SENTINEL_PASSWORD}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 4000\n"
            )
            argv = [_binary(), str(conf), "--sentinel"]
            sentinels.append(RedisInstance.start(port, argv, log_dir, "sentinel"))
        topology = cls([master, replica], sentinels, workdir, tls)
        topology.wait_healthy()
        return topology

    def _sentinel(self, port: int) -> redis.Redis:
        return _admin(port, SENTINEL_PASSWORD)

    def master_port(self) -> int:
        for sentinel in self.sentinels:
            if not sentinel.process.alive():
                continue
            try:
                _, port = _command(
                    self._sentinel(sentinel.port),
                    "SENTINEL",
                    "GET-MASTER-ADDR-BY-NAME",
                    MASTER_NAME,
                )
                return int(port)
            except (redis.RedisError, OSError):
                continue
        raise LookupError("no sentinel answers")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Sentinels know each other and the replica; the replica is in sync."""

        def check() -> bool:
            for sentinel in self.sentinels:
                state = _command(self._sentinel(sentinel.port), "SENTINEL", "MASTER", MASTER_NAME)
                fields = dict(state)
                if int(fields["num-other-sentinels"]) < 2 or int(fields["num-slaves"]) < 1:
                    return False
                if str(fields["port"]) != str(self.master_port()):
                    return False
            master = self.master_port()
            for server in self.servers:
                if server.port != master:
                    info = _admin(server.port).info("replication")
                    if info.get("master_link_status") != "up":
                        return False
            return True

        _until(check, timeout, "sentinels and replica to be ready")

    def server(self, port: int) -> RedisInstance:
        return next(s for s in self.servers if s.port == port)

    def kill_master(self) -> RedisInstance:
        victim = self.server(self.master_port())
        victim.kill()
        return victim

    def wait_failover(self, old_port: int, timeout: float = 15.0) -> int:
        _until(lambda: self.master_port() != old_port, timeout, "the sentinels to promote")
        new = self.master_port()
        _until(lambda: _admin(new).info("replication")["role"] == "master", timeout, "a new master")
        return new

    def rejoin(self, server: RedisInstance) -> None:
        """Start the killed master again as a replica of the new one."""
        new = self.master_port()
        argv = [a for a in server.argv]
        if "--replicaof" in argv:
            at = argv.index("--replicaof")
            del argv[at : at + 3]
        server.start_again([*argv, "--replicaof", "127.0.0.1", str(new)])
        _until(lambda: _in_sync(server.port), 30, "the old master to follow the new one")
        self.wait_healthy()

    def stop(self) -> None:
        for instance in [*self.sentinels, *self.servers]:
            instance.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _node_ids(port: int) -> dict[int, str]:
    """Port -> cluster node id, as one node sees the cluster."""
    ids = {}
    for line in str(_command(_admin(port), "CLUSTER", "NODES")).splitlines():
        parts = line.split()
        ids[int(parts[1].split("@")[0].rsplit(":", 1)[1])] = parts[0]
    return ids


def move_slot(topology: ClusterTopology, key: str, to_port: int) -> int:
    """Migrate `key`'s slot to the master on `to_port` while clients use it: IMPORTING /
    MIGRATING, MIGRATE the keys in batches (clients meanwhile get ASK or TRYAGAIN), then
    hand the slot over on every master. Returns the slot."""
    from_port = topology.master_port_of(key)
    slot = int(_command(_admin(from_port), "CLUSTER", "KEYSLOT", key))
    ids = _node_ids(from_port)
    source, target = _admin(from_port), _admin(to_port)
    _command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from_port])
    _command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_port])
    while keys := _command(source, "CLUSTER", "GETKEYSINSLOT", slot, 10):
        _command(source, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
        time.sleep(0.02)  # let traffic hit the half-moved slot
    for node in topology.nodes:
        if node.process.alive() and _admin(node.port).info("replication")["role"] == "master":
            _command(_admin(node.port), "CLUSTER", "SETSLOT", slot, "NODE", ids[to_port])
    return slot
