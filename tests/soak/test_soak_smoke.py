"""`chat-tools soak` for a minute: a real cluster, people, two faults, the verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(300)
def test_one_minute_soak_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    """0 lost, 0 duplicates, 0 order breaks across a new epoch; every fault recovered;
    the series judged, none leaking."""
    argv = [
        sys.executable, "-m", "chat_tools", "soak", "--out", str(tmp_path),
        "--duration", "60", "--warmup", "10", "--interval", "18", "--clients", "40",
        "--rooms", "5", "--idle", "6", "--rotate-every", "15", "--sample-every", "0.5",
        "--faults", "kill9,redis_empty", "--seed", "5",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=280, check=False)
    results = json.loads((tmp_path / "results.json").read_text())
    verdict = results["verdict"]
    assert (0, 0, 0) == (verdict["lost"], verdict["duplicates"], verdict["order_breaks"]), verdict
    assert verdict["acked"] > 100
    assert 0 == done.returncode, done.stdout + done.stderr
    assert [] == results["leak"]
    assert any(t["leak"] is False for t in results["trends"])
    kinds = sorted(r["fault"]["kind"] for r in results["faults"])
    assert ["kill9", "redis_empty"] == kinds
    for record in results["faults"]:
        assert None is record["error"]
        assert record["can_send_s"] is not None and record["members_agree_s"] is not None, record
    assert results["settled"]
    for plot in ("latency.png", "nodes.png", "redis.png"):
        assert (tmp_path / plot).stat().st_size > 1000


@pytest.mark.timeout(600)
def test_new_fault_kinds_lose_nothing(tmp_path: Path) -> None:
    """A partial partition, a slow Redis, a full Redis and lossy mobile links, short:
    0 lost, 0 duplicates, 0 order breaks in each fault's window and overall; everyone
    sends again; a full Redis shows in chat_redis_oom and moves nobody."""
    argv = [
        sys.executable, "-m", "chat_tools", "soak", "--out", str(tmp_path),
        "--duration", "150", "--warmup", "10", "--interval", "28", "--clients", "30",
        "--rooms", "5", "--idle", "6", "--rotate-every", "15", "--sample-every", "1",
        "--faults", "partition,slow_redis,redis_full,lossy", "--max-hold", "12", "--seed", "5",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=560, check=False)
    results = json.loads((tmp_path / "results.json").read_text())
    verdict = results["verdict"]
    assert (0, 0, 0) == (verdict["lost"], verdict["duplicates"], verdict["order_breaks"]), verdict
    assert 0 == done.returncode, done.stdout + done.stderr
    records = {r["fault"]["kind"]: r for r in results["faults"]}
    assert {"partition", "slow_redis", "redis_full", "lossy"} == set(records)
    for record in results["faults"]:
        assert None is record["error"], record
        assert (0, 0, 0) == (record["lost"], record["duplicates"], record["order_breaks"])
        assert record["can_send_s"] is not None, record
    full = records["redis_full"]
    assert (0, 0) == (full["moves"], full["reconnects"]), full
    assert any(n.get("redis_oom") == 1.0 for s in results["samples"] for n in s["nodes"])
    assert records["partition"]["can_send_s"] < records["partition"]["fault"]["hold"] + 15
    assert results["people"]["lossy"] > 0
