"""deploy/redis: the backup and restore procedure of deploy/README.md, on a real redis-server.

Redis runs as docker-compose.yml runs it (append-only file, fsync every second); a real
node writes the history; the scripts back it up, the data folder is wiped, the scripts
restore it, and a new node shows the history again.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_tools.clients import ChatClient
from chat_tools.procs import ManagedProcess, Node, free_port, spawn, wait_for_port

pytestmark = pytest.mark.redis

SCRIPTS = Path(__file__).resolve().parents[2] / "deploy" / "redis"


class ComposeLikeRedis:
    """redis-server with docker-compose.yml's persistence flags, on a folder that outlives it."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.data, self.logs, self.port = data, logs, free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            str(shutil.which("redis-server")), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data), "--appendonly", "yes", "--appendfsync", "everysec",
        ]  # fmt: skip
        self.process = spawn(f"redis-{self.port}", argv, self.logs)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[ComposeLikeRedis]:
    data = tmp_path / "data"
    data.mkdir()
    server = ComposeLikeRedis(data, tmp_path)
    server.start()
    yield server
    server.stop()


def _script(name: str, *args: str) -> str:
    result = subprocess.run(
        [str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == result.returncode, result.stderr
    return result.stdout


async def _history(node: Node, room: str) -> list[str]:
    client = ChatClient("reader")
    try:
        await client.connect(node.url)
        reply = await client.call("join", {"room": room, "name": "reader"})
    finally:
        await client.close()
    return [m["text"] for m in reply["history"]]


class TestBackupAndRestore:
    async def test_history_comes_back_from_a_backup(
        self, redis: ComposeLikeRedis, tmp_path: Path
    ) -> None:
        """Back up, lose the data folder, restore: the history up to the backup is back,
        and a message sent after the backup is not (it is a point in time)."""
        node = Node.start(tmp_path, redis_url=redis.url)
        node.wait_ready()
        writer = ChatClient("writer")
        try:
            await writer.connect(node.url)
            assert True is (await writer.call("join", {"room": "lobby", "name": "w"}))["ok"]
            for text in ("one", "two", "three"):
                await writer.call("send_message", {"room": "lobby", "text": text})
            backup = tmp_path / "backups" / "chat.rdb"
            backup.parent.mkdir()
            _script("chat-redis-backup", str(backup), "-p", str(redis.port))
            await writer.call("send_message", {"room": "lobby", "text": "after the backup"})
        finally:
            await writer.close()
            node.process.stop()
        redis.stop()
        shutil.rmtree(redis.data)  # the disk is lost
        redis.data.mkdir()
        restored = _script("chat-redis-restore", str(backup), str(redis.data))
        redis.start()
        fresh = Node.start(tmp_path, redis_url=redis.url)
        try:
            fresh.wait_ready()
            history = await _history(fresh, "lobby")
        finally:
            fresh.process.stop()
        assert (["one", "two", "three"], True) == (history, "keys restored" in restored)
        assert (redis.data / "appendonlydir").is_dir()

    def test_a_truncated_backup_is_refused(self, redis: ComposeLikeRedis, tmp_path: Path) -> None:
        """A damaged file is not restored, and the data folder is left untouched."""
        backup = tmp_path / "chat.rdb"
        _script("chat-redis-backup", str(backup), "-p", str(redis.port))
        damaged = tmp_path / "damaged.rdb"
        damaged.write_bytes(backup.read_bytes()[:-12])
        before = sorted(p.name for p in redis.data.iterdir())
        result = subprocess.run(
            [str(SCRIPTS / "chat-redis-restore"), str(damaged), str(redis.data)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        after = sorted(p.name for p in redis.data.iterdir())
        assert (1, before) == (result.returncode, after)
        assert "not a valid RDB file" in result.stderr


def test_scripts_are_posix_shell() -> None:
    """Both scripts parse with /bin/sh (they run inside the redis image, which has no bash)."""
    results = [
        subprocess.run(["sh", "-n", str(p)], capture_output=True, timeout=10, check=False)
        for p in sorted(SCRIPTS.iterdir())
    ]
    assert [0, 0] == [r.returncode for r in results]
