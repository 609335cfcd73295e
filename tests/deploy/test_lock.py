"""The lock files: every dependency pinned, hashed and inside pyproject's bounds."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The libraries whose internals chat_service/transport/ reaches into.
CAPPED = ("aiohttp", "python-socketio", "python-engineio", "bidict")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]


def read_lock(name: str) -> dict[str, Pin]:
    """name -> pinned version and sha256 hashes, from a `--generate-hashes` file."""
    text = (ROOT / "requirements" / name).read_text().replace("\\\n", " ")
    pins: dict[str, Pin] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        assert match is not None, line
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        pins[canonicalize_name(match[1])] = Pin(match[2], hashes)
    return pins


def requirements(extra: str | None = None) -> list[Requirement]:
    listed = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(r) for r in listed]


@pytest.mark.parametrize(
    ("lock", "extras"), [("runtime.txt", []), ("test.txt", ["test"])], ids=["runtime", "test"]
)
def test_every_requirement_is_pinned_inside_its_bounds(lock: str, extras: list[str]) -> None:
    """Each of pyproject's requirements has a pin its specifier accepts."""
    pins = read_lock(lock)
    wanted = requirements() + [r for extra in extras for r in requirements(extra)]
    outside = [
        str(r)
        for r in wanted
        if canonicalize_name(r.name) not in pins
        or not r.specifier.contains(pins[canonicalize_name(r.name)].version, prereleases=True)
    ]
    assert [] == outside


@pytest.mark.parametrize("lock", ["runtime.txt", "test.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    """`pip install --require-hashes` accepts the file: no pin without a sha256."""
    assert [] == [name for name, pin in read_lock(lock).items() if not pin.hashes]


def test_test_lock_runs_what_production_runs() -> None:
    """Every runtime pin is pinned to the same version in the test lock."""
    runtime, test = read_lock("runtime.txt"), read_lock("test.txt")
    assert {n: p.version for n, p in runtime.items()} == {
        n: test[n].version for n in runtime if n in test
    }
    assert set(runtime) <= set(test)


def test_internals_we_touch_have_upper_bounds() -> None:
    """aiohttp, python-socketio, python-engineio and bidict are capped in pyproject."""
    capped = {
        canonicalize_name(r.name)
        for r in requirements()
        if any(spec.operator in ("<", "<=", "==") for spec in r.specifier)
    }
    assert set(CAPPED) == capped & set(CAPPED)


def test_event_loop_and_parser_measured_are_default_dependencies() -> None:
    """uvloop and hiredis are installed by default: production runs what was measured."""
    names = {canonicalize_name(r.name) for r in requirements()}
    assert {"uvloop", "hiredis"} <= names
