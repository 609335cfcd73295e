"""deploy/compose.sentinel.yml: the Sentinel overlay of docker-compose.yml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chat_service.config import Settings, env_name
from chat_service.redis_urls import parse_target

SCHEMA = json.loads(Path(__file__).with_name("compose_spec.json").read_text())
Validator = jsonschema.Draft201909Validator
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


def merge(base: Any, overlay: Any) -> Any:
    """Compose's merge of -f files: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return overlay


@pytest.fixture(scope="module")
def overlay(root: Path) -> dict[str, Any]:
    data = yaml.safe_load((root / "deploy" / "compose.sentinel.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def merged(compose: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = merge(compose, overlay)
    return result


def test_both_files_match_the_compose_schema(
    overlay: dict[str, Any], merged: dict[str, Any]
) -> None:
    """The overlay alone and the merged project validate against the Compose schema."""
    errors = [e.message for doc in (overlay, merged) for e in Validator(SCHEMA).iter_errors(doc)]
    assert [] == errors


def test_topology(merged: dict[str, Any]) -> None:
    """A master, a replica of it, three sentinels watching it with quorum 2."""
    services = merged["services"]
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert {"redis", "redis-replica", *SENTINELS, "chat", "lb"} == default
    assert ["--replicaof", "redis", "6379"] == [
        a for a in services["redis-replica"]["command"] if a in ("--replicaof", "redis", "6379")
    ]
    for name in SENTINELS:
        script = services[name]["command"][-1]
        assert "sentinel monitor mymaster redis 6379 2" in script
        assert name == services[name]["environment"]["SENTINEL_NAME"]


def test_every_redis_keeps_the_base_memory_settings(
    compose: dict[str, Any], merged: dict[str, Any]
) -> None:
    """The overlay's commands keep the base file's AOF and maxmemory/noeviction flags."""
    base = compose["services"]["redis"]["command"]
    for name in ("redis", "redis-replica"):
        command = merged["services"][name]["command"]
        assert base == command[: len(base)]


def test_chat_finds_the_master_through_the_sentinels(merged: dict[str, Any]) -> None:
    """The nodes' URL names every sentinel and the monitored master; WAIT for 1 replica."""
    chat = merged["services"]["chat"]
    target = parse_target(chat["environment"]["CHAT_REDIS_URL"])
    assert ("sentinel", "mymaster", [(s, 26379) for s in SENTINELS]) == (
        target.kind,
        target.service,
        list(target.hosts),
    )
    assert "1" == chat["environment"]["CHAT_REDIS_MIN_REPLICAS"]
    known = {env_name(f) for f in Settings.__dataclass_fields__}
    assert set(chat["environment"]) <= known
    assert set(SENTINELS) | {"redis"} <= set(chat["depends_on"])


def test_images_are_pinned(overlay: dict[str, Any]) -> None:
    """Every image of the overlay carries an exact x.y.z tag."""
    images = [svc["image"] for svc in overlay["services"].values() if "image" in svc]
    assert images and all(
        re.fullmatch(r"[a-z0-9._/-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)?", i) for i in images
    )
