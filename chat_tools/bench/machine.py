"""What the figures were measured on: CPU, memory, kernel and software versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _command_version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def _npm_version(peer_dir: Path, package: str) -> str | None:
    try:
        manifest = json.loads((peer_dir / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return str(manifest.get("version"))


def _python_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe(peer_dir: Path) -> dict[str, Any]:
    """nproc, CPU model, memory, kernel, and the versions of everything measured."""
    mem_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory_gib": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "kernel": platform.release(),
        "versions": {
            "python": platform.python_version(),
            "chat-service": _python_version("chat-service"),
            "python-socketio": _python_version("python-socketio"),
            "python-engineio": _python_version("python-engineio"),
            "aiohttp": _python_version("aiohttp"),
            "redis (py)": _python_version("redis"),
            "uvloop": _python_version("uvloop"),
            "node": _command_version(["node", "--version"]),
            "socket.io": _npm_version(peer_dir, "socket.io"),
            "@socket.io/redis-adapter": _npm_version(peer_dir, "@socket.io/redis-adapter"),
            "redis (npm)": _npm_version(peer_dir, "redis"),
            "redis-server": _command_version(["redis-server", "--version"]),
        },
    }
