"""A node imports only what it runs: no `chat_tools` module is loaded by serving."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import chat_service
from chat_tools.procs import free_port

PACKAGE = Path(chat_service.__file__).resolve().parent

# Runs in a fresh interpreter so nothing this test process imported can leak in.
_SERVE_AND_REPORT = """
import asyncio, json, sys, time
import aiohttp
from chat_service.app import create_app  # noqa: F401  (the wiring module itself)
from chat_service.cli import main  # noqa: F401  (the console entry point)
from chat_service.config import Settings
from chat_service.runner import serve

async def run(port):
    stop = asyncio.Event()
    task = asyncio.create_task(serve(Settings(host="127.0.0.1", port=port), stop))
    deadline = time.monotonic() + 15
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 15)

asyncio.run(run(int(sys.argv[1])))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "chat_tools")))
"""


def test_serving_a_node_imports_no_tooling() -> None:
    """create_app, the CLI module and a served node load no chat_tools module."""
    result = subprocess.run(
        [sys.executable, "-c", _SERVE_AND_REPORT, str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [] == json.loads(result.stdout.strip().splitlines()[-1])


def _imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_chat_service_module_imports_the_tooling() -> None:
    """No chat_service module names chat_tools in an import, deferred ones included."""
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in mods if m.split(".")[0] == "chat_tools")
        for path in sorted(PACKAGE.rglob("*.py"))
        if (mods := _imported_modules(path))
    }
    assert {} == {name: mods for name, mods in offenders.items() if mods}
